//! Multi-row statements for SQLite. The driver runs each statement on the connection's own
//! thread and hands the answer back over a channel, so a statement costs a round trip of two
//! threads, several times what SQLite spends on one row. A batch's rows therefore go in a few
//! statements of many rows each (`VALUES (…), (…)`), cut into [`SIZES`] so that every size's
//! text is prepared once per connection and reused.

use std::ops::Range;

/// Rows per statement. Any count is a sum of these, largest first: a batch of 500 rows takes
/// 10 statements, and at most 7 sizes × the statements' kinds are ever prepared.
const SIZES: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// The ranges `0..n` is cut into, each of one of [`SIZES`].
pub(super) fn chunks(n: usize) -> impl Iterator<Item = Range<usize>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let left = n - at;
        let size = SIZES.into_iter().find(|size| *size <= left)?;
        at += size;
        Some(at - size..at)
    })
}

/// `(?, ?), (?, ?)`: `rows` groups of `columns` placeholders.
pub(super) fn values(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_is_cut_into_known_sizes_covering_it_once() {
        for n in 0..300 {
            let ranges: Vec<Range<usize>> = chunks(n).collect();
            let mut next = 0;
            for range in &ranges {
                assert_eq!(range.start, next, "{n}: contiguous");
                assert!(SIZES.contains(&range.len()), "{n}: {range:?}");
                next = range.end;
            }
            assert_eq!(next, n, "{n}: covered");
            assert!(
                ranges.len() <= n / 64 + 6,
                "{n}: {} statements",
                ranges.len()
            );
        }
    }

    #[test]
    fn placeholders_group_by_row() {
        assert_eq!(values(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values(1, 1), "(?)");
    }
}
