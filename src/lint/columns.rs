//! The columns of each table as the pending migrations leave them, and where a dropped or
//! renamed column or table went: a later statement that still needs one fails at deploy, so
//! lint says so, naming the statement that removed it.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::Catalog;

#[derive(Debug, Clone, Default)]
pub struct Columns {
    /// Tables whose columns are known, by base name (schemas are matched forgivingly, so two
    /// schemas' tables of one name share a set: a column of either is accepted).
    tables: BTreeMap<String, BTreeSet<String>>,
    /// (table, column) -> what happened to it: "dropped at FILE:LINE", "renamed to `x` at ...".
    gone_columns: BTreeMap<(String, String), String>,
    /// table -> what happened to it.
    gone_tables: BTreeMap<String, String>,
}

impl Columns {
    pub fn from_catalog(catalog: &Catalog) -> Columns {
        let mut columns = Columns::default();
        for (name, table) in &catalog.tables {
            columns
                .tables
                .entry(name.name.clone())
                .or_default()
                .extend(table.keys().cloned());
        }
        columns
    }

    /// A table made by a pending statement; `None` when its columns cannot be known from the
    /// statement (`PARTITION OF`, `LIKE`, `INHERITS`, `AS SELECT`): then nothing is checked.
    pub fn create(&mut self, table: &str, columns: Option<BTreeSet<String>>) {
        self.gone_tables.remove(table);
        self.gone_columns.retain(|(t, _), _| t != table);
        match columns {
            Some(columns) => self.tables.insert(table.to_string(), columns),
            None => self.tables.remove(table),
        };
    }

    pub fn add(&mut self, table: &str, column: &str) {
        if let Some(columns) = self.tables.get_mut(table) {
            columns.insert(column.to_string());
        }
        self.gone_columns
            .remove(&(table.to_string(), column.to_string()));
    }

    pub fn drop_column(&mut self, table: &str, column: &str, at: &str) {
        if let Some(columns) = self.tables.get_mut(table) {
            columns.remove(column);
        }
        self.gone_columns.insert(
            (table.to_string(), column.to_string()),
            format!("dropped at {at}"),
        );
    }

    pub fn rename_column(&mut self, table: &str, old: &str, new: &str, at: &str) {
        self.drop_column(table, old, at);
        self.gone_columns.insert(
            (table.to_string(), old.to_string()),
            format!("renamed to `{new}` at {at}"),
        );
        self.add(table, new);
    }

    pub fn drop_table(&mut self, table: &str, at: &str) {
        self.tables.remove(table);
        self.gone_tables
            .insert(table.to_string(), format!("dropped at {at}"));
    }

    pub fn rename_table(&mut self, old: &str, new: &str, at: &str) {
        let columns = self.tables.remove(old);
        self.create(new, columns);
        self.gone_tables
            .insert(old.to_string(), format!("renamed to `{new}` at {at}"));
    }

    /// Why `table.column` is not there when a statement needs it: `None` when it exists or
    /// the table's columns are not known.
    pub fn missing(&self, table: &str, column: &str) -> Option<String> {
        let columns = self.tables.get(table)?;
        if columns.contains(column) {
            return None;
        }
        Some(
            match self
                .gone_columns
                .get(&(table.to_string(), column.to_string()))
            {
                Some(gone) => format!("was {gone}"),
                None => format!("the table `{table}` does not have"),
            },
        )
    }

    /// What happened to a table a pending statement removed.
    pub fn table_gone(&self, table: &str) -> Option<&str> {
        self.gone_tables.get(table).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_drops_and_renames() {
        let mut columns = Columns::default();
        columns.create("users", Some(["id", "email"].map(String::from).into()));
        assert_eq!(columns.missing("users", "email"), None);
        columns.drop_column("users", "email", "m.sql:3");
        assert_eq!(
            columns.missing("users", "email").as_deref(),
            Some("was dropped at m.sql:3")
        );
        columns.rename_column("users", "id", "user_id", "m.sql:4");
        assert!(columns.missing("users", "id").unwrap().contains("renamed"));
        assert_eq!(columns.missing("users", "user_id"), None);
        columns.add("users", "email");
        assert_eq!(columns.missing("users", "email"), None);
        columns.rename_table("users", "people", "m.sql:5");
        assert_eq!(columns.missing("people", "email"), None);
        assert!(columns.table_gone("users").unwrap().contains("people"));
        assert_eq!(columns.missing("users", "email"), None, "unknown table");
        columns.create("v", None);
        assert_eq!(columns.missing("v", "anything"), None);
    }
}
