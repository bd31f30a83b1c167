//! One SeedLM block: its basis `U(s)`, coefficient fitting and decoding.
//!
//! `U(s)` is `C × P`, row-major, filled with the `C·P` LFSR states that follow
//! the seed: `U[i][j] = (v[i·P + j] - 2^(K-1)) / (2^(K-1) - 1)`. Internally the
//! centred integers `u = v - 2^(K-1)` are kept so that decoding is exact:
//! `ŵ_i = (Σ_j u_ij · q_j) · 2^e / (2^(K-1) - 1)`, with one rounding (to f64).
//!
//! **Coefficient rule.** `t` is the least-squares solution of `U t ≈ w`,
//! computed in f64 by modified Gram–Schmidt QR (a column whose remaining norm
//! falls below `1e-9` of its original norm is dropped, giving `t_j = 0`).
//! For each exponent `e` in `-8..=7` the mantissas are
//! `q_j = clamp(round(t_j / 2^e), -8, 7)` (round half away from zero); the
//! exponent with the smallest exact error `||w - ŵ||²` wins, ties going to
//! the lowest exponent.

use crate::config::{Config, EXP_MAX, EXP_MIN, MAX_C, MAX_P, Q_MAX, Q_MIN};
use crate::lfsr::Lfsr;

/// One compressed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Block {
    /// LFSR seed, `1..2^K`.
    pub seed: u32,
    /// Shared exponent, `-8..=7`.
    pub exp: i8,
    /// Mantissas, `-8..=7`; only the first `P` are used, the rest are zero.
    pub q: [i8; MAX_P],
}

/// The result of fitting coefficients to one block for one seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Chosen exponent.
    pub exp: i8,
    /// Mantissas (first `P` used).
    pub q: [i8; MAX_P],
    /// Exact squared error `||w - ŵ||²` in f64.
    pub err: f64,
}

/// Centred basis of `seed`: `u[i·P + j] = v - 2^(K-1)` for the `C·P` states
/// after the seed. `out.len()` must be `C·P`.
pub fn centred_basis(cfg: &Config, lfsr: &Lfsr, seed: u32, out: &mut [i32]) {
    let mut states = [0u32; MAX_C * MAX_P];
    let states = &mut states[..cfg.c * cfg.p];
    lfsr.states_after(seed, states);
    for (u, &v) in out.iter_mut().zip(states.iter()) {
        *u = v as i32 - cfg.half();
    }
}

/// `2^e` for an exponent `e` in `-1022..=1023`, built from its bits (the
/// same value as `(e as f64).exp2()`, without the libm call).
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// `clamp(round(x), Q_MIN, Q_MAX)` with rounding half away from zero (the
/// same value as `x.round().clamp(..) as i8`, NaN giving 0), in integer
/// arithmetic: `x` is first clamped to `[Q_MIN - 1, Q_MAX + 1]`, where the
/// truncation `t` and the fraction `x - t` are exact.
fn quantize(x: f64) -> i8 {
    let x = x.clamp(Q_MIN as f64 - 1.0, Q_MAX as f64 + 1.0);
    let t = x as i32;
    let frac = x - t as f64;
    let r = t + (frac >= 0.5) as i32 - (frac <= -0.5) as i32;
    r.clamp(Q_MIN as i32, Q_MAX as i32) as i8
}

/// `Σ_j u_j q_j` over one row of a centred basis: exact in `i32`, since
/// `|u| ≤ 2^23` (K ≤ 24), `|q| ≤ 8` and `P ≤ 8` keep it below `2^29`.
fn row_dot(u: &[i32], q: &[i8]) -> i32 {
    u.iter().zip(q).map(|(&a, &b)| a * b as i32).sum()
}

/// Rebuilds `ŵ_i = (Σ_j u_ij q_j) · 2^e / unit` for a centred basis.
fn rebuild(cfg: &Config, u: &[i32], exp: i8, q: &[i8], out: &mut [f64]) {
    let scale = pow2(exp as i32) / cfg.unit();
    for (o, row) in out.iter_mut().zip(u.chunks_exact(cfg.p)) {
        *o = row_dot(row, &q[..cfg.p]) as f64 * scale;
    }
}

