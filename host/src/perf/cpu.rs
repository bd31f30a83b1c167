//! CPU mat-vecs for `seedlm bench`, all `y = W x` with `W (rows, cols)`
//! row-major and rows split over the rayon pool: f32 and f16 (the dense
//! dot products of [`seedlm::kernel::dense`]), and SeedLM through
//! [`seedlm::kernel::SeedMatrix`], the kernel the runtime runs; plus a
//! STREAM-like memory bandwidth probe.

use half::f16;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use seedlm::kernel::dense::{dot_f16, dot_f32};
use seedlm::kernel::Isa;
use seedlm::sample::random_block;
use seedlm::{Block, Config};
use std::time::Instant;

/// Rows per rayon task.
const ROWS_PER_TASK: usize = 16;

/// `y = W x` for f32 weights; `w.len() == y.len() * x.len()`.
pub fn matvec_f32(w: &[f32], x: &[f32], y: &mut [f32]) {
    let (cols, isa) = (x.len(), Isa::detect());
    y.par_iter_mut()
        .zip(w.par_chunks(cols))
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(yr, row)| *yr = dot_f32(isa, row, x));
}

/// `y = W x` for f16 weights, converted by the hardware where the CPU
/// can; `w.len() == y.len() * x.len()`.
pub fn matvec_f16(w: &[f16], x: &[f32], y: &mut [f32]) {
    let (cols, isa) = (x.len(), Isa::detect());
    y.par_iter_mut()
        .zip(w.par_chunks(cols))
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(yr, row)| *yr = dot_f16(isa, row, x));
}

/// `n` random blocks: seeds in `1..2^K`, exponents and mantissas uniform.
pub fn random_blocks(cfg: &Config, n: usize, seed: u64) -> Vec<Block> {
    let mut out = vec![Block::default(); n];
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (c as u64) << 20);
            for b in chunk {
                *b = random_block(cfg, &mut rng);
            }
        });
    out
}

/// `n` values uniform in `[-1, 1)` from `seed`.
pub fn random_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut out = vec![0f32; n];
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (c as u64) << 20);
            chunk.iter_mut().for_each(|v| *v = rng.gen_range(-1.0..1.0));
        });
    out
}

/// Memory bandwidth in bytes/s, best of `repeats`, over buffers of `bytes`
/// (pick several times the last-level cache).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bandwidth {
    /// STREAM "copy" `b[i] = a[i]`: bytes read plus bytes written per second.
    pub copy: f64,
    /// Sum of a buffer: bytes read per second.
    pub read: f64,
}

/// Measures [`Bandwidth`] on the rayon pool.
pub fn bandwidth(bytes: usize, repeats: usize) -> Bandwidth {
    let n = (bytes / 8).max(1 << 10);
    let a: Vec<u64> = (0..n as u64).collect();
    let mut b = vec![0u64; n];
    let chunk = n.div_ceil(rayon::current_num_threads() * 4).max(1 << 10);
    let (mut copy, mut read) = (0f64, 0f64);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        b.par_chunks_mut(chunk)
            .zip(a.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        copy = copy.max(2.0 * 8.0 * n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s: u64 = b
            .par_chunks(chunk)
            .map(|c| c.iter().fold(0u64, |x, &y| x.wrapping_add(y)))
            .reduce(|| 0, u64::wrapping_add);
        read = read.max(8.0 * n as f64 / t.elapsed().as_secs_f64());
        std::hint::black_box(s);
    }
    Bandwidth { copy, read }
}

/// Median of `v` (sorted in place); 0 for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `|got - want| <= 2 (n + 2) eps Σ|w_i x_i|`: the forward error bound
    /// of an n-term f32 dot product (Higham, Thm 3.1, γ_n ≈ n·u, u =
    /// eps/2), doubled for the rounding of the weights themselves.
    fn assert_close(got: &[f32], want: &[f64], mag: &[f64], n: usize, what: &str) {
        for (k, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
            let bound = 2.0 * (n + 2) as f64 * f32::EPSILON as f64 * m + 1e-30;
            assert!(
                (g as f64 - w).abs() <= bound,
                "{what} row {k}: {g} vs {w} (bound {bound})"
            );
        }
    }

    #[test]
    fn test_float_kernels_match_f64_reference() {
        let (rows, cols) = (23, 517);
        let w = random_f32(rows * cols, 3);
        let w16: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let x = random_f32(cols, 4);
        let (mut y32, mut y16) = (vec![0f32; rows], vec![0f32; rows]);
        matvec_f32(&w, &x, &mut y32);
        matvec_f16(&w16, &x, &mut y16);
        for (got, ws) in [
            (&y32, w.clone()),
            (&y16, w16.iter().map(|v| v.to_f32()).collect()),
        ] {
            let want: Vec<f64> = ws
                .chunks(cols)
                .map(|r| r.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum())
                .collect();
            let mag: Vec<f64> = ws
                .chunks(cols)
                .map(|r| {
                    r.iter()
                        .zip(&x)
                        .map(|(a, b)| (*a as f64 * *b as f64).abs())
                        .sum()
                })
                .collect();
            assert_close(got, &want, &mag, cols, "float");
        }
    }

    #[test]
    fn test_median_and_bandwidth_probe() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
        let bw = bandwidth(1 << 20, 2);
        assert!(
            bw.copy.is_finite() && bw.copy > 0.0 && bw.read > 0.0,
            "{bw:?}"
        );
    }
}
