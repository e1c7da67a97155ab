//! The one locked-down Rhai engine every expression is compiled and evaluated with.

use rhai::{AST, Dynamic, Engine, EvalAltResult, OptimizationLevel, ParseError, Position, Scope};

use crate::event::{EVENT_PROPERTIES, Event, RhaiEvent};

/// Limits that keep a designer's expression from hurting the server.
const MAX_OPERATIONS: u64 = 10_000;
const MAX_EXPR_DEPTH: usize = 32;
const MAX_STRING_SIZE: usize = 4_096;
const MAX_ARRAY_SIZE: usize = 1_024;
const MAX_MAP_SIZE: usize = 256;

/// Builds the engine: expressions only, strict variables, operation and size limits, no
/// `eval`/`print`, and `event` registered as a type with fixed properties.
pub(crate) fn build_engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_strict_variables(true)
        .set_max_operations(MAX_OPERATIONS)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_EXPR_DEPTH)
        .set_max_string_size(MAX_STRING_SIZE)
        .set_max_array_size(MAX_ARRAY_SIZE)
        .set_max_map_size(MAX_MAP_SIZE)
        .set_max_call_levels(8)
        .set_optimization_level(OptimizationLevel::Simple)
        .on_print(|_| {})
        .on_debug(|_, _, _| {});
    engine.disable_symbol("eval");
    crate::rhai_missing::register_unit_comparisons(&mut engine);
    crate::rhai_missing::register_unit_strings(&mut engine);
    engine
        .register_type_with_name::<RhaiEvent>("Event")
        .register_get("kind", |e: &mut RhaiEvent| e.kind.clone())
        .register_get("id", |e: &mut RhaiEvent| e.id.clone())
        .register_get("user_id", |e: &mut RhaiEvent| e.user_id.clone())
        .register_get("namespace", |e: &mut RhaiEvent| e.namespace.clone())
        .register_get("timestamp", |e: &mut RhaiEvent| e.timestamp)
        .register_get("stat_code", |e: &mut RhaiEvent| e.stat_code.clone())
        .register_get("value", |e: &mut RhaiEvent| e.value)
        .register_get("inc", |e: &mut RhaiEvent| e.inc)
        .register_get("additional", |e: &mut RhaiEvent| e.additional.clone());
    engine
}

/// Which variables an expression sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExprScope {
    /// `event` only (`when`, `amount`).
    Event,
    /// `event` and `progress` (`progress:` of `count: expr`).
    EventAndProgress,
}

// Variables, not constants: the optimizer would fold a constant's compile-time placeholder
// value into the compiled expression.
fn scope_for(kind: ExprScope, event: Dynamic, progress: i64) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_dynamic("event", event);
    if kind == ExprScope::EventAndProgress {
        scope.push("progress", progress);
    }
    scope
}

/// Compiles an expression once; strict variables make an unknown variable a compile error.
pub(crate) fn compile(engine: &Engine, text: &str, kind: ExprScope) -> Result<AST, ParseError> {
    let scope = scope_for(kind, Dynamic::UNIT, 0);
    engine.compile_expression_with_scope(&scope, text)
}

/// Why an evaluation failed; carries the position inside the expression where Rhai knows it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
    pub position: Option<(usize, usize)>,
}

impl EvalError {
    fn from_rhai(err: Box<EvalAltResult>) -> Self {
        let position = rhai_position(err.position());
        let mut message = err.to_string();
        // Rhai appends " (line 1, position 7)"; the diagnostic carries the position itself.
        if let Some(cut) = message.rfind(" (line ") {
            message.truncate(cut);
        }
        Self { message, position }
    }
}

pub(crate) fn rhai_position(position: Position) -> Option<(usize, usize)> {
    Some((position.line()?, position.position().unwrap_or(1)))
}

