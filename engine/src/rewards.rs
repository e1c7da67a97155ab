//! What a goal grants: one reward, a bundle of several (`rewards:`), and weighted tables
//! (`one_of:`) whose entry is drawn once per claim from a seed the claim derives from its
//! transaction id, so every retry, replica and restart draws the same entry.

use sha2::{Digest, Sha256};

use crate::ruleset::Reward;

/// One part of what a goal grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewardPart {
    /// Always granted.
    Fixed(Reward),
    /// One entry, drawn by weight.
    OneOf(Vec<Weighted>),
}

/// An entry of a weighted table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weighted {
    /// At least 1.
    pub weight: u64,
    pub reward: Reward,
}

/// Everything a goal grants, in the order the file writes it (empty: nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewards(pub Vec<RewardPart>);

impl RewardPart {
    /// The reward a player is shown before the claim: the fixed one, or the table's most
    /// likely entry (the first of the most likely when several weigh the same).
    pub fn headline(&self) -> &Reward {
        match self {
            RewardPart::Fixed(reward) => reward,
            RewardPart::OneOf(entries) => {
                let mut best = &entries[0];
                for entry in &entries[1..] {
                    if entry.weight > best.weight {
                        best = entry;
                    }
                }
                &best.reward
            }
        }
    }

    /// The rewards this part may grant.
    pub fn possible(&self) -> impl Iterator<Item = &Reward> {
        let (fixed, table) = match self {
            RewardPart::Fixed(reward) => (Some(reward), &[][..]),
            RewardPart::OneOf(entries) => (None, &entries[..]),
        };
        fixed.into_iter().chain(table.iter().map(|e| &e.reward))
    }

    /// Each possible reward with its chance, 0 to 1 (1 for a fixed part).
    pub fn odds(&self) -> Vec<(&Reward, f64)> {
        match self {
            RewardPart::Fixed(reward) => vec![(reward, 1.0)],
            RewardPart::OneOf(entries) => {
                let total: u64 = entries.iter().map(|e| e.weight).sum();
                entries
                    .iter()
                    .map(|e| (&e.reward, e.weight as f64 / total as f64))
                    .collect()
            }
        }
    }

    /// The reward this part grants for `seed` and its place in the goal's rewards.
    fn draw(&self, seed: &str, index: usize) -> &Reward {
        let entries = match self {
            RewardPart::Fixed(reward) => return reward,
            RewardPart::OneOf(entries) => entries,
        };
        let total: u64 = entries.iter().map(|e| e.weight).sum();
        let mut point = uniform(seed, index) % total.max(1);
        for entry in entries {
            if point < entry.weight {
                return &entry.reward;
            }
            point -= entry.weight;
        }
        &entries[entries.len() - 1].reward
    }
}

/// 64 bits of SHA-256 over the seed and the part's index: what a table draws from. Weights
/// are small next to 2^64, so taking it modulo their total favours no entry measurably.
fn uniform(seed: &str, index: usize) -> u64 {
    let mut hash = Sha256::new();
    hash.update(b"challenge-reward-draw\0");
    hash.update(seed.as_bytes());
    hash.update([0]);
    hash.update((index as u64).to_be_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl Rewards {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn one(reward: Reward) -> Self {
        Self(vec![RewardPart::Fixed(reward)])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn parts(&self) -> &[RewardPart] {
        &self.0
    }

    /// The reward the reference's clients read in `reward`: the first part's
    /// [`RewardPart::headline`].
    pub fn headline(&self) -> Option<&Reward> {
        self.0.first().map(RewardPart::headline)
    }

    /// The one fixed reward, when that is all the goal grants (the reference's shape says it
    /// all).
    pub fn single(&self) -> Option<&Reward> {
        match &self.0[..] {
            [RewardPart::Fixed(reward)] => Some(reward),
            _ => None,
        }
    }

    /// Whether a part is a weighted table.
    pub fn draws(&self) -> bool {
        self.0.iter().any(|p| matches!(p, RewardPart::OneOf(_)))
    }

    /// What a claim whose draw is seeded by `seed` (its transaction id) grants, part by part.
    /// The same seed always draws the same entries.
    pub fn draw(&self, seed: &str) -> Vec<Reward> {
        self.0
            .iter()
            .enumerate()
            .map(|(index, part)| part.draw(seed, index).clone())
            .collect()
    }

    /// Every reward any claim may grant.
    pub fn possible(&self) -> impl Iterator<Item = &Reward> {
        self.0.iter().flat_map(RewardPart::possible)
    }

    /// What one claim grants on average, summed per reward id (kind and id), in the order
    /// first met.
    pub fn expected(&self) -> Vec<(RewardKey, f64)> {
        let mut sums: Vec<(RewardKey, f64)> = Vec::new();
        for part in &self.0 {
            for (reward, chance) in part.odds() {
                let key = RewardKey::of(reward);
                let amount = chance * reward.quantity() as f64;
                match sums.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, sum)) => *sum += amount,
                    None => sums.push((key, amount)),
                }
            }
        }
        sums
    }
}

/// What a reward id adds up to: an expected amount (a table's entries weigh in by their
/// chance), as simulate and replay report it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedReward {
    /// `WALLET` or `ITEM`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reward_id: String,
    /// Amount or quantity, on average (a table's entries by their chance).
    pub amount: f64,
}

