//! Validating and compiling one goal: target, reward, stat codes, counting mode, expressions.

use rhai::Engine;

use super::{Context, Site};
use crate::diagnostic::{Code, did_you_mean};
use crate::event::EVENT_PROPERTIES;
use crate::ids::{ChallengeId, GoalId};
use crate::model::{CountMode, EventKind, GoalDef, RotationDef, ScheduleDef};
use crate::rhai_env::{self, ExprScope};
use crate::ruleset::{CompiledExpr, CompiledGoal, Rotation, Schedule};
use crate::source::child;

pub(super) fn schedule(
    ctx: &mut Context,
    doc: usize,
    challenge_pointer: &str,
    def: Option<&ScheduleDef>,
) -> Schedule {
    let Some(def) = def else {
        // No window; a goal retired in it still gets the default grace to claim in.
        return Schedule {
            claim_grace: crate::ruleset::DEFAULT_CLAIM_GRACE,
            ..Schedule::default()
        };
    };
    if let (Some(start), Some(end)) = (def.start, def.end)
        && end <= start
    {
        let d = ctx.at_value(
            doc,
            &child(&child(challenge_pointer, "schedule"), "end"),
            Code::ScheduleOrder,
            format!("schedule ends ({end}) before it starts ({start})"),
        );
        ctx.report(d);
    }
    if def.days.as_ref().is_some_and(Vec::is_empty) {
        let d = ctx
            .at_value(
                doc,
                &child(&child(challenge_pointer, "schedule"), "days"),
                Code::InvalidValue,
                "`days` is empty: events would count on no day".to_string(),
            )
            .with_hint("name the days (`days: [sat, sun]`), or leave `days` out for every day");
        ctx.report(d);
    }
    let claim_grace = match def.claim_grace.as_deref().map(str::trim) {
        None => crate::ruleset::DEFAULT_CLAIM_GRACE,
        Some("0" | "0s" | "0m" | "0h" | "0d") => chrono::Duration::zero(),
        Some(text) => match crate::rule_tests::parse_duration(text) {
            Ok(grace) => grace,
            Err(message) => {
                let d = ctx.at_value(
                    doc,
                    &child(&child(challenge_pointer, "schedule"), "claim_grace"),
                    Code::InvalidValue,
                    format!("claim_grace: {message}"),
                );
                ctx.report(d);
                crate::ruleset::DEFAULT_CLAIM_GRACE
            }
        },
    };
    Schedule {
        start: def.start,
        end: def.end,
        claim_grace,
        days: super::calendar::weekdays(def.days.as_deref().unwrap_or_default()),
        calendar: crate::period::Calendar::UTC,
        earlier: None,
    }
}

/// A rotation as written at `pointer`, its periods in time zone `tz`; mistakes reported.
pub(super) fn rotation(
    ctx: &mut Context,
    doc: usize,
    pointer: &str,
    def: &RotationDef,
    tz: chrono_tz::Tz,
) -> Rotation {
    check_rotation(ctx, doc, pointer, def);
    Rotation {
        every: def.every,
        reset_progress: def.reset_progress,
        allow_reselection: def.allow_reselection,
        calendar: crate::period::Calendar {
            tz,
            day_start: super::calendar::reset_time(ctx, doc, pointer, def.at.as_deref()),
        },
        earlier: None,
    }
}

fn check_rotation(ctx: &mut Context, doc: usize, pointer: &str, def: &RotationDef) {
    if def.allow_reselection && !def.reset_progress {
        let d = ctx
            .at_value(
                doc,
                &child(pointer, "allow_reselection"),
                Code::RotationInconsistent,
                "`allow_reselection` has no effect without `reset_progress`: a claimed goal keeps its progress and stays claimed".to_string(),
            )
            .with_hint("set `reset_progress: true`, or drop `allow_reselection`");
        ctx.report(d);
    }
}

/// What a goal takes from its challenge.
#[derive(Clone, Copy)]
pub(super) struct Inherited {
    pub schedule: Schedule,
    pub rotation: Option<Rotation>,
    pub tz: chrono_tz::Tz,
}

