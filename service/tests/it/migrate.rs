//! `service migrate` on the embedded database: up, down, up again, and a clear error for an
//! unsupported URL.

use std::process::Command;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn migrate_applies_and_reverts_the_embedded_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let migrate = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_service"))
            .arg("migrate")
            .args(["--database-url", &url])
            .args(extra)
            .output()
            .expect("service runs")
    };
    let never = migrate(&["--down", "1"]);
    assert!(
        never.status.success(),
        "{}",
        String::from_utf8_lossy(&never.stderr)
    );
    assert!(
        stdout(&never).contains("nothing to revert"),
        "{}",
        stdout(&never)
    );
    let up = migrate(&[]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(stdout(&up).contains("is up to date"));
    let down = migrate(&["--down", "1"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(stdout(&down).contains("reverted the last 1 migration(s)"));
    assert!(migrate(&[]).status.success());
    let bad = Command::new(env!("CARGO_BIN_EXE_service"))
        .args(["migrate", "--database-url", "mysql://nowhere"])
        .output()
        .expect("service runs");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported database URL"));
}
