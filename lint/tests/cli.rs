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
        .env_remove("REWARD_CURRENCY_ITEMS")
        .env_remove("REWARD_DELIVERY")
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
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: 7 files"));

    let broken = lint(&["--format", "json", "engine/tests/data/broken"]);
    assert_eq!(broken.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&broken.stdout).expect("a JSON report");
    assert!(report["errors"].as_u64().unwrap() > 0, "{report}");
    assert!(!report["diagnostics"].as_array().unwrap().is_empty());
}

/// Given the service's `REWARD_CURRENCY_ITEMS`, lint checks bundles as the service granting by
/// fulfillment does: the example chest credits GOLD, which needs its coins item.
#[test]
fn bundles_are_checked_against_the_services_currency_items() {
    let unmapped = lint(&["--currency-items", "GEMS=gems-coins", "challenges/"]);
    assert_eq!(unmapped.status.code(), Some(1));
    let said = String::from_utf8_lossy(&unmapped.stdout);
    assert!(
        said.contains("E025 bundle-not-one-fulfillment") && said.contains("treasure-chests.yaml"),
        "{said}"
    );
    let mapped = lint(&["--currency-items", "GEMS=a,GOLD=b", "challenges/"]);
    assert!(
        mapped.status.success(),
        "{}",
        String::from_utf8_lossy(&mapped.stdout)
    );
    let direct = lint(&[
        "--currency-items",
        "GEMS=a",
        "--reward-delivery",
        "direct",
        "challenges/",
    ]);
    assert!(
        direct.status.success(),
        "{}",
        String::from_utf8_lossy(&direct.stdout)
    );
}
