//! The `views/<schema>/<view>.sql` files `prisma db pull` writes next to schema.prisma when the
//! `views` preview feature is on: each view's query as Postgres prints it, reformatted with
//! the same formatter (the `sqlformat` crate, keywords in capitals) Prisma's engine uses, with
//! no newline at the end. Stale `.sql` files one level down or deeper are removed, then every
//! directory left empty (the `views` folder too), as Prisma does.

use std::path::{Path, PathBuf};

use super::super::GenerateError;

/// One file: its path below the `views` folder and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewFile {
    pub path: PathBuf,
    pub content: String,
}

/// The file for the view Prisma names `prisma_name` in `schema`, whose query is `query`.
pub fn view_file(schema: &str, prisma_name: &str, query: &str) -> ViewFile {
    let options = sqlformat::FormatOptions {
        uppercase: true,
        ..sqlformat::FormatOptions::default()
    };
    ViewFile {
        path: Path::new(schema).join(format!("{prisma_name}.sql")),
        content: sqlformat::format(query, &sqlformat::QueryParams::None, options),
    }
}

/// Writes `files` below `dir` and removes what Prisma removes; returns whether anything changed.
pub fn write(dir: &Path, files: &[ViewFile]) -> Result<bool, GenerateError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenerateError::Io { path, source }
    };
    let mut changed = false;
    for file in files {
        let path = dir.join(&file.path);
        if std::fs::read_to_string(&path).is_ok_and(|c| c == file.content) {
            continue;
        }
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        std::fs::write(&path, &file.content).map_err(io(&path))?;
        changed = true;
    }
    let keep: Vec<PathBuf> = files.iter().map(|f| dir.join(&f.path)).collect();
    if dir.is_dir() {
        changed |= remove_stale(dir, 0, &keep)?;
    }
    Ok(changed)
}

/// Removes `.sql` files at depth >= 1 not in `keep`, then empty directories (`dir` included).
fn remove_stale(dir: &Path, depth: usize, keep: &[PathBuf]) -> Result<bool, GenerateError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenerateError::Io { path, source }
    };
    let mut changed = false;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            changed |= remove_stale(&path, depth + 1, keep)?;
        } else if depth >= 1
            && path.extension().is_some_and(|e| e == "sql")
            && !keep.contains(&path)
        {
            std::fs::remove_file(&path).map_err(io(&path))?;
            changed = true;
        }
    }
    if std::fs::read_dir(dir).map_err(io(dir))?.next().is_none() {
        std::fs::remove_dir(dir).map_err(io(dir))?;
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_prisma_without_a_final_newline() {
        let file = view_file(
            "public",
            "Summary",
            " SELECT o.id,\n    count(*) AS cnt\n   FROM orders o\n  GROUP BY o.id;",
        );
        assert_eq!(file.path, Path::new("public/Summary.sql"));
        assert_eq!(
            file.content,
            "SELECT\n  o.id,\n  count(*) AS cnt\nFROM\n  orders o\nGROUP BY\n  o.id;"
        );
    }

    #[test]
    fn removes_stale_sql_below_the_top_and_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let views = dir.path().join("views");
        for (path, text) in [
            ("public/old.sql", "x"),
            ("gone/x.sql", "x"),
            ("public/sub/deep.sql", "x"),
            ("top.sql", "t"),
            ("public/notes.txt", "n"),
        ] {
            let path = views.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let files = [view_file("public", "V", "SELECT 1;")];
        assert!(write(&views, &files).unwrap());
        let mut left: Vec<String> = Vec::new();
        for path in [
            "public/V.sql",
            "public/notes.txt",
            "top.sql",
            "public/old.sql",
            "gone",
            "public/sub",
        ] {
            if views.join(path).exists() {
                left.push(path.to_string());
            }
        }
        assert_eq!(left, ["public/V.sql", "public/notes.txt", "top.sql"]);
        assert!(
            !write(&views, &files).unwrap(),
            "a second run changes nothing"
        );
        // No views at all: the stale files go, and so does the emptied folder.
        std::fs::remove_file(views.join("top.sql")).unwrap();
        std::fs::remove_file(views.join("public/notes.txt")).unwrap();
        assert!(write(&views, &[]).unwrap());
        assert!(!views.exists());
    }
}
