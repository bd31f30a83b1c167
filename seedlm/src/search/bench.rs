//! Search benchmark on N(0,1) blocks (deterministic: SplitMix64 + Box–Muller).

use std::time::Instant;

use super::Searcher;
use crate::config::Config;
use crate::error::{Error, Result};

/// Throughput and quality of one benchmark run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchResult {
    /// Blocks searched.
    pub blocks: usize,
    /// Threads used.
    pub threads: usize,
    /// Blocks searched per second (search only, tables built beforehand).
    pub blocks_per_s: f64,
    /// Weights (parameters) encoded per second: `blocks_per_s · C`.
    pub params_per_s: f64,
    /// Relative error `sqrt(Σ ||w - ŵ||² / Σ ||w||²)` over all blocks.
    pub rel_error: f64,
}

/// `n` weights drawn from N(0,1), deterministic in `seed`.
pub fn gaussian_weights(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    // Uniform in (0, 1]: 53 random bits, never 0.
    let mut unit = move || ((next() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // Box–Muller: two independent normals per pair of uniforms.
        let (a, b) = (unit(), unit());
        let r = (-2.0 * a.ln()).sqrt();
        let t = std::f64::consts::TAU * b;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Searches `blocks` N(0,1) blocks of `cfg` on `threads` threads and reports
/// blocks/s, params/s and the relative error.
pub fn bench_search(cfg: Config, blocks: usize, threads: usize) -> Result<BenchResult> {
    let searcher = Searcher::new(cfg)?;
    let w = gaussian_weights(blocks * cfg.c, 0x0005_EED1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::InvalidConfig(format!("failed to start {threads} threads: {e}")))?;
    let start = Instant::now();
    let found = pool.install(|| searcher.search_all(&w, &|_| {}))?;
    let secs = start.elapsed().as_secs_f64();
    let err: f64 = found.iter().map(|f| f.err).sum();
    let norm: f64 = w.iter().map(|&x| x as f64 * x as f64).sum();
    let blocks_per_s = blocks as f64 / secs;
    Ok(BenchResult {
        blocks,
        threads: pool.current_num_threads(),
        blocks_per_s,
        params_per_s: blocks_per_s * cfg.c as f64,
        rel_error: (err / norm).sqrt(),
    })
}
