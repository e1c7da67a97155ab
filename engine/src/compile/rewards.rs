//! A goal's `reward:` or `rewards:`: each reward checked where it is written, weighted tables
//! (`one_of`) with positive weights and at least one entry.

use super::Context;
use crate::diagnostic::Code;
use crate::model::{GoalDef, RewardDef};
use crate::rewards::{RewardPart, Rewards, Weighted};
use crate::ruleset::Reward;
use crate::source::child;

/// The largest weight: a table's total stays far from overflowing, whatever its size.
const MAX_WEIGHT: i64 = 1_000_000_000;

const HINT: &str =
    "write `reward: { wallet: GOLD, amount: 100 }` or `reward: { item: <item id>, quantity: 1 }`";

/// What `def` grants; every mistake is reported, and a goal with one grants nothing (the
/// errors keep the rule set from loading anyway).
pub(super) fn of(ctx: &mut Context, doc: usize, goal_pointer: &str, def: &GoalDef) -> Rewards {
    match (&def.reward, &def.rewards) {
        (None, None) => Rewards::none(),
        (Some(_), Some(_)) => {
            let d = ctx
                .at_value(
                    doc,
                    &child(goal_pointer, "rewards"),
                    Code::InvalidReward,
                    "a goal has `reward:` (one) or `rewards:` (several), not both".to_string(),
                )
                .with_hint("move the `reward:` into the `rewards:` list");
            ctx.report(d);
            Rewards::none()
        }
        (Some(one), None) => {
            let part = part(ctx, doc, &child(goal_pointer, "reward"), one);
            Rewards(part.into_iter().collect())
        }
        (None, Some(several)) => {
            let pointer = child(goal_pointer, "rewards");
            if several.is_empty() {
                let d = ctx
                    .at_value(
                        doc,
                        &pointer,
                        Code::InvalidReward,
                        "`rewards: []` grants nothing".to_string(),
                    )
                    .with_hint("list the rewards, or leave `rewards` out for a goal without one");
                ctx.report(d);
            }
            let parts: Vec<_> = several
                .iter()
                .enumerate()
                .map(|(index, def)| part(ctx, doc, &child(&pointer, &index.to_string()), def))
                .collect();
            if parts.iter().any(Option::is_none) {
                return Rewards::none();
            }
            let rewards = Rewards(parts.into_iter().flatten().collect());
            one_fulfillment(ctx, doc, &pointer, &rewards);
            rewards
        }
    }
}

/// In fulfillment mode, a bundle is one fulfillment under the goal's transaction id (all of it
/// or none): each currency it may credit needs its coins item.
fn one_fulfillment(ctx: &mut Context, doc: usize, pointer: &str, rewards: &Rewards) {
    let Some(mapped) = &ctx.options.fulfillment_currencies else {
        return;
    };
    if rewards.parts().len() < 2 {
        return;
    }
    let mut missing: Vec<&str> = rewards
        .possible()
        .filter_map(|reward| match reward {
            Reward::Wallet { currency, .. } if !mapped.contains(currency) => {
                Some(currency.as_str())
            }
            _ => None,
        })
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return;
    }
    let list = missing.join("`, `");
    let d = ctx
        .at_value(
            doc,
            pointer,
            Code::BundleNotOneFulfillment,
            format!(
                "this bundle cannot be granted as one fulfillment: REWARD_CURRENCY_ITEMS names no coins item for `{list}`"
            ),
        )
        .with_hint(format!(
            "add `{}=<coins item id>` to REWARD_CURRENCY_ITEMS, or set REWARD_DELIVERY=direct (each part is then granted on its own)",
            missing[0]
        ));
    ctx.report(d);
}

