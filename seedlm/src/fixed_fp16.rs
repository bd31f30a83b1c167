//! Golden model of the FP16 baseline engine: the same activations, result
//! words and accumulator as [`crate::fixed`], with IEEE binary16 weights
//! instead of seed blocks. The baseline RTL (`gen-rtl --baseline fp16`)
//! matches it bit for bit; it exists to measure SeedLM against plain FP16
//! weights on equal memory bandwidth.
//!
//! **Weights.** Every f16 bit pattern `w` (sign `s`, biased exponent `E`,
//! fraction `f`) stands for the exact integer `w_int` with value
//! `w_int · 2^-24` ([`fp16_weight_int`]):
//!
//! | `E` | significand `m` | shift `sh` | meaning |
//! |---|---|---|---|
//! | 1..=30 | `1024 + f` | `E - 1` | normal |
//! | 0 | `f` | 0 | zero, subnormal |
//! | 31 | 0 | 0 | inf, NaN: contributes 0 ([`fp16_check_finite`] finds them) |
//!
//! `w_int = sig · 2^sh` with the signed significand `sig = (-1)^s · m`
//! ([`FP16_SIG_BITS`] = 12 bits signed) and `sh` in `0..=29`.
//!
//! **MAC.** Per weight, the product `sig · x_int` (28 bits signed) is
//! shifted left by `sh`: a term `|t| <= 2047 · 2^15 · 2^29 < 2^55`
//! ([`FP16_TERM_BITS`] = 56 bits signed). The row accumulator
//! `acc = Σ_i w_int_i · x_int_i` is exact in [`ACC_BITS`] = 72 bits for
//! rows of up to [`fp16_max_cols`] = 65,568 columns. Nothing is rounded on
//! chip; the host computes `y = acc · scale · 2^-24` once in f64 and rounds
//! to f32 ([`fp16_acc_to_f32`]).
//!
//! **Stream layout.** A *lane word* holds [`FP16_C`] = 8 consecutive
//! weights of one row, weight `i` at bits `[16i, 16i + 16)`, so a lane
//! consumes the same 8-column activation slice as a 4-bit SeedLM lane
//! (C = 8) and the activation memory words are those of
//! [`crate::hw::activation_words`] for C = 8 ([`fp16_activation_words`]).
//! An engine of `N` lanes works on `N` rows at once: tile `t`, column
//! block `b` is one tile word of `N · 128` bits, lane `l` at bits
//! `[128 l, 128 l + 128)` holding row `t·N + l`, columns `8b .. 8b + 8`.
//! A 512-bit memory word is 4 lanes, 32 weights. Weights past the last
//! column and rows past the last row are `+0.0` (bit pattern 0).
//!
//! **CONFIG register.** `C | P << 8 | K << 16 | lanes << 24` with `C = 8`,
//! `P = 0`, `K = 0` ([`fp16_encode_config`]): `P = 0` marks the baseline.

use crate::error::{Error, Result};
use crate::fixed::{ACC_BITS, ACT_BITS};
use crate::hw::{check_lanes, word_bytes};

/// Weights per lane word.
pub const FP16_C: usize = 8;
/// Bits of one f16 weight.
pub const FP16_BITS: u32 = 16;
/// Signed width of the significand `sig`, `±(2^11 - 1)`.
pub const FP16_SIG_BITS: u32 = 12;
/// Largest shift `sh` (biased exponent 30, minus 1).
pub const FP16_SHIFT_MAX: u32 = 29;
/// Signed width of one shifted product `sig · x_int · 2^sh`.
pub const FP16_TERM_BITS: u32 = 56;
/// Biased exponent of inf and NaN.
const EXP_SPECIAL: u16 = 31;

/// Splits an f16 bit pattern into the signed significand and the shift of
/// the module docs: `w_int = sig · 2^sh`. Inf and NaN give `(0, 0)`.
pub fn fp16_decode(w: u16) -> (i16, u32) {
    let e = (w >> 10) & 0x1F;
    let f = (w & 0x3FF) as i16;
    let (m, sh) = match e {
        0 => (f, 0),
        EXP_SPECIAL => (0, 0),
        _ => (f | 1 << 10, e as u32 - 1),
    };
    (if w >> 15 == 1 { -m } else { m }, sh)
}

/// The exact integer `w_int` of an f16 bit pattern (value `w_int · 2^-24`).
pub fn fp16_weight_int(w: u16) -> i64 {
    let (sig, sh) = fp16_decode(w);
    (sig as i64) << sh
}

/// Most columns a row may have so that the [`ACC_BITS`]-bit accumulator
/// never overflows, whatever the weights and 16-bit activations (65,568).
pub fn fp16_max_cols() -> usize {
    let term = ((1u128 << (FP16_SIG_BITS - 1)) - 1) << (ACT_BITS - 1) << FP16_SHIFT_MAX;
    (((1u128 << (ACC_BITS - 1)) - 1) / term) as usize
}

