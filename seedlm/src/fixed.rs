//! Fixed-point golden model of the accelerator datapath: the one definition
//! of every width and rounding that the RTL and every device backend match
//! bit for bit.
//!
//! For a weight row made of blocks `(s, e, q)` and an activation vector `x`:
//!
//! 1. **Activations** (host side): one scale per vector,
//!    `scale = max|x| / 32767` (f32; `1.0` if `x` is all zero), and
//!    `x_int = clamp(round_ties_even(x / scale), -32767, 32767)` as `i16`
//!    ([`ACT_BITS`] = 16).
//! 2. **Weight rebuild** (on chip): LFSR states `v` (K bits) are centred,
//!    `u = v - 2^(K-1)` (K-bit signed, `|u| <= 2^(K-1) - 1`), and
//!    `r_i = Σ_j u_ij · q_j` is an exact integer ([`rebuild_bits`], 21 bits
//!    signed for both paper configurations).
//! 3. **MAC lane**: `d = Σ_i r_i · x_int_i` over the block's `C` weights,
//!    exact ([`lane_sum_bits`]: 39 bits signed at 4-bit, 40 at 3-bit).
//! 4. **Exponent**: a left shift by `e + 8` ([`EXP_BIAS`]), so every block
//!    term `d · 2^(e+8)` is an integer; no rounding anywhere on chip.
//! 5. **Accumulator**: `acc = Σ_blocks d · 2^(e+8)`, a [`ACC_BITS`] = 72-bit
//!    signed register per row. [`max_blocks_per_row`] is the row length it
//!    can never overflow for (349,546 blocks = 2.8M columns at 4-bit;
//!    174,773 blocks = 2.1M columns at 3-bit).
//! 6. **Output** (host side): `y = acc · scale / ((2^(K-1) - 1) · 2^8)`,
//!    computed in f64 and rounded once to f32 ([`acc_to_f32`]).
//!
//! Distance from the float decode: the only rounding before step 6 is that of
//! the activations, `|x - x_int·scale| <= scale/2`, so for a row of decoded
//! weights `ŵ`, `|y_fixed - ŵ·x| <= (scale/2)·Σ|ŵ_i| + 2^-24·|y|` (plus f64
//! rounding far below it). [`error_bound`] computes it; tests check it.

use crate::block::{centred_basis, Block};
use crate::config::{Config, EXP_MIN, MAX_C, MAX_P, Q_MIN};
use crate::error::{Error, Result};
use crate::lfsr::Lfsr;

/// Bits of a quantized activation (signed).
pub const ACT_BITS: u32 = 16;
/// Largest quantized activation magnitude, `2^15 - 1` (symmetric range).
pub const ACT_MAX: i32 = (1 << (ACT_BITS - 1)) - 1;
/// Exponent bias: the hardware shifts each block's lane sum left by `e + 8`.
pub const EXP_BIAS: i32 = -(EXP_MIN as i32);
/// Bits of the per-row accumulator (signed).
pub const ACC_BITS: u32 = 72;

/// A quantized activation vector.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedActs {
    /// `x_int`, one per input column.
    pub x: Vec<i16>,
    /// Real value of one step of `x_int`.
    pub scale: f32,
}

/// Quantizes activations with one scale per vector (step 1 of the module docs).
pub fn quantize_activations(x: &[f32]) -> Result<QuantizedActs> {
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidInput(format!("activation {i} is {}", x[i])));
    }
    let absmax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if absmax > 0.0 {
        absmax / ACT_MAX as f32
    } else {
        1.0
    };
    let x = x
        .iter()
        .map(|&v| round_ties_even(v / scale).clamp(-ACT_MAX as f32, ACT_MAX as f32) as i16)
        .collect();
    Ok(QuantizedActs { x, scale })
}

/// `y.round_ties_even()` for every `y` whose result is then clamped to
/// `±ACT_MAX`, without a call to `rintf` (the baseline x86-64 target has
/// no rounding instruction): below `2^22` in magnitude, adding and
/// subtracting `1.5 · 2^23` rounds to an integer, ties to even (the
/// default rounding mode); at or above it, `y` is kept (it clamps the same
/// as its rounding, and so does an infinity; a NaN stays a NaN).
fn round_ties_even(y: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    if y.abs() < 4_194_304.0 {
        (y + MAGIC) - MAGIC
    } else {
        y
    }
}

/// Signed bits needed to hold every value of magnitude `<= max_abs`.
fn signed_bits(max_abs: u128) -> u32 {
    129 - max_abs.leading_zeros()
}

