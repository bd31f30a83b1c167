//! `cargo run --release -p seedlm-sim --example bench_engines [-- ROWS COLS]`:
//! a mat-vec (default 2048 x 2048) at one 512-bit memory word per cycle
//! through the simulated engines, the same activations for each; prints
//! cycles, the ideal, the overhead and the ratio to FP16. Every output is
//! checked against the golden model.

use anyhow::Context;
use seedlm::Config;
use seedlm_sim::bench::{bench_fp16, bench_seedlm, BenchRun, MEMORY_WORD_BITS};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dim =
        |i: usize| -> anyhow::Result<usize> {
            match args.get(i) {
                None => Ok(2048),
                Some(s) => s.parse().ok().filter(|&n| n > 0).with_context(|| {
                    format!("argument {}: `{s}` is not a positive integer", i + 1)
                }),
            }
        };
    let (rows, cols) = (dim(0)?, dim(1)?);
    println!("{rows} x {cols} mat-vec, {MEMORY_WORD_BITS}-bit memory word per cycle");
    let fp16 = bench_fp16(4, rows, cols, 1).context("FP16 baseline")?;
    let runs: Vec<BenchRun> = vec![
        bench_seedlm(&Config::BITS4, 16, rows, cols, 1).context("SeedLM 4-bit")?,
        bench_seedlm(&Config::BITS3, 14, rows, cols, 1).context("SeedLM 3-bit")?,
        fp16.clone(),
    ];
    println!(
        "{:<34} {:>5} {:>9} {:>9} {:>10} {:>9} {:>9}",
        "engine", "bits", "cycles", "ideal", "overhead", "bw ideal", "vs FP16"
    );
    for r in &runs {
        println!(
            "{:<34} {:>5} {:>9} {:>9} {:>9.3}% {:>9} {:>8.3}x",
            r.name,
            r.word_bits,
            r.cycles,
            r.words,
            r.overhead_pct(),
            r.bandwidth_ideal,
            fp16.cycles as f64 / r.cycles as f64
        );
    }
    println!("all outputs equal the golden model");
    Ok(())
}
