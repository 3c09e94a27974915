//! Sums over many rows, split into fixed blocks that run on all cores.
//!
//! A fit evaluates its log-likelihood and gradient over every customer pattern some fifty times;
//! at a million customers each evaluation is tens of milliseconds of independent per-row terms,
//! the part worth spreading over the cores. The blocks are fixed by the row count alone and their
//! sums are added in block order, so a result is the same to the last bit on one core or many:
//! a fit run on a laptop and on a server agree exactly.

use std::ops::Range;

/// Rows per block: large enough that a block's work (about a millisecond) dwarfs handing it
/// to a thread, small enough that two or more cores share the tail of a large sum.
pub(crate) const BLOCK: usize = 1 << 15;

/// Threads worth starting for `tasks` independent pieces of work: one per core, no more than
/// the pieces.
pub(crate) fn threads_for(tasks: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(tasks)
}

/// `Σ f(block)` over the blocks of `0..rows`, element-wise, added in block order.
///
/// Runs on up to [`std::thread::available_parallelism`] threads (fewer when there are fewer
/// blocks); a single block runs on the calling thread.
pub(crate) fn sum_blocks<const M: usize, F>(rows: usize, f: F) -> [f64; M]
where
    F: Fn(Range<usize>) -> [f64; M] + Sync,
{
    let blocks: Vec<Range<usize>> = (0..rows)
        .step_by(BLOCK)
        .map(|start| start..(start + BLOCK).min(rows))
        .collect();
    let threads = threads_for(blocks.len());
    let mut sums = vec![[0.0; M]; blocks.len()];
    if threads <= 1 {
        for (sum, block) in sums.iter_mut().zip(&blocks) {
            *sum = f(block.clone());
        }
    } else {
        // Thread t takes blocks t, t + threads, …: neighbouring blocks, similar work.
        let f = &f;
        std::thread::scope(|scope| {
            let mut slots: Vec<Vec<(usize, &mut [f64; M])>> =
                (0..threads).map(|_| Vec::new()).collect();
            for (b, sum) in sums.iter_mut().enumerate() {
                slots[b % threads].push((b, sum));
            }
            let blocks = &blocks;
            for slot in slots {
                scope.spawn(move || {
                    for (b, sum) in slot {
                        *sum = f(blocks[b].clone());
                    }
                });
            }
        });
    }
    let mut total = [0.0; M];
    for sum in &sums {
        for (t, s) in total.iter_mut().zip(sum) {
            *t += s;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terms whose sum depends on the order of addition in floating point.
    fn term(i: usize) -> f64 {
        let x = i as f64;
        (x * 0.1).sin() * [1e-8, 1e-4, 1.0, 1e4, 1e8][i % 5]
    }

    #[test]
    fn the_sum_is_the_block_ordered_sum_on_any_number_of_threads() {
        let rows = 5 * BLOCK + 123;
        let got = sum_blocks(rows, |r| [r.clone().map(term).sum::<f64>(), r.len() as f64]);
        let mut expected = 0.0;
        for start in (0..rows).step_by(BLOCK) {
            expected += (start..(start + BLOCK).min(rows)).map(term).sum::<f64>();
        }
        assert_eq!(got[0].to_bits(), expected.to_bits());
        assert_eq!(got[1].to_bits(), (rows as f64).to_bits(), "every row once");
    }

    #[test]
    fn empty_and_single_block_sums() {
        let rows = |n: usize| sum_blocks(n, |r| [r.len() as f64])[0].to_bits();
        assert_eq!(rows(0), 0.0_f64.to_bits());
        assert_eq!(rows(10), 10.0_f64.to_bits());
    }
}