/// Fails on the first inf or NaN in `w`, naming its index.
pub fn fp16_check_finite(w: &[u16]) -> Result<()> {
    match w.iter().position(|&v| (v >> 10) & 0x1F == EXP_SPECIAL) {
        Some(i) => Err(Error::InvalidInput(format!(
            "f16 weight {i} is {:#06x}, not finite",
            w[i]
        ))),
        None => Ok(()),
    }
}

fn check_shape(rows: usize, cols: usize, w: &[u16]) -> Result<()> {
    if Some(w.len()) != rows.checked_mul(cols) {
        return Err(Error::InvalidInput(format!(
            "{} f16 weights for a {rows}x{cols} matrix",
            w.len()
        )));
    }
    if cols > fp16_max_cols() {
        return Err(Error::InvalidInput(format!(
            "rows of {cols} columns exceed the {ACC_BITS}-bit accumulator's limit of {}",
            fp16_max_cols()
        )));
    }
    Ok(())
}

/// Integer accumulators `acc = Σ_i w_int_i · x_i` per row of the row-major
/// `rows × cols` f16 matrix `w` (bit patterns) against `x` (`cols` values).
pub fn fp16_matvec_acc(rows: usize, cols: usize, w: &[u16], x: &[i16]) -> Result<Vec<i128>> {
    check_shape(rows, cols, w)?;
    if x.len() != cols {
        return Err(Error::InvalidInput(format!(
            "activation length {} does not match {cols} columns",
            x.len()
        )));
    }
    Ok((0..rows)
        .map(|r| {
            w[r * cols..(r + 1) * cols]
                .iter()
                .zip(x)
                .map(|(&wi, &xi)| (fp16_weight_int(wi) * xi as i64) as i128)
                .sum()
        })
        .collect())
}

/// The real output of a row: `acc · scale · 2^-24` in f64, rounded once.
pub fn fp16_acc_to_f32(acc: i128, scale: f32) -> f32 {
    (acc as f64 * scale as f64 * (-24f64).exp2()) as f32
}

/// Bits of one tile word, `lanes · 8 · 16`.
pub fn fp16_tile_word_bits(lanes: usize) -> u32 {
    lanes as u32 * FP16_C as u32 * FP16_BITS
}

/// Bits of one activation memory word, `8 · 16`.
pub fn fp16_act_word_bits() -> u32 {
    FP16_C as u32 * ACT_BITS
}

/// The CONFIG register value of a baseline engine of `lanes` lanes.
pub fn fp16_encode_config(lanes: usize) -> u32 {
    FP16_C as u32 | (lanes as u32) << 24
}

/// The whole weight stream of the row-major `rows × cols` f16 matrix `w`
/// for an engine of `lanes` lanes, in stream order (tiles, then column
/// blocks; see module docs), as little-endian byte strings.
pub fn fp16_tile_stream(rows: usize, cols: usize, w: &[u16], lanes: usize) -> Result<Vec<Vec<u8>>> {
    check_lanes(lanes)?;
    check_shape(rows, cols, w)?;
    let bpr = cols.div_ceil(FP16_C);
    let bytes = word_bytes(fp16_tile_word_bits(lanes));
    let mut words = Vec::with_capacity(rows.div_ceil(lanes) * bpr);
    for t in 0..rows.div_ceil(lanes) {
        for b in 0..bpr {
            let mut word = vec![0u8; bytes];
            for l in 0..lanes {
                let row = t * lanes + l;
                if row >= rows {
                    break;
                }
                for i in 0..FP16_C {
                    let col = b * FP16_C + i;
                    if col < cols {
                        let at = 2 * (l * FP16_C + i);
                        word[at..at + 2].copy_from_slice(&w[row * cols + col].to_le_bytes());
                    }
                }
            }
            words.push(word);
        }
    }
    Ok(words)
}

