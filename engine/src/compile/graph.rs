//! Prerequisites: every required goal exists, and the requirements form no cycle.

use std::collections::{HashMap, HashSet};

use super::{Context, Site};
use crate::diagnostic::{Code, did_you_mean};
use crate::ruleset::CompiledGoal;
use crate::source::child;

pub(super) fn check_prerequisites(
    ctx: &mut Context,
    goals: &[CompiledGoal],
    sites: &[Site],
    declared: &HashSet<String>,
) {
    let index: HashMap<&str, usize> = goals
        .iter()
        .enumerate()
        .map(|(i, goal)| (goal.id.as_str(), i))
        .collect();
    for (goal, site) in goals.iter().zip(sites) {
        for (position, required) in goal.requires.iter().enumerate() {
            let pointer = child(&child(&site.pointer, "requires"), &position.to_string());
            if required == &goal.id {
                let d = ctx.at_value(
                    site.doc,
                    &pointer,
                    Code::PrerequisiteCycle,
                    format!("goal `{}` requires itself", goal.id),
                );
                ctx.report(d);
            } else if !declared.contains(required.as_str()) {
                let mut d = ctx.at_value(
                    site.doc,
                    &pointer,
                    Code::UnknownPrerequisite,
                    format!(
                        "goal `{}` requires `{required}`, which no challenge defines",
                        goal.id
                    ),
                );
                if let Some(suggestion) =
                    did_you_mean(required.as_str(), declared.iter().map(String::as_str))
                {
                    d = d.with_hint(format!("did you mean `{suggestion}`?"));
                }
                ctx.report(d);
            }
        }
    }

    // Depth-first search; each cycle is reported once, at the goal where it was entered.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; goals.len()];
    let mut reported: HashSet<Vec<usize>> = HashSet::new();
    for start in 0..goals.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (goal, next requirement to visit).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Active;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let requires = &goals[node].requires;
            if *next >= requires.len() {
                marks[node] = Mark::Done;
                stack.pop();
                continue;
            }
            let required = &requires[*next];
            *next += 1;
            let Some(&target) = index.get(required.as_str()) else {
                continue;
            };
            if target == node {
                continue; // self-requirement, reported above
            }
            match marks[target] {
                Mark::New => {
                    marks[target] = Mark::Active;
                    stack.push((target, 0));
                }
                Mark::Active => {
                    let from = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                    let cycle: Vec<usize> = stack[from..].iter().map(|(n, _)| *n).collect();
                    let mut key = cycle.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        let names: Vec<&str> = cycle
                            .iter()
                            .chain(std::iter::once(&target))
                            .map(|&n| goals[n].id.as_str())
                            .collect();
                        let first = cycle[0];
                        let d = ctx
                            .at_key(
                                sites[first].doc,
                                &child(&sites[first].pointer, "requires"),
                                Code::PrerequisiteCycle,
                                format!("prerequisites form a cycle: {}", names.join(" → ")),
                            )
                            .with_hint("no goal in a cycle can ever be claimed; remove one of the requirements");
                        ctx.report(d);
                    }
                }
                Mark::Done => {}
            }
        }
    }
}
