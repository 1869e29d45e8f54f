//! An error's next step, kept apart from its message: each of devdb's error types answers
//! `hint()`, and `main.rs` shows it after the message (as `  hint: ...` or `  next: ...`) and
//! as `"hint"` under `--json`. At the ground floor, so every floor's errors can carry one.

/// A suggestion (`hint`) or the command to run next (`next`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub label: &'static str,
    pub text: String,
}

impl Hint {
    pub fn suggest(text: impl Into<String>) -> Hint {
        Hint {
            label: "hint",
            text: text.into(),
        }
    }

    pub fn next(text: impl Into<String>) -> Hint {
        Hint {
            label: "next",
            text: text.into(),
        }
    }
}
