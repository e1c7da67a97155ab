//! The operations docs cannot drift from the code: every setting the binaries read is in the
//! configuration reference.

use clap::CommandFactory;

#[test]
fn every_environment_variable_is_in_the_configuration_reference() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md"),
    )
    .expect("docs/operations.md");
    let command = service::config::ServeConfig::command();
    let names: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .chain(["DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"].map(String::from))
        .collect();
    assert!(names.len() > 25, "{names:?}");
    for name in names {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/operations.md does not document `{name}`"
        );
    }
}
