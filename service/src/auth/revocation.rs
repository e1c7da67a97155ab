//! IAM's revocation list (`GET /iam/v3/oauth/revocationlist`, which IAM answers to the service's
//! IAM client by Basic authentication), as AccelByte's SDK token validators read it: a bloom filter of revoked access
//! tokens, and the users whose tokens issued at or before a time are revoked (a ban, a
//! password change, "log out everywhere"). Read at start and every
//! `IAM_REVOCATION_REFRESH_SECONDS`; when IAM cannot be reached the last list stays in use and
//! `challenge_iam_revocation_list_stale` says so.
//!
//! The filter is the SDKs' (AccelByte's `bloom` package, strategy `MURMUR128MITZ64`): `bits` is
//! an array of 64-bit words, bit `i` being bit `i % 64` of word `i / 64`, `m = 64 × words`; a
//! token's `k` bit indexes come from MurmurHash3 x64 128 (seed 0) of its bytes, `(h1, h2)`:
//! index `j` is `((h1 + j·h2) & i64::MAX) % m`, with wrapping 64-bit arithmetic.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{Gauge, IntGauge};
use serde::Deserialize;

/// The bloom filter of revoked tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bloom {
    pub bits: Vec<u64>,
    pub k: u32,
}

impl Bloom {
    /// The bit indexes of `data` in a filter of `m` bits.
    pub fn indexes(data: &[u8], m: u64, k: u32) -> impl Iterator<Item = u64> {
        let hash = murmur3::murmur3_x64_128(&mut std::io::Cursor::new(data), 0).unwrap_or(0);
        let (h1, h2) = (hash as u64, (hash >> 64) as u64);
        (0..u64::from(k)).map(move |j| {
            let combined = h1.wrapping_add(j.wrapping_mul(h2));
            (combined & (i64::MAX as u64)) % m.max(1)
        })
    }

    fn m(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    /// Whether `data` may have been put in (false positives happen; false negatives never).
    pub fn might_contain(&self, data: &[u8]) -> bool {
        if self.bits.is_empty() || self.k == 0 {
            return false;
        }
        Bloom::indexes(data, self.m(), self.k).all(|index| {
            let word = self.bits[(index / 64) as usize];
            word & (1 << (index % 64)) != 0
        })
    }

    /// Puts `data` in (as IAM does when it revokes a token).
    pub fn put(&mut self, data: &[u8]) {
        for index in Bloom::indexes(data, self.m(), self.k) {
            self.bits[(index / 64) as usize] |= 1 << (index % 64);
        }
    }
}

/// One revocation list, as read.
#[derive(Debug, Clone, Default)]
pub struct RevocationList {
    pub tokens: Bloom,
    /// User id → the time up to which the user's tokens are revoked (Unix seconds).
    pub users: HashMap<String, i64>,
}

#[derive(Deserialize)]
struct ListJson {
    revoked_tokens: Option<BloomJson>,
    #[serde(default)]
    revoked_users: Vec<UserJson>,
}

#[derive(Deserialize)]
struct BloomJson {
    #[serde(default)]
    bits: Vec<u64>,
    #[serde(default)]
    k: u32,
}

#[derive(Deserialize)]
struct UserJson {
    id: String,
    revoked_at: DateTime<Utc>,
}

impl RevocationList {
    /// Reads IAM's answer.
    pub fn parse(body: &str) -> Result<Self, String> {
        let list: ListJson = serde_json::from_str(body)
            .map_err(|err| format!("IAM's revocation list does not parse: {err}"))?;
        let tokens = list
            .revoked_tokens
            .map_or_else(Bloom::default, |bloom| Bloom {
                bits: bloom.bits,
                k: bloom.k,
            });
        let users = list
            .revoked_users
            .into_iter()
            .map(|user| (user.id, user.revoked_at.timestamp()))
            .collect();
        Ok(Self { tokens, users })
    }
}

/// Why a token is refused by the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Token,
    User,
}

/// `challenge_iam_revocation_list_stale` and `…_last_success_timestamp_seconds`, at 0.
pub fn gauges() -> Result<(IntGauge, Gauge), prometheus::Error> {
    Ok((
        IntGauge::new(
            "challenge_iam_revocation_list_stale",
            "1 while the IAM revocation list in use is not IAM's latest (its last read failed)",
        )?,
        Gauge::new(
            "challenge_iam_revocation_list_last_success_timestamp_seconds",
            "When the IAM revocation list in use was read (Unix seconds; 0: never)",
        )?,
    ))
}

