//! What is checked out, read from the repository's files as git itself does (`HEAD`, and the
//! `rebase-merge`/`rebase-apply` folders of a rebase in progress), not by running git: every
//! devdb command asks, so it must cost microseconds. Worktrees (`.git` is a file naming the
//! real git dir) work too.

use std::path::{Path, PathBuf};

/// The checked-out state of the working tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Head {
    Branch(String),
    /// A commit checked out without a branch (its hash).
    Detached(String),
    /// A rebase (or `git am`) is in progress: HEAD moves commit by commit.
    Rebasing,
}

impl Head {
    pub fn branch(&self) -> Option<&str> {
        match self {
            Head::Branch(name) => Some(name),
            _ => None,
        }
    }
}

/// A repository's git dir.
#[derive(Debug, Clone)]
pub struct Repo {
    pub git_dir: PathBuf,
    /// The working tree's top folder (where `.git` is).
    pub top: PathBuf,
}

impl Repo {
    /// The repository `start` is in (walking up), if any.
    pub fn find(start: &Path) -> Option<Repo> {
        for dir in start.ancestors() {
            let dot_git = dir.join(".git");
            if dot_git.is_dir() {
                return Some(Repo {
                    git_dir: dot_git,
                    top: dir.to_path_buf(),
                });
            }
            if dot_git.is_file() {
                let text = std::fs::read_to_string(&dot_git).ok()?;
                let target = text.trim().strip_prefix("gitdir:")?.trim();
                return Some(Repo {
                    git_dir: dir.join(target),
                    top: dir.to_path_buf(),
                });
            }
        }
        None
    }

    pub fn head(&self) -> std::io::Result<Head> {
        if self.git_dir.join("rebase-merge").is_dir() || self.git_dir.join("rebase-apply").is_dir()
        {
            return Ok(Head::Rebasing);
        }
        let text = std::fs::read_to_string(self.git_dir.join("HEAD"))?;
        Ok(parse_head(&text))
    }

    /// The main repository's git dir (a worktree's own git dir names it in `commondir`).
    fn common_dir(&self) -> PathBuf {
        std::fs::read_to_string(self.git_dir.join("commondir"))
            .map(|c| self.git_dir.join(c.trim()))
            .unwrap_or_else(|_| self.git_dir.clone())
    }

    /// Whether git is in the middle of writing: a lock on the index or HEAD, or an index written
    /// less than `settle` ago. A checkout writes the working tree, then the index, then HEAD, so
    /// a change under migrations/ is seen before HEAD names the new branch.
    pub fn busy(&self, settle: std::time::Duration) -> bool {
        let locked = ["index.lock", "HEAD.lock"]
            .iter()
            .any(|lock| self.git_dir.join(lock).exists());
        let fresh = std::fs::metadata(self.git_dir.join("index"))
            .and_then(|meta| meta.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < settle));
        locked || fresh
    }

    /// The hooks folder (a worktree's hooks are its main repository's).
    pub fn hooks_dir(&self) -> PathBuf {
        self.common_dir().join("hooks")
    }

    /// Whether the local branch `name` exists: a loose ref, or a line of `packed-refs`.
    pub fn has_branch(&self, name: &str) -> bool {
        let common = self.common_dir();
        if common.join("refs/heads").join(name).is_file() {
            return true;
        }
        let wanted = format!("refs/heads/{name}");
        std::fs::read_to_string(common.join("packed-refs")).is_ok_and(|text| {
            text.lines()
                .any(|line| line.split_once(' ').is_some_and(|(_, r)| r == wanted))
        })
    }

    /// Where `devdb branch on|off` records the developer's choice: inside the git dir, so it
    /// is never committed and never differs between branches.
    pub fn switch_file(&self) -> PathBuf {
        self.git_dir.join("devdb-branches")
    }

    /// `devdb branch on|off`'s choice, when one was made here.
    pub fn switched(&self) -> Option<bool> {
        match std::fs::read_to_string(self.switch_file()).ok()?.trim() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        }
    }
}

