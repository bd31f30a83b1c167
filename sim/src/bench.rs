//! The engine benchmark: one mat-vec on random weights through a simulated
//! engine, its cycle count (the CYCLES register, START to last result)
//! against the ideal of one tile word per cycle, and every output checked
//! against the golden model.
//!
//! The activation vector depends only on the seed and the column count, so
//! runs with the same seed and shape see the same activations.

use crate::{Engine, Error, Result};
use rand::{Rng, SeedableRng};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::fixed_fp16::{fp16_activation_words, fp16_matvec_acc, fp16_tile_stream};
use seedlm::sample::random_blocks;
use seedlm::{hw, Config};

/// Bits of the memory word the benchmark compares at (64 bytes per cycle).
pub const MEMORY_WORD_BITS: u32 = 512;

/// One engine's run of the benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRun {
    /// Engine and arrangement, e.g. `SeedLM 4-bit, 16 lanes x 32 bits`.
    pub name: String,
    /// Bits of the engine's tile word (at most [`MEMORY_WORD_BITS`]).
    pub word_bits: u32,
    /// Tile words streamed: the ideal cycle count at one word per cycle.
    pub words: u64,
    /// Weight bits / [`MEMORY_WORD_BITS`]: the ideal at full use of a
    /// 512-bit word (equal to `words` when the tile word is 512 bits and
    /// the shape divides evenly).
    pub bandwidth_ideal: u64,
    /// CYCLES as counted by the engine.
    pub cycles: u64,
}

impl BenchRun {
    /// Cycles over the ideal of one tile word per cycle, in percent.
    pub fn overhead_pct(&self) -> f64 {
        100.0 * (self.cycles as f64 / self.words as f64 - 1.0)
    }
}

/// The benchmark's activations: `cols` values in `-32767..=32767`.
pub fn activations(cols: usize, seed: u64) -> Vec<i16> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..cols).map(|_| rng.gen_range(-32767..=32767)).collect()
}

/// Feeds a stream with no stalls and checks every result against `want`.
fn run_checked(
    e: &mut Engine,
    rows: usize,
    col_blocks: usize,
    act: &[Vec<u8>],
    words: &[Vec<u8>],
    want: &[i128],
) -> Result<u64> {
    e.load_activations(act)?;
    let limit = 2 * words.len() as u64 + 10_000;
    let run = e.run(
        rows as u32,
        col_blocks as u32,
        words,
        &mut || (false, false),
        limit,
    )?;
    for (n, (&(row, acc), &w)) in run.results.iter().zip(want).enumerate() {
        if row as usize != n || acc != w {
            return Err(Error::Input(format!(
                "result {n}: row {row}, acc {acc}; the golden model says row {n}, acc {w}"
            )));
        }
    }
    Ok(run.cycles)
}

/// A `rows × cols` mat-vec of random blocks through the SeedLM engine of
/// `cfg` with `lanes` lanes.
pub fn bench_seedlm(
    cfg: &Config,
    lanes: usize,
    rows: usize,
    cols: usize,
    seed: u64,
) -> Result<BenchRun> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let bpr = cols.div_ceil(cfg.c);
    let blocks = random_blocks(cfg, rows * bpr, &mut rng);
    let x = activations(cols, seed);
    let m = BlockMatrix {
        cfg: *cfg,
        rows,
        cols,
        blocks: &blocks,
    };
    let bad = |e: seedlm::Error| Error::Input(e.to_string());
    let want = m
        .matvec_acc(&QuantizedActs {
            x: x.clone(),
            scale: 1.0,
        })
        .map_err(bad)?;
    let words = hw::tile_stream(&m, lanes).map_err(bad)?;
    let mut e = Engine::new(cfg, lanes)?;
    let act = hw::activation_words(cfg, &x);
    let cycles = run_checked(&mut e, rows, bpr, &act, &words, &want)?;
    let bits = cfg.bits_per_block();
    Ok(BenchRun {
        name: format!(
            "SeedLM {}-bit, {lanes} lanes x {bits} bits",
            cfg.bits_per_weight()
        ),
        word_bits: hw::tile_word_bits(cfg, lanes),
        words: words.len() as u64,
        bandwidth_ideal: ((rows * cols) as u64 * cfg.bits_per_weight() as u64)
            .div_ceil(MEMORY_WORD_BITS as u64),
        cycles,
    })
}

/// A `rows × cols` mat-vec of random finite f16 weights through the FP16
/// baseline engine with `lanes` lanes.
pub fn bench_fp16(lanes: usize, rows: usize, cols: usize, seed: u64) -> Result<BenchRun> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xf16);
    let w: Vec<u16> = (0..rows * cols)
        .map(|_| loop {
            let v: u16 = rng.gen();
            if (v >> 10) & 0x1F != 0x1F {
                break v;
            }
        })
        .collect();
    let x = activations(cols, seed);
    let bad = |e: seedlm::Error| Error::Input(e.to_string());
    let want = fp16_matvec_acc(rows, cols, &w, &x).map_err(bad)?;
    let words = fp16_tile_stream(rows, cols, &w, lanes).map_err(bad)?;
    let mut e = Engine::new_fp16(lanes)?;
    let act = fp16_activation_words(&x);
    let col_blocks = cols.div_ceil(seedlm::fixed_fp16::FP16_C);
    let cycles = run_checked(&mut e, rows, col_blocks, &act, &words, &want)?;
    Ok(BenchRun {
        name: format!("FP16, {lanes} lanes x 8 weights"),
        word_bits: seedlm::fixed_fp16::fp16_tile_word_bits(lanes),
        words: words.len() as u64,
        bandwidth_ideal: ((rows * cols) as u64 * 16).div_ceil(MEMORY_WORD_BITS as u64),
        cycles,
    })
}
