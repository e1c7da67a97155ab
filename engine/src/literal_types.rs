//! Comparisons of an `event.additional` field with a literal (`event.additional.kills >= 10`),
//! found in an expression's text: lint checks them against declared payloads (W105), and at run
//! time a predicate that is false on one whose payload value has another type than the literal
//! is an evaluation error ("compared text \"12\" with number 10"), counted and explained,
//! where Rhai alone answers `false` in silence.

use crate::event::Event;
use crate::model::FieldType;

/// A field compared with a literal, and where the field's read starts (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiteralComparison {
    /// The path below `additional`.
    path: Vec<String>,
    literal: String,
    kind: FieldType,
    line: usize,
    column: usize,
}

/// The comparisons of `event.additional` fields with a literal in `text`.
pub(crate) fn literal_comparisons(text: &str) -> Vec<LiteralComparison> {
    let chars: Vec<char> = text.chars().collect();
    crate::rhai_env::additional_reads(text)
        .into_iter()
        .filter_map(|read| {
            let (literal, kind) = compared_literal(&chars, read.start, read.end)?;
            Some(LiteralComparison {
                path: read.path[1..].to_vec(),
                literal,
                kind,
                line: read.line,
                column: read.column,
            })
        })
        .collect()
}

/// The first comparison in `comparisons` whose field's value in `event` has another type than
/// its literal, and than every other literal the same field is compared with (`level >= 10 ||
/// level == "max"` expects either a number or text).
pub(crate) fn first_mismatch(
    comparisons: &[LiteralComparison],
    event: &Event,
) -> Option<crate::rhai_env::EvalError> {
    comparisons.iter().find_map(|comparison| {
        let mismatch = comparison.mismatch(event)?;
        let expected_elsewhere = (comparisons.iter())
            .any(|other| other.path == comparison.path && other.mismatch(event).is_none());
        (!expected_elsewhere).then_some(mismatch)
    })
}

impl LiteralComparison {
    /// How `event`'s value of the field and the literal differ in type, if they do:
    /// "compared text \"12\" with number 10". A missing value compares false by design.
    pub(crate) fn mismatch(&self, event: &Event) -> Option<crate::rhai_env::EvalError> {
        let shown = event.with_additional(&self.path, |value| {
            let found = if value.is_string() {
                FieldType::String
            } else if value.is_int() || value.is_float() {
                FieldType::Number
            } else if value.is_bool() {
                FieldType::Bool
            } else {
                return None;
            };
            if found == self.kind {
                return None;
            }
            Some(match found {
                FieldType::String => format!("text {:?}", value.to_string()),
                FieldType::Number => format!("number {value}"),
                _ => value.to_string(),
            })
        })?;
        let literal = match self.kind {
            FieldType::String => format!("text {}", self.literal),
            FieldType::Number => format!("number {}", self.literal),
            _ => self.literal.clone(),
        };
        Some(crate::rhai_env::EvalError {
            message: format!(
                "compared {shown} with {literal}: `event.additional.{}` is never equal to or ordered with a value of another type",
                self.path.join(".")
            ),
            position: Some((self.line, self.column)),
        })
    }
}

const OPERATORS: [&str; 6] = ["==", "!=", "<=", ">=", "<", ">"];

/// The literal a read spanning `start..end` is compared with, and its type: the one after the
/// operator that follows it, or before the operator that precedes it.
pub(crate) fn compared_literal(
    chars: &[char],
    start: usize,
    end: usize,
) -> Option<(String, FieldType)> {
    let after: String = chars[end..].iter().collect();
    let after = after.trim_start();
    if let Some(op) = OPERATORS.iter().find(|op| after.starts_with(**op)) {
        return literal_at_start(after[op.len()..].trim_start());
    }
    let before: String = chars[..start].iter().collect();
    let before = before.trim_end();
    let op = OPERATORS.iter().find(|op| before.ends_with(**op))?;
    literal_at_end(before[..before.len() - op.len()].trim_end())
}

fn literal_at_start(text: &str) -> Option<(String, FieldType)> {
    if let Some(rest) = text.strip_prefix('"') {
        let end = rest.find('"')?;
        return Some((format!("\"{}\"", &rest[..end]), FieldType::String));
    }
    let word: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    classify(&word)
}

fn literal_at_end(text: &str) -> Option<(String, FieldType)> {
    if let Some(rest) = text.strip_suffix('"') {
        let start = rest.rfind('"')?;
        return Some((format!("\"{}\"", &rest[start + 1..]), FieldType::String));
    }
    let word: String = {
        let mut word: Vec<char> = text
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        word.reverse();
        word.into_iter().collect()
    };
    classify(&word)
}

fn classify(word: &str) -> Option<(String, FieldType)> {
    match word {
        "true" | "false" => Some((word.to_string(), FieldType::Bool)),
        _ if !word.is_empty() && word.parse::<f64>().is_ok() => {
            Some((word.to_string(), FieldType::Number))
        }
        _ => None,
    }
}
