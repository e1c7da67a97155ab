//! Reading challenge files: a folder (or single files) of YAML, plus the reference
//! implementation's legacy `challenges.json`, into positioned documents.

mod decode;
pub mod legacy;
mod serde_words;
mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::diagnostic::{Code, Diagnostic, Pos};
use crate::model::ChallengeFile;

pub(crate) use decode::decode_document;

/// A challenge file as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    fn is_legacy_json(&self) -> bool {
        self.path.extension().is_some_and(|ext| ext == "json")
    }
}

/// The set of files a rule set is built from, with the content hash that identifies it.
#[derive(Debug, Clone)]
pub struct Sources {
    pub files: Vec<SourceFile>,
    /// Files that could not be read (the diagnostics say why).
    pub unreadable: Vec<Diagnostic>,
}

impl Sources {
    /// SHA-256 over every file's name and content, in path order: equal on every replica that
    /// loaded the same files.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for file in &self.files {
            hasher.update(file.path.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(file.text.as_bytes());
            hasher.update([0]);
        }
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// The paths given cannot be read at all (the folder is missing, say): nothing to lint or load.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads every `.yaml`, `.yml` and `.json` file under `paths` (folders recursively, hidden
/// entries skipped so a Kubernetes ConfigMap's `..data` links are read once, through the
/// visible symlinks). Files come back sorted by path, so the rule order is stable.
pub fn read_sources(paths: &[PathBuf]) -> Result<Sources, SourceError> {
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| SourceError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            collect_dir(path, &mut found, &mut unreadable).map_err(|source| SourceError::Io {
                path: path.clone(),
                source,
            })?;
        } else {
            found.push(path.clone());
        }
    }
    found.sort();
    found.dedup();
    let mut files = Vec::new();
    for path in found {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push(SourceFile { path, text }),
            Err(err) => unreadable.push(
                Diagnostic::new(Code::UnreadableFile, format!("cannot read file: {err}"))
                    .at(path, None),
            ),
        }
    }
    Ok(Sources { files, unreadable })
}

/// Collects the challenge files under `dir`. A visible entry that cannot be looked at (a
/// dangling link, no permission) is a diagnostic, not skipped: its goals would vanish silently.
fn collect_dir(
    dir: &Path,
    found: &mut Vec<PathBuf>,
    unreadable: &mut Vec<Diagnostic>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `metadata` follows symlinks: ConfigMap files are symlinks into `..data/`.
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(err) => {
                let what = if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink()) {
                    format!("a link to nothing (dangling symlink): {err}")
                } else {
                    format!("cannot look at this entry: {err}")
                };
                unreadable.push(Diagnostic::new(Code::UnreadableFile, what).at(path, None));
                continue;
            }
        };
        if meta.is_dir() {
            collect_dir(&path, found, unreadable)?;
        } else if is_challenge_file(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_challenge_file(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| matches!(ext, "yaml" | "yml" | "json"))
}

/// Where a value sits in its file, and how its scalar is written (for mapping Rhai positions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodePos {
    pub key: Option<Pos>,
    pub value: Pos,
    pub layout: ScalarLayout,
}

/// How a scalar's text is laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarLayout {
    Plain,
    Quoted,
    /// `|` or `>` block: the text starts on `first_line` at 1-based column `column`.
    Block {
        first_line: usize,
        column: usize,
    },
    NotScalar,
}

/// A parsed file: a JSON value tree plus the position of every node, keyed by JSON pointer.
#[derive(Debug)]
pub(crate) struct Document {
    pub file: Arc<SourceFile>,
    pub positions: HashMap<String, NodePos>,
}

impl Document {
    /// The position of the value at `pointer`, or of its closest ancestor.
    pub fn value_pos(&self, pointer: &str) -> Option<Pos> {
        self.closest(pointer).map(|node| node.value)
    }

    /// The position of the key of the entry at `pointer` (falls back to the value's).
    pub fn key_pos(&self, pointer: &str) -> Option<Pos> {
        self.closest(pointer)
            .map(|node| node.key.unwrap_or(node.value))
    }

    pub fn node(&self, pointer: &str) -> Option<&NodePos> {
        self.positions.get(pointer)
    }

    fn closest(&self, pointer: &str) -> Option<&NodePos> {
        let mut current = pointer;
        loop {
            if let Some(node) = self.positions.get(current) {
                return Some(node);
            }
            let cut = current.rfind('/')?;
            current = &current[..cut];
        }
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

/// Appends a key to a JSON pointer, escaping as RFC 6901 says.
pub(crate) fn child(pointer: &str, key: &str) -> String {
    let escaped = key.replace('~', "~0").replace('/', "~1");
    format!("{pointer}/{escaped}")
}

/// Where a decoded challenge and its goals and tests sit in their document (JSON pointers),
/// so later stages can point at them.
#[derive(Debug, Clone)]
pub(crate) struct ChallengeOrigin {
    pub pointer: String,
    pub goals: Vec<String>,
    pub tests: Vec<String>,
    /// Goals written in the file, decoded or not.
    pub declared_goals: usize,
    /// The ids of the goals that did not decode (their errors are reported): a rule test that
    /// names one is not run, and does not report the goal as unknown.
    pub undecoded_goals: Vec<String>,
    /// A key of the challenge did not decode (reported) and was left out: what it would have
    /// changed is not checked further (its rule tests are not run).
    pub broken: bool,
}

/// A decoded file: the model, where each part came from, and the positions.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    pub model: ChallengeFile,
    pub origins: Vec<ChallengeOrigin>,
    pub document: Document,
}

/// Parses and decodes one file, YAML or legacy JSON, into the file model.
pub(crate) fn parse_file(
    file: Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ParsedFile> {
    let (value, document) = yaml::parse(file.clone(), diagnostics)?;
    let (model, origins) = if file.is_legacy_json() {
        legacy::decode(&value, &document, diagnostics)?
    } else {
        decode_document(value, &document, diagnostics)
    };
    Some(ParsedFile {
        model,
        origins,
        document,
    })
}
