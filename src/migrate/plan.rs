//! Comparing migrations on disk with the ledger: what is applied, pending, failed, rolled back,
//! modified after it was applied, or applied but missing on disk. Pure logic, no database.

use serde::Serialize;

use super::files::MigrationFile;
use super::ledger::LedgerRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Applied,
    Pending,
    /// Started, never finished, not rolled back: blocks deploy until resolved (Prisma's P3009).
    Failed,
    /// Every attempt was rolled back; it will be applied again.
    RolledBack,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub state: State,
    /// Applied, but the file's checksum no longer matches the ledger.
    pub modified: bool,
    pub checksum: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub migrations: Vec<Entry>,
    /// Applied in the database, no folder on disk.
    pub missing_on_disk: Vec<String>,
}

impl Status {
    pub fn compute(files: &[MigrationFile], rows: &[LedgerRow]) -> Status {
        let mut migrations = Vec::new();
        for file in files {
            let mine: Vec<&LedgerRow> = rows
                .iter()
                .filter(|r| r.migration_name == file.name)
                .collect();
            let applied = mine
                .iter()
                .find(|r| r.finished_at.is_some() && r.rolled_back_at.is_none());
            let failed = mine
                .iter()
                .find(|r| r.finished_at.is_none() && r.rolled_back_at.is_none());
            let (state, modified, logs) = match (applied, failed) {
                (Some(row), _) => (State::Applied, !file.matches_checksum(&row.checksum), None),
                (None, Some(row)) => (State::Failed, false, row.logs.clone()),
                (None, None) if !mine.is_empty() => (State::RolledBack, false, None),
                (None, None) => (State::Pending, false, None),
            };
            migrations.push(Entry {
                name: file.name.clone(),
                state,
                modified,
                checksum: file.checksum.clone(),
                logs,
            });
        }
        let mut missing_on_disk: Vec<String> = rows
            .iter()
            .filter(|r| {
                r.rolled_back_at.is_none() && !files.iter().any(|f| f.name == r.migration_name)
            })
            .map(|r| r.migration_name.clone())
            .collect();
        missing_on_disk.dedup();
        Status {
            migrations,
            missing_on_disk,
        }
    }

    /// Migrations `deploy` would apply, in order.
    pub fn pending(&self) -> impl Iterator<Item = &Entry> {
        self.migrations
            .iter()
            .filter(|e| matches!(e.state, State::Pending | State::RolledBack))
    }

    pub fn failed(&self) -> impl Iterator<Item = &Entry> {
        self.migrations.iter().filter(|e| e.state == State::Failed)
    }

    pub fn modified(&self) -> impl Iterator<Item = &Entry> {
        self.migrations.iter().filter(|e| e.modified)
    }

    pub fn is_up_to_date(&self) -> bool {
        self.pending().next().is_none()
            && self.failed().next().is_none()
            && self.modified().next().is_none()
            && self.missing_on_disk.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::files::checksum_of;

    fn file(name: &str, script: &str) -> MigrationFile {
        MigrationFile {
            name: name.into(),
            path: name.into(),
            script: script.into(),
            checksum: checksum_of(script),
        }
    }

    fn row(name: &str, script: &str, finished: bool, rolled_back: bool) -> LedgerRow {
        let now = chrono::Utc::now();
        LedgerRow {
            id: name.into(),
            checksum: checksum_of(script),
            finished_at: finished.then_some(now),
            migration_name: name.into(),
            logs: (!finished).then(|| "boom".to_string()),
            rolled_back_at: rolled_back.then_some(now),
            started_at: now,
            applied_steps_count: i32::from(finished),
        }
    }

    #[test]
    fn classifies_every_state() {
        let files = [
            file("1_a", "A"),
            file("2_b", "B"),
            file("3_c", "C"),
            file("4_d", "D"),
            file("5_e", "E"),
        ];
        let rows = [
            row("1_a", "A", true, false),
            row("2_b", "B-old", true, false),
            row("3_c", "C", false, false),
            row("4_d", "D", false, true),
            row("0_gone", "G", true, false),
        ];
        let status = Status::compute(&files, &rows);
        let states: Vec<(State, bool)> = status
            .migrations
            .iter()
            .map(|e| (e.state, e.modified))
            .collect();
        assert_eq!(
            states,
            [
                (State::Applied, false),
                (State::Applied, true),
                (State::Failed, false),
                (State::RolledBack, false),
                (State::Pending, false)
            ]
        );
        assert_eq!(status.missing_on_disk, ["0_gone"]);
        let pending: Vec<&str> = status.pending().map(|e| e.name.as_str()).collect();
        assert_eq!(pending, ["4_d", "5_e"]);
        assert_eq!(
            status.failed().next().unwrap().logs.as_deref(),
            Some("boom")
        );
        assert!(!status.is_up_to_date());
    }

    #[test]
    fn reapplied_after_rollback_counts_as_applied() {
        let files = [file("1_a", "A")];
        let rows = [row("1_a", "A", false, true), row("1_a", "A", true, false)];
        let status = Status::compute(&files, &rows);
        assert_eq!(status.migrations[0].state, State::Applied);
        assert!(status.is_up_to_date());
    }

    #[test]
    fn crlf_checkout_is_not_modified() {
        let files = [file("1_a", "CREATE TABLE a ();\r\n")];
        let rows = [row("1_a", "CREATE TABLE a ();\n", true, false)];
        assert!(Status::compute(&files, &rows).is_up_to_date());
    }
}
