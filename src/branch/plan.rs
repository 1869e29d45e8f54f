//! What to do with the local database given what is checked out and what the server holds:
//! pure decisions, so every case (first use, same branch, a switch, a half-done switch, a
//! detached HEAD) is a unit test. Each database's comment is its tag: which branch it belongs
//! to and, while a switch runs, where it is going (the journal a crash leaves behind).

use serde::{Deserialize, Serialize};

use super::head::Head;

/// What devdb writes in a branch database's comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub devdb_branch: String,
    /// Set on the old branch's database before it is parked, cleared when the new branch's
    /// database is in place: found set, the switch was cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switching_to: Option<String>,
}

impl Tag {
    pub fn of(branch: &str) -> Tag {
        Tag {
            devdb_branch: branch.to_string(),
            switching_to: None,
        }
    }

    /// The tag in a database comment; None for no comment or someone else's.
    pub fn parse(comment: Option<&str>) -> Option<Tag> {
        serde_json::from_str(comment?).ok()
    }

    pub fn comment(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A parked database and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parked {
    pub database: String,
    pub branch: String,
    /// Mid-switch: the branch this database was leaving for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switching_to: Option<String>,
    pub bytes: i64,
}

/// The server's side: the project database (None: it does not exist) and the parked ones.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Exists; with its tag when it has one.
    pub local: Option<Option<Tag>>,
    pub parked: Vec<Parked>,
}

impl State {
    pub fn parked_of(&self, branch: &str) -> Option<&Parked> {
        self.parked.iter().find(|p| p.branch == branch)
    }

    /// The branch the database in place belongs to.
    pub fn owner(&self) -> Option<&str> {
        self.local
            .as_ref()?
            .as_ref()
            .map(|t| t.devdb_branch.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Nothing,
    /// Detached HEAD or a rebase: the database stays; the reason is said.
    LeaveAlone(String),
    /// The database in place is nobody's yet (first use, or just reset): it becomes `branch`'s.
    Claim {
        branch: String,
    },
    /// Park `from`'s database and put `to`'s in place (`parked`: its parked database; None:
    /// `to` is seen for the first time).
    Switch {
        from: String,
        to: String,
        parked: Option<String>,
    },
    /// A switch from `from` (parked as `parked_from`) to `to` was cut short: finish it.
    Resume {
        from: String,
        parked_from: String,
        to: String,
    },
}

pub fn decide(state: &State, head: &Head) -> Plan {
    if let Some(cut) = state.parked.iter().find(|p| p.switching_to.is_some()) {
        return Plan::Resume {
            from: cut.branch.clone(),
            parked_from: cut.database.clone(),
            to: cut.switching_to.clone().unwrap_or_default(),
        };
    }
    let branch = match head {
        Head::Branch(name) => name,
        Head::Detached(sha) => {
            return Plan::LeaveAlone(format!(
                "HEAD is detached (at {}); the database stays as it is",
                &sha[..sha.len().min(12)]
            ))
        }
        Head::Rebasing => {
            return Plan::LeaveAlone(
                "a rebase is in progress; the database stays as it is until it ends".to_string(),
            )
        }
    };
    match &state.local {
        // `up` creates it; nothing to park.
        None => Plan::Nothing,
        Some(None) => Plan::Claim {
            branch: branch.clone(),
        },
        // A journal on the database in place: cut short before it was parked. Start over.
        Some(Some(tag)) if tag.devdb_branch == *branch && tag.switching_to.is_some() => {
            Plan::Claim {
                branch: branch.clone(),
            }
        }
        Some(Some(tag)) if tag.devdb_branch == *branch => Plan::Nothing,
        Some(Some(tag)) => Plan::Switch {
            from: tag.devdb_branch.clone(),
            to: branch.clone(),
            parked: state.parked_of(branch).map(|p| p.database.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(branch: &str) -> Head {
        Head::Branch(branch.into())
    }

    fn parked(branch: &str, to: Option<&str>) -> Parked {
        Parked {
            database: format!("app__br_{branch}"),
            branch: branch.into(),
            switching_to: to.map(str::to_string),
            bytes: 0,
        }
    }

    fn owned(branch: &str) -> Option<Option<Tag>> {
        Some(Some(Tag::of(branch)))
    }

    #[test]
    fn first_use_claims_the_database_in_place() {
        let state = State {
            local: Some(None),
            parked: vec![],
        };
        assert_eq!(
            decide(&state, &on("main")),
            Plan::Claim {
                branch: "main".into()
            }
        );
    }

    #[test]
    fn same_branch_does_nothing_and_a_new_branch_switches() {
        let mut state = State {
            local: owned("a"),
            parked: vec![],
        };
        assert_eq!(decide(&state, &on("a")), Plan::Nothing);
        assert_eq!(
            decide(&state, &on("b")),
            Plan::Switch {
                from: "a".into(),
                to: "b".into(),
                parked: None
            }
        );
        state.parked.push(parked("b", None));
        assert_eq!(
            decide(&state, &on("b")),
            Plan::Switch {
                from: "a".into(),
                to: "b".into(),
                parked: Some("app__br_b".into())
            }
        );
    }

    #[test]
    fn a_cut_switch_is_finished_before_anything_else() {
        let state = State {
            local: Some(None),
            parked: vec![parked("b", None), parked("a", Some("b"))],
        };
        // Even on a detached HEAD: the database must come back first.
        assert_eq!(
            decide(&state, &Head::Detached("abc".into())),
            Plan::Resume {
                from: "a".into(),
                parked_from: "app__br_a".into(),
                to: "b".into()
            }
        );
    }

    #[test]
    fn detached_and_rebasing_leave_the_database_alone() {
        let state = State {
            local: owned("a"),
            parked: vec![],
        };
        assert!(matches!(
            decide(&state, &Head::Detached("0123456789abcdef".into())),
            Plan::LeaveAlone(why) if why.contains("0123456789ab")
        ));
        assert!(matches!(
            decide(&state, &Head::Rebasing),
            Plan::LeaveAlone(_)
        ));
    }

    #[test]
    fn a_journal_left_on_the_database_in_place_is_cleared() {
        let state = State {
            local: Some(Some(Tag {
                devdb_branch: "a".into(),
                switching_to: Some("b".into()),
            })),
            parked: vec![],
        };
        assert_eq!(decide(&state, &on("a")), Plan::Claim { branch: "a".into() });
        assert!(matches!(decide(&state, &on("b")), Plan::Switch { .. }));
    }

    #[test]
    fn tags_round_trip_and_foreign_comments_are_no_tag() {
        let tag = Tag {
            devdb_branch: "feature/ü".into(),
            switching_to: Some("main".into()),
        };
        assert_eq!(Tag::parse(Some(&tag.comment())), Some(tag));
        assert_eq!(Tag::parse(Some("the app's database")), None);
        assert_eq!(Tag::parse(None), None);
    }
}