/// Validates and compiles a goal; `None` when it has errors (all of them reported).
pub(super) fn compile_goal(
    ctx: &mut Context,
    engine: &Engine,
    site: &Site,
    def: &GoalDef,
    challenge_id: &ChallengeId,
    from: &Inherited,
    shown: super::text::Shown,
) -> Option<CompiledGoal> {
    let Inherited {
        schedule,
        rotation: challenge_rotation,
        tz,
    } = *from;
    let errors_before = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
    let doc = site.doc;
    let at = |field: &str| child(&site.pointer, field);

    check_tags(ctx, doc, &at("tags"), &def.tags);
    if let Some(message) = super::invalid_target(def.target) {
        let d = ctx.at_value(doc, &at("target"), Code::InvalidTarget, message);
        ctx.report(d);
    }
    let rewards = super::rewards::of(ctx, doc, &site.pointer, def);

    let stats = def.stat.as_ref().map(|s| s.to_vec()).unwrap_or_default();
    if def.on == EventKind::Stat && stats.is_empty() {
        let d = ctx
            .at_key(
                doc,
                &site.pointer,
                Code::MissingStat,
                format!(
                    "goal `{}` listens to stat events but names no `stat`",
                    def.id
                ),
            )
            .with_hint("add `stat: <stat code>` (or a list of codes)");
        ctx.report(d);
    }
    if stats.iter().any(|s| s.trim().is_empty()) {
        let d = ctx.at_value(
            doc,
            &at("stat"),
            Code::MissingStat,
            "stat codes cannot be empty".to_string(),
        );
        ctx.report(d);
    }

    let count = def.count.unwrap_or(match def.on {
        EventKind::Stat => CountMode::Value,
        EventKind::Login => CountMode::Events,
    });
    if def.on == EventKind::Login && matches!(count, CountMode::Value) {
        let d = ctx
            .at_value(
                doc,
                &at("count"),
                Code::CountModeMismatch,
                "`count: value` needs stat events; a login carries no value".to_string(),
            )
            .with_hint("use `count: events` (every login) or `count: days` (once per day)");
        ctx.report(d);
    }
    if def.relative.is_some() && count != CountMode::Value {
        let d = ctx.at_key(
            doc,
            &at("relative"),
            Code::CountModeMismatch,
            format!(
                "`relative` applies to `count: value` only, this goal counts `{}`",
                count.as_str()
            ),
        );
        ctx.report(d);
    }
    if def.amount.is_some() && !matches!(count, CountMode::Sum | CountMode::Max) {
        let d = ctx.at_key(
            doc,
            &at("amount"),
            Code::ExpressionNotAllowed,
            format!(
                "`amount` applies to `count: sum` or `count: max`, this goal counts `{}`",
                count.as_str()
            ),
        );
        ctx.report(d);
    }
    match (count, &def.progress) {
        (CountMode::Expr, None) => {
            let d = ctx
                .at_key(
                    doc,
                    &site.pointer,
                    Code::MissingField,
                    "`count: expr` needs a `progress:` expression".to_string(),
                )
                .with_hint("e.g. `progress: progress + event.inc * 2`");
            ctx.report(d);
        }
        (mode, Some(_)) if mode != CountMode::Expr => {
            let d = ctx.at_key(
                doc,
                &at("progress"),
                Code::ExpressionNotAllowed,
                format!(
                    "`progress:` applies to `count: expr`, this goal counts `{}`",
                    mode.as_str()
                ),
            );
            ctx.report(d);
        }
        _ => {}
    }

    let goal_rotation = (def.rotation.as_ref()).map(|r| rotation(ctx, doc, &at("rotation"), r, tz));
    let rotation = goal_rotation.or(challenge_rotation);
    if count == CountMode::Value && def.relative == Some(false) && rotation.is_some() {
        let d = ctx
            .at_value(doc, &at("relative"), Code::RotationInconsistent, "absolute counting in a rotating goal: every period starts from the stat's lifetime value, so a goal completed once completes again at the first event".to_string())
            .with_hint("drop `relative: false` to count the increase within each period");
        ctx.report(d);
    }

    let when = expression(
        ctx,
        engine,
        site,
        "when",
        def.when.as_deref(),
        ExprScope::Event,
    );
    let amount = expression(
        ctx,
        engine,
        site,
        "amount",
        def.amount.as_deref(),
        ExprScope::Event,
    );
    let progress = expression(
        ctx,
        engine,
        site,
        "progress",
        def.progress.as_deref(),
        ExprScope::EventAndProgress,
    );

    let mut requires = Vec::new();
    for required in &def.requires {
        requires.push(GoalId::new(required));
    }

    let errors_after = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
    if errors_after > errors_before {
        return None;
    }
    let (name, description, texts) = shown.split();
    Some(CompiledGoal {
        id: GoalId::new(&def.id),
        challenge_id: challenge_id.clone(),
        name,
        description,
        texts,
        tags: def.tags.clone(),
        on: def.on,
        stats,
        when,
        count,
        relative: count == CountMode::Value && def.relative.unwrap_or(rotation.is_some()),
        amount,
        progress,
        target: def.target,
        assign: def.assign,
        rewards,
        auto_claim: def.claim == Some(crate::model::ClaimMode::Auto),
        requires,
        rotation,
        schedule: Schedule {
            end: match (schedule.end, def.retired) {
                (Some(end), Some(retired)) => Some(end.min(retired)),
                (end, retired) => end.or(retired),
            },
            calendar: super::calendar::of(tz, rotation),
            ..schedule
        },
        retired: def.retired,
    })
}

