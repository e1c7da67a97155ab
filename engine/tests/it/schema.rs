//! The JSON Schema shipped for editors is the one the code generates.

#[test]
fn shipped_schema_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/challenge.schema.json");
    let generated = serde_json::to_string_pretty(&engine::model::json_schema())
        .expect("schema serializes")
        + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).expect("write schema");
    }
    let shipped = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        shipped == generated,
        "docs/challenge.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p engine schema` (or `cargo run -p service -- schema > docs/challenge.schema.json`)"
    );
}
