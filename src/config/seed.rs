//! `x-devdb.seed`: the ordered steps that fill a freshly migrated database with small,
//! deterministic data. Kept apart from `settings.rs` so the seed's shape is read in one place.

use serde::Deserialize;

/// One step of `x-devdb.seed`: SQL files (`sql: [seed/*.sql]`) or a command (`run: [...]`),
/// never both. Paths and globs are relative to the project root, where commands run.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SeedStep {
    /// Globs of SQL files, each glob's matches run in sorted order.
    #[serde(default)]
    pub sql: Vec<String>,
    /// A program (found on PATH) and its arguments, run with DATABASE_URL set.
    #[serde(default)]
    pub run: Vec<String>,
    /// Globs of files the command reads: a change to one of them re-runs the seed.
    #[serde(default)]
    pub inputs: Vec<String>,
}

/// What a step does, checked when the configuration loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedKind {
    Sql,
    Command,
}

impl SeedStep {
    /// The step's kind, or why the entry is malformed (shown with `x-devdb.seed[N]`).
    pub fn kind(&self) -> Result<SeedKind, String> {
        match (self.sql.is_empty(), self.run.is_empty()) {
            (false, true) if self.inputs.is_empty() => Ok(SeedKind::Sql),
            (false, true) => Err(
                "`inputs:` belongs to a `run:` step (an `sql:` step's files are its inputs)"
                    .to_string(),
            ),
            (true, false) => Ok(SeedKind::Command),
            (false, false) => {
                Err("give either `sql:` or `run:`, not both (make two steps)".to_string())
            }
            (true, true) => Err(
                "give `sql: [seed/*.sql]` (SQL files) or `run: [program, args...]` (a command)"
                    .to_string(),
            ),
        }
    }

    /// A short label for messages and the step report.
    pub fn describe(&self) -> String {
        if self.run.is_empty() {
            format!("sql: {}", self.sql.join(", "))
        } else {
            format!("run: {}", self.run.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_sql_or_a_command() {
        let sql: SeedStep = serde_yaml::from_str("sql: [seed/*.sql]").unwrap();
        assert_eq!(sql.kind(), Ok(SeedKind::Sql));
        let run: SeedStep =
            serde_yaml::from_str("run: [npx, tsx, prisma/seed.ts]\ninputs: [prisma/seed.ts]")
                .unwrap();
        assert_eq!(run.kind(), Ok(SeedKind::Command));
        let both: SeedStep = serde_yaml::from_str("sql: [a.sql]\nrun: [x]").unwrap();
        assert!(both.kind().unwrap_err().contains("not both"));
        assert!(SeedStep::default().kind().is_err());
        assert!(serde_yaml::from_str::<SeedStep>("sqll: [a.sql]").is_err());
    }
}