/// The activation memory words for quantized activations `x`, one per
/// 8-column block, zero past the last column.
pub fn fp16_activation_words(x: &[i16]) -> Vec<Vec<u8>> {
    x.chunks(FP16_C)
        .map(|chunk| {
            let mut w = vec![0u8; word_bytes(fp16_act_word_bits())];
            for (i, &v) in chunk.iter().enumerate() {
                w[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
            }
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use half::f16;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_fp16_weight_int_known_answers() {
        assert_eq!(fp16_weight_int(0x3C00), 1 << 24); // 1.0
        assert_eq!(fp16_weight_int(0xBC00), -(1 << 24)); // -1.0
        assert_eq!(fp16_weight_int(0x0001), 1); // 2^-24, smallest subnormal
        assert_eq!(fp16_weight_int(0x03FF), 1023); // largest subnormal
        assert_eq!(fp16_weight_int(0x0400), 1024); // smallest normal, 2^-14
        assert_eq!(fp16_weight_int(0x7BFF), 65504 << 24); // f16::MAX
        assert_eq!(fp16_weight_int(0xFBFF), -(65504 << 24));
        assert_eq!(fp16_weight_int(0x8000), 0); // -0.0
        for special in [0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF] {
            assert_eq!(fp16_weight_int(special), 0, "{special:#x}");
        }
        assert_eq!(fp16_decode(0x7BFF), (2047, FP16_SHIFT_MAX));
        assert_eq!(fp16_decode(0xFBFF), (-2047, FP16_SHIFT_MAX));
        assert_eq!(fp16_max_cols(), 65_568);
    }

    #[test]
    fn test_fp16_weight_int_equals_value_for_every_finite_pattern() {
        for w in 0..=u16::MAX {
            let v = f16::from_bits(w);
            if !v.is_finite() {
                assert!(fp16_check_finite(&[0, w]).is_err());
                continue;
            }
            let (sig, sh) = fp16_decode(w);
            assert!(sig.unsigned_abs() < 1 << (FP16_SIG_BITS - 1) && sh <= FP16_SHIFT_MAX);
            assert_eq!(
                fp16_weight_int(w) as f64,
                v.to_f64() * 2f64.powi(24),
                "{w:#x}"
            );
        }
        let term = (2047i128 << FP16_SHIFT_MAX) * -32768;
        assert!(term.unsigned_abs() <= 1 << (FP16_TERM_BITS - 1));
    }

    #[test]
    fn test_fp16_matvec_acc_matches_f64_reference() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let (rows, cols) = (7, 45);
        // Finite weights of every magnitude, plus the extremes.
        let mut w: Vec<u16> = (0..rows * cols)
            .map(|_| loop {
                let v = rng.gen::<u16>();
                if f16::from_bits(v).is_finite() {
                    break v;
                }
            })
            .collect();
        w[0] = 0x7BFF;
        w[1] = 0x0001;
        let x: Vec<i16> = (0..cols).map(|_| rng.gen()).collect();
        let acc = fp16_matvec_acc(rows, cols, &w, &x).unwrap();
        for r in 0..rows {
            // Each product is exact in f64 (11 significant bits times 16);
            // summing them as i128 keeps the reference exact.
            let want: i128 = (0..cols)
                .map(|c| {
                    (f16::from_bits(w[r * cols + c]).to_f64() * 2f64.powi(24) * x[c] as f64) as i128
                })
                .sum();
            assert_eq!(acc[r], want, "row {r}");
            let y = fp16_acc_to_f32(acc[r], 0.5);
            assert_eq!(y, (want as f64 * 0.5 / 16_777_216.0) as f32);
        }
    }

    #[test]
    fn test_fp16_matvec_acc_rejects_bad_shapes() {
        assert!(fp16_matvec_acc(2, 3, &[0; 5], &[0; 3]).is_err());
        assert!(fp16_matvec_acc(2, 3, &[0; 6], &[0; 4]).is_err());
        let cols = fp16_max_cols() + 1;
        let err = fp16_matvec_acc(1, cols, &vec![0; cols], &vec![0; cols]).unwrap_err();
        assert!(err.to_string().contains("65568"), "{err}");
        let cols = fp16_max_cols();
        let acc = fp16_matvec_acc(1, cols, &vec![0xFBFF; cols], &vec![-32768; cols]).unwrap();
        assert!(acc[0] < 1 << (ACC_BITS - 1) && acc[0] > 0);
    }

    #[test]
    fn test_fp16_tile_stream_order_and_padding() {
        let (rows, cols, lanes) = (5, 19, 2); // 3 column blocks, 3 tiles
        let w: Vec<u16> = (0..rows * cols).map(|i| 0x3C00 + i as u16).collect();
        let words = fp16_tile_stream(rows, cols, &w, lanes).unwrap();
        assert_eq!(words.len(), 3 * 3);
        for (n, word) in words.iter().enumerate() {
            assert_eq!(word.len() * 8, fp16_tile_word_bits(lanes) as usize);
            let (t, b) = (n / 3, n % 3);
            for l in 0..lanes {
                for i in 0..FP16_C {
                    let (row, col) = (t * lanes + l, b * FP16_C + i);
                    let at = 2 * (l * FP16_C + i);
                    let got = u16::from_le_bytes([word[at], word[at + 1]]);
                    let want = if row < rows && col < cols {
                        w[row * cols + col]
                    } else {
                        0
                    };
                    assert_eq!(got, want, "word {n} lane {l} weight {i}");
                }
            }
        }
        assert!(fp16_tile_stream(rows, cols, &w, 0).is_err());
        assert!(fp16_tile_stream(rows, cols, &w[1..], 2).is_err());
    }

    #[test]
    fn test_fp16_activation_words_equal_4bit_seedlm_layout() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let x: Vec<i16> = (0..37).map(|_| rng.gen()).collect();
        assert_eq!(
            fp16_activation_words(&x),
            crate::hw::activation_words(&Config::BITS4, &x)
        );
        assert_eq!(fp16_encode_config(4), 8 | 4 << 24);
    }
}
