//! Where a branch's database waits while another branch is checked out: a name Postgres takes
//! (63 bytes at most, whatever the git branch is called: `/`, `.`, unicode), readable at a
//! glance, and unique through a hash of the full branch name. The name is never parsed back:
//! the database's comment (see `Tag`) records the branch, so the mapping is reversible without
//! trusting the slug.

/// Postgres truncates identifiers to this many bytes (NAMEDATALEN - 1).
pub const MAX_NAME: usize = 63;
/// Between the database's name and the branch's slug.
const MARK: &str = "__br_";
/// Hex digits of the branch hash at the end of the name.
const HASH: usize = 8;
/// Bytes of the project database's name kept in the prefix, so the slug always has room.
const DATABASE_PART: usize = 24;

/// The prefix every parked database of `database` starts with.
pub fn prefix(database: &str) -> String {
    format!("{}{MARK}", truncate(database, DATABASE_PART))
}

/// `<database>__br_<slug>_<hash>`: the parked database of `branch`, at most 63 bytes, only
/// `[a-z0-9_]` after the prefix.
pub fn parked_name(database: &str, branch: &str) -> String {
    let prefix = prefix(database);
    let hash = crate::digest::sha256_hex(format!("{database}\0{branch}").as_bytes());
    let room = MAX_NAME - prefix.len() - HASH - 1;
    let slug = slug(branch);
    format!("{prefix}{}_{}", truncate(&slug, room), &hash[..HASH])
}

/// Lower-case ASCII letters and digits; every other run of characters becomes one `_`.
fn slug(branch: &str) -> String {
    let mut out = String::new();
    for c in branch.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// At most `bytes` bytes of `text`, cut on a character boundary.
fn truncate(text: &str, bytes: usize) -> &str {
    let mut end = text.len().min(bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_safe_and_distinct() {
        let long = "feature/".to_string() + &"ünïcödé-".repeat(20);
        for branch in [
            "main",
            "feature/login.v2",
            "Feature/Login.V2",
            &long,
            "ü",
            "-",
        ] {
            let name = parked_name("app", branch);
            assert!(name.len() <= MAX_NAME, "{name}");
            assert!(name.starts_with(&prefix("app")), "{name}");
            let tail = &name[prefix("app").len()..];
            assert!(
                tail.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(
            &parked_name("app", "feature/login.v2")[..22],
            "app__br_feature_login_"
        );
        // Same slug, different branches: the hash tells them apart.
        assert_ne!(
            parked_name("app", "feature/login.v2"),
            parked_name("app", "Feature/Login.V2")
        );
        assert_ne!(parked_name("app", "a/b"), parked_name("app", "a.b"));
        let long_db = "d".repeat(63);
        assert!(parked_name(&long_db, &long).len() <= MAX_NAME);
        assert_eq!(parked_name("app", "main"), parked_name("app", "main"));
    }

    #[test]
    fn a_multibyte_database_name_is_cut_on_a_character_boundary() {
        let db = "é".repeat(40);
        let name = parked_name(&db, "main");
        assert!(name.len() <= MAX_NAME);
        assert!(name.contains(MARK));
    }
}