pub fn parse_head(text: &str) -> Head {
    let text = text.trim();
    match text.strip_prefix("ref:") {
        Some(reference) => {
            let reference = reference.trim();
            Head::Branch(
                reference
                    .strip_prefix("refs/heads/")
                    .unwrap_or(reference)
                    .to_string(),
            )
        }
        None => Head::Detached(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_is_busy_while_locked_or_just_after_writing_the_index() {
        use std::time::{Duration, SystemTime};
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(&git).unwrap();
        let repo = Repo::find(dir.path()).unwrap();
        let settle = Duration::from_millis(500);
        assert!(!repo.busy(settle), "no index, no lock");
        let index = std::fs::File::create(git.join("index")).unwrap();
        assert!(repo.busy(settle), "an index written just now");
        index
            .set_modified(SystemTime::now() - Duration::from_secs(2))
            .unwrap();
        assert!(!repo.busy(settle), "an index left alone");
        std::fs::write(git.join("HEAD.lock"), "").unwrap();
        assert!(repo.busy(settle), "HEAD being written");
    }

    #[test]
    fn a_branch_exists_as_a_loose_or_a_packed_ref() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads/feature")).unwrap();
        std::fs::write(git.join("refs/heads/feature/login"), "0123\n").unwrap();
        std::fs::write(
            git.join("packed-refs"),
            "# pack-refs with: peeled fully-peeled sorted\n0123 refs/heads/main\n0123 refs/tags/v1\n",
        )
        .unwrap();
        let repo = Repo::find(dir.path()).unwrap();
        assert!(repo.has_branch("feature/login"));
        assert!(repo.has_branch("main"));
        assert!(!repo.has_branch("v1"));
        assert!(!repo.has_branch("gone"));
    }

    #[test]
    fn head_forms() {
        assert_eq!(
            parse_head("ref: refs/heads/feature/ü.x\n"),
            Head::Branch("feature/ü.x".into())
        );
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(parse_head(sha), Head::Detached(sha.into()));
    }

    #[test]
    fn repo_worktree_and_rebase() {
        let dir = std::env::temp_dir().join(format!("devdb-head-{}", uuid::Uuid::new_v4()));
        let git = dir.join("main/.git");
        std::fs::create_dir_all(git.join("worktrees/wt")).unwrap();
        std::fs::create_dir_all(git.join("hooks")).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::create_dir_all(dir.join("main/sub/deeper")).unwrap();
        let repo = Repo::find(&dir.join("main/sub/deeper")).unwrap();
        assert_eq!(repo.head().unwrap(), Head::Branch("main".into()));
        assert_eq!(repo.hooks_dir(), git.join("hooks"));

        // A worktree: `.git` is a file; its HEAD is its own, its hooks the main repository's.
        let wt_git = git.join("worktrees/wt");
        std::fs::write(wt_git.join("HEAD"), "ref: refs/heads/other\n").unwrap();
        std::fs::write(wt_git.join("commondir"), "../..\n").unwrap();
        std::fs::create_dir_all(dir.join("wt")).unwrap();
        std::fs::write(
            dir.join("wt/.git"),
            format!("gitdir: {}\n", wt_git.display()),
        )
        .unwrap();
        let worktree = Repo::find(&dir.join("wt")).unwrap();
        assert_eq!(worktree.head().unwrap(), Head::Branch("other".into()));
        assert_eq!(
            worktree.hooks_dir().canonicalize().unwrap(),
            git.join("hooks").canonicalize().unwrap()
        );

        std::fs::create_dir_all(git.join("rebase-merge")).unwrap();
        assert_eq!(repo.head().unwrap(), Head::Rebasing);
        assert_eq!(repo.switched(), None);
        std::fs::write(repo.switch_file(), "off\n").unwrap();
        assert_eq!(repo.switched(), Some(false));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