/// One part: a table when it has `one_of`, else one reward.
fn part(ctx: &mut Context, doc: usize, pointer: &str, def: &RewardDef) -> Option<RewardPart> {
    let Some(entries) = &def.one_of else {
        if def.weight.is_some() {
            report(
                ctx,
                doc,
                &child(pointer, "weight"),
                "`weight` belongs to the entries of a `one_of` table".to_string(),
                "write `{ one_of: [ { weight: 80, wallet: GOLD, amount: 100 }, { weight: 20, item: <item id> } ] }`",
            );
            return None;
        }
        return reward(ctx, doc, pointer, def).map(RewardPart::Fixed);
    };
    let table = child(pointer, "one_of");
    let mut broken = false;
    if def.wallet.is_some() || def.item.is_some() || def.amount.is_some() || def.quantity.is_some()
    {
        report(
            ctx,
            doc,
            pointer,
            "a `one_of` table's rewards are its entries; it takes no `wallet`, `amount`, `item` or `quantity` of its own".to_string(),
            "move the reward into the table as an entry with a `weight`",
        );
        broken = true;
    }
    if def.weight.is_some() {
        report(
            ctx,
            doc,
            &child(pointer, "weight"),
            "a `one_of` table has no `weight`; its entries do".to_string(),
            "put a `weight` on each entry of `one_of`",
        );
        broken = true;
    }
    if entries.is_empty() {
        report(
            ctx,
            doc,
            &table,
            "a `one_of` table needs at least one entry".to_string(),
            "write `one_of: [ { weight: 1, wallet: GOLD, amount: 100 } ]`",
        );
        return None;
    }
    let mut drawn = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let at = child(&table, &index.to_string());
        if entry.one_of.is_some() {
            report(
                ctx,
                doc,
                &child(&at, "one_of"),
                "a `one_of` entry cannot be a table itself".to_string(),
                "list every possible reward in the one table, each with its weight",
            );
            broken = true;
            continue;
        }
        let weight = match entry.weight {
            Some(weight) if weight > MAX_WEIGHT => {
                report(
                    ctx,
                    doc,
                    &child(&at, "weight"),
                    format!("a `one_of` entry's weight is at most {MAX_WEIGHT}, not {weight}"),
                    "weights are relative: divide them all by the same number",
                );
                None
            }
            Some(weight) if weight > 0 => Some(weight as u64),
            Some(weight) => {
                report(
                    ctx,
                    doc,
                    &child(&at, "weight"),
                    format!("a `one_of` entry's weight must be at least 1, not {weight}"),
                    "leave out an entry that should never be drawn",
                );
                None
            }
            None => {
                report(
                    ctx,
                    doc,
                    &at,
                    "each entry of `one_of` needs a `weight` (at least 1)".to_string(),
                    "add `weight:`: an entry's chance is its weight over the table's total",
                );
                None
            }
        };
        match (weight, reward(ctx, doc, &at, entry)) {
            (Some(weight), Some(reward)) => drawn.push(Weighted { weight, reward }),
            _ => broken = true,
        }
    }
    (!broken).then_some(RewardPart::OneOf(drawn))
}

fn report(ctx: &mut Context, doc: usize, pointer: &str, message: String, hint: &str) {
    let d = ctx
        .at_value(doc, pointer, Code::InvalidReward, message)
        .with_hint(hint);
    ctx.report(d);
}

/// One reward: a wallet's amount or an item's quantity.
fn reward(ctx: &mut Context, doc: usize, pointer: &str, def: &RewardDef) -> Option<Reward> {
    let problem = match (def.wallet.as_deref(), def.item.as_deref()) {
        (Some(_), Some(_)) => {
            "a reward is either `{wallet, amount}` or `{item, quantity}`, not both".to_string()
        }
        (None, None) => {
            "a reward needs `wallet` (with `amount`) or `item` (with `quantity`)".to_string()
        }
        (Some(wallet), None) => {
            if def.quantity.is_some() {
                "a wallet reward takes `amount`, not `quantity`".to_string()
            } else if wallet.trim().is_empty() {
                "the wallet currency code is empty".to_string()
            } else {
                match def.amount {
                    Some(amount) if amount > 0 => {
                        return Some(Reward::Wallet {
                            currency: wallet.to_string(),
                            amount,
                        });
                    }
                    Some(amount) => {
                        format!("a wallet reward's amount must be at least 1, not {amount}")
                    }
                    None => "a wallet reward needs `amount`".to_string(),
                }
            }
        }
        (None, Some(item)) => {
            if def.amount.is_some() {
                "an item reward takes `quantity`, not `amount`".to_string()
            } else if item.trim().is_empty() {
                "the item id is empty".to_string()
            } else {
                match def.quantity.unwrap_or(1) {
                    quantity if quantity > 0 => {
                        return Some(Reward::Item {
                            item_id: item.to_string(),
                            quantity,
                        });
                    }
                    quantity => {
                        format!("an item reward's quantity must be at least 1, not {quantity}")
                    }
                }
            }
        }
    };
    report(ctx, doc, pointer, problem, HINT);
    None
}
