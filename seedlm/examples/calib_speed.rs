//! Calibrated against data-free search speed on one synthetic layer:
//! `cargo run --release -p seedlm --example calib_speed [ROWS] [COLS] [BITS] [RUNS]`
//! (default 64 rows of 576 columns, 4-bit, 3 alternating runs; one thread).
//! `H` comes from 2,048 random correlated inputs with a few outlier
//! channels; the weights are N(0, 0.05²). Each run times the data-free
//! search, the GPTQ pass alone (`compress --calib --refine 0`) and the GPTQ
//! pass with two refinement passes (`compress --calib`'s default), counting
//! each block once (blocks written per second). Prints each run, the median
//! of each mode's ratio to the data-free rate of the same run, and hashes
//! of both calibrated results (to check that a change keeps them).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use seedlm::gptq::{
    cpu_group_search_below_in, search_calibrated, Feedback, GroupTables, Refinement, DAMP,
};
use seedlm::search::Searcher;
use seedlm::{Block, Config, Error};

/// Parses the positional argument `i`, or `default`.
fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map_or(default, |a| a.parse().expect("a number"))
}

fn main() -> seedlm::Result<()> {
    let (rows, d) = (arg(1, 64), arg(2, 576));
    let cfg = match arg(3, 4) {
        4 => Config::BITS4,
        3 => Config::BITS3,
        b => return Err(Error::InvalidInput(format!("BITS {b}: must be 4 or 3"))),
    };
    let runs = arg(4, 3);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    // x = z * scale + 0.3 * mix z over n samples, a few channels 20x larger.
    let n = 2048;
    let scale: Vec<f64> = (0..d)
        .map(|i| if i % 97 == 5 { 20.0 } else { 1.0 })
        .collect();
    let mut h = vec![0f64; d * d];
    let mut x = vec![0f64; d];
    let mix: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
    for _ in 0..n {
        let common: f64 = rng.sample(StandardNormal);
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = (rng.sample::<f64, _>(StandardNormal) + 0.5 * mix[i] * common) * scale[i];
        }
        for i in 0..d {
            for j in 0..d {
                h[i * d + j] += x[i] * x[j];
            }
        }
    }
    let fb = Feedback::new(&h, d, DAMP)?;
    let w: Vec<f32> = (0..rows * d)
        .map(|_| rng.sample::<f32, _>(StandardNormal) * 0.05)
        .collect();
    let s = Searcher::new(cfg)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::InvalidConfig(e.to_string()))?;
    let blocks = (rows * d / cfg.c) as f64;
    let (mut gptq_ratio, mut refined_ratio) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let t = Instant::now();
        pool.install(|| s.search_all(&w, &|_| {}))?;
        let free = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let found = pool.install(|| search_calibrated(&s, &fb, &w, d, &|_| {}))?;
        let gptq = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let refined = pool.install(|| {
            let start = found.iter().map(|f| f.block).collect();
            let mut r = Refinement::new(&s, &fb, &w, d, start)?;
            let mut tables = GroupTables::default();
            for _ in 0..REFINE {
                r.pass_below(&mut cpu_group_search_below_in(&s, &mut tables), &|_| {})?;
            }
            Ok::<_, Error>(r.into_blocks())
        })?;
        let refine = t.elapsed().as_secs_f64();
        if run == 0 {
            let gptq_blocks: Vec<Block> = found.iter().map(|f| f.block).collect();
            println!(
                "calibrated blocks: FNV-1a {:016x} (refine 0), {:016x} (refine {REFINE})",
                fnv(&gptq_blocks),
                fnv(&refined)
            );
        }
        let rate = |secs: f64| blocks / secs;
        println!(
            "run {run}: data-free {:.0} blocks/s, calibrated refine 0 {:.0} blocks/s, \
             refine {REFINE} {:.0} blocks/s (the passes {:.2}x the GPTQ pass)",
            rate(free),
            rate(gptq),
            rate(gptq + refine),
            refine / gptq
        );
        gptq_ratio.push(free / gptq);
        refined_ratio.push(free / (gptq + refine));
    }
    println!(
        "{cfg} {rows}x{d}, 1 thread, median of {runs} runs, calibrated / data-free blocks/s: \
         refine 0 {:.3}, refine {REFINE} {:.3}",
        median(&mut gptq_ratio),
        median(&mut refined_ratio)
    );
    Ok(())
}

/// Refinement passes of `compress --calib`'s default.
const REFINE: usize = 2;

/// FNV-1a of the blocks, to compare builds.
fn fnv(blocks: &[Block]) -> u64 {
    blocks.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        let words = [b.seed as u64, b.exp as u64];
        let q = b.q.iter().map(|&x| x as u8 as u64);
        words
            .into_iter()
            .chain(q)
            .fold(h, |h, x| (h ^ x).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The median of `x` (sorted in place).
fn median(x: &mut [f64]) -> f64 {
    x.sort_by(f64::total_cmp);
    let n = x.len();
    (x[(n - 1) / 2] + x[n / 2]) / 2.0
}
