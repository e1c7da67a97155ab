//! The container files do what the deployment specification's commands expect: the gRPC port
//! its grpcurl commands use, the `.env` it tells operators to copy and edit, and an image that
//! can write its embedded database. (Read as files: there is no container engine in CI.)

use std::path::Path;

use saphyr::{LoadableYamlNode, Yaml};

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name))
        .unwrap_or_else(|err| panic!("{name}: {err}"))
}

fn strings(node: &Yaml<'_>) -> Vec<String> {
    match node {
        Yaml::Sequence(items) => items.iter().flat_map(strings).collect(),
        other => other.as_str().map(str::to_string).into_iter().collect(),
    }
}

#[test]
fn compose_publishes_6565_and_reads_the_operators_env_file() {
    let text = repo_file("docker-compose.yml");
    let docs = Yaml::load_from_str(&text).expect("docker-compose.yml is YAML");
    let services = &docs[0]["services"];
    assert!(
        strings(&services["challenge-event-handler"]["ports"]).contains(&"6565:6565".to_string()),
        "the handler's gRPC must be on the host's 6565 (the specification's grpcurl commands)"
    );
    for name in ["migrate", "challenge-service", "challenge-event-handler"] {
        let files = strings(&services[name]["env_file"]);
        assert_eq!(
            files.last().map(String::as_str),
            Some(".env"),
            "{name} must read the .env operators copy from .env.example and edit: {files:?}"
        );
    }
}

#[test]
fn the_image_writes_its_embedded_database_to_the_data_volume() {
    let dockerfile = repo_file("Dockerfile");
    let runtime_stage = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("a multi-stage Dockerfile");
    let workdir = runtime_stage
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("WORKDIR "));
    assert_eq!(
        workdir,
        Some("/app/data"),
        "the embedded default (challenge.db in the working directory) must land in the volume"
    );
    assert!(
        runtime_stage.contains("VOLUME /app/data"),
        "/app/data is a volume"
    );
    assert!(
        runtime_stage.contains("chown challenge /app/data"),
        "the non-root user owns /app/data"
    );
}