/// Largest `|r_i|`: `P · (2^(K-1) - 1) · 8`.
fn rebuild_max(cfg: &Config) -> u128 {
    cfg.p as u128 * cfg.unit() as u128 * (-Q_MIN as u128)
}

/// Largest `|d|`, the lane sum of one block.
fn lane_sum_max(cfg: &Config) -> u128 {
    cfg.c as u128 * rebuild_max(cfg) * ACT_MAX as u128
}

/// Signed width of a rebuilt weight `r_i` (21 for both paper configurations).
pub fn rebuild_bits(cfg: &Config) -> u32 {
    signed_bits(rebuild_max(cfg))
}

/// Signed width of a lane sum `d` (39 at 4-bit, 40 at 3-bit).
pub fn lane_sum_bits(cfg: &Config) -> u32 {
    signed_bits(lane_sum_max(cfg))
}

/// Most blocks per row that a [`ACC_BITS`]-bit accumulator holds without
/// overflow, whatever the weights and activations.
pub fn max_blocks_per_row(cfg: &Config) -> usize {
    let term = lane_sum_max(cfg) << (EXP_BIAS + crate::config::EXP_MAX as i32);
    (((1u128 << (ACC_BITS - 1)) - 1) / term) as usize
}

/// Rebuilt integer weights `r_i = Σ_j u_ij q_j` of one block (step 2).
pub fn rebuild_block(cfg: &Config, lfsr: &Lfsr, b: &Block) -> [i32; MAX_C] {
    let mut u = [0i32; MAX_C * MAX_P];
    centred_basis(cfg, lfsr, b.seed, &mut u[..cfg.c * cfg.p]);
    let mut r = [0i32; MAX_C];
    for (i, ri) in r.iter_mut().enumerate().take(cfg.c) {
        *ri = (0..cfg.p).map(|j| u[i * cfg.p + j] * b.q[j] as i32).sum();
    }
    r
}

/// The shifted lane sum `d · 2^(e+8)` of one block against `C` activations
/// (steps 3 and 4).
pub fn block_term(r: &[i32], exp: i8, x: &[i16]) -> i128 {
    let d: i64 = r.iter().zip(x).map(|(&r, &x)| r as i64 * x as i64).sum();
    (d as i128) << (exp as i32 + EXP_BIAS)
}

/// A compressed matrix as the golden model sees it: `rows × blocks_per_row`
/// blocks, row-major; row `i`'s block `b` covers columns `b·C .. b·C + C`
/// (the last block of a row is zero-padded past `cols`).
#[derive(Clone, Copy, Debug)]
pub struct BlockMatrix<'a> {
    /// Block configuration.
    pub cfg: Config,
    /// Output rows.
    pub rows: usize,
    /// Input columns (before padding).
    pub cols: usize,
    /// `rows · ceil(cols / C)` blocks, row-major.
    pub blocks: &'a [Block],
}

impl BlockMatrix<'_> {
    /// Blocks per row, `ceil(cols / C)`.
    pub fn blocks_per_row(&self) -> usize {
        self.cols.div_ceil(self.cfg.c)
    }

    fn check(&self) -> Result<()> {
        if self.blocks.len() != self.rows * self.blocks_per_row() {
            return Err(Error::InvalidInput(format!(
                "{} blocks for a {}x{} matrix at C={} (need {})",
                self.blocks.len(),
                self.rows,
                self.cols,
                self.cfg.c,
                self.rows * self.blocks_per_row()
            )));
        }
        if self.blocks_per_row() > max_blocks_per_row(&self.cfg) {
            return Err(Error::InvalidInput(format!(
                "rows of {} blocks exceed the {}-bit accumulator's limit of {}",
                self.blocks_per_row(),
                ACC_BITS,
                max_blocks_per_row(&self.cfg)
            )));
        }
        Ok(())
    }

    /// Integer accumulators `acc` per row (step 5) for quantized activations.
    pub fn matvec_acc(&self, x: &QuantizedActs) -> Result<Vec<i128>> {
        self.check()?;
        if x.x.len() != self.cols {
            return Err(Error::InvalidInput(format!(
                "activation length {} does not match {} columns",
                x.x.len(),
                self.cols
            )));
        }
        let c = self.cfg.c;
        let mut xp = x.x.clone();
        xp.resize(self.blocks_per_row() * c, 0);
        let lfsr = Lfsr::new(self.cfg.k);
        let bpr = self.blocks_per_row();
        Ok((0..self.rows)
            .map(|row| {
                self.blocks[row * bpr..(row + 1) * bpr]
                    .iter()
                    .enumerate()
                    .map(|(b, blk)| {
                        let r = rebuild_block(&self.cfg, &lfsr, blk);
                        block_term(&r[..c], blk.exp, &xp[b * c..(b + 1) * c])
                    })
                    .sum()
            })
            .collect())
    }

    /// The golden mat-vec `y = W x` in device numerics.
    pub fn matvec(&self, x: &[f32]) -> Result<Vec<f32>> {
        let q = quantize_activations(x)?;
        Ok(self
            .matvec_acc(&q)?
            .into_iter()
            .map(|a| acc_to_f32(&self.cfg, a, q.scale))
            .collect())
    }
}