/// Evaluates a predicate. A non-boolean result is an error.
pub(crate) fn eval_bool(engine: &Engine, ast: &AST, event: &Event) -> Result<bool, EvalError> {
    let mut scope = scope_for(ExprScope::Event, event.rhai.clone(), 0);
    let value: Dynamic = engine
        .eval_ast_with_scope(&mut scope, ast)
        .map_err(EvalError::from_rhai)?;
    value.as_bool().map_err(|type_name| EvalError {
        message: format!(
            "a `when` predicate must be true or false, this one gave {}",
            friendly_type(type_name)
        ),
        position: None,
    })
}

/// Evaluates a number (`amount`, `progress`): integers, or floats truncated toward zero.
pub(crate) fn eval_int(
    engine: &Engine,
    ast: &AST,
    kind: ExprScope,
    event: &Event,
    progress: i64,
) -> Result<i64, EvalError> {
    let mut scope = scope_for(kind, event.rhai.clone(), progress);
    let value: Dynamic = engine
        .eval_ast_with_scope(&mut scope, ast)
        .map_err(EvalError::from_rhai)?;
    if let Ok(int) = value.as_int() {
        return Ok(int);
    }
    if let Ok(float) = value.as_float()
        && float.is_finite()
    {
        // Truncation toward zero is the documented rule for fractional amounts.
        return Ok(float.trunc() as i64);
    }
    Err(EvalError {
        message: format!(
            "expected a number, got {}",
            friendly_type(value.type_name())
        ),
        position: None,
    })
}

/// Rhai's type names in designer words.
fn friendly_type(type_name: &str) -> String {
    match type_name {
        "i64" | "i32" => "a whole number".to_string(),
        "f64" | "f32" => "a decimal number".to_string(),
        "string" | "ImmutableString" => "a string".to_string(),
        "bool" => "true/false".to_string(),
        "()" => "nothing (a missing value)".to_string(),
        "map" => "a map".to_string(),
        "array" => "a list".to_string(),
        other => format!("a {other}"),
    }
}

/// A property read on `event` that `event` does not have, found by scanning the expression
/// (outside string literals and comments). Position is 1-based (line, column) in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownProperty {
    pub name: String,
    pub line: usize,
    pub column: usize,
}

/// Finds `event.<name>` reads whose name is not one of the fixed properties.
pub(crate) fn unknown_event_properties(text: &str) -> Vec<UnknownProperty> {
    event_reads(text)
        .into_iter()
        .filter(|read| !EVENT_PROPERTIES.contains(&read.path[0].as_str()))
        .map(|read| UnknownProperty {
            name: read.path[0].clone(),
            line: read.line,
            column: read.column,
        })
        .collect()
}

/// The event fields an expression reads, as written: `event.kind`, `event.additional.mode`,
/// `event.additional["mode"]` (as `event.additional.mode`), each once, in order. Simulate shows
/// their values next to a predicate's result.
pub fn event_fields_read(text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for read in event_reads(text) {
        let path = format!("event.{}", read.path.join("."));
        if !seen.contains(&path) {
            seen.push(path);
        }
    }
    seen
}

/// A chain of property reads on `event`, and where its first property starts (1-based);
/// `start` and `end` are the chain's character offsets (`event` to the last property).
pub(crate) struct EventRead {
    pub path: Vec<String>,
    pub line: usize,
    pub column: usize,
    pub start: usize,
    pub end: usize,
}

/// The reads of `event.additional.…` fields in an expression (`path[0]` is `additional`).
pub(crate) fn additional_reads(text: &str) -> Vec<EventRead> {
    event_reads(text)
        .into_iter()
        .filter(|read| read.path.len() >= 2 && read.path[0] == "additional")
        .collect()
}