/// The list in use, and how it is refreshed.
pub struct Revocations {
    url: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    list: RwLock<Arc<RevocationList>>,
    /// 1 while the list in use is not IAM's latest (the last refresh failed, or none succeeded).
    pub stale: IntGauge,
    /// When the list in use was read (Unix seconds; 0: never).
    pub last_success: Gauge,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("url", &self.url)
            .finish()
    }
}

impl Revocations {
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let (stale, last_success) = gauges()?;
        stale.set(1);
        let base = base_url.trim_end_matches('/');
        Ok(Arc::new(Self {
            url: format!("{base}/iam/v3/oauth/revocationlist"),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            http,
            list: RwLock::new(Arc::default()),
            stale,
            last_success,
        }))
    }

    /// Whether `token` (of user `sub`, issued at `iat`) is revoked by the list in use.
    pub fn check(&self, token: &str, sub: &str, iat: i64) -> Result<(), Revoked> {
        let list = self.current();
        if list.tokens.might_contain(token.as_bytes()) {
            return Err(Revoked::Token);
        }
        if !sub.is_empty() && list.users.get(sub).is_some_and(|at| *at >= iat) {
            return Err(Revoked::User);
        }
        Ok(())
    }

    fn current(&self) -> Arc<RevocationList> {
        match self.list.read() {
            Ok(list) => Arc::clone(&list),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the list from IAM; on failure the list in use stays and the metric says so.
    pub async fn refresh(&self) -> Result<(), String> {
        let result = self.fetch().await;
        match &result {
            Ok(list) => {
                let list = Arc::new(list.clone());
                match self.list.write() {
                    Ok(mut slot) => *slot = list,
                    Err(poisoned) => *poisoned.into_inner() = list,
                }
                self.stale.set(0);
                self.last_success.set(Utc::now().timestamp() as f64);
            }
            Err(_) => self.stale.set(1),
        }
        result.map(|_| ())
    }

    async fn fetch(&self) -> Result<RevocationList, String> {
        let response = self
            .http
            .get(&self.url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .send()
            .await
            .map_err(|err| format!("IAM revocation list request: {err}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err("IAM refused the service's client (AB_CLIENT_ID/AB_CLIENT_SECRET) the revocation list (401)".into());
        }
        if !status.is_success() {
            return Err(format!("IAM answered the revocation list with {status}"));
        }
        let body = response
            .text()
            .await
            .map_err(|err| format!("IAM revocation list: {err}"))?;
        RevocationList::parse(&body)
    }

    /// Refreshes every `every` until `stopped`.
    pub async fn run(
        self: Arc<Self>,
        every: Duration,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "reading IAM's revocation list failed; the last list stays in use");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_murmur3_x64_128_as_published() {
        let hash = murmur3::murmur3_x64_128(&mut std::io::Cursor::new(b"hello"), 0).unwrap();
        assert_eq!(
            (hash as u64, (hash >> 64) as u64),
            (0xcbd8a7b341bd9b02, 0x5b1e906a48ae1d19)
        );
    }

    #[test]
    fn a_token_put_in_is_found_and_others_mostly_are_not() {
        let mut bloom = Bloom {
            bits: vec![0; 64],
            k: 7,
        };
        bloom.put(b"revoked-token");
        assert!(bloom.might_contain(b"revoked-token"));
        let false_positives = (0..1000)
            .filter(|n| bloom.might_contain(format!("token-{n}").as_bytes()))
            .count();
        assert!(false_positives < 10, "{false_positives}");
        assert!(!Bloom::default().might_contain(b"anything"));
    }

    #[test]
    fn iams_answer_is_read() {
        let list = RevocationList::parse(
            r#"{"revoked_tokens":{"m":128,"k":3,"bits":[18446744073709551615,0]},
                "revoked_users":[{"id":"u1","revoked_at":"2026-12-01T10:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(list.tokens.bits, vec![u64::MAX, 0]);
        assert_eq!(list.users.get("u1"), Some(&1_796_119_200));
        assert!(RevocationList::parse("{").is_err());
    }
}
