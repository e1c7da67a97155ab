//! From source files to a `RuleSet`: decode, validate, compile every Rhai expression once,
//! check the prerequisite graph, smoke-evaluate, run the embedded tests. Collects ALL
//! diagnostics; the rule set exists only when none of them is an error.

mod calendar;
mod checks;
mod expr_text;
mod goal;
mod graph;
mod payloads;
mod rewards;
mod text;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;

use crate::diagnostic::{Code, Diagnostic, Pos};
use crate::ids::{ChallengeId, is_valid_id};
use crate::rhai_env;
use crate::rule_tests;
use crate::ruleset::{CompiledChallenge, CompiledGoal, RuleSet, RuleSetInfo};
use crate::source::{Document, NodePos, ScalarLayout, Sources, child, parse_file};

/// The outcome of compiling a folder: the rule set when there was no error, and every
/// diagnostic (warnings included) either way.
#[derive(Debug)]
pub struct Compiled {
    pub rules: Option<RuleSet>,
    pub diagnostics: Vec<Diagnostic>,
    /// The rule set when its only errors are failing rule tests (`rules` is then `None`): fit
    /// to replay or simulate an edit, whose tests often still describe the old behavior;
    /// never to serve.
    pub failing_tests_only: Option<RuleSet>,
}

impl Compiled {
    /// The rule set to try an edit with: the servable one, or the one whose only errors are
    /// failing rule tests.
    pub fn trial_rules(self) -> Option<RuleSet> {
        self.rules.or(self.failing_tests_only)
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Where a compiled goal was written: its document and JSON pointer.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub doc: usize,
    pub pointer: String,
}

/// Everything the later stages need to point back into the files.
/// What is wrong with a goal's target (E015), if anything.
pub(crate) fn invalid_target(target: i64) -> Option<String> {
    (target < 1).then(|| format!("target must be at least 1, not {target}"))
}

pub(crate) struct Context {
    pub docs: Vec<Document>,
    pub diagnostics: Vec<Diagnostic>,
    pub options: CompileOptions,
}

/// What the deployment adds to the files' own checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Rewards are granted by Platform fulfillment, and these currencies have a coins item
    /// (`REWARD_CURRENCY_ITEMS`): a bundle is one fulfillment, so each wallet reward it may
    /// grant needs one (E025). `None`: not checked (direct delivery, the mock, lint without
    /// the setting).
    pub fulfillment_currencies: Option<std::collections::BTreeSet<String>>,
}

impl Context {
    pub fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// A diagnostic at the value of `pointer` in `site`'s document.
    pub fn at_value(&self, doc: usize, pointer: &str, code: Code, message: String) -> Diagnostic {
        let document = &self.docs[doc];
        Diagnostic::new(code, message).at(document.path(), document.value_pos(pointer))
    }

    /// A diagnostic at the key of `pointer`.
    pub fn at_key(&self, doc: usize, pointer: &str, code: Code, message: String) -> Diagnostic {
        let document = &self.docs[doc];
        Diagnostic::new(code, message).at(document.path(), document.key_pos(pointer))
    }

    /// Maps a (line, column) inside the expression at `pointer` to the file position.
    pub fn expr_pos(
        &self,
        doc: usize,
        pointer: &str,
        inner: Option<(usize, usize)>,
    ) -> Option<Pos> {
        let document = &self.docs[doc];
        let node = document.node(pointer)?;
        Some(map_expr_position(node, inner))
    }

    pub fn path_of(&self, doc: usize) -> &std::path::Path {
        self.docs[doc].path()
    }
}

fn map_expr_position(node: &NodePos, inner: Option<(usize, usize)>) -> Pos {
    let Some((line, column)) = inner else {
        return node.value;
    };
    match node.layout {
        ScalarLayout::Block {
            first_line,
            column: indent,
        } => Pos::new(first_line + line - 1, indent + column - 1),
        ScalarLayout::Quoted if line == 1 => Pos::new(node.value.line, node.value.column + column),
        ScalarLayout::Plain if line == 1 => {
            Pos::new(node.value.line, node.value.column + column - 1)
        }
        _ => Pos::new(node.value.line + line - 1, column),
    }
}

/// A file's `default_locale` (`en` when it names none, or a malformed one, which is reported).
fn default_locale(ctx: &mut Context, doc: usize, written: Option<&str>) -> String {
    match written {
        None => text::DEFAULT_LOCALE.to_string(),
        Some(tag) if crate::locale::is_language_tag(tag) => tag.to_string(),
        Some(tag) => {
            let d = ctx
                .at_value(
                    doc,
                    "/default_locale",
                    Code::InvalidValue,
                    format!("`default_locale` must be a language tag such as `en` or `pt-BR`, not `{tag}`"),
                )
                .with_hint(text::tag_hint(tag));
            ctx.report(d);
            text::DEFAULT_LOCALE.to_string()
        }
    }
}

/// Compiles a set of source files into a rule set.
pub fn compile(sources: &Sources) -> Compiled {
    compile_with(sources, &CompileOptions::default())
}

