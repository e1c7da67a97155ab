//! The mixed load: players reading (the list and one challenge), claiming and initializing over
//! REST while game events arrive over gRPC, each class on its own fixed-rate schedule.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::events::EventSender;
use crate::http::Players;
use crate::load::{Outcome, open_loop};

/// The bench rules (`bench/rest/challenges`): the challenge every claimer completes a goal of.
pub const CLAIM_CHALLENGE: &str = "bench-1";
pub const CLAIM_GOAL: &str = "b1-g0";
/// The stat that goal counts, and the value that completes it.
pub const CLAIM_STAT: &str = "s1-0";
pub const CLAIM_TARGET: f64 = 10.0;
/// Players holding their 50 goals (`bench-user-0` ..).
pub const LIST_PLAYERS: u64 = 1_000;

/// Calls per second of each class.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Rates {
    pub list: f64,
    pub one: f64,
    pub claim: f64,
    pub initialize: f64,
    pub events: f64,
}

impl Rates {
    /// 1,000 requests/s (half lists, 30 % one challenge, 10 % claims, 10 % first logins) and
    /// 2,500 events/s.
    pub const BASE: Rates = Rates {
        list: 500.0,
        one: 300.0,
        claim: 100.0,
        initialize: 100.0,
        events: 2_500.0,
    };

    pub fn scaled(self, factor: f64) -> Self {
        Self {
            list: self.list * factor,
            one: self.one * factor,
            claim: self.claim * factor,
            initialize: self.initialize * factor,
            events: self.events * factor,
        }
    }

    pub fn requests(&self) -> f64 {
        self.list + self.one + self.claim + self.initialize
    }
}

/// What the mixed load talks to, and the players it may use.
#[derive(Clone)]
pub struct Targets {
    pub players: Players,
    pub events: EventSender,
    /// Players `claim-user-{k}` whose claim goal is completed and not yet claimed; each claim
    /// takes the next.
    pub claimers: Arc<AtomicU64>,
    pub claimer_count: u64,
    /// Distinguishes new players of one run from another's.
    pub run: String,
}

/// Runs every class at its rate for `duration`, all at once; answers per class.
pub async fn run(
    targets: &Targets,
    rates: Rates,
    duration: Duration,
) -> Vec<(&'static str, Outcome)> {
    let in_flight = 512;
    let list = {
        let players = targets.players.clone();
        open_loop(rates.list, duration, in_flight, move |n| {
            let players = players.clone();
            async move { list(&players, n).await }
        })
    };
    let one = {
        let players = targets.players.clone();
        open_loop(rates.one, duration, in_flight, move |n| {
            let players = players.clone();
            async move { one(&players, n).await }
        })
    };
    let claim = {
        let (players, claimers, count) = (
            targets.players.clone(),
            targets.claimers.clone(),
            targets.claimer_count,
        );
        open_loop(rates.claim, duration, in_flight, move |_| {
            let (players, claimers) = (players.clone(), claimers.clone());
            async move {
                let k = claimers.fetch_add(1, Ordering::Relaxed);
                if k >= count {
                    return Err(format!("only {count} claimers were seeded"));
                }
                claim(&players, k).await
            }
        })
    };
    let initialize = {
        let (players, run) = (targets.players.clone(), targets.run.clone());
        open_loop(rates.initialize, duration, in_flight, move |n| {
            let (players, run) = (players.clone(), run.clone());
            async move {
                let user = format!("new-user-{run}-{n}");
                players
                    .call("POST", "/v1/challenges/initialize", &user, None, &[200])
                    .await
                    .map(drop)
            }
        })
    };
    let events = {
        let sender = targets.events.clone();
        open_loop(rates.events, duration, in_flight, move |n| {
            let sender = sender.clone();
            async move { sender.send(n).await }
        })
    };
    let (list, one, claim, initialize, events) = tokio::join!(list, one, claim, initialize, events);
    vec![
        ("list", list),
        ("one challenge", one),
        ("claim", claim),
        ("initialize", initialize),
        ("events", events),
    ]
}

/// List player `n`'s challenges (`GET /v1/challenges`: 50 goals).
pub async fn list(players: &Players, n: u64) -> Result<(), String> {
    let user = format!("bench-user-{}", n % LIST_PLAYERS);
    players
        .call("GET", "/v1/challenges", &user, None, &[200])
        .await
        .map(drop)
}

/// One challenge (10 goals) of a list player, in another order than [`list`]'s.
pub async fn one(players: &Players, n: u64) -> Result<(), String> {
    let user = format!("bench-user-{}", (n * 7) % LIST_PLAYERS);
    let path = format!("/v1/challenges/{CLAIM_CHALLENGE}");
    players
        .call("GET", &path, &user, None, &[200])
        .await
        .map(drop)
}

/// Claims claimer `k`'s goal: 200 `claimed` (or 202 `pending` if the grant is still running).
pub async fn claim(players: &Players, k: u64) -> Result<(), String> {
    let user = format!("claim-user-{k}");
    let path = format!("/v1/challenges/{CLAIM_CHALLENGE}/goals/{CLAIM_GOAL}/claim");
    players
        .call("POST", &path, &user, None, &[200, 202])
        .await
        .map(drop)
}
