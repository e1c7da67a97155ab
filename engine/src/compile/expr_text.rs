//! Checks of an expression's text that the Rhai compiler does not make: an assignment where a
//! comparison was meant (E020's hint), and a number compared with text (W105).

/// Whether `text` holds a `=` that is not part of `==`, `!=`, `<=`, `>=` or `=>` (outside string
/// literals): an assignment where a comparison was meant.
pub(super) fn has_lone_equals(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut quoted: Option<u8> = None;
    for (at, &b) in bytes.iter().enumerate() {
        match quoted {
            Some(q) if b == q => quoted = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' || b == b'`' => quoted = Some(b),
            None if b == b'=' => {
                let before = at.checked_sub(1).map(|i| bytes[i]);
                let after = bytes.get(at + 1).copied();
                let paired = matches!(before, Some(b'=' | b'!' | b'<' | b'>'))
                    || matches!(after, Some(b'=' | b'>'));
                if !paired {
                    return true;
                }
            }
            None => {}
        }
    }
    false
}

/// A comparison of a number with text in an expression (W105): it never holds at run time.
pub(super) struct MixedComparison {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
}

/// The event's properties that are numbers.
const NUMBER_PROPERTIES: [&str; 3] = ["event.value", "event.inc", "event.timestamp"];

/// Comparisons `text` makes between a number and a text literal: a quoted number ordered
/// (`kills >= "10"`), or any text literal compared with a number property (`event.value ==
/// "3"`). Positions are 1-based within the expression.
pub(super) fn mixed_comparisons(text: &str) -> Vec<MixedComparison> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'"' {
            at += 1;
            continue;
        }
        let Some(len) = text[at + 1..].find('"') else {
            break;
        };
        let (start, end) = (at, at + len + 2);
        let literal = &text[start + 1..end - 1];
        let before = text[..start].trim_end();
        let after = text[end..].trim_start();
        let op_before = ["<=", ">=", "==", "!=", "<", ">"]
            .into_iter()
            .find(|op| before.ends_with(op));
        let op_after = ["<=", ">=", "==", "!=", "<", ">"]
            .into_iter()
            .find(|op| after.starts_with(op));
        let ordering = |op: Option<&str>| matches!(op, Some("<" | ">" | "<=" | ">="));
        let numeric = !literal.is_empty() && literal.parse::<f64>().is_ok();
        let other_is_number = (op_before.is_some()
            && NUMBER_PROPERTIES.iter().any(|p| {
                before[..before.len() - op_before.map_or(0, str::len)]
                    .trim_end()
                    .ends_with(p)
            }))
            || (op_after.is_some()
                && NUMBER_PROPERTIES.iter().any(|p| {
                    after[op_after.map_or(0, str::len)..]
                        .trim_start()
                        .starts_with(p)
                }));
        if other_is_number || (numeric && (ordering(op_before) || ordering(op_after))) {
            let line = text[..start].matches('\n').count() + 1;
            let column = start - text[..start].rfind('\n').map_or(0, |nl| nl + 1) + 1;
            found.push(MixedComparison {
                line,
                column,
                message: format!(
                    "compares text \"{literal}\" with a number: it never holds, and the event does not count"
                ),
                hint: if numeric {
                    format!("write the number without quotes: {literal}")
                } else {
                    "a number property (`event.value`, `event.inc`, `event.timestamp`) compares with numbers".to_string()
                },
            });
        }
        at = end;
    }
    found
}
