//! Calibrated against data-free search speed on one synthetic layer:
//! `cargo run --release -p seedlm --example calib_speed [ROWS] [COLS] [BITS] [RUNS]`
//! (default 64 rows of 576 columns, 4-bit, 3 alternating runs; one thread).
//! `H` comes from 2,048 random correlated inputs with a few outlier
//! channels; the weights are N(0, 0.05²). Prints blocks/s of each run, the
//! minimum time of each mode and their ratio, and a hash of the calibrated
//! blocks (to check that a change keeps them).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use seedlm::gptq::{search_calibrated, Feedback, DAMP};
use seedlm::search::Searcher;
use seedlm::{Config, Error};

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
    let (mut best_cal, mut best_free) = (f64::INFINITY, f64::INFINITY);
    for run in 0..runs {
        let t = Instant::now();
        let found = pool.install(|| search_calibrated(&s, &fb, &w, d, &|_| {}))?;
        let cal = t.elapsed().as_secs_f64();
        if run == 0 {
            // FNV-1a of the blocks and errors, to compare builds.
            let hash = found.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, f| {
                let b = &f.block;
                let words = [b.seed as u64, b.exp as u64, f.err.to_bits()];
                let q = b.q.iter().map(|&x| x as u8 as u64);
                words
                    .into_iter()
                    .chain(q)
                    .fold(h, |h, x| (h ^ x).wrapping_mul(0x0100_0000_01b3))
            });
            println!("calibrated blocks: FNV-1a {hash:016x}");
        }
        let t = Instant::now();
        pool.install(|| s.search_all(&w, &|_| {}))?;
        let free = t.elapsed().as_secs_f64();
        println!(
            "run {run}: calibrated {:.0} blocks/s, data-free {:.0} blocks/s",
            blocks / cal,
            blocks / free
        );
        best_cal = best_cal.min(cal);
        best_free = best_free.min(free);
    }
    println!(
        "{cfg} {rows}x{d}, 1 thread, best of {runs}: calibrated {:.0} blocks/s, data-free {:.0} blocks/s, ratio {:.3}",
        blocks / best_cal,
        blocks / best_free,
        best_free / best_cal
    );
    Ok(())
}
