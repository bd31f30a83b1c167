//! The fast search against the naive reference, and its quality on N(0,1)
//! blocks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use seedlm::sample::random_block;
use seedlm::search::{Found, Searcher};
use seedlm::{Config, Lfsr};

/// Random blocks of every kind the search must handle, `n` of them.
fn blocks(cfg: &Config, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let lfsr = Lfsr::new(cfg.k);
    let c = cfg.c;
    let mut out = Vec::with_capacity(n * c);
    for b in 0..n {
        let normal = |rng: &mut StdRng| rng.sample::<f64, _>(StandardNormal) as f32;
        let w: Vec<f32> = match b % 10 {
            // Scaled Gaussian blocks.
            0 => (0..c).map(|_| normal(&mut rng) * 1e-6).collect(),
            1 => (0..c).map(|_| normal(&mut rng) * 1e3).collect(),
            // Repeated values.
            2 => vec![normal(&mut rng); c],
            3 => {
                let (a, z) = (normal(&mut rng), normal(&mut rng));
                (0..c).map(|i| if i % 3 == 0 { a } else { z }).collect()
            }
            // Near zero: one tiny weight, or all zero.
            4 => {
                let mut w = vec![0f32; c];
                w[rng.gen_range(0..c)] = 1e-30;
                w
            }
            5 if b % 20 == 5 => vec![0f32; c],
            // Exactly (up to f32 rounding) representable by some seed.
            6 => {
                let blk = random_block(cfg, &mut rng);
                let mut w = vec![0f32; c];
                blk.decode(cfg, &lfsr, &mut w);
                w
            }
            // Sparse blocks.
            7 => (0..c)
                .map(|i| if i < 2 { normal(&mut rng) } else { 0.0 })
                .collect(),
            _ => (0..c).map(|_| normal(&mut rng)).collect(),
        };
        out.extend(w);
    }
    out
}

/// Checks that the fast search (one block at a time and batched) returns
/// exactly the naive search's block and error on `n` blocks.
fn check_equal(cfg: Config, n: usize, seed: u64) {
    let s = Searcher::new(cfg).unwrap();
    let w = blocks(&cfg, n, seed);
    let naive: Vec<Found> = w.par_chunks(cfg.c).map(|b| s.search_naive(b)).collect();
    let batched = s.search_all(&w, &|_| {}).unwrap();
    for (i, (b, want)) in w.chunks(cfg.c).zip(&naive).enumerate() {
        assert_eq!(&batched[i], want, "{cfg} block {i} (batched) {b:?}");
        if i % 7 == 0 {
            assert_eq!(&s.search(b), want, "{cfg} block {i} (single) {b:?}");
        }
    }
}

#[test]
fn test_search_fast_equals_naive_k16_4bit() {
    check_equal(Config::BITS4, 128, 1);
}

#[test]
fn test_search_fast_equals_naive_k16_3bit() {
    check_equal(Config::BITS3, 80, 2);
}

#[test]
fn test_search_fast_equals_naive_small_k() {
    check_equal(Config::new(8, 3, 8).unwrap(), 3000, 3);
    check_equal(Config::new(8, 3, 10).unwrap(), 1000, 4);
    check_equal(Config::new(12, 4, 12).unwrap(), 300, 5);
}

#[test]
fn test_search_other_shapes_fall_back_to_naive() {
    check_equal(Config::new(4, 2, 8).unwrap(), 300, 6);
}

/// `sqrt(Σ err / Σ ||w||²)` over `n` N(0,1) blocks.
fn relative_error(cfg: Config, n: usize) -> f64 {
    let s = Searcher::new(cfg).unwrap();
    let mut rng = StdRng::seed_from_u64(99);
    let w: Vec<f32> = (0..n * cfg.c)
        .map(|_| rng.sample::<f64, _>(StandardNormal) as f32)
        .collect();
    let found = s.search_all(&w, &|_| {}).unwrap();
    let err: f64 = found.iter().map(|f| f.err).sum();
    let norm: f64 = w.iter().map(|&x| (x as f64).powi(2)).sum();
    (err / norm).sqrt()
}

#[test]
fn test_search_relative_error_on_gaussian_blocks() {
    // The prototype measured 0.118 (4-bit) and 0.220 (3-bit) over 200K blocks.
    let e4 = relative_error(Config::BITS4, 8000);
    let e3 = relative_error(Config::BITS3, 8000);
    println!("N(0,1) relative error: 4-bit {e4:.4}, 3-bit {e3:.4}");
    assert!((0.10..0.13).contains(&e4), "4-bit relative error {e4}");
    assert!((0.19..0.25).contains(&e3), "3-bit relative error {e3}");
}