/// [`compile`], with the deployment's checks.
pub fn compile_with(sources: &Sources, options: &CompileOptions) -> Compiled {
    let mut ctx = Context {
        docs: Vec::new(),
        diagnostics: sources.unreadable.clone(),
        options: options.clone(),
    };
    if sources.files.is_empty() && sources.unreadable.is_empty() {
        ctx.report(
            Diagnostic::new(
                Code::NoChallengeFiles,
                "no challenge files found (*.yaml, *.yml, *.json)",
            )
            .with_hint("point CHALLENGE_CONFIG_PATH or the lint path at the challenges folder"),
        );
    }

    let mut parsed = Vec::new();
    for file in &sources.files {
        if let Some(file) = parse_file(Arc::new(file.clone()), &mut ctx.diagnostics) {
            parsed.push(file);
        }
    }

    let engine = Arc::new(rhai_env::build_engine());
    let mut challenges = Vec::new();
    let mut goals: Vec<CompiledGoal> = Vec::new();
    let mut sites: Vec<Site> = Vec::new();
    let mut test_defs = Vec::new();
    let mut challenge_seen: HashMap<String, (usize, String)> = HashMap::new();
    let mut goal_seen: HashMap<String, (usize, String)> = HashMap::new();
    // Goals that did not decode: declared all the same (no test or prerequisite calls them
    // unknown).
    let mut undecoded: Vec<String> = Vec::new();
    // Goals on declared stats: the payload their sample event carries.
    let mut samples = HashMap::new();
    let mut misread = std::collections::HashSet::new();
    // Goals of challenges whose own keys are wrong: not warned about on what those decide.
    let mut unsure_goals: std::collections::HashSet<crate::ids::GoalId> =
        std::collections::HashSet::new();

    for mut file in parsed {
        let stats = std::mem::take(&mut file.model.stats);
        let doc = ctx.docs.len();
        ctx.docs.push(file.document);
        let default_locale = default_locale(&mut ctx, doc, file.model.default_locale.as_deref());
        let mut written: Vec<text::Written> = Vec::new();
        for (challenge, origin) in file.model.challenges.into_iter().zip(file.origins) {
            let pointer = origin.pointer.clone();
            check_id(
                &mut ctx,
                doc,
                &child(&pointer, "id"),
                &challenge.id,
                "challenge",
            );
            if let Some((first_doc, first_ptr)) = challenge_seen.get(&challenge.id) {
                let first = describe_site(&ctx, *first_doc, first_ptr);
                let d = ctx
                    .at_value(
                        doc,
                        &child(&pointer, "id"),
                        Code::DuplicateChallengeId,
                        format!("challenge id `{}` is already used", challenge.id),
                    )
                    .with_hint(format!("first defined at {first}"));
                ctx.report(d);
                continue;
            }
            challenge_seen.insert(challenge.id.clone(), (doc, child(&pointer, "id")));

            let errors_before = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
            let tz = calendar::timezone(&mut ctx, doc, &pointer, challenge.timezone.as_deref());
            let mut schedule = goal::schedule(&mut ctx, doc, &pointer, challenge.schedule.as_ref());
            let rotation = (challenge.rotation.as_ref())
                .map(|def| goal::rotation(&mut ctx, doc, &child(&pointer, "rotation"), def, tz));
            schedule.calendar = calendar::of(tz, rotation);
            if origin.declared_goals == 0 {
                let d = ctx.at_key(
                    doc,
                    &pointer,
                    Code::EmptyChallenge,
                    format!("challenge `{}` has no goals", challenge.id),
                );
                ctx.report(d);
            }
            let challenge_id = ChallengeId::new(&challenge.id);
            goal::check_tags(&mut ctx, doc, &child(&pointer, "tags"), &challenge.tags);
            let (name, description, texts) = text::Shown::of(
                &mut ctx,
                doc,
                &pointer,
                format!("challenge `{}`", challenge.id),
                &challenge.name,
                &challenge.description,
                &default_locale,
                &mut written,
            )
            .split();
            // A wrong key of the challenge itself (left out, or read as its default: UTC, a
            // midnight reset): its goals are still checked, but not what it decides for them.
            let unsure = origin.broken
                || ctx.diagnostics.iter().filter(|d| d.is_error()).count() > errors_before;
            let mut compiled = CompiledChallenge {
                id: challenge_id.clone(),
                name,
                description,
                texts,
                tags: challenge.tags.clone(),
                schedule,
                rotation,
                goals: Vec::new(),
            };
            for (def, goal_pointer) in challenge.goals.iter().zip(&origin.goals) {
                check_id(&mut ctx, doc, &child(goal_pointer, "id"), &def.id, "goal");
                if let Some((first_doc, first_ptr)) = goal_seen.get(&def.id) {
                    let first = describe_site(&ctx, *first_doc, first_ptr);
                    let d = ctx
                        .at_value(
                            doc,
                            &child(goal_pointer, "id"),
                            Code::DuplicateGoalId,
                            format!("goal id `{}` is already used (goal ids are unique across all challenges)", def.id),
                        )
                        .with_hint(format!("first defined at {first}"));
                    ctx.report(d);
                    continue;
                }
                goal_seen.insert(def.id.clone(), (doc, child(goal_pointer, "id")));
                let site = Site {
                    doc,
                    pointer: goal_pointer.clone(),
                };
                if let Some(checked) = payloads::check_goal(&mut ctx, &site, def, &stats) {
                    if checked.misread {
                        misread.insert(def.id.clone());
                    }
                    samples.insert(def.id.clone(), checked.sample);
                }
                let shown = text::Shown::of(
                    &mut ctx,
                    doc,
                    goal_pointer,
                    format!("goal `{}`", def.id),
                    &def.name,
                    &def.description,
                    &default_locale,
                    &mut written,
                );
                if let Some(goal) = goal::compile_goal(
                    &mut ctx,
                    &engine,
                    &site,
                    def,
                    &challenge_id,
                    &goal::Inherited {
                        schedule,
                        rotation,
                        tz,
                    },
                    shown,
                ) {
                    if unsure {
                        unsure_goals.insert(goal.id.clone());
                    }
                    compiled.goals.push(goals.len());
                    goals.push(goal);
                    sites.push(site);
                }
            }
            undecoded.extend(origin.undecoded_goals);
            for (test, test_pointer) in challenge.tests.into_iter().zip(origin.tests) {
                payloads::check_test(&mut ctx, doc, &test_pointer, &test, &stats);
                if unsure {
                    // It would fail for the mistake already reported, on settings not written.
                    continue;
                }
                test_defs.push((
                    test,
                    Site {
                        doc,
                        pointer: test_pointer,
                    },
                    schedule,
                ));
            }
            challenges.push(compiled);
        }
        text::missing_locales(&mut ctx, &written);
    }

    let declared: std::collections::HashSet<String> =
        goal_seen.into_keys().chain(undecoded).collect();
    graph::check_prerequisites(&mut ctx, &goals, &sites, &declared);
    checks::smoke_evaluate(&mut ctx, &engine, &goals, &sites, &samples, &misread);
    checks::never_completes(&mut ctx, &goals, &sites, &unsure_goals);

    let info = RuleSetInfo {
        content_hash: sources.content_hash(),
        loaded_at: Utc::now(),
        files: sources.files.iter().map(|f| f.path.clone()).collect(),
        texts: sources.files.iter().map(|f| f.text.clone()).collect(),
    };
    let mut rules = RuleSet::new(engine, challenges, goals, info);
    let tests = rule_tests::compile_tests(&mut ctx, &rules, &declared, test_defs);
    rule_tests::run_tests(&mut ctx, &rules, &tests);
    rules.tests = tests;

    let mut diagnostics = ctx.diagnostics;
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diagnostics.dedup();
    let mut errors = diagnostics.iter().filter(|d| d.is_error()).peekable();
    let has_errors = errors.peek().is_some();
    let only_tests_fail = has_errors && errors.all(|d| d.code == Code::TestFailed);
    let (rules, failing_tests_only) = match (has_errors, only_tests_fail) {
        (false, _) => (Some(rules), None),
        (true, true) => (None, Some(rules)),
        (true, false) => (None, None),
    };
    Compiled {
        rules,
        diagnostics,
        failing_tests_only,
    }
}

