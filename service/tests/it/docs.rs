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

/// ARCHITECTURE.md names paths, files and modules; each must exist, so the map cannot drift
/// from the code.
#[test]
fn architecture_md_names_only_what_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let crates = [
        ("engine", "engine"),
        ("store", "store"),
        ("pipeline", "pipeline"),
        ("service", "service"),
        ("challenge_lint", "lint"),
    ];
    let top = [
        "engine/",
        "store/",
        "lint/",
        "pipeline/",
        "service/",
        "handler/",
        "bench/",
        "e2e/",
        "docs/",
        "migrations/",
        "challenges/",
        "proto/",
        ".ci/",
    ];
    let mut rust_files = Vec::new();
    // Every name the sources declare (fn, struct, enum, trait, type, mod, const, static,
    // and enum variants are not needed: the docs name types and functions).
    let mut declared_items = std::collections::HashSet::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && !name.starts_with('.') && name != "target" {
                stack.push(path);
            } else if name.ends_with(".rs") {
                let source = std::fs::read_to_string(&path).unwrap_or_default();
                for words in source.split_whitespace().collect::<Vec<_>>().windows(2) {
                    if [
                        "fn", "struct", "enum", "trait", "type", "mod", "const", "static",
                    ]
                    .contains(&words[0])
                    {
                        let ident: String = words[1]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        declared_items.insert(ident);
                    }
                }
                rust_files.push(name);
            }
        }
    }
    let our_crates = [
        "engine",
        "store",
        "pipeline",
        "service",
        "challenge_lint",
        "handler",
    ];
    let mut missing = Vec::new();
    for token in text.split('`').skip(1).step_by(2) {
        let token = token.trim();
        // `Type::item`, `krate::…::item` (optionally with `()`): the last name must be declared.
        let path = token.strip_suffix("()").unwrap_or(token);
        let segments: Vec<&str> = path.split("::").collect();
        if segments.len() > 1
            && segments
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
            && (our_crates.contains(&segments[0]) || declared_items.contains(segments[0]))
            && !declared_items.contains(*segments.last().unwrap())
        {
            missing.push(token.to_string());
        }
        if top.iter().any(|t| token.starts_with(t)) && !token.contains(' ') {
            let path = token.split(['#', ' ']).next().unwrap();
            if !root.join(path).exists() {
                missing.push(token.to_string());
            }
        } else if let Some((krate, rest)) = token.split_once("::") {
            let Some((_, dir)) = crates.iter().find(|(name, _)| *name == krate) else {
                continue;
            };
            let module = rest.split("::").next().unwrap();
            let is_module = module.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            let src = root.join(dir).join("src");
            let declared = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
            if is_module
                && !src.join(format!("{module}.rs")).exists()
                && !src.join(module).join("mod.rs").exists()
                && !declared.contains(module)
            {
                missing.push(token.to_string());
            }
        } else if token.ends_with(".rs")
            && !token.contains('/')
            && !rust_files.iter().any(|f| f == token)
        {
            missing.push(token.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md names what does not exist: {missing:?}"
    );
}

/// One line of ARCHITECTURE.md's "Absences (checked)": under `path`, no Rust file names one of
/// `names` (as a whole word) or contains one of `texts`.
#[derive(Debug)]
struct Absence {
    path: String,
    names: Vec<String>,
    texts: Vec<String>,
}

fn absences(architecture: &str) -> Vec<Absence> {
    let section = architecture
        .split("\n## ")
        .find(|s| s.starts_with("Absences (checked)"))
        .expect("ARCHITECTURE.md has a section `## Absences (checked)`");
    // A rule is a list item, continued on the indented lines that follow it.
    let mut items: Vec<String> = Vec::new();
    for line in section.lines() {
        if let Some(item) = line.strip_prefix("- ") {
            items.push(item.to_string());
        } else if let (Some(last), true) = (items.last_mut(), line.starts_with("  ")) {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    items
        .iter()
        .map(|item| {
            let (mode, words) = if let Some(at) = item.find(" never names ") {
                ("names", &item[at..])
            } else if let Some(at) = item.find(" never contains ") {
                ("contains", &item[at..])
            } else {
                panic!("an absence says `never names` or `never contains`: {item}");
            };
            let path = item
                .split('`')
                .nth(1)
                .expect("a path in backticks")
                .to_string();
            let list = &words[..words.find("`: ").map_or(words.len(), |end| end + 1)];
            let tokens: Vec<String> = list
                .split('`')
                .skip(1)
                .step_by(2)
                .map(String::from)
                .collect();
            assert!(!tokens.is_empty(), "an absence names something: {item}");
            let (names, texts) = if mode == "names" {
                (tokens, Vec::new())
            } else {
                (Vec::new(), tokens)
            };
            Absence { path, names, texts }
        })
        .collect()
}

fn rust_files(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)
        .expect("a folder the absence names")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Whether `word` stands in `line` as a whole word (not part of a longer name).
fn names_word(line: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// What ARCHITECTURE.md says must not be there is not there (comments aside), so a stated
/// absence cannot quietly stop being true.
#[test]
fn architecture_md_absences_hold() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let rules = absences(&text);
    assert!(rules.len() >= 8, "{rules:?}");
    let mut broken = Vec::new();
    for rule in &rules {
        let path = root.join(&rule.path);
        assert!(
            path.exists(),
            "ARCHITECTURE.md's absence names `{}`, which does not exist",
            rule.path
        );
        for file in rust_files(&path) {
            let source = std::fs::read_to_string(&file).expect("a Rust file");
            for (number, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                let found = rule
                    .names
                    .iter()
                    .find(|name| names_word(code, name))
                    .or_else(|| rule.texts.iter().find(|text| code.contains(text.as_str())));
                if let Some(found) = found {
                    let file = file.strip_prefix(&root).unwrap_or(&file).display();
                    broken.push(format!("{file}:{}: `{found}`", number + 1));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "docs/ARCHITECTURE.md says these are absent, but they are there: {broken:#?}"
    );
}
