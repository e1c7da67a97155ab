//! The broken-file corpus: every file under `tests/data/broken/` compiled on its own, its
//! diagnostics snapshotted (code, position, message, hint) so a change in what designers
//! read is always a reviewed change.

use std::path::Path;

use engine::{SourceFile, Sources, compile};

fn diagnostics_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("fixture readable");
    // Named by file name only, so snapshots do not depend on the checkout path.
    let name = file
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .to_string();
    let compiled = compile(&Sources {
        files: vec![SourceFile::new(name, text)],
        unreadable: Vec::new(),
    });
    assert!(compiled.rules.is_none() || compiled.errors() == 0);
    compiled
        .diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn broken_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let name = file
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        let report = diagnostics_of(&file);
        assert!(
            !report.is_empty(),
            "{name}: a broken fixture must produce diagnostics"
        );
        insta::assert_snapshot!(name, report);
    }
}

#[test]
fn the_example_challenges_are_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenges");
    let compiled = engine::load(&[dir]).expect("challenges folder");
    assert!(
        compiled.diagnostics.is_empty(),
        "{:#?}",
        compiled.diagnostics
    );
    let rules = compiled.rules.expect("rules");
    assert!(rules.test_count() >= 10);
}
