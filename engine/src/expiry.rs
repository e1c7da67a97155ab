//! Which rows of old periods the cleanup job may delete: a decision about the rules' meaning
//! (what a player would see without the row), so it lives with them; the stores only run it.

use crate::ids::GoalId;
use crate::model::Assign;
use crate::ruleset::RuleSet;

/// Which expired rows of one goal the cleanup may delete: those whose deletion nobody can
/// tell from the period reset the row would get on its next touch.
///
/// Only goals that rotate AND reset qualify (a row without reset carries progress over). A row
/// goes only when it is in the assignment state a missing row comes back in (`active`: an
/// `auto` goal's row is created active by its first event, a `default` one active by the next
/// `initialize`; a `manual` goal's row comes back inactive, so a player's selection is kept). A
/// claimed row goes only when the goal allows reselection; otherwise it stays claimed for good
/// and deleting it would make the reward claimable again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryPolicy {
    pub goal_id: GoalId,
    /// The `is_active` a deletable row has.
    pub active: bool,
    /// Whether a claimed row may go too.
    pub claimed_too: bool,
}

impl ExpiryPolicy {
    /// The policies of every goal of `rules` whose old rows may be deleted.
    pub fn for_rules(rules: &RuleSet) -> Vec<ExpiryPolicy> {
        rules
            .goals()
            .iter()
            .filter_map(|goal| {
                let rotation = goal.rotation.filter(|r| r.reset_progress)?;
                Some(ExpiryPolicy {
                    goal_id: goal.id.clone(),
                    active: goal.assign != Assign::Manual,
                    claimed_too: rotation.allow_reselection,
                })
            })
            .collect()
    }
}