/// Compiles one expression field, reporting compile errors and misspelt `event` properties at
/// their position in the YAML.
fn expression(
    ctx: &mut Context,
    engine: &Engine,
    site: &Site,
    field: &str,
    text: Option<&str>,
    scope: ExprScope,
) -> Option<CompiledExpr> {
    let text = text?;
    let pointer = child(&site.pointer, field);
    let mut ok = true;
    for unknown in rhai_env::unknown_event_properties(text) {
        let pos = ctx.expr_pos(site.doc, &pointer, Some((unknown.line, unknown.column)));
        let mut d = crate::diagnostic::Diagnostic::new(
            Code::UnknownEventProperty,
            format!("`event` has no property `{}`", unknown.name),
        )
        .at(ctx.path_of(site.doc).to_path_buf(), pos);
        d = match did_you_mean(&unknown.name, EVENT_PROPERTIES) {
            // `event.addtional.mvp`: the payload's own name misspelt, not a payload field.
            Some("additional") => d.with_hint("did you mean `event.additional`? (payload fields are read as `event.additional.<name>`)"),
            Some(suggestion) => d.with_hint(format!("did you mean `event.{suggestion}`? (payload fields are read as `event.additional.{}`)", unknown.name)),
            None => d.with_hint(format!("`event` has: {}; payload fields are `event.additional.<name>`", EVENT_PROPERTIES.join(", "))),
        };
        ctx.report(d);
        ok = false;
    }
    for mixed in super::expr_text::mixed_comparisons(text) {
        let pos = ctx.expr_pos(site.doc, &pointer, Some((mixed.line, mixed.column)));
        let d = crate::diagnostic::Diagnostic::new(Code::TypeMismatch, mixed.message)
            .at(ctx.path_of(site.doc).to_path_buf(), pos)
            .with_hint(mixed.hint);
        ctx.report(d);
    }
    match rhai_env::compile(engine, text, scope) {
        Ok(ast) => ok.then(|| CompiledExpr {
            text: text.to_string(),
            ast,
            literals: crate::literal_types::literal_comparisons(text),
        }),
        Err(err) => {
            let inner = rhai_env::rhai_position(err.position());
            let pos = ctx.expr_pos(site.doc, &pointer, inner);
            let message = err.err_type().to_string();
            let statement = text.contains(';') || text.split_whitespace().any(|w| w == "let");
            let hint = if super::expr_text::has_lone_equals(text) && !statement {
                "did you mean `==`? A single `=` assigns; a rule compares (`event.additional.mode == \"ranked\"`)"
            } else {
                match scope {
                    ExprScope::Event => {
                        "expressions see `event` (and nothing else); write one expression, no statements"
                    }
                    ExprScope::EventAndProgress => {
                        "`progress:` sees `event` and `progress` (the previous progress); write one expression"
                    }
                }
            };
            let d = crate::diagnostic::Diagnostic::new(
                Code::RhaiCompile,
                format!("`{field}` does not compile: {message}"),
            )
            .at(ctx.path_of(site.doc).to_path_buf(), pos)
            .with_hint(hint);
            ctx.report(d);
            None
        }
    }
}

/// Reports each tag a list filter could not name: empty, longer than 64 characters, or holding
/// anything but letters, digits, `_`, `-`, `.` and `:` (a comma would split it in `?tags=`).
pub(super) fn check_tags(ctx: &mut Context, doc: usize, pointer: &str, tags: &[String]) {
    for (index, tag) in tags.iter().enumerate() {
        let fine = !tag.is_empty()
            && tag.len() <= 64
            && (tag.chars()).all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
        if !fine {
            let d = ctx
                .at_value(
                    doc,
                    &child(pointer, &index.to_string()),
                    Code::InvalidValue,
                    format!("tag `{tag}` cannot be used to filter the list"),
                )
                .with_hint(
                    "a tag is 1 to 64 letters, digits, `_`, `-`, `.` or `:` (`pvp`, `season-3`)",
                );
            ctx.report(d);
        }
    }
}