impl Rewards {
    /// What `claims` claims grant on average, per reward id (nothing for no claim).
    pub fn expected_for(&self, claims: u64) -> Vec<ExpectedReward> {
        if claims == 0 {
            return Vec::new();
        }
        self.expected()
            .into_iter()
            .map(|(key, each)| ExpectedReward {
                kind: key.kind,
                reward_id: key.id,
                amount: round(each * claims as f64),
            })
            .collect()
    }
}

/// Two decimals: what a table's expected value is shown to.
pub fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A reward's kind and id, what totals are kept per.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RewardKey {
    /// `WALLET` or `ITEM`, as the API says.
    pub kind: &'static str,
    /// The currency code or item id.
    pub id: String,
}

impl RewardKey {
    pub fn of(reward: &Reward) -> Self {
        Self {
            kind: reward.kind(),
            id: reward.id().to_string(),
        }
    }
}

impl Reward {
    /// `WALLET` or `ITEM`, as the API says.
    pub fn kind(&self) -> &'static str {
        match self {
            Reward::Wallet { .. } => "WALLET",
            Reward::Item { .. } => "ITEM",
        }
    }

    /// The currency code or the item id.
    pub fn id(&self) -> &str {
        match self {
            Reward::Wallet { currency, .. } => currency,
            Reward::Item { item_id, .. } => item_id,
        }
    }

    /// The amount or the quantity.
    pub fn quantity(&self) -> i64 {
        match self {
            Reward::Wallet { amount, .. } => *amount,
            Reward::Item { quantity, .. } => *quantity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold(amount: i64) -> Reward {
        Reward::Wallet {
            currency: "GOLD".into(),
            amount,
        }
    }

    fn item(id: &str) -> Reward {
        Reward::Item {
            item_id: id.into(),
            quantity: 1,
        }
    }

    fn table(weights: &[(u64, Reward)]) -> RewardPart {
        RewardPart::OneOf(
            weights
                .iter()
                .map(|(weight, reward)| Weighted {
                    weight: *weight,
                    reward: reward.clone(),
                })
                .collect(),
        )
    }

    #[test]
    fn a_draw_depends_on_its_seed_only() {
        let rewards = Rewards(vec![
            RewardPart::Fixed(gold(5)),
            table(&[(1, item("a")), (1, item("b")), (1, item("c"))]),
        ]);
        let first = rewards.draw("ce-0123");
        for _ in 0..10 {
            assert_eq!(rewards.draw("ce-0123"), first);
        }
        assert_eq!(first[0], gold(5));
        // Some other seed draws another entry.
        assert!((0..50).any(|n| rewards.draw(&format!("ce-{n}"))[1] != first[1]));
    }

    /// Chi-square over 10,000 seeds shaped like transaction ids: the draws follow the weights.
    /// With 3 degrees of freedom, 16.27 is the 0.1 % critical value; the seeds are fixed, so
    /// the test cannot flake.
    #[test]
    fn draws_follow_the_weights() {
        let weights = [50u64, 30, 15, 5];
        let part = table(
            &weights
                .iter()
                .enumerate()
                .map(|(n, w)| (*w, item(&format!("entry-{n}"))))
                .collect::<Vec<_>>(),
        );
        let rewards = Rewards(vec![part]);
        let seeds = 10_000;
        let mut counts = [0u64; 4];
        for n in 0..seeds {
            let seed = format!("ce-{:032x}", u128::from(n as u32) * 0x9e37_79b9_7f4a_7c15);
            let drawn = rewards.draw(&seed);
            let index = (0..4)
                .find(|i| drawn[0] == item(&format!("entry-{i}")))
                .unwrap();
            counts[index] += 1;
        }
        let total: u64 = weights.iter().sum();
        let chi_square: f64 = weights
            .iter()
            .zip(counts)
            .map(|(w, observed)| {
                let expected = seeds as f64 * *w as f64 / total as f64;
                (observed as f64 - expected).powi(2) / expected
            })
            .sum();
        assert!(
            chi_square < 16.27,
            "chi² {chi_square:.2}, counts {counts:?}"
        );
    }

    #[test]
    fn the_headline_is_the_first_part_or_the_most_likely_entry() {
        let rewards = Rewards(vec![
            table(&[(20, item("rare")), (80, gold(100)), (80, gold(1))]),
            RewardPart::Fixed(item("x")),
        ]);
        assert_eq!(rewards.headline(), Some(&gold(100)));
        assert_eq!(rewards.single(), None);
        assert_eq!(Rewards::one(gold(3)).single(), Some(&gold(3)));
        assert_eq!(Rewards::none().headline(), None);
    }

    #[test]
    fn the_expected_value_comes_from_the_weights() {
        let rewards = Rewards(vec![
            RewardPart::Fixed(gold(10)),
            table(&[(3, gold(100)), (1, item("rare"))]),
        ]);
        let expected = rewards.expected();
        assert_eq!(expected[0].0.id, "GOLD");
        assert!((expected[0].1 - 85.0).abs() < 1e-9, "{expected:?}");
        assert!((expected[1].1 - 0.25).abs() < 1e-9, "{expected:?}");
    }
}
