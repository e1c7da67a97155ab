//! YAML (and JSON, a YAML subset) to a JSON value tree, remembering where every node is.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::Value;

use super::{Document, NodePos, ScalarLayout, SourceFile, child};
use crate::diagnostic::{Code, Diagnostic, Pos};

/// The deepest nesting of mappings and sequences a challenge file may have. The schema needs
/// about 8; the limit keeps a malformed or hostile file from exhausting the stack.
pub const MAX_NESTING: usize = 64;

/// Where `text` first nests deeper than [`MAX_NESTING`], if it does. Reads parser events
/// only, so no tree is built. Syntax errors are left to the loader, which reports them.
fn too_deep(text: &str) -> Option<saphyr::Marker> {
    use saphyr_parser::{Event, Parser};
    let mut depth = 0_usize;
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else {
            return None;
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(span.start);
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses `file`; `None` (with a diagnostic) when the YAML itself is broken.
pub(super) fn parse(
    file: Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Value, Document)> {
    if let Some(marker) = too_deep(&file.text) {
        diagnostics.push(
            Diagnostic::new(
                Code::YamlSyntax,
                format!(
                    "YAML nests deeper than {MAX_NESTING} levels here; a challenge file needs far \
                     fewer (check the indentation)"
                ),
            )
            .at(
                file.path.clone(),
                Some(Pos::new(marker.line().max(1), marker.col() + 1)),
            ),
        );
        return None;
    }
    let docs = match MarkedYaml::load_from_str(&file.text) {
        Ok(docs) => docs,
        Err(err) => {
            let marker = err.marker();
            let (message, hint) = in_designers_words(&file.text, marker.line(), err.info());
            let mut diagnostic = Diagnostic::new(Code::YamlSyntax, message).at(
                file.path.clone(),
                Some(Pos::new(marker.line().max(1), marker.col() + 1)),
            );
            diagnostic.hint = hint;
            diagnostics.push(diagnostic);
            return None;
        }
    };
    let lines: Vec<&str> = file.text.lines().collect();
    let mut converter = Converter {
        lines: &lines,
        positions: HashMap::new(),
        problems: Vec::new(),
    };
    let value = match docs.as_slice() {
        [] => Value::Object(Default::default()),
        [doc] => converter.convert(doc, String::new(), None),
        [first, second, ..] => {
            converter.problem(
                second,
                "a challenge file holds one YAML document; split the others into their own files",
            );
            converter.convert(first, String::new(), None)
        }
    };
    let Converter {
        positions,
        problems,
        ..
    } = converter;
    for (pos, message) in problems {
        diagnostics
            .push(Diagnostic::new(Code::InvalidValue, message).at(file.path.clone(), Some(pos)));
    }
    Some((value, Document { file, positions }))
}

struct Converter<'a> {
    lines: &'a [&'a str],
    positions: HashMap<String, NodePos>,
    problems: Vec<(Pos, String)>,
}

impl Converter<'_> {
    fn convert(&mut self, node: &MarkedYaml<'_>, pointer: String, key: Option<Pos>) -> Value {
        let pos = position(node);
        let layout = match &node.data {
            YamlData::Value(_) | YamlData::Representation(..) => self.layout(node, key),
            _ => ScalarLayout::NotScalar,
        };
        self.positions.insert(
            pointer.clone(),
            NodePos {
                key,
                value: pos,
                layout,
            },
        );
        match &node.data {
            YamlData::Value(scalar) => scalar_value(scalar),
            YamlData::Representation(text, ..) => Value::String(text.to_string()),
            YamlData::Sequence(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        self.convert(item, child(&pointer, &index.to_string()), None)
                    })
                    .collect(),
            ),
            YamlData::Mapping(entries) => {
                let mut object = serde_json::Map::new();
                for (key_node, value_node) in entries {
                    let Some(key_text) = key_text(key_node) else {
                        self.problem(key_node, "mapping keys must be plain text");
                        continue;
                    };
                    let child_pointer = child(&pointer, &key_text);
                    let value = self.convert(value_node, child_pointer, Some(position(key_node)));
                    object.insert(key_text, value);
                }
                Value::Object(object)
            }
            YamlData::Tagged(_, inner) => self.convert(inner, pointer, key),
            YamlData::Alias(_) => {
                self.problem(
                    node,
                    "YAML aliases (*name) are not supported in challenge files",
                );
                Value::Null
            }
            YamlData::BadValue => {
                self.problem(node, "this value cannot be read");
                Value::Null
            }
        }
    }

    fn problem(&mut self, node: &MarkedYaml<'_>, message: &str) {
        self.problems.push((position(node), message.to_string()));
    }

    /// Tells quoted scalars (text starts after the quote) from block scalars and other values
    /// that start on a line after their key (text starts where the span starts).
    fn layout(&self, node: &MarkedYaml<'_>, key: Option<Pos>) -> ScalarLayout {
        let start = position(node);
        let first_char = self
            .lines
            .get(start.line - 1)
            .and_then(|line| line.chars().nth(start.column - 1));
        if matches!(first_char, Some('"' | '\'')) {
            return ScalarLayout::Quoted;
        }
        match key {
            Some(key) if start.line > key.line => ScalarLayout::Block {
                first_line: start.line,
                column: start.column,
            },
            _ => ScalarLayout::Plain,
        }
    }
}

