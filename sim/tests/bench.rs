//! The benchmark shape in CI: a 2048 x 2048 mat-vec at one 512-bit memory
//! word per cycle (64 bytes), through the 4-bit SeedLM engine (16 lanes x
//! 32 bits), the FP16 baseline (4 lanes x 8 weights) and the 3-bit engine
//! (14 lanes x 36 bits = 504 bits). Cycle counts are deterministic; each
//! must sit within 0.5% of one tile word per cycle, and every output must
//! equal the golden model (checked inside `bench_*`).

use seedlm::Config;
use seedlm_sim::bench::{bench_fp16, bench_seedlm, BenchRun};

const N: usize = 2048;

fn check(run: &BenchRun, words: u64) {
    println!(
        "{}: {} cycles for {} words ({:+.3}%)",
        run.name,
        run.cycles,
        run.words,
        run.overhead_pct()
    );
    assert_eq!(run.words, words, "{}", run.name);
    assert!(run.word_bits <= 512, "{}", run.name);
    assert!(run.cycles >= run.words, "{}", run.name);
    assert!(run.overhead_pct() <= 0.5, "{}: {:?}", run.name, run);
}

#[test]
fn test_bench_2048_within_half_a_percent_of_ideal() {
    let seedlm4 = bench_seedlm(&Config::BITS4, 16, N, N, 1).unwrap();
    check(&seedlm4, 32_768);
    assert_eq!(seedlm4.bandwidth_ideal, 32_768);
    let fp16 = bench_fp16(4, N, N, 1).unwrap();
    check(&fp16, 131_072);
    assert_eq!(fp16.bandwidth_ideal, 131_072);
    // 147 tiles of 14 rows x 171 blocks of 12 columns.
    let seedlm3 = bench_seedlm(&Config::BITS3, 14, N, N, 1).unwrap();
    check(&seedlm3, 147 * 171);
    assert_eq!(seedlm3.bandwidth_ideal, 24_576);
}
