//! What one copy selects, whether named on the command line or as a subset of
//! `x-devdb.subsets`: the start tables and their conditions, limits, masks and per-FK follow
//! rules (each over the project's `x-devdb.copy` ones), and how far children are followed.

use std::collections::BTreeMap;

use super::{CopyError, CopyOptions};
use crate::config::{Config, CopySettings, FollowRule};

#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Table names or globs, as the user wrote them.
    pub tables: Vec<String>,
    /// Masks, limits and conditions in force (`x-devdb.copy` with the subset's over it).
    pub copy: CopySettings,
    /// `--where` arguments (TABLE:CONDITION), checked to name copied tables.
    pub cli_where: Vec<String>,
    pub rules: BTreeMap<String, FollowRule>,
    /// FK levels of children to copy below the chosen rows.
    pub with_children: Option<usize>,
    /// The subset's name (`--subset NAME`), for messages; "copy" without one.
    pub name: String,
    /// The follow rules the subset itself sets (the others are x-devdb.copy's).
    pub own_rules: Vec<String>,
}

impl Selection {
    /// Where the follow rule `name` was written, for messages.
    pub fn rule_place(&self, name: &str) -> String {
        if self.own_rules.iter().any(|r| r == name) {
            format!("x-devdb.subsets.{}.follow", self.name)
        } else {
            "x-devdb.copy.follow".to_string()
        }
    }
}

/// The selection `options` asks for.
pub fn select(config: &Config, options: &CopyOptions) -> Result<Selection, CopyError> {
    let mut copy = config.settings.copy.clone();
    let Some(name) = &options.subset else {
        let tables = if options.tables.is_empty() {
            copy.tables.clone()
        } else {
            options.tables.clone()
        };
        return Ok(Selection {
            tables,
            rules: copy.follow.clone(),
            copy,
            cli_where: options.filters.clone(),
            with_children: options.with_children,
            name: "copy".to_string(),
            own_rules: Vec::new(),
        });
    };
    let Some(subset) = config.settings.subsets.get(name) else {
        let known: Vec<&str> = config.settings.subsets.keys().map(String::as_str).collect();
        return Err(CopyError::Refused {
            message: format!("no subset `{name}` in x-devdb.subsets; nothing was copied"),
            hint: if known.is_empty() {
                "declare it under x-devdb.subsets (see the README's Subsets)".to_string()
            } else {
                format!("use one of: {}", known.join(", "))
            },
        });
    };
    if subset.start.is_empty() {
        return Err(CopyError::Refused {
            message: format!("x-devdb.subsets.{name} has no start tables; nothing was copied"),
            hint: "add `start: { TABLE: CONDITION }` (`true` for all rows)".into(),
        });
    }
    for (table, condition) in &subset.start {
        if condition.trim() != "true" {
            copy.filter.insert(table.clone(), condition.clone());
        }
    }
    copy.limit.extend(subset.limit.clone());
    copy.mask.extend(subset.mask.clone());
    let mut rules = copy.follow.clone();
    rules.extend(subset.follow.clone());
    Ok(Selection {
        tables: subset.start.keys().cloned().collect(),
        copy,
        cli_where: Vec::new(),
        rules,
        with_children: options.with_children.or(subset.with_children),
        name: name.clone(),
        own_rules: subset.follow.keys().cloned().collect(),
    })
}