fn check_id(ctx: &mut Context, doc: usize, pointer: &str, id: &str, what: &str) {
    if !is_valid_id(id) {
        let d = ctx
            .at_value(doc, pointer, Code::InvalidId, format!("{what} id `{id}` is not a valid id"))
            .with_hint("ids are 1-100 characters: lowercase letters, digits, `_` and `-`, starting with a letter or digit");
        ctx.report(d);
    }
}

fn describe_site(ctx: &Context, doc: usize, pointer: &str) -> String {
    let document = &ctx.docs[doc];
    match document.value_pos(pointer) {
        Some(pos) => format!("{}:{}:{}", document.path().display(), pos.line, pos.column),
        None => document.path().display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_positions_map_into_the_file() {
        let plain = NodePos {
            key: None,
            value: Pos::new(7, 15),
            layout: ScalarLayout::Plain,
        };
        assert_eq!(map_expr_position(&plain, Some((1, 1))), Pos::new(7, 15));
        assert_eq!(map_expr_position(&plain, Some((1, 7))), Pos::new(7, 21));
        let quoted = NodePos {
            layout: ScalarLayout::Quoted,
            ..plain
        };
        assert_eq!(map_expr_position(&quoted, Some((1, 1))), Pos::new(7, 16));
        let block = NodePos {
            layout: ScalarLayout::Block {
                first_line: 8,
                column: 11,
            },
            ..plain
        };
        assert_eq!(map_expr_position(&block, Some((2, 3))), Pos::new(9, 13));
    }
}
