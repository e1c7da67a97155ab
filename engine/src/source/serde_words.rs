//! serde's error messages in a designer's words, at the position they point to: "`target`
//! must be a whole number, not \"three\"", "`days` cannot be `sunday`; expected one of: …".

use super::{Document, child};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};

/// serde's "invalid type: string \"three\", expected i64" in a designer's words: "`target`
/// must be a whole number, not \"three\"" (`None`: not such a message).
fn wrong_type(field: &str, message: &str) -> Option<String> {
    let (given, expected) = message
        .strip_prefix("invalid type: ")?
        .split_once(", expected ")?;
    let expected = match expected {
        "i64" | "i32" | "u64" | "u32" | "u16" | "u8" | "usize" => "a whole number",
        "f64" | "f32" => "a number",
        "a boolean" => "true or false",
        other => other,
    };
    let given = given
        .strip_prefix("string ")
        .or_else(|| given.strip_prefix("integer "))
        .or_else(|| given.strip_prefix("floating point "))
        .unwrap_or(given);
    Some(format!("`{field}` must be {expected}, not {given}"))
}

pub(super) fn describe_serde_error(message: &str, pointer: &str, doc: &Document) -> Diagnostic {
    // A list's item is named by the list: "`days` cannot be …", not "`1` cannot be …".
    let field = (pointer.rsplit('/'))
        .find(|segment| segment.parse::<usize>().is_err())
        .unwrap_or_default();
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        return Diagnostic::new(Code::MissingField, format!("missing required key `{name}`"))
            .at(doc.path(), doc.value_pos(pointer));
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (given, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let choices = backticked(expected);
        let mut diagnostic = Diagnostic::new(Code::UnknownKey, format!("unknown key `{given}`"))
            .at(doc.path(), doc.key_pos(&child(pointer, given)));
        diagnostic = match did_you_mean(given, choices.iter().copied()) {
            Some(suggestion) => diagnostic.with_hint(format!("did you mean `{suggestion}`?")),
            None => diagnostic.with_hint(format!("known keys: {}", choices.join(", "))),
        };
        return diagnostic;
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        // "unknown variant `x`, expected one of `a`, `b`" / "expected `a` or `b`"
        let (given, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let mut choices = backticked(expected);
        // Aliases (`Sat`, `SATURDAY`, `saturday` for `sat`) are read, not listed.
        let all = choices.clone();
        choices.retain(|c| {
            c.chars().all(|ch| !ch.is_ascii_uppercase())
                && !all.iter().any(|other| {
                    other != c
                        && c.starts_with(other)
                        && !other.chars().any(|ch| ch.is_ascii_uppercase())
                })
        });
        let mut diagnostic = Diagnostic::new(
            Code::InvalidValue,
            format!(
                "`{field}` cannot be `{given}`; expected one of: {}",
                choices.join(", ")
            ),
        )
        .at(doc.path(), doc.value_pos(pointer));
        if let Some(suggestion) = did_you_mean(given, choices.iter().copied()) {
            diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
        }
        return diagnostic;
    }
    let readable = if let Some(readable) = wrong_type(field, message) {
        readable
    } else if message.contains("untagged enum TextDef") {
        format!("`{field}` must be text, or a map of locales to text (`{{en: \"…\", de: \"…\"}}`)")
    } else if message.contains("untagged enum OneOrMany") {
        format!("`{field}` must be a stat code or a list of stat codes")
    } else if message.contains("untagged enum GivenState") {
        format!(
            "the given state of `{field}` must be a status (not_started, in_progress, completed, claimed) or a mapping with status/progress/active"
        )
    } else if message.starts_with("premature end of input")
        || message.starts_with("input contains invalid characters")
        || message.starts_with("trailing input")
    {
        format!(
            "`{field}` is not a valid RFC 3339 time (write e.g. 2026-12-01T00:00:00Z): {message}"
        )
    } else {
        format!("`{field}`: {message}")
    };
    Diagnostic::new(Code::InvalidValue, readable).at(doc.path(), doc.value_pos(pointer))
}

/// The `quoted` words of a serde "expected one of `a`, `b`" message.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect()
}
