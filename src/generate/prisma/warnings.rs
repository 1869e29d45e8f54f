//! The warnings `prisma db pull` prints after introspection, gathered while the blocks are
//! written and printed section by section in Prisma's order and wording.

use std::collections::BTreeMap;

/// What the blocks noted, by section: (model, field) pairs and the like, in the order found.
#[derive(Default)]
pub(super) struct Warnings {
    pub commented_fields: Vec<(String, String)>,
    pub ignored_models: Vec<String>,
    pub unsupported: Vec<(String, String, String)>,
    pub partitions: Vec<String>,
    pub inherited: Vec<String>,
    pub row_security: Vec<String>,
    pub checks: Vec<(String, String)>,
    pub exclusions: Vec<(String, String)>,
    pub null_orders: Vec<(String, String)>,
    pub comments: Vec<(String, String)>,
    pub expression_indexes: Vec<(String, String)>,
    /// What re-introspection took from the file: `@map`s of model and view fields, `@@map`s of
    /// models and views, and the blocks whose relation fields were copied.
    pub mapped_model_fields: Vec<(String, String)>,
    pub mapped_view_fields: Vec<(String, String)>,
    pub mapped_models: Vec<String>,
    pub mapped_views: Vec<String>,
    pub copied_relations_views: Vec<String>,
    pub copied_relations_models: Vec<String>,
}

/// Sections of warning text: a title line, then its items; empty sections are left out.
#[derive(Default)]
struct Sections(Vec<String>);

impl Sections {
    fn add(&mut self, title: &str, items: Vec<String>) {
        if !items.is_empty() {
            self.0.push(format!("{title}\n{}", items.join("\n")));
        }
    }
}

/// `  - "name"` per name.
fn names<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    names.into_iter().map(|n| format!("  - \"{n}\"")).collect()
}

impl Warnings {
    /// Prisma's warning text, section by section, as `prisma db pull` prints it.
    pub fn lines(&self) -> Vec<String> {
        let mut sections = Sections::default();
        self.unsupported_sections(&mut sections);
        self.setup_sections(&mut sections);
        self.enriched_sections(&mut sections);
        sections.0
    }

    /// What Prisma Client cannot use: commented-out fields, ignored models, unsupported types.
    fn unsupported_sections(&self, sections: &mut Sections) {
        let mut commented: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (model, field) in &self.commented_fields {
            commented.entry(model).or_default().push(field);
        }
        sections.add(
            "These fields were commented out because their names are currently not supported by Prisma. Please provide valid ones that match [a-zA-Z][a-zA-Z0-9_]* using the `@map` attribute:",
            commented
                .iter()
                .map(|(model, fields)| {
                    let quoted: Vec<String> = fields.iter().map(|f| format!("\"{f}\"")).collect();
                    format!("  - Model: \"{model}\", field(s): [{}]", quoted.join(", "))
                })
                .collect(),
        );
        sections.add(
            "The following models were ignored as they do not have a valid unique identifier or id. This is currently not supported by Prisma Client:",
            names(&self.ignored_models),
        );
        sections.add(
            "These fields are not supported by Prisma Client, because Prisma currently does not support their types:",
            self.unsupported
                .iter()
                .map(|(m, f, t)| format!("  - Model: \"{m}\", field: \"{f}\", original data type: \"{t}\""))
                .collect(),
        );
    }

    /// What needs additional setup for migrations (partitions, inheritance, null orders, row
    /// level security, check and exclusion constraints, comments, expression indexes).
    fn setup_sections(&self, sections: &mut Sections) {
        sections.add(
            "These tables are partition tables, which are not yet fully supported:",
            names(&self.partitions),
        );
        sections.add(
            "These tables are inherited tables, which are not yet fully supported:",
            names(&self.inherited),
        );
        sections.add(
            "These index columns are having a non-default null sort order, which is not yet fully supported. Read more: https://pris.ly/d/non-default-index-null-ordering",
            self.null_orders
                .iter()
                .map(|(i, c)| format!("  - Index: \"{i}\", column: \"{c}\""))
                .collect(),
        );
        sections.add(
            "These tables contain row level security, which is not yet fully supported. Read more: https://pris.ly/d/row-level-security",
            names(&self.row_security),
        );
        let constraints = |list: &[(String, String)]| -> Vec<String> {
            list.iter()
                .map(|(m, c)| format!("  - Model: \"{m}\", constraint: \"{c}\""))
                .collect()
        };
        sections.add(
            "These constraints are not supported by Prisma Client, because Prisma currently does not fully support check constraints. Read more: https://pris.ly/d/check-constraints",
            constraints(&self.checks),
        );
        sections.add(
            "These constraints are not supported by Prisma Client, because Prisma currently does not fully support exclusion constraints. Read more: https://pris.ly/d/exclusion-constraints",
            constraints(&self.exclusions),
        );
        sections.add(
            "These objects have comments defined in the database, which is not yet fully supported. Read more: https://pris.ly/d/database-comments",
            self.comments
                .iter()
                .map(|(kind, name)| format!("  - Type: \"{kind}\", name: \"{name}\""))
                .collect(),
        );
        sections.add(
            "These indexes are not supported by Prisma Client, because Prisma currently does not fully support expression indexes. Read more: https://pris.ly/d/expression-indexes",
            constraints(&self.expression_indexes),
        );
    }

    /// What re-introspection kept from the previous schema file.
    fn enriched_sections(&self, sections: &mut Sections) {
        const ENRICHED_FIELDS: &str = "These fields were enriched with `@map` information taken from the previous Prisma schema:";
        for (kind, fields) in [
            ("Model", &self.mapped_model_fields),
            ("View", &self.mapped_view_fields),
        ] {
            sections.add(
                ENRICHED_FIELDS,
                fields
                    .iter()
                    .map(|(m, f)| format!("  - {kind}: \"{m}\", field: \"{f}\""))
                    .collect(),
            );
        }
        sections.add(
            "These models were enriched with `@@map` information taken from the previous Prisma schema:",
            names(&self.mapped_models),
        );
        sections.add(
            "These views were enriched with `@@map` information taken from the previous Prisma schema:",
            names(&self.mapped_views),
        );
        sections.add(
            "Relations were copied from the previous data model due to not using foreign keys in the database. If any of the relation columns changed in the database, the relations might not be correct anymore:",
            names(self.copied_relations_views.iter().chain(&self.copied_relations_models)),
        );
    }
}
