//! What the engine tests share: running a tile stream with random stalls and
//! checking every row against the golden model.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seedlm_sim::Engine;

/// Runs `words` (`shape` = `rows` × `col_blocks` tile words, activations already
/// loaded) through `e`, stalling the block stream and the result port each
/// with probability `stall` per cycle (from a generator seeded by `rng`),
/// and asserts that every row comes back once, in order, with the
/// accumulator `want[row]`; `label` names the engine in failures. Returns
/// (tile words, cycles).
pub fn run_checked(
    e: &mut Engine,
    (rows, col_blocks): (usize, usize),
    words: &[Vec<u8>],
    want: &[i128],
    stall: f64,
    rng: &mut StdRng,
    label: &str,
) -> (usize, u64) {
    let mut srng = StdRng::seed_from_u64(rng.gen());
    let mut stalls = move || (srng.gen_bool(stall), srng.gen_bool(stall));
    let run = e
        .run(rows as u32, col_blocks as u32, words, &mut stalls, 100_000)
        .unwrap();
    let got_rows: Vec<u32> = run.results.iter().map(|r| r.0).collect();
    assert_eq!(
        got_rows,
        (0..rows as u32).collect::<Vec<_>>(),
        "{label} lanes {}",
        e.lanes()
    );
    for (row, (&(_, acc), &w)) in run.results.iter().zip(want).enumerate() {
        assert_eq!(acc, w, "{label} lanes {} row {row}", e.lanes());
    }
    (words.len(), run.cycles)
}