/// Converts an accumulator to the output value (step 6).
pub fn acc_to_f32(cfg: &Config, acc: i128, scale: f32) -> f32 {
    // Both conversions round to nearest, ties to even: the same `f64`
    // (the `i64` one is an instruction, the `i128` one a library call).
    let a = match i64::try_from(acc) {
        Ok(a) => a as f64,
        Err(_) => wide_to_f64(acc),
    };
    (a * scale as f64 / (cfg.unit() * (EXP_BIAS as f64).exp2())) as f32
}

/// `acc as f64` out of line, so that the library call is not speculated
/// for the accumulators that fit an `i64`.
#[cold]
#[inline(never)]
fn wide_to_f64(acc: i128) -> f64 {
    acc as f64
}

/// Bound on `|y_fixed - ŵ·x|` for one row of decoded weights `w_hat` and
/// the activation scale of `x` (see module docs).
pub fn error_bound(w_hat: &[f32], y: f32, scale: f32) -> f64 {
    let l1: f64 = w_hat.iter().map(|w| w.abs() as f64).sum();
    0.5 * scale as f64 * l1 * (1.0 + 1e-6) + y.abs() as f64 * 2f64.powi(-24) + 1e-30
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::random_blocks;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_fixed_widths_of_paper_configs() {
        assert_eq!(rebuild_bits(&Config::BITS4), 21);
        assert_eq!(rebuild_bits(&Config::BITS3), 21);
        assert_eq!(lane_sum_bits(&Config::BITS4), 39);
        assert_eq!(lane_sum_bits(&Config::BITS3), 40);
        // 2^71 / (8 · 786408 · 32767 · 2^15) and 2^71 / (12 · 1048544 · 32767 · 2^15).
        assert_eq!(max_blocks_per_row(&Config::BITS4), 349_546);
        assert_eq!(max_blocks_per_row(&Config::BITS3), 174_773);
    }

    #[test]
    fn test_fixed_extreme_block_stays_within_widths() {
        // All-minimum mantissas on the state that maximises |u| everywhere.
        let cfg = Config::BITS3;
        let r_max = rebuild_max(&cfg) as i64;
        assert!(r_max < 1 << (rebuild_bits(&cfg) - 1));
        let d_max = lane_sum_max(&cfg) as i128;
        assert!(d_max < 1 << (lane_sum_bits(&cfg) - 1));
        assert!(d_max > 1 << (lane_sum_bits(&cfg) - 2));
    }

    #[test]
    fn test_fixed_matvec_within_bound_of_float_decode() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for cfg in [Config::BITS4, Config::BITS3] {
            let lfsr = Lfsr::new(cfg.k);
            let (rows, cols) = (7usize, 61usize); // ragged: 61 is not a multiple of C
            let bpr = cols.div_ceil(cfg.c);
            let blocks = random_blocks(&cfg, rows * bpr, &mut rng);
            let x: Vec<f32> = (0..cols).map(|_| rng.gen_range(-3.0..3.0)).collect();
            let m = BlockMatrix {
                cfg,
                rows,
                cols,
                blocks: &blocks,
            };
            let y = m.matvec(&x).unwrap();
            let scale = quantize_activations(&x).unwrap().scale;
            for row in 0..rows {
                let mut w_hat = vec![0f32; bpr * cfg.c];
                for b in 0..bpr {
                    blocks[row * bpr + b].decode(
                        &cfg,
                        &lfsr,
                        &mut w_hat[b * cfg.c..(b + 1) * cfg.c],
                    );
                }
                w_hat.truncate(cols);
                let y_float: f64 = w_hat
                    .iter()
                    .zip(&x)
                    .map(|(&w, &x)| w as f64 * x as f64)
                    .sum();
                let err = (y[row] as f64 - y_float).abs();
                let bound = error_bound(&w_hat, y[row], scale);
                assert!(
                    err <= bound,
                    "{cfg} row {row}: |{} - {y_float}| = {err} > {bound}",
                    y[row]
                );
            }
        }
    }

    #[test]
    fn test_fixed_exact_when_activations_are_on_grid() {
        // With max|x| = 32767 the scale is 1 and integer x pass unchanged, so
        // the only rounding left is the final one to f32.
        let cfg = Config::BITS4;
        let lfsr = Lfsr::new(16);
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let blocks = random_blocks(&cfg, 4, &mut rng);
        let mut x: Vec<f32> = (0..32).map(|_| rng.gen_range(-100..100) as f32).collect();
        x[0] = 32767.0;
        let q = quantize_activations(&x).unwrap();
        assert_eq!(q.scale, 1.0);
        assert!(q.x.iter().zip(&x).all(|(&a, &b)| a as f32 == b));
        let m = BlockMatrix {
            cfg,
            rows: 1,
            cols: 32,
            blocks: &blocks,
        };
        let y = m.matvec(&x).unwrap()[0];
        let mut exact = 0f64;
        for (b, blk) in blocks.iter().enumerate() {
            let r = rebuild_block(&cfg, &lfsr, blk);
            let dot: f64 = (0..8).map(|i| r[i] as f64 * x[b * 8 + i] as f64).sum();
            exact += dot * (blk.exp as f64).exp2() / 32767.0;
        }
        assert_eq!(y, exact as f32);
    }

    #[test]
    fn test_quantize_activations_rules() {
        let q = quantize_activations(&[0.0, 1.0, -2.0, 0.5]).unwrap();
        assert_eq!(q.scale, 2.0 / 32767.0);
        assert_eq!(q.x, vec![0, 16384, -32767, 8192]);
        assert_eq!(quantize_activations(&[0.0; 3]).unwrap().x, vec![0; 3]);
        assert!(quantize_activations(&[1.0, f32::NAN]).is_err());
    }

    /// The rounding of `quantize_activations` equals `f32::round_ties_even`
    /// wherever the clamp does not hide a difference: ties, the ends of
    /// the fast range, large values, infinities and NaN.
    #[test]
    fn test_round_ties_even_equals_std() {
        let clamp = |y: f32| y.clamp(-ACT_MAX as f32, ACT_MAX as f32) as i16;
        let mut ys = vec![
            0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 32766.5, 32767.5,
        ];
        ys.extend([4_194_303.5, 4_194_304.0, 4_194_304.5, 8_388_607.5, 1e30]);
        ys.extend([f32::INFINITY, f32::NAN, f32::MIN_POSITIVE, 1e-40, -0.0]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        ys.extend((0..100_000).map(|_| rng.gen_range(-40_000.0f32..40_000.0)));
        for y in ys.iter().flat_map(|&y| [y, -y]) {
            let (fast, std) = (round_ties_even(y), y.round_ties_even());
            assert!(fast == std || y.is_nan() || y.abs() >= 4_194_304.0, "{y}");
            assert_eq!(clamp(round_ties_even(y)), clamp(y.round_ties_even()), "{y}");
        }
    }

    /// The conversion through `i64` gives the `i128` one's result, inside
    /// and outside the `i64` range.
    #[test]
    fn test_acc_to_f32_equals_the_i128_conversion() {
        let cfg = Config::BITS4;
        let unit = cfg.unit() * (EXP_BIAS as f64).exp2();
        let want = |a: i128, s: f32| (a as f64 * s as f64 / unit) as f32;
        let (lo, hi) = (i64::MIN as i128, i64::MAX as i128);
        let mut accs = vec![0, 1, -1, lo, hi, lo - 1, hi + 1, (1 << 71) - 1, -(1 << 71)];
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        accs.extend((0..10_000).map(|_| rng.gen::<i128>() >> rng.gen_range(0..127)));
        for a in accs {
            for s in [1.0f32, 3.1e-5] {
                assert_eq!(
                    acc_to_f32(&cfg, a, s).to_bits(),
                    want(a, s).to_bits(),
                    "{a}"
                );
            }
        }
    }

    #[test]
    fn test_matvec_rejects_wrong_shapes() {
        let cfg = Config::BITS4;
        let blocks = vec![
            Block {
                seed: 1,
                ..Default::default()
            };
            3
        ];
        let m = BlockMatrix {
            cfg,
            rows: 2,
            cols: 16,
            blocks: &blocks,
        };
        assert!(m.matvec(&[0.0; 16]).is_err());
        let m = BlockMatrix {
            cfg,
            rows: 1,
            cols: 24,
            blocks: &blocks,
        };
        assert!(m.matvec(&[0.0; 23]).is_err());
        assert_eq!(m.matvec(&[0.0; 24]).unwrap(), vec![0.0]);
    }
}
