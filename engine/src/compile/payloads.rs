//! Declared payloads: a file's `stats:` section says which `additional` fields each stat's
//! events carry and their types. Every `event.additional.…` a goal reads on declared stats is
//! checked against it: a field not declared is a typo (E024, with a "did you mean"), reading
//! into a field that is not a map is one too, and a comparison with a literal of another type
//! never holds (W105).

use std::collections::BTreeMap;

use super::{Context, Site};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::model::{EventKind, FieldType, GoalDef, StatDef, TestDef};
use crate::source::child;

/// What checking a goal against its declared payload found.
pub(super) struct Checked {
    /// The payload a sample event of the goal carries: the declared fields, each with a value
    /// of its type.
    pub sample: serde_json::Map<String, serde_json::Value>,
    /// A read was refused (E024).
    pub misread: bool,
}

/// Checks the expressions of goal `def` at `site` against the file's `stats`, when its stats
/// are declared.
pub(super) fn check_goal(
    ctx: &mut Context,
    site: &Site,
    def: &GoalDef,
    stats: &BTreeMap<String, StatDef>,
) -> Option<Checked> {
    if stats.is_empty() || def.on != EventKind::Stat {
        return None;
    }
    let codes = def.stat.as_ref().map(|s| s.to_vec()).unwrap_or_default();
    // A stat not declared may carry anything: only a goal whose every stat is declared is
    // checked, against what any of them carries.
    let declared = codes
        .iter()
        .map(|code| stats.get(code))
        .collect::<Option<Vec<_>>>()?;
    if declared.is_empty() {
        return None;
    }
    let mut fields: BTreeMap<&str, FieldType> = BTreeMap::new();
    for stat in &declared {
        for (name, kind) in &stat.additional {
            fields.insert(name, *kind);
        }
    }
    let expressions = [
        ("when", &def.when),
        ("amount", &def.amount),
        ("progress", &def.progress),
    ];
    let errors_before = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
    for (field, text) in expressions {
        if let Some(text) = text {
            check_expression(ctx, site, field, text, &codes, &fields);
        }
    }
    let misread = ctx.diagnostics.iter().filter(|d| d.is_error()).count() > errors_before;
    let sample = (fields.iter())
        .map(|(name, kind)| {
            let value = match kind {
                FieldType::String => serde_json::json!(""),
                FieldType::Number => serde_json::json!(1),
                FieldType::Bool => serde_json::json!(false),
                FieldType::List => serde_json::json!([]),
                FieldType::Map => serde_json::json!({}),
            };
            (name.to_string(), value)
        })
        .collect();
    Some(Checked { sample, misread })
}

/// Warns (W107) about a rule test's step that sends, on a declared stat, an `additional` field
/// `stats:` does not declare, or a value of another type than declared: the test then checks
/// a payload the game does not send.
pub(super) fn check_test(
    ctx: &mut Context,
    doc: usize,
    pointer: &str,
    test: &TestDef,
    stats: &BTreeMap<String, StatDef>,
) {
    for (index, step) in test.events.iter().enumerate() {
        let (Some(code), Some(additional)) = (&step.stat, &step.additional) else {
            continue;
        };
        let Some(declared) = stats.get(code) else {
            continue;
        };
        let at = child(
            &child(&child(pointer, "events"), &index.to_string()),
            "additional",
        );
        for (name, value) in additional {
            let message = match declared.additional.get(name) {
                None => {
                    let hint = match did_you_mean(
                        name,
                        declared.additional.keys().map(String::as_str),
                    ) {
                        Some(suggestion) => format!("did you mean `{suggestion}`?"),
                        None => format!(
                            "add `{name}` under `stats: {{ {code}: {{ additional: … }} }}` if the game sends it"
                        ),
                    };
                    (
                        format!(
                            "the step sends `additional.{name}`, which `stats:` does not declare for `{code}`"
                        ),
                        hint,
                    )
                }
                Some(kind) if !has_type(value, *kind) => (
                    format!(
                        "the step sends `additional.{name}: {value}`, but `stats:` declares it `{}`",
                        kind.as_str()
                    ),
                    "send the declared type, as the game does".to_string(),
                ),
                Some(_) => continue,
            };
            let d = ctx
                .at_key(doc, &child(&at, name), Code::TestPayloadMismatch, message.0)
                .with_hint(message.1);
            ctx.report(d);
        }
    }
}

/// Whether a JSON value is of the declared type.
fn has_type(value: &serde_json::Value, kind: FieldType) -> bool {
    match kind {
        FieldType::String => value.is_string(),
        FieldType::Number => value.is_number(),
        FieldType::Bool => value.is_boolean(),
        FieldType::List => value.is_array(),
        FieldType::Map => value.is_object(),
    }
}

fn check_expression(
    ctx: &mut Context,
    site: &Site,
    field: &str,
    text: &str,
    codes: &[String],
    fields: &BTreeMap<&str, FieldType>,
) {
    let pointer = child(&site.pointer, field);
    let stats = codes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let chars: Vec<char> = text.chars().collect();
    for read in crate::rhai_env::additional_reads(text) {
        let name = read.path[1].as_str();
        let pos = ctx.expr_pos(site.doc, &pointer, Some((read.line, read.column)));
        let path = format!("event.{}", read.path.join("."));
        let Some(&kind) = fields.get(name) else {
            let mut d = Diagnostic::new(
                Code::UndeclaredField,
                format!("`{path}` is not in the payload the file's `stats:` declares for {stats}"),
            )
            .at(ctx.path_of(site.doc).to_path_buf(), pos);
            d = match did_you_mean(name, fields.keys().copied()) {
                Some(suggestion) => {
                    d.with_hint(format!("did you mean `event.additional.{suggestion}`?"))
                }
                None => d.with_hint(format!(
                    "declared: {}; add `{name}` under `stats:` if the game sends it",
                    fields
                        .keys()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            ctx.report(d);
            continue;
        };
        if read.path.len() > 2 && kind != FieldType::Map {
            let d = Diagnostic::new(
                Code::UndeclaredField,
                format!(
                    "`{path}` reads into `{name}`, which is declared `{}`, not a map",
                    kind.as_str()
                ),
            )
            .at(ctx.path_of(site.doc).to_path_buf(), pos)
            .with_hint(format!(
                "read `event.additional.{name}` itself, or declare it `map`"
            ));
            ctx.report(d);
            continue;
        }
        if read.path.len() > 2 {
            continue;
        }
        if let Some((literal, literal_kind)) =
            crate::literal_types::compared_literal(&chars, read.start, read.end)
            && literal_kind != kind
        {
            let d = Diagnostic::new(
                Code::TypeMismatch,
                format!(
                    "`{path}` is declared `{}` and compared with {} {literal}: it never holds, and the event does not count",
                    kind.as_str(),
                    literal_kind.as_str()
                ),
            )
            .at(ctx.path_of(site.doc).to_path_buf(), pos)
            .with_hint(match kind {
                FieldType::Number => "compare it with a number, without quotes".to_string(),
                FieldType::String => "compare it with text, in quotes".to_string(),
                FieldType::Bool => "compare it with `true` or `false`, or use it alone".to_string(),
                other => format!("a `{}` is not compared with a literal", other.as_str()),
            });
            ctx.report(d);
        }
    }
}