/// Least-squares coefficients `t = argmin ||w - U t||` (see module docs).
pub fn least_squares(cfg: &Config, u: &[i32], w: &[f64]) -> [f64; MAX_P] {
    let (c, p) = (cfg.c, cfg.p);
    let unit = cfg.unit();
    // Columns of U as f64, then modified Gram–Schmidt: U = Q R.
    let mut qcols = [[0f64; MAX_C]; MAX_P];
    for j in 0..p {
        for i in 0..c {
            qcols[j][i] = u[i * p + j] as f64 / unit;
        }
    }
    let mut r = [[0f64; MAX_P]; MAX_P];
    let mut keep = [false; MAX_P];
    for j in 0..p {
        let norm0 = qcols[j][..c].iter().map(|x| x * x).sum::<f64>().sqrt();
        for k in 0..j {
            if !keep[k] {
                continue;
            }
            let d: f64 = (0..c).map(|i| qcols[k][i] * qcols[j][i]).sum();
            r[k][j] = d;
            let (done, rest) = qcols.split_at_mut(j);
            for (x, y) in rest[0][..c].iter_mut().zip(&done[k][..c]) {
                *x -= d * y;
            }
        }
        let norm = qcols[j][..c].iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-9 * norm0 && norm > 0.0 {
            keep[j] = true;
            r[j][j] = norm;
            for x in &mut qcols[j][..c] {
                *x /= norm;
            }
        }
    }
    // t = R^-1 Q^T w over the kept columns.
    let mut qtw = [0f64; MAX_P];
    for j in 0..p {
        if keep[j] {
            qtw[j] = (0..c).map(|i| qcols[j][i] * w[i]).sum();
        }
    }
    let mut t = [0f64; MAX_P];
    for j in (0..p).rev() {
        if !keep[j] {
            continue;
        }
        let s: f64 = (j + 1..p)
            .filter(|&k| keep[k])
            .map(|k| r[j][k] * t[k])
            .sum();
        t[j] = (qtw[j] - s) / r[j][j];
    }
    t
}

/// Fits the quantized coefficients of one block for one centred basis `u`
/// (`C·P` entries) and returns the best exponent, mantissas and exact error.
pub fn fit(cfg: &Config, u: &[i32], w: &[f64]) -> Fit {
    let t = least_squares(cfg, u, w);
    let (c, p) = (cfg.c, cfg.p);
    let (u, w) = (&u[..c * p], &w[..c]);
    // All-zero mantissas rebuild to exact zeros: the error is `Σ w_i²`, the
    // same sum the general case below computes for them.
    let zero_err: f64 = w.iter().map(|x| x.powi(2)).sum();
    let mut best = Fit {
        exp: EXP_MIN,
        q: [0; MAX_P],
        err: f64::INFINITY,
    };
    for exp in EXP_MIN..=EXP_MAX {
        let inv = pow2(-exp as i32);
        let mut q = [0i8; MAX_P];
        for j in 0..p {
            q[j] = quantize(t[j] * inv);
        }
        let err = if q == [0; MAX_P] {
            zero_err
        } else {
            // The exact error of the decoded block (`rebuild`, row by row).
            let scale = pow2(exp as i32) / cfg.unit();
            w.iter()
                .zip(u.chunks_exact(p))
                .map(|(wi, row)| (wi - row_dot(row, &q[..p]) as f64 * scale).powi(2))
                .sum()
        };
        if err < best.err {
            best = Fit { exp, q, err };
        }
    }
    best
}

impl Block {
    /// Decodes the block into `out` (`C` weights).
    pub fn decode(&self, cfg: &Config, lfsr: &Lfsr, out: &mut [f32]) {
        let mut u = [0i32; MAX_C * MAX_P];
        let u = &mut u[..cfg.c * cfg.p];
        centred_basis(cfg, lfsr, self.seed, u);
        let mut rec = [0f64; MAX_C];
        rebuild(cfg, u, self.exp, &self.q, &mut rec);
        for (o, r) in out.iter_mut().zip(rec.iter()) {
            *o = *r as f32;
        }
    }

