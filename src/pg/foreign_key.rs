//! A foreign key, real (from `pg_constraint`) or declared (an `x-devdb.relations` entry for a
//! schema without constraints), and the anti-join that finds the rows breaking it, with
//! Postgres's own MATCH SIMPLE / MATCH FULL rules.

use postgres_protocol::escape::escape_identifier as quote_ident;

use super::QualifiedName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    pub child: QualifiedName,
    pub child_columns: Vec<String>,
    pub parent: QualifiedName,
    pub parent_columns: Vec<String>,
    /// `MATCH FULL` (a row with some but not all key columns null dangles).
    pub match_full: bool,
    /// Ordinary tables are read with ONLY (FKs are not inherited); partitioned ones whole.
    pub child_only: bool,
    pub parent_only: bool,
    pub deferrable: bool,
    /// Every key column of the child may be null (the key can be cut with `set-null`).
    pub nullable: bool,
    /// Only child rows meeting this condition (over the child's columns, unqualified) reference
    /// the parent: a polymorphic `owner_type = 'user'`. Declared keys only.
    pub condition: Option<String>,
    /// Declared in `x-devdb.relations`, not a constraint Postgres knows.
    pub declared: bool,
}

impl ForeignKey {
    /// `orders_user_id_fkey public.orders (user_id) → public.users (id)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({}) → {} ({})",
            self.name,
            self.child,
            self.child_columns.join(", "),
            self.parent,
            self.parent_columns.join(", ")
        )
    }

    /// The condition, over child rows aliased `c`, that a row references no parent row.
    pub fn dangling_condition(&self) -> String {
        let column = |c: &String| format!("c.{}", quote_ident(c));
        let all_set = self
            .child_columns
            .iter()
            .map(|c| format!("{} IS NOT NULL", column(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let missing = format!(
            "NOT EXISTS (SELECT 1 FROM {}{} p WHERE {})",
            only(self.parent_only),
            self.parent.quoted(),
            self.matches("p", "c")
        );
        let broken = if self.match_full && self.child_columns.len() > 1 {
            let any_set = self
                .child_columns
                .iter()
                .map(|c| format!("{} IS NOT NULL", column(c)))
                .collect::<Vec<_>>()
                .join(" OR ");
            format!("({any_set}) AND (NOT ({all_set}) OR {missing})")
        } else {
            format!("{all_set} AND {missing}")
        };
        match &self.condition {
            // Evaluated at the level of `c`, where unqualified columns are the child's.
            Some(condition) => format!("({condition}) AND {broken}"),
            None => broken,
        }
    }

    /// `parent.col = child.col AND ...` between two aliases.
    pub fn matches(&self, parent: &str, child: &str) -> String {
        self.child_columns
            .iter()
            .zip(&self.parent_columns)
            .map(|(c, p)| format!("{parent}.{} = {child}.{}", quote_ident(p), quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn child_source(&self) -> String {
        format!("{}{} c", only(self.child_only), self.child.quoted())
    }

    pub fn count_sql(&self) -> String {
        format!(
            "SELECT count(*) FROM {} WHERE {}",
            self.child_source(),
            self.dangling_condition()
        )
    }

    /// A few of the dangling rows' keys, as `(1, 'a')`.
    pub fn sample_sql(&self, rows: usize) -> String {
        let key = self
            .child_columns
            .iter()
            .map(|c| format!("c.{}", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT DISTINCT ROW({key})::text FROM {} WHERE {} LIMIT {rows}",
            self.child_source(),
            self.dangling_condition()
        )
    }

    pub fn delete_sql(&self) -> String {
        format!(
            "DELETE FROM {} WHERE {}",
            self.child_source(),
            self.dangling_condition()
        )
    }

    /// Cuts the key of every dangling row instead of deleting it (`set-null`).
    pub fn set_null_sql(&self) -> String {
        let nulls: Vec<String> = self
            .child_columns
            .iter()
            .map(|c| format!("{} = NULL", quote_ident(c)))
            .collect();
        format!(
            "UPDATE {} SET {} WHERE {}",
            self.child_source(),
            nulls.join(", "),
            self.dangling_condition()
        )
    }
}

fn only(only: bool) -> &'static str {
    if only {
        "ONLY "
    } else {
        ""
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A two-schema key for unit tests here and in copy/integrity.rs.
    pub fn key(columns: &[&str], match_full: bool) -> ForeignKey {
        ForeignKey {
            name: "items_fk".into(),
            child: QualifiedName::parse("items"),
            child_columns: columns.iter().map(|c| c.to_string()).collect(),
            parent: QualifiedName::parse("shop.orders"),
            parent_columns: columns.iter().map(|c| format!("p_{c}")).collect(),
            match_full,
            child_only: true,
            parent_only: false,
            deferrable: false,
            nullable: true,
            condition: None,
            declared: false,
        }
    }

    #[test]
    fn a_simple_match_key_dangles_only_when_every_column_is_set() {
        assert_eq!(
            key(&["a", "b"], false).count_sql(),
            r#"SELECT count(*) FROM ONLY "public"."items" c WHERE c."a" IS NOT NULL AND c."b" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "shop"."orders" p WHERE p."p_a" = c."a" AND p."p_b" = c."b")"#
        );
    }

    #[test]
    fn a_full_match_key_also_dangles_when_only_some_columns_are_set() {
        assert_eq!(
            key(&["a", "b"], true).dangling_condition(),
            r#"(c."a" IS NOT NULL OR c."b" IS NOT NULL) AND (NOT (c."a" IS NOT NULL AND c."b" IS NOT NULL) OR NOT EXISTS (SELECT 1 FROM "shop"."orders" p WHERE p."p_a" = c."a" AND p."p_b" = c."b"))"#
        );
    }

    #[test]
    fn a_declared_key_with_a_condition_binds_only_the_rows_it_selects() {
        let mut declared = key(&["a"], false);
        declared.condition = Some("kind = 'order'".into());
        declared.declared = true;
        assert_eq!(
            declared.set_null_sql(),
            r#"UPDATE ONLY "public"."items" c SET "a" = NULL WHERE (kind = 'order') AND c."a" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "shop"."orders" p WHERE p."p_a" = c."a")"#
        );
    }
}