fn position(node: &MarkedYaml<'_>) -> Pos {
    Pos::new(node.span.start.line().max(1), node.span.start.col() + 1)
}

fn key_text(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(text)) => Some(text.to_string()),
        YamlData::Value(Scalar::Integer(number)) => Some(number.to_string()),
        YamlData::Value(Scalar::Boolean(flag)) => Some(flag.to_string()),
        YamlData::Value(Scalar::FloatingPoint(number)) => Some(number.to_string()),
        YamlData::Value(Scalar::Null) => Some("null".to_string()),
        YamlData::Representation(text, ..) => Some(text.to_string()),
        YamlData::Tagged(_, inner) => key_text(inner),
        _ => None,
    }
}

fn scalar_value(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(flag) => Value::Bool(*flag),
        Scalar::Integer(number) => Value::from(*number),
        Scalar::FloatingPoint(number) => serde_json::Number::from_f64(number.into_inner())
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(number.to_string())),
        Scalar::String(text) => Value::String(text.to_string()),
    }
}

/// A YAML syntax error at `line` (1-based) as a designer reads it: most are indentation, so say
/// which line is indented how against the line above; the parser's own words go in the hint.
fn in_designers_words(text: &str, line: usize, parser: &str) -> (String, Option<String>) {
    let hint = Some(format!("the YAML parser says: {parser}"));
    let raw = || (format!("YAML syntax error: {parser}"), None);
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let at = line.max(1) - 1;
    let (Some(here), Some(above)) = (
        lines.get(at),
        (lines[..at.min(lines.len())].iter().rev())
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')),
    ) else {
        return raw();
    };
    let (mine, theirs) = (indent(here), indent(above));
    let above_text = above.trim();
    let opens_block = above_text.ends_with(':');
    let message = if mine > theirs && !opens_block {
        format!(
            "line {line}: this line is indented deeper ({mine} spaces) than `{above_text}` above it ({theirs}): \
             keys of one mapping start in the same column"
        )
    } else if mine < theirs && !here.trim_start().starts_with("- ") {
        format!(
            "line {line}: this line is indented less ({mine} spaces) than `{above_text}` above it ({theirs}): \
             keys of one mapping start in the same column, a new list item starts with `- `"
        )
    } else {
        return raw();
    };
    (message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Value, Document, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let (value, doc) =
            parse(Arc::new(SourceFile::new("t.yaml", text)), &mut diagnostics).expect("parses");
        (value, doc, diagnostics)
    }

    #[test]
    fn positions_of_keys_and_values() {
        let (value, doc, diags) = parse_str("a:\n  - x: 1\n    y: \"q\"\n");
        assert!(diags.is_empty());
        assert_eq!(value["a"][0]["y"], "q");
        let node = doc.node("/a/0/y").expect("node");
        assert_eq!(node.key, Some(Pos::new(3, 5)));
        assert_eq!(node.value, Pos::new(3, 8));
        assert_eq!(node.layout, ScalarLayout::Quoted);
    }

    #[test]
    fn block_scalar_layout() {
        let (_, doc, _) = parse_str("when: |\n  event.value > 1\n");
        assert_eq!(
            doc.node("/when").map(|n| n.layout),
            Some(ScalarLayout::Block {
                first_line: 2,
                column: 3
            })
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 20_000;
        let mut text = String::from("version: 1\nchallenges:\n");
        for level in 1..=depth {
            text.push_str(&" ".repeat(level));
            text.push_str("a:\n");
        }
        text.push_str(&" ".repeat(depth + 1));
        text.push_str("b: 1\n");
        let mut diagnostics = Vec::new();
        let parsed = parse(
            Arc::new(SourceFile::new("deep.yaml", text)),
            &mut diagnostics,
        );
        assert!(parsed.is_none());
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(
            diagnostics[0].message.contains("deeper than 64 levels"),
            "{diagnostics:?}"
        );
        // Flow style too, at the same limit.
        let flow = format!(
            "version: 1\nchallenges: {}{}\n",
            "[".repeat(65),
            "]".repeat(65)
        );
        let mut diagnostics = Vec::new();
        assert!(
            parse(
                Arc::new(SourceFile::new("flow.yaml", flow)),
                &mut diagnostics
            )
            .is_none()
        );
        let fine = format!(
            "version: 1\nchallenges: {}{}\n",
            "[".repeat(60),
            "]".repeat(60)
        );
        let mut diagnostics = Vec::new();
        assert!(parse(Arc::new(SourceFile::new("ok.yaml", fine)), &mut diagnostics).is_some());
    }

    #[test]
    fn syntax_error_has_position() {
        let mut diagnostics = Vec::new();
        let parsed = parse(
            Arc::new(SourceFile::new("t.yaml", "a: [1, 2\nb: 3\n")),
            &mut diagnostics,
        );
        assert!(parsed.is_none());
        assert_eq!(diagnostics[0].code, Code::YamlSyntax);
        assert!(diagnostics[0].pos.is_some());
    }

    #[test]
    fn on_is_a_string_key() {
        // YAML 1.1 would read `on` as `true`; the 1.2 core schema keeps it a string.
        let (value, _, _) = parse_str("on: login\n");
        assert_eq!(value["on"], "login");
    }
}