    /// Fits coefficients for a given seed (no search).
    pub fn fit_seed(cfg: &Config, lfsr: &Lfsr, seed: u32, w: &[f32]) -> (Block, f64) {
        let mut u = [0i32; MAX_C * MAX_P];
        let u = &mut u[..cfg.c * cfg.p];
        centred_basis(cfg, lfsr, seed, u);
        let w64: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        let f = fit(cfg, u, &w64);
        (
            Block {
                seed,
                exp: f.exp,
                q: f.q,
            },
            f.err,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_block_decode_matches_float_formula() {
        let cfg = Config::BITS4;
        let l = Lfsr::new(16);
        let b = Block {
            seed: 12345,
            exp: -3,
            q: [7, -8, 2, 0, 0, 0, 0, 0],
        };
        let mut out = [0f32; 8];
        b.decode(&cfg, &l, &mut out);
        let mut v = [0u32; 24];
        l.states_after(12345, &mut v);
        for i in 0..8 {
            let want: f64 = (0..3)
                .map(|j| (v[i * 3 + j] as f64 - 32768.0) / 32767.0 * b.q[j] as f64 * 0.125)
                .sum();
            assert!((out[i] as f64 - want).abs() <= 1e-6 * want.abs().max(1e-3));
        }
    }

    #[test]
    fn test_fit_exponent_rule_is_the_minimum_over_all_exponents() {
        let cfg = Config::BITS3;
        let l = Lfsr::new(16);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let scale = 10f64.powf(rng.gen_range(-4.0..1.0));
            let w: Vec<f64> = (0..cfg.c)
                .map(|_| rng.gen_range(-1.0..1.0) * scale)
                .collect();
            let seed = rng.gen_range(1..65536);
            let mut u = vec![0i32; cfg.c * cfg.p];
            centred_basis(&cfg, &l, seed, &mut u);
            let f = fit(&cfg, &u, &w);
            let t = least_squares(&cfg, &u, &w);
            for e in EXP_MIN..=EXP_MAX {
                let mut q = [0i8; MAX_P];
                for j in 0..cfg.p {
                    q[j] = (t[j] / (e as f64).exp2()).round().clamp(-8.0, 7.0) as i8;
                }
                let mut rec = [0f64; MAX_C];
                rebuild(&cfg, &u, e, &q, &mut rec);
                let err: f64 = (0..cfg.c).map(|i| (w[i] - rec[i]).powi(2)).sum();
                assert!(f.err <= err, "exponent {e} beats the chosen {}", f.exp);
                if e == f.exp {
                    assert_eq!((q, err), (f.q, f.err), "fit must report the rebuilt error");
                }
                if e < f.exp {
                    assert!(err > f.err, "tie must go to the lowest exponent");
                }
            }
            // The reported error is the error of the decoded block.
            let blk = Block {
                seed,
                exp: f.exp,
                q: f.q,
            };
            let mut out = vec![0f32; cfg.c];
            blk.decode(&cfg, &l, &mut out);
            let direct: f64 = (0..cfg.c).map(|i| (w[i] - out[i] as f64).powi(2)).sum();
            assert!((direct - f.err).abs() <= 1e-6 * f.err.max(1e-12 * scale * scale));
        }
    }

    #[test]
    fn test_pow2_and_quantize_match_the_float_rule() {
        for e in -1022..=1023 {
            assert_eq!(pow2(e), (e as f64).exp2(), "2^{e}");
        }
        let below_half = 0.5 - f64::EPSILON / 4.0;
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            6.5,
            -7.5,
            7.5,
            -8.5,
            8.0,
            -9.0,
            below_half,
            -below_half,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            7.499999999999999,
            -8.499999999999998,
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        xs.extend((0..100_000).map(|_| rng.gen_range(-20.0..20.0)));
        xs.extend((0..2_000).map(|_| rng.gen_range(-20i32..20) as f64 * 0.5));
        for x in xs {
            let want = x.round().clamp(Q_MIN as f64, Q_MAX as f64) as i8;
            assert_eq!(quantize(x), want, "quantize({x:e})");
        }
    }

    #[test]
    fn test_least_squares_residual_is_orthogonal() {
        let cfg = Config::BITS4;
        let l = Lfsr::new(16);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let w: Vec<f64> = (0..8).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut u = vec![0i32; 24];
            centred_basis(&cfg, &l, rng.gen_range(1..65536), &mut u);
            let t = least_squares(&cfg, &u, &w);
            for j in 0..3 {
                let dot: f64 = (0..8)
                    .map(|i| {
                        let r = w[i]
                            - (0..3)
                                .map(|k| u[i * 3 + k] as f64 / 32767.0 * t[k])
                                .sum::<f64>();
                        r * u[i * 3 + j] as f64 / 32767.0
                    })
                    .sum();
                assert!(
                    dot.abs() < 1e-9,
                    "residual not orthogonal to column {j}: {dot}"
                );
            }
        }
    }
}
