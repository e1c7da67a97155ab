//! `challenge-lint` on its own, as designers' CI runs it: the example challenges pass, broken
//! files fail with their diagnostics.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers fail loudly by design

use std::path::Path;
use std::process::Command;

fn lint(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_challenge-lint"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .env_remove("CHALLENGE_CONFIG_PATH")
        .output()
        .expect("challenge-lint runs")
}

#[test]
fn the_examples_pass_and_broken_files_fail() {
    let ok = lint(&["challenges/"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: 6 files"));

    let broken = lint(&["--format", "json", "engine/tests/data/broken"]);
    assert_eq!(broken.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&broken.stdout).expect("a JSON report");
    assert!(report["errors"].as_u64().unwrap() > 0, "{report}");
    assert!(!report["diagnostics"].as_array().unwrap().is_empty());
}
