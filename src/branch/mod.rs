//! A database per git branch, the pure half: what is checked out (`head`), what a parked
//! database is called (`names`), and what to do about it (`plan`). `ops/branch.rs` does the
//! renames, under the reset lock, in the crash-safe order `plan` assumes.

pub mod head;
pub mod hook;
pub mod names;
pub mod plan;

use crate::hint::Hint;

#[derive(Debug, thiserror::Error)]
pub enum BranchError {
    #[error(
        "cannot switch database {database} to branch {to}: other sessions are connected to it ({})",
        sessions.join("; ")
    )]
    InUse {
        database: String,
        to: String,
        sessions: Vec<String>,
    },
    #[error("cannot park branch {branch}'s database: {parked} already exists")]
    ParkedExists { branch: String, parked: String },
    #[error("branch {0}'s database is the one in place; devdb branch drop only drops parked ones")]
    InPlace(String),
    #[error("branch {0} has no parked database")]
    NotParked(String),
    #[error("{dir} is not inside a git repository; a database per branch needs one")]
    NoRepo { dir: String },
    #[error("{path} exists and is not devdb's")]
    HookExists { path: String },
    #[error("{action} ({path}): {error}")]
    Io {
        action: &'static str,
        path: String,
        error: std::io::Error,
    },
}

impl BranchError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            BranchError::InUse { .. } => Some(Hint::suggest(
                "stop the app (or close its connections to the database), then run any devdb \
                 command (e.g. `devdb branch status`): it finishes the switch; nothing was moved",
            )),
            BranchError::ParkedExists { parked, .. } => Some(Hint::suggest(format!(
                "see `devdb branch status`; if {parked} is not needed, drop it (psql: DROP DATABASE ...) and run again"
            ))),
            BranchError::NoRepo { .. } => Some(Hint::suggest(
                "run devdb inside the repository (or `git init`), or leave x-devdb.branches off",
            )),
            BranchError::HookExists { .. } => Some(Hint::suggest(
                "`devdb branch hook --chain` appends devdb's call to it; or add `devdb branch status --quiet` to it yourself",
            )),
            BranchError::InPlace(_) => Some(Hint::suggest(
                "check out another branch first (the next devdb command parks this one), or `devdb reset` to start it over",
            )),
            BranchError::NotParked(_) => Some(Hint::suggest(
                "`devdb branch status` lists the parked databases",
            )),
            BranchError::Io { .. } => None,
        }
    }
}
