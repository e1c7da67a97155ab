//! Which Citus shard a player's rows live on, so the writer can keep each transaction on one
//! shard when the deployment is distributed (docs/scaling.md). Citus places a row of a
//! hash-distributed table by the distribution column's PostgreSQL hash (for text, `hashtext`:
//! Bob Jenkins' lookup3 over the bytes, as `hash_bytes` in PostgreSQL's `common/hashfn.c`) and
//! cuts the 32-bit hash space into `shard_count` equal ranges, the last one taking the rest
//! (`CreateShardsWithRoundRobinPolicy`). Both are computed here; a test checks the hash against
//! PostgreSQL's own `hashtext`.

/// A distributed deployment's shard count (`citus.shard_count` when the tables were
/// distributed; 32 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shards {
    count: u32,
}

impl Shards {
    /// `None` for 0 (not sharded).
    pub fn new(count: u32) -> Option<Self> {
        (count > 0).then_some(Self { count })
    }

    /// The shard (0-based, in shard-range order) holding `user_id`'s rows.
    pub fn of(&self, user_id: &str) -> u32 {
        let width = (1u64 << 32) / u64::from(self.count);
        let from_min = i64::from(hashtext(user_id.as_bytes())) - i64::from(i32::MIN);
        (from_min as u64 / width).min(u64::from(self.count - 1)) as u32
    }
}

/// PostgreSQL's `hashtext` of a string under a deterministic collation (an `int4`).
pub fn hashtext(bytes: &[u8]) -> i32 {
    hash_bytes(bytes) as i32
}

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn last(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// lookup3's `hashlittle` as PostgreSQL's `hash_bytes` runs it on a little-endian machine.
fn hash_bytes(key: &[u8]) -> u32 {
    let word = |k: &[u8]| u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
    let init = 0x9e37_79b9u32
        .wrapping_add(key.len() as u32)
        .wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = key;
    while k.len() >= 12 {
        a = a.wrapping_add(word(&k[0..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    // The last 0 to 11 bytes; the lowest byte of `c` is left for the length.
    let byte = |i: usize, shift: u32| u32::from(k[i]) << shift;
    let n = k.len();
    if n >= 11 {
        c = c.wrapping_add(byte(10, 24));
    }
    if n >= 10 {
        c = c.wrapping_add(byte(9, 16));
    }
    if n >= 9 {
        c = c.wrapping_add(byte(8, 8));
    }
    for (i, shift) in [(7, 24), (6, 16), (5, 8), (4, 0)] {
        if n > i {
            b = b.wrapping_add(byte(i, shift));
        }
    }
    for (i, shift) in [(3, 24), (2, 16), (1, 8), (0, 0)] {
        if n > i {
            a = a.wrapping_add(byte(i, shift));
        }
    }
    last(&mut a, &mut b, &mut c);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_hash_space_in_equal_ranges() {
        assert_eq!(Shards::new(0), None);
        let one = Shards::new(1).expect("one shard");
        let four = Shards::new(4).expect("four shards");
        let mut seen = [0u32; 4];
        for p in 0..4_000 {
            let user = format!("player-{p}");
            assert_eq!(one.of(&user), 0);
            seen[four.of(&user) as usize] += 1;
        }
        // A hash spreads players evenly: each shard within a fifth of its share.
        assert!(seen.iter().all(|n| (800..=1_200).contains(n)), "{seen:?}");
    }
}