/// Scans an expression (outside string literals and comments) for `event.a.b["c"]…` chains.
/// A method call ends a chain and is not part of it (`event.additional.contains("x")` reads
/// `event.additional`).
fn event_reads(text: &str) -> Vec<EventRead> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let (mut line, mut column) = (1usize, 1usize);
    let mut index = 0;
    let advance = |index: &mut usize, line: &mut usize, column: &mut usize| {
        if chars[*index] == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
        *index += 1;
    };
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while index < chars.len() {
        let ch = chars[index];
        if ch == '"' || ch == '\'' || ch == '`' {
            advance(&mut index, &mut line, &mut column);
            while index < chars.len() && chars[index] != ch {
                if chars[index] == '\\' && index + 1 < chars.len() {
                    advance(&mut index, &mut line, &mut column);
                }
                advance(&mut index, &mut line, &mut column);
            }
            if index < chars.len() {
                advance(&mut index, &mut line, &mut column);
            }
            continue;
        }
        if ch == '/' && chars.get(index + 1) == Some(&'/') {
            while index < chars.len() && chars[index] != '\n' {
                advance(&mut index, &mut line, &mut column);
            }
            continue;
        }
        if ch == '/' && chars.get(index + 1) == Some(&'*') {
            while index < chars.len()
                && !(chars[index] == '*' && chars.get(index + 1) == Some(&'/'))
            {
                advance(&mut index, &mut line, &mut column);
            }
            index = (index + 2).min(chars.len());
            column += 2;
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let start = index;
            let preceded_by_dot = start > 0 && chars[start - 1] == '.';
            while index < chars.len() && is_ident(chars[index]) {
                advance(&mut index, &mut line, &mut column);
            }
            let word: String = chars[start..index].iter().collect();
            if word != "event" || preceded_by_dot {
                continue;
            }
            let (first_line, first_column) = (line, column + 1);
            let mut path = Vec::new();
            loop {
                match chars.get(index) {
                    Some('.') => {
                        let mark = (index, line, column);
                        advance(&mut index, &mut line, &mut column);
                        let name_start = index;
                        while index < chars.len() && is_ident(chars[index]) {
                            advance(&mut index, &mut line, &mut column);
                        }
                        let name: String = chars[name_start..index].iter().collect();
                        if name.is_empty() || chars.get(index) == Some(&'(') {
                            // A method call (or a stray dot): not a field; rescan from there.
                            (index, line, column) = mark;
                            break;
                        }
                        path.push(name);
                    }
                    Some('[') if !path.is_empty() => {
                        // `["key"]` with a plain string literal; anything else ends the chain.
                        let quote = chars.get(index + 1).copied();
                        let key_end = match quote {
                            Some(q @ ('"' | '\'')) => chars[index + 2..]
                                .iter()
                                .position(|&c| c == q || c == '\\')
                                .map(|p| index + 2 + p),
                            _ => None,
                        };
                        match key_end {
                            Some(end)
                                if chars.get(end) == quote.as_ref()
                                    && chars.get(end + 1) == Some(&']') =>
                            {
                                path.push(chars[index + 2..end].iter().collect());
                                while index <= end + 1 {
                                    advance(&mut index, &mut line, &mut column);
                                }
                            }
                            _ => break,
                        }
                    }
                    _ => break,
                }
            }
            if !path.is_empty() {
                found.push(EventRead {
                    path,
                    line: first_line,
                    column: first_column,
                    start,
                    end: index,
                });
            }
            continue;
        }
        advance(&mut index, &mut line, &mut column);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventData;
    use crate::ids::UserId;
    use crate::model::EventKind;

    fn event(value: i64, biome: Option<&str>) -> Event {
        let mut additional = serde_json::Map::new();
        if let Some(biome) = biome {
            additional.insert("biome".into(), biome.into());
        }
        let additional = additional.into();
        Event::new(EventData {
            id: "e1".into(),
            kind: EventKind::Stat,
            user_id: UserId::new("u1"),
            namespace: "ns".into(),
            timestamp: chrono::DateTime::UNIX_EPOCH,
            sent_at: None,
            stat_code: Some("kills".into()),
            value,
            inc: 1,
            additional,
        })
    }

    #[test]
    fn predicate_reads_event_and_payload() {
        let engine = build_engine();
        let ast = compile(
            &engine,
            r#"event.value > 0 && event.additional.biome == "tundra""#,
            ExprScope::Event,
        )
        .expect("compiles");
        assert!(eval_bool(&engine, &ast, &event(3, Some("tundra"))).expect("evaluates"));
        assert!(!eval_bool(&engine, &ast, &event(3, Some("meadow"))).expect("evaluates"));
        // A payload key the event does not carry reads as () and equals nothing.
        assert!(!eval_bool(&engine, &ast, &event(3, None)).expect("evaluates"));
        for text in [
            "event.additional.level > 5",
            "event.additional.level <= 5",
            "event.additional.flag == true",
            "5 == event.additional.level",
        ] {
            let ast = compile(&engine, text, ExprScope::Event).expect("compiles");
            assert!(
                !eval_bool(&engine, &ast, &event(1, None)).expect(text),
                "{text}"
            );
        }
        let ast =
            compile(&engine, "event.additional.flag != true", ExprScope::Event).expect("compiles");
        assert!(eval_bool(&engine, &ast, &event(1, None)).expect("evaluates"));
    }

    #[test]
    fn misspelt_property_is_an_evaluation_error() {
        let engine = build_engine();
        let ast = compile(&engine, "event.valeu > 0", ExprScope::Event).expect("compiles");
        let err = eval_bool(&engine, &ast, &event(1, None)).expect_err("unknown property");
        assert!(err.message.contains("valeu"), "{}", err.message);
        assert_eq!(err.position.map(|p| p.0), Some(1));
    }

    #[test]
    fn unknown_variables_and_statements_do_not_compile() {
        let engine = build_engine();
        assert!(compile(&engine, "evnt.value > 0", ExprScope::Event).is_err());
        assert!(compile(&engine, "progress + 1", ExprScope::Event).is_err());
        assert!(compile(&engine, "progress + 1", ExprScope::EventAndProgress).is_ok());
        assert!(compile(&engine, "let x = 1; x", ExprScope::Event).is_err());
        assert!(compile(&engine, "eval(\"1\")", ExprScope::Event).is_err());
    }

    #[test]
    fn runaway_expressions_are_stopped() {
        let engine = build_engine();
        let ast = compile(
            &engine,
            r#""x".pad(100000, "y").len() > 0"#,
            ExprScope::Event,
        )
        .expect("compiles");
        assert!(eval_bool(&engine, &ast, &event(1, None)).is_err());
    }

    #[test]
    fn progress_is_not_folded_into_the_compiled_expression() {
        let engine = build_engine();
        let ast = compile(&engine, "progress + event.inc", ExprScope::EventAndProgress)
            .expect("compiles");
        let ev = event(1, None);
        assert_eq!(
            eval_int(&engine, &ast, ExprScope::EventAndProgress, &ev, 41).expect("number"),
            42
        );
    }

    #[test]
    fn numbers_truncate() {
        let engine = build_engine();
        let ast = compile(&engine, "event.value / 2.0", ExprScope::Event).expect("compiles");
        assert_eq!(
            eval_int(&engine, &ast, ExprScope::Event, &event(5, None), 0).expect("number"),
            2
        );
    }

    #[test]
    fn scanner_finds_misspelt_properties_outside_strings() {
        let found = unknown_event_properties(
            "event.value > 0 && event.valeu < 3 && \"event.nope\" != \"\"",
        );
        assert_eq!(
            found,
            vec![UnknownProperty {
                name: "valeu".into(),
                line: 1,
                column: 26
            }]
        );
        assert!(unknown_event_properties("event.additional.whatever == 1").is_empty());
        assert_eq!(
            event_fields_read(
                r#"event.additional.mode == "ranked" && event.value > 2 // event.kind
                   && event.additional["deep"].level >= 3 && event.additional.contains("x")
                   && "event.inc" != event.stat_code && event.value < 9"#
            ),
            vec![
                "event.additional.mode",
                "event.value",
                "event.additional.deep.level",
                "event.additional",
                "event.stat_code"
            ]
        );
        let multi = unknown_event_properties("event.value > 0 &&\n  event.incc > 0");
        assert_eq!((multi[0].line, multi[0].column), (2, 9));
    }
}
