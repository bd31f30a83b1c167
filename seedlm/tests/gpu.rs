//! The CUDA search against the CPU search (feature `cuda`; needs a GPU, so
//! it runs on the device machine: scripts/gpu/device-run.sh). Each test
//! compares every block's seed, exponent, mantissas and error.
//!
//! `SEEDLM_GPU_BLOCKS` sets the number of random blocks per configuration
//! (default 100 000).
#![cfg(feature = "cuda")]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use seedlm::block::least_squares;
use seedlm::sample::random_block;
use seedlm::search::fast::MARGIN;
use seedlm::search::gpu::{GpuSearcher, Tuning};
use seedlm::search::{Found, Metric, Searcher, Weighted};
use seedlm::{Config, Lfsr};

fn gpu(cfg: Config, tuning: Tuning) -> GpuSearcher {
    GpuSearcher::new(cfg, 0, tuning).expect("a CUDA device and NVRTC")
}

/// Blocks of every kind the search must handle, `n` of them: Gaussian at
/// scales from 1e-30 to 1e30, constant, two-valued, one nonzero weight
/// (tiny, normal, huge, subnormal), all zero, exactly representable by a
/// seed, sparse, and blocks so small that every seed quantizes to zero
/// (all seeds tie: the lowest must win).
fn hard_blocks(cfg: &Config, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let lfsr = Lfsr::new(cfg.k);
    let c = cfg.c;
    let mut out = Vec::with_capacity(n * c);
    for b in 0..n {
        let normal = |rng: &mut StdRng| rng.sample::<f64, _>(StandardNormal);
        let w: Vec<f32> = match b % 16 {
            0 => {
                let scale = 10f64.powf(rng.gen_range(-30.0..30.0));
                (0..c).map(|_| (normal(&mut rng) * scale) as f32).collect()
            }
            1 => vec![normal(&mut rng) as f32; c],
            2 => {
                let (a, z) = (normal(&mut rng) as f32, normal(&mut rng) as f32);
                (0..c).map(|i| if i % 3 == 0 { a } else { z }).collect()
            }
            3 => {
                let mut w = vec![0f32; c];
                w[rng.gen_range(0..c)] = [1e-30, 1.0, -3e37, 1e-40][b / 16 % 4];
                w
            }
            4 if b % 64 == 4 => vec![0f32; c],
            5 => {
                let blk = random_block(cfg, &mut rng);
                let mut w = vec![0f32; c];
                blk.decode(cfg, &lfsr, &mut w);
                w
            }
            6 => (0..c)
                .map(|i| if i < 2 { normal(&mut rng) as f32 } else { 0.0 })
                .collect(),
            // Every seed's t is below 2^-9: all quantize to zero, all tie.
            7 if b % 256 == 7 => (0..c).map(|_| (normal(&mut rng) * 1e-5) as f32).collect(),
            _ => (0..c).map(|_| normal(&mut rng) as f32).collect(),
        };
        out.extend(w);
    }
    out
}

/// Asserts that `got` equals the CPU search on `w`, block by block.
fn assert_same(cfg: &Config, w: &[f32], got: &[Found], what: &str) {
    let cpu = Searcher::new(*cfg).unwrap();
    let want = cpu.search_all(w, &|_| {}).unwrap();
    assert_eq!(got.len(), want.len(), "{what}: block count");
    let bad: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
    for &i in bad.iter().take(5) {
        eprintln!(
            "{what} block {i} {:?}: gpu {:?} cpu {:?}",
            &w[i * cfg.c..(i + 1) * cfg.c],
            got[i],
            want[i]
        );
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} blocks differ",
        bad.len(),
        want.len()
    );
}

