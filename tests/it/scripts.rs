//! The decisions of scripts/engine.sh's checks, against fake filesystem trees: each check must
//! look for the exact artifact it needs (a fresh machine has libclang-cpp, which is not the
//! libclang bindgen loads, and a removed package's leftover config is not an installed one).

use std::path::Path;
use std::process::Command;

fn engine_sh() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/engine.sh")
        .display()
        .to_string()
}

/// Runs `call` in bash after sourcing engine.sh (with LIBCLANG_PATH unset); true on exit 0.
fn check(call: &str) -> bool {
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}'; {call}", engine_sh()))
        .env_remove("LIBCLANG_PATH")
        .status()
        .expect("bash runs");
    status.success()
}

/// A fake root holding `files` (created empty).
fn tree(files: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for file in files {
        let path = root.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }
    root
}

fn has_libclang(files: &[&str]) -> bool {
    let root = tree(files);
    check(&format!("has_libclang '{}'", root.path().display()))
}

#[test]
fn has_libclang_wants_the_library_bindgen_loads() {
    assert!(!has_libclang(&[]), "an empty machine has none");
    assert!(
        !has_libclang(&["usr/lib/x86_64-linux-gnu/libclang-cpp.so.14"]),
        "libclang-cpp (preinstalled on fresh machines) is not libclang"
    );
    assert!(
        !has_libclang(&["usr/lib/llvm-14/lib/libclang-cpp.so.14"]),
        "not in the LLVM folder either"
    );
    assert!(has_libclang(&["usr/lib/x86_64-linux-gnu/libclang-14.so.1"]));
    assert!(has_libclang(&["usr/lib/llvm-14/lib/libclang.so"]));
    assert!(has_libclang(&["usr/lib/llvm-16/lib/libclang.so.1"]));
    assert!(has_libclang(&["usr/lib/x86_64-linux-gnu/libclang-16.so"]));
}

#[test]
fn a_libclang_path_folder_counts_only_with_a_libclang_in_it() {
    let with = tree(&["opt/llvm/libclang.so"]);
    let without = tree(&["opt/llvm/libclang-cpp.so.14"]);
    let libclang_in = |root: &tempfile::TempDir| {
        check(&format!(
            "libclang_in '{}'",
            root.path().join("opt/llvm").display()
        ))
    };
    assert!(libclang_in(&with));
    assert!(!libclang_in(&without));
}

#[test]
fn installed_means_installed_not_config_files_left() {
    // dpkg-query answers for any package name; "deinstall" (config files left) is not installed.
    let fake_dpkg = tempfile::tempdir().unwrap();
    let script = fake_dpkg.path().join("dpkg-query");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$*\" in\n  *present*) printf installed ;;\n  *leftover*) printf config-files ;;\n  *) exit 1 ;;\nesac\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    let path = format!(
        "{}:{}",
        fake_dpkg.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let installed = |package: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(format!("source '{}'; installed {package}", engine_sh()))
            .env("PATH", &path)
            .status()
            .unwrap()
            .success()
    };
    assert!(installed("present"));
    assert!(!installed("leftover"));
    assert!(!installed("absent"));
}

#[test]
fn each_postgres_major_has_its_debian_release_and_images() {
    let answer = |call: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("source '{}'; {call}", engine_sh()))
            .env_remove("DEVDB_LOCAL_IMAGE")
            .env_remove("DEVDB_LOCAL_IMAGE_17")
            .env_remove("DEVDB_BASE_IMAGE")
            .env_remove("DEVDB_BASE_IMAGE_17")
            .env_remove("DEVDB_LOCAL_IMAGE_18")
            .env_remove("DEVDB_BASE_IMAGE_18")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    assert_eq!(answer("pg_suite 15"), (true, "bookworm".to_string()));
    assert_eq!(answer("pg_suite 17"), (true, "trixie".to_string()));
    assert!(!answer("pg_suite 9").0, "an unknown major is an error");
    assert_eq!(
        answer("local_image_for 17"),
        (true, "devdb-postgres:17".to_string())
    );
    assert_eq!(
        answer("local_image_for 15"),
        (true, "devdb-postgres:15".to_string())
    );
    assert_eq!(
        answer("base_image_for 17"),
        (true, "devdb-base:trixie".to_string())
    );
    assert_eq!(answer("pg_suite 18"), (true, "forky".to_string()));
    assert_eq!(
        answer("local_image_for 18"),
        (true, "devdb-postgres:18".to_string())
    );
    assert_eq!(
        answer("base_image_for 18"),
        (true, "devdb-base:forky".to_string())
    );
    assert_eq!(answer("layout_for 18"), (true, "pg18".to_string()));
    assert_eq!(answer("layout_for 17"), (true, "legacy".to_string()));
}

#[test]
fn an_unknown_major_is_refused_not_handed_the_15_image() {
    for call in [
        "local_image_for 16",
        "base_image_for 16",
        "pg_suite 16",
        "local_image_for ''",
        // Refused before any build or engine call: no image name is known for 16.
        "ensure_local_postgres_image 16",
    ] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("source '{}'; {call}", engine_sh()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{call} must fail");
        assert!(
            String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "{call} must print no image name"
        );
        assert!(
            stderr.contains("known majors: 15, 17, 18"),
            "{call} must say which majors exist: {stderr}"
        );
    }
}
