//! `service lint` as designers and CI run it: the real binary, its output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn broken() -> PathBuf {
    repo().join("engine/tests/data/broken")
}

fn lint(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_service"))
        .current_dir(dir)
        .arg("lint")
        .args(args)
        .env_remove("CHALLENGE_CONFIG_PATH")
        .output()
        .expect("service binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_example_challenges_pass() {
    let output = lint(&repo(), &["challenges"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).starts_with("ok: 7 files"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn the_default_path_is_challenges() {
    let output = lint(&repo(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn human_output_quotes_the_offending_line() {
    let output = lint(&broken(), &["unknown-keys.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn json_output_is_one_document_with_counts() {
    let output = lint(&broken(), &["--format", "json", "."]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON document");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    let errors = diagnostics
        .iter()
        .filter(|d| d["severity"] == "error")
        .count();
    let warnings = diagnostics
        .iter()
        .filter(|d| d["severity"] == "warning")
        .count();
    assert_eq!(report["errors"], errors);
    assert_eq!(report["warnings"], warnings);
    assert!(
        errors > 40 && warnings > 3,
        "{errors} errors, {warnings} warnings"
    );
    let typo = diagnostics
        .iter()
        .find(|d| d["message"] == "unknown key `whn` in goal")
        .expect("the `whn` typo is reported");
    assert_eq!(typo["code"], "E002 unknown-key");
    assert_eq!(typo["file"], "./unknown-keys.yaml");
    assert_eq!(
        (typo["line"].as_u64(), typo["column"].as_u64()),
        (Some(13), Some(9))
    );
    assert_eq!(typo["hint"], "did you mean `when`?");
}

#[test]
fn github_output_annotates_files() {
    let output = lint(&broken(), &["--format", "github", "misspelt-property.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.lines().any(|l| l.starts_with(
            "::error file=misspelt-property.yaml,line=10,col=40,title=E021 unknown-event-property::"
        )),
        "{text}"
    );
}

#[test]
fn warnings_fail_only_when_denied() {
    assert_eq!(lint(&broken(), &["warnings.yaml"]).status.code(), Some(0));
    assert_eq!(
        lint(&broken(), &["--deny-warnings", "warnings.yaml"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn a_missing_folder_cannot_run() {
    let output = lint(&repo(), &["no-such-folder"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-folder"));
}

#[test]
fn convert_prints_yaml_for_a_legacy_file() {
    let output = lint(
        &repo(),
        &["--convert", "engine/tests/data/legacy/challenges.json"],
    );
    assert_eq!(output.status.code(), Some(0));
    let yaml = stdout(&output);
    assert!(yaml.contains("- id: daily-wins"), "{yaml}");
    assert!(yaml.contains("relative: true"), "{yaml}");
}
