//! What a claim grants: the goal's rewards drawn once from the claim's transaction id, as the
//! intent records them before anything is sent, and what each request of a delivery sends (a
//! whole bundle in one fulfillment, or one part after another when delivered directly).

use store::{Delivery, RewardIntent};

/// What one request of a delivery sends: a whole bundle in one fulfillment, or, delivered
/// directly, the part after those Platform granted.
pub(super) struct Part<'a> {
    pub sent: &'a [engine::Reward],
    /// Its place, for a bundle delivered part by part.
    pub index: i32,
    /// Parts are left after it.
    pub more: bool,
    /// How many parts the bundle has, when it is sent part by part.
    of: Option<usize>,
}

impl<'a> Part<'a> {
    pub fn of(intent: &RewardIntent, rewards: &'a [engine::Reward]) -> Self {
        if intent.delivery != Delivery::Direct || rewards.len() < 2 {
            return Self {
                sent: rewards,
                index: 0,
                more: false,
                of: None,
            };
        }
        // `part_granted` only ever records a count below the bundle's size.
        let index = usize::try_from(intent.parts_granted)
            .unwrap_or(0)
            .min(rewards.len() - 1);
        Self {
            sent: &rewards[index..=index],
            index: index as i32,
            more: index + 1 < rewards.len(),
            of: Some(rewards.len()),
        }
    }

    /// `error`, saying which part it is about (and which were granted or are still to go).
    pub fn said(&self, error: String) -> String {
        let Some(total) = self.of else {
            return error;
        };
        let reward = &self.sent[0];
        let after = if self.more {
            "; the parts after it are not sent yet"
        } else {
            ""
        };
        format!(
            "part {} of {total} ({} {} x{}; the {} before it granted{after}): {error}",
            self.index + 1,
            reward.kind(),
            reward.id(),
            reward.quantity(),
            self.index
        )
    }
}

/// The rewards recorded with an intent (what its claim drew), back to the engine's type: one
/// reward (a `RewardRecord`, as every record before bundles), a list of them, or none.
pub fn rewards_from_record(record: &str) -> Vec<engine::Reward> {
    let parsed = serde_json::from_str::<OneOrMany>(record);
    let records = match parsed {
        Ok(OneOrMany::One(one)) => vec![one],
        Ok(OneOrMany::Many(many)) => many,
        Err(_) => Vec::new(),
    };
    records
        .into_iter()
        .filter_map(RewardRecord::reward)
        .collect()
}

/// What an intent records for `rewards` (drawn already): `null` for none, the reward itself
/// for one (the shape records had before bundles), else the list; [`rewards_from_record`]
/// reads it back.
pub fn reward_record(rewards: &[engine::Reward]) -> String {
    let records: Vec<RewardRecord> = rewards.iter().map(RewardRecord::of).collect();
    let json = match records.as_slice() {
        [] => Ok("null".to_string()),
        [one] => serde_json::to_string(one),
        many => serde_json::to_string(many),
    };
    json.unwrap_or_else(|_| "null".into())
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    #[serde(borrow)]
    One(RewardRecord<'a>),
    #[serde(borrow)]
    Many(Vec<RewardRecord<'a>>),
}

/// A reward in an intent's record: the shape of api.md's reward, which records written before
/// this type existed have too.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RewardRecord<'a> {
    #[serde(rename = "type")]
    kind: std::borrow::Cow<'a, str>,
    reward_id: std::borrow::Cow<'a, str>,
    quantity: i64,
}

impl<'a> RewardRecord<'a> {
    fn of(reward: &'a engine::Reward) -> Self {
        Self {
            kind: reward.kind().into(),
            reward_id: reward.id().into(),
            quantity: reward.quantity(),
        }
    }

    fn reward(self) -> Option<engine::Reward> {
        let (id, quantity) = (self.reward_id.into_owned(), self.quantity);
        match self.kind.as_ref() {
            "WALLET" => Some(engine::Reward::Wallet {
                currency: id,
                amount: quantity,
            }),
            "ITEM" => Some(engine::Reward::Item {
                item_id: id,
                quantity,
            }),
            _ => None,
        }
    }
}