fn blocks_from_env() -> usize {
    std::env::var("SEEDLM_GPU_BLOCKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

#[test]
fn gpu_equals_cpu_on_hard_blocks() {
    let n = blocks_from_env();
    for (cfg, seed) in [(Config::BITS4, 1), (Config::BITS3, 2)] {
        let g = gpu(cfg, Tuning::default());
        let w = hard_blocks(&cfg, n, seed);
        let got = g.search_all(&w, &|_| {}).unwrap();
        assert_same(&cfg, &w, &got, &format!("{cfg} hard blocks"));
        let st = g.stats();
        println!(
            "{cfg}: {n} hard blocks equal; {} rescanned; {st:?}",
            st.rescanned
        );
    }
}

#[test]
fn gpu_equals_naive_search() {
    // The naive search is the definition; check it directly on a few blocks.
    for (cfg, seed) in [(Config::BITS4, 3), (Config::BITS3, 4)] {
        let g = gpu(cfg, Tuning::default());
        let w = hard_blocks(&cfg, 48, seed);
        let got = g.search_all(&w, &|_| {}).unwrap();
        let cpu = Searcher::new(cfg).unwrap();
        let naive: Vec<Found> = w.par_chunks(cfg.c).map(|b| cpu.search_naive(b)).collect();
        assert_eq!(got, naive, "{cfg}");
    }
}

#[test]
fn gpu_result_does_not_depend_on_tuning() {
    // Other launch shapes, a top list of two (many blocks rescanned), chunks
    // that split the input unevenly, ragged thread counts.
    let cfg = Config::BITS4;
    let w = hard_blocks(&cfg, 3001, 5);
    let base = gpu(cfg, Tuning::default()).search_all(&w, &|_| {}).unwrap();
    for tuning in [
        Tuning {
            blocks_per_thread: 1,
            top_k: 2,
            chunk: 1000,
            scan_unroll: 1,
        },
        Tuning {
            blocks_per_thread: 3,
            top_k: 16,
            chunk: 777,
            scan_unroll: 2,
        },
        Tuning {
            blocks_per_thread: 8,
            top_k: 4,
            chunk: 1 << 20,
            scan_unroll: 4,
        },
    ] {
        let g = gpu(cfg, tuning);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let got = g
            .search_all(&w, &|n| {
                done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            })
            .unwrap();
        assert_eq!(done.into_inner(), 3001, "{tuning:?}: progress");
        assert_eq!(got, base, "{tuning:?}");
    }
}

#[test]
fn gpu_rejects_bad_input() {
    let g = gpu(Config::BITS4, Tuning::default());
    assert!(g.search_all(&[0.0; 7], &|_| {}).is_err());
    let mut w = vec![1.0f32; 16];
    w[9] = f32::NAN;
    assert!(g.search_all(&w, &|_| {}).is_err());
    assert_eq!(g.search_all(&[], &|_| {}).unwrap(), vec![]);
    let other = Config::new(8, 3, 12).unwrap();
    assert!(GpuSearcher::new(other, 0, Tuning::default()).is_err());
}

/// Largest `|f32 bound - f64 residual|` (normalised units) over every
/// position of `blocks` random blocks of scale 10^-4..10^2.
fn max_bound_error(cfg: Config, blocks: usize) -> f64 {
    let g = gpu(cfg, Tuning::default());
    let (_, dependent) = g.special_positions();
    assert_eq!(dependent, 0, "{cfg}: windows with dependent columns");
    let mut rng = StdRng::seed_from_u64(11);
    let w: Vec<f32> = (0..blocks)
        .flat_map(|_| {
            let scale = 10f64.powf(rng.gen_range(-4.0..2.0));
            (0..cfg.c)
                .map(|_| (rng.sample::<f64, _>(StandardNormal) * scale) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    let bounds = g.bounds(&w).unwrap();
    let n = cfg.num_seeds() as usize;
    let cpu = Searcher::new(cfg).unwrap();
    let lfsr = *cpu.lfsr();
    let unit = cfg.unit();
    w.par_chunks(cfg.c)
        .enumerate()
        .map(|(b, blk)| {
            // The kernel's normalisation: ||w 2^k||² in [0.5, 2).
            let ss: f64 = blk.iter().map(|&x| (x as f64).powi(2)).sum();
            let e = ((ss.to_bits() >> 52) & 0x7ff) as i32 - 1022;
            let s = 2f64.powi(-(e >> 1));
            let wn: Vec<f64> = blk.iter().map(|&x| x as f64 * s).collect();
            let ww: f64 = wn.iter().map(|x| x * x).sum();
            assert!((0.5..2.0).contains(&ww));
            let mut states = vec![0u32; cfg.c * cfg.p + 1];
            let mut seed = 1u32;
            let mut worst = 0f64;
            let mut u = vec![0i32; cfg.c * cfg.p];
            for pos in 0..n {
                // Position `pos` holds the seed `seed`; its window follows it.
                lfsr.states_after(seed, &mut states[..cfg.c * cfg.p]);
                for (x, &v) in u.iter_mut().zip(&states) {
                    *x = v as i32 - cfg.half();
                }
                let t = least_squares(&cfg, &u, &wn);
                let r: f64 = (0..cfg.c)
                    .map(|i| {
                        let v: f64 = (0..cfg.p)
                            .map(|j| u[i * cfg.p + j] as f64 / unit * t[j])
                            .sum();
                        (wn[i] - v).powi(2)
                    })
                    .sum();
                let got = bounds[b * n + pos] as f64;
                worst = worst.max((got - r.min(ww)).abs());
                seed = states[0];
            }
            worst
        })
        .reduce(|| 0f64, f64::max)
}

#[test]
fn gpu_bound_error_is_far_below_the_margin() {
    for cfg in [Config::BITS4, Config::BITS3] {
        let e = max_bound_error(cfg, 24);
        println!("{cfg}: max |f32 bound - f64 residual| {e:.3e}, margin {MARGIN:.3e}");
        assert!(e <= MARGIN / 8.0, "{cfg}: bound error {e:e}");
    }
}

/// A metric factor `G D` (Gaussian `G`, diagonal `D` log-spaced from 1 to
/// `1/sqrt(cond)`: `M = A Aᵀ` has a condition number of about `cond`); with
/// `singular`, its first row is zero, so blocks with only `w_0` nonzero are
/// invisible to it (the CPU searches those naively).
fn random_metric(cfg: &Config, cond: f64, singular: bool, seed: u64) -> Metric {
    let c = cfg.c;
    let mut rng = StdRng::seed_from_u64(seed);
    let a: Vec<f64> = (0..c * c)
        .map(|k| {
            let d = cond.powf(-0.5 * (k % c) as f64 / (c - 1) as f64);
            if singular && k < c {
                0.0
            } else {
                rng.sample::<f64, _>(StandardNormal) * d
            }
        })
        .collect();
    Metric::new(cfg, &a).unwrap()
}

/// The CPU's weighted search of every block of `w`.
fn cpu_weighted(cfg: &Config, m: &Metric, neighbours: bool, w: &[f32]) -> Vec<Found> {
    let s = Searcher::new(*cfg).unwrap();
    let wt = Weighted::new(&s, m.clone(), neighbours);
    w.par_chunks(cfg.c * 8)
        .flat_map_iter(|chunk| {
            let refs: Vec<&[f32]> = chunk.chunks(cfg.c).collect();
            let mut out = vec![
                Found {
                    block: Default::default(),
                    err: 0.0
                };
                refs.len()
            ];
            wt.search_batch(&s, &refs, &mut out);
            out
        })
        .collect()
}

/// The weighted search on the GPU against the CPU's, block by block, under
/// well and badly conditioned metrics, the identity, and a singular metric
/// (blocks it does not see), on the hard blocks (ties, zeros, extremes).
/// `SEEDLM_GPU_WBLOCKS` blocks per case (default 20 000).
#[test]
fn gpu_weighted_equals_cpu() {
    let n: usize = std::env::var("SEEDLM_GPU_WBLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for (cfg, seed) in [(Config::BITS4, 21), (Config::BITS3, 22)] {
        let g = gpu(cfg, Tuning::default());
        let cases = [
            ("cond 1e1", random_metric(&cfg, 1e1, false, seed), true, n),
            (
                "cond 1e5",
                random_metric(&cfg, 1e5, false, seed + 1),
                true,
                n,
            ),
            (
                "cond 1e9",
                random_metric(&cfg, 1e9, false, seed + 2),
                true,
                n / 4,
            ),
            ("identity", Metric::identity(&cfg), true, n / 4),
            (
                "no neighbours",
                random_metric(&cfg, 1e3, false, seed + 3),
                false,
                n / 4,
            ),
            // Few blocks: each invisible one costs a naive search.
            (
                "singular",
                random_metric(&cfg, 1e2, true, seed + 4),
                true,
                160,
            ),
        ];
        for (what, m, neighbours, count) in cases {
            let w = hard_blocks(&cfg, count, seed * 10 + count as u64);
            let before = g.stats();
            let start = std::time::Instant::now();
            let got = g.search_weighted(&m, neighbours, &w).unwrap();
            let secs = start.elapsed().as_secs_f64();
            let want = cpu_weighted(&cfg, &m, neighbours, &w);
            let bad: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
            for &i in bad.iter().take(5) {
                eprintln!(
                    "{cfg} {what} block {i} {:?}: gpu {:?} cpu {:?}",
                    &w[i * cfg.c..(i + 1) * cfg.c],
                    got[i],
                    want[i]
                );
            }
            assert!(
                bad.is_empty(),
                "{cfg} {what}: {} of {count} blocks differ",
                bad.len()
            );
            let st = g.stats();
            println!(
                "{cfg} {what}: {count} blocks equal ({:.0} blocks/s); rescanned {}; tables {:.4} s, scan {:.4} s, fit {:.4} s",
                count as f64 / secs,
                st.rescanned - before.rescanned,
                st.tables_s - before.tables_s,
                st.scan_s - before.scan_s,
                st.fit_s - before.fit_s,
            );
        }
        // Other launch shapes and chunks: the same blocks.
        let m = random_metric(&cfg, 1e3, false, seed + 5);
        let w = hard_blocks(&cfg, 3001, seed + 6);
        let base = g.search_weighted(&m, true, &w).unwrap();
        for tuning in [
            Tuning {
                blocks_per_thread: 1,
                top_k: 16,
                chunk: 1000,
                scan_unroll: 1,
            },
            Tuning {
                blocks_per_thread: 3,
                top_k: 16,
                chunk: 777,
                scan_unroll: 4,
            },
        ] {
            let got = gpu(cfg, tuning).search_weighted(&m, true, &w).unwrap();
            assert_eq!(got, base, "{cfg} {tuning:?}");
        }
        assert_eq!(base, cpu_weighted(&cfg, &m, true, &w), "{cfg}");
    }
}

/// The naive weighted search is the definition: check a few blocks against it.
#[test]
fn gpu_weighted_equals_naive_search() {
    for (cfg, seed) in [(Config::BITS4, 31), (Config::BITS3, 32)] {
        let g = gpu(cfg, Tuning::default());
        let m = random_metric(&cfg, 1e4, false, seed);
        let w = hard_blocks(&cfg, 24, seed);
        let got = g.search_weighted(&m, true, &w).unwrap();
        let s = Searcher::new(cfg).unwrap();
        let wt = Weighted::new(&s, m, true);
        let naive: Vec<Found> = w
            .par_chunks(cfg.c)
            .map(|b| wt.search_naive(&s, b))
            .collect();
        assert_eq!(got, naive, "{cfg}");
    }
}

/// The weighted scan's f32 bounds against the f64 least-squares residual
/// `min_t ||z - V t||²` (normalised, `V = AᵀU`): a bound may exceed the
/// residual by at most MARGIN / 8 (else a winning seed could be skipped).
#[test]
fn gpu_weighted_bound_error_is_far_below_the_margin() {
    for cfg in [Config::BITS4, Config::BITS3] {
        for (k, cond) in [1e1, 1e5, 1e9].into_iter().enumerate() {
            let m = random_metric(&cfg, cond, false, 40 + k as u64);
            let g = gpu(cfg, Tuning::default());
            let mut rng = StdRng::seed_from_u64(12 + k as u64);
            let blocks = 8;
            let w: Vec<f32> = (0..blocks * cfg.c)
                .map(|i| {
                    let scale = 10f64.powf((i / cfg.c) as f64 * 0.8 - 4.0);
                    (rng.sample::<f64, _>(StandardNormal) * scale) as f32
                })
                .collect();
            let bounds = g.weighted_bounds(&m, &w).unwrap();
            let n = cfg.num_seeds() as usize;
            let cpu = Searcher::new(cfg).unwrap();
            let lfsr = *cpu.lfsr();
            let (c, p) = (cfg.c, cfg.p);
            let unit = cfg.unit();
            let (over, diff) = w
                .par_chunks(c)
                .enumerate()
                .map(|(b, blk)| {
                    let w64: Vec<f64> = blk.iter().map(|&x| x as f64).collect();
                    let z = m.factor_t(&w64);
                    let ss: f64 = z.iter().map(|x| x * x).sum();
                    let scale = 2f64.powi((-0.5 * ss.log2()).round() as i32);
                    let zn: Vec<f64> = z.iter().map(|x| x * scale).collect();
                    let mut states = vec![0u32; c * p + 1];
                    let mut seed = 1u32;
                    let (mut over, mut diff) = (f64::NEG_INFINITY, 0f64);
                    for pos in 0..n {
                        lfsr.states_after(seed, &mut states[..c * p]);
                        // V = Aᵀ U, column by column; the residual of zn
                        // by modified Gram–Schmidt.
                        let mut q: Vec<Vec<f64>> = (0..p)
                            .map(|j| {
                                let u: Vec<f64> = (0..c)
                                    .map(|i| (states[i * p + j] as i32 - cfg.half()) as f64 / unit)
                                    .collect();
                                m.factor_t(&u)
                            })
                            .collect();
                        let mut r = zn.clone();
                        for j in 0..p {
                            let (done, rest) = q.split_at_mut(j);
                            for qk in done.iter() {
                                let d: f64 = (0..c).map(|i| qk[i] * rest[0][i]).sum();
                                for (x, y) in rest[0].iter_mut().zip(qk) {
                                    *x -= d * y;
                                }
                            }
                            let norm = q[j].iter().map(|x| x * x).sum::<f64>().sqrt();
                            for x in &mut q[j] {
                                *x /= norm;
                            }
                            let d: f64 = (0..c).map(|i| q[j][i] * r[i]).sum();
                            for (ri, qi) in r.iter_mut().zip(&q[j]) {
                                *ri -= d * qi;
                            }
                        }
                        let res: f64 = r.iter().map(|x| x * x).sum();
                        let got = bounds[b * n + pos] as f64;
                        over = over.max(got - res);
                        diff = diff.max((got - res).abs());
                        seed = states[0];
                    }
                    (over, diff)
                })
                .reduce(
                    || (f64::NEG_INFINITY, 0f64),
                    |a, b| (a.0.max(b.0), a.1.max(b.1)),
                );
            println!(
                "{cfg} cond {cond:e}: weighted bound - f64 residual at most {over:.3e}, |difference| at most {diff:.3e}, margin {MARGIN:.3e}"
            );
            assert!(over <= MARGIN / 8.0, "{cfg} cond {cond:e}: {over:e}");
        }
    }
}
