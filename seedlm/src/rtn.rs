//! The baseline SeedLM is compared against: round-to-nearest (RTN) symmetric
//! `b`-bit quantization with one f16 absmax scale per group, and the error
//! metrics used for both.
//!
//! **Rule.** A row of `cols` weights is cut into groups of [`GROUP`]
//! consecutive elements (the last group of a row may be shorter; groups never
//! straddle rows). Per group, with `qmax = 2^(b-1) - 1`:
//! - `scale = f16(absmax / qmax)` (round to nearest f16; an overflow saturates
//!   to the largest finite f16),
//! - `q = clamp(round(w / scale), -2^(b-1), qmax)` (round half away from zero),
//! - `ŵ = q · scale`, in f32.
//!
//! A group whose scale is zero (all-zero, or too small for f16) decodes to
//! zeros. Storage is `b` bits per weight plus 16 bits per group:
//! `b + 16/128` = 4.125 or 3.125 bits per weight.
//!
//! **Metrics** (accumulated in f64): relative Frobenius error
//! `||W - Ŵ|| / ||W||` and SQNR `10·log10(||W||² / ||W - Ŵ||²)` in dB.

use half::f16;

use crate::error::{Error, Result};

/// Elements per scale group, along a row.
pub const GROUP: usize = 128;

/// Storage cost of RTN with `bits`-bit codes: `bits + 16 / GROUP`.
pub fn bits_per_weight(bits: u32) -> f64 {
    bits as f64 + 16.0 / GROUP as f64
}

/// Quantizes and dequantizes a row-major matrix of `cols` columns with RTN
/// (see module docs). `bits` must be in `2..=8`; `w.len()` a multiple of
/// `cols`. Returns `Ŵ`, same length as `w`.
pub fn quantize_dequantize(w: &[f32], cols: usize, bits: u32) -> Result<Vec<f32>> {
    if !(2..=8).contains(&bits) {
        return Err(Error::InvalidInput(format!(
            "RTN bits {bits}: supported are 2..=8"
        )));
    }
    if cols == 0 || !w.len().is_multiple_of(cols) {
        return Err(Error::InvalidInput(format!(
            "{} weights is not a whole number of rows of {cols}",
            w.len()
        )));
    }
    let qmax = ((1i32 << (bits - 1)) - 1) as f32;
    let qmin = -(1i32 << (bits - 1)) as f32;
    let mut out = Vec::with_capacity(w.len());
    for row in w.chunks(cols) {
        for group in row.chunks(GROUP) {
            let absmax = group.iter().fold(0f32, |m, &x| m.max(x.abs()));
            let mut scale = f16::from_f32(absmax / qmax);
            if scale.is_infinite() {
                scale = f16::MAX;
            }
            let scale = scale.to_f32();
            if scale == 0.0 || !scale.is_finite() {
                out.resize(out.len() + group.len(), 0.0);
                continue;
            }
            out.extend(
                group
                    .iter()
                    .map(|&x| (x / scale).round().clamp(qmin, qmax) * scale),
            );
        }
    }
    Ok(out)
}

/// Storage cost of asymmetric RTN: `bits` per code plus an f16 scale and a
/// `bits`-bit zero point per group: `bits + (16 + bits) / GROUP`.
pub fn bits_per_weight_asym(bits: u32) -> f64 {
    bits as f64 + (16 + bits) as f64 / GROUP as f64
}

/// The asymmetric grid of one group (as the GPTQ and AWQ papers report
/// RTN): `scale = f16((max - min) / (2^b - 1))` over the group's range
/// widened to include 0, `zero = clamp(round(-min / scale), 0, 2^b - 1)`;
/// `None` when the scale is zero or not finite (the group decodes to zeros).
pub fn asym_grid(group: &[f32], bits: u32) -> Option<(f32, f32)> {
    let qmax = ((1u32 << bits) - 1) as f32;
    let lo = group.iter().fold(0f32, |m, &x| m.min(x));
    let hi = group.iter().fold(0f32, |m, &x| m.max(x));
    let mut scale = f16::from_f32((hi - lo) / qmax);
    if scale.is_infinite() {
        scale = f16::MAX;
    }
    let scale = scale.to_f32();
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    let zero = (-lo / scale).round().clamp(0.0, qmax);
    Some((scale, zero))
}

/// `(clamp(round(x / scale) + zero, 0, 2^b - 1) - zero) · scale`.
pub fn asym_quantize(x: f32, scale: f32, zero: f32, bits: u32) -> f32 {
    let qmax = ((1u32 << bits) - 1) as f32;
    (((x / scale).round() + zero).clamp(0.0, qmax) - zero) * scale
}

/// Asymmetric RTN (scale and zero point per group of [`GROUP`] along a
/// row, see [`asym_grid`]): like [`quantize_dequantize`] otherwise.
pub fn quantize_dequantize_asym(w: &[f32], cols: usize, bits: u32) -> Result<Vec<f32>> {
    if !(2..=8).contains(&bits) || cols == 0 || !w.len().is_multiple_of(cols) {
        return Err(Error::InvalidInput(format!(
            "asymmetric RTN: bits {bits} (2..=8), {} weights in rows of {cols}",
            w.len()
        )));
    }
    let mut out = Vec::with_capacity(w.len());
    for row in w.chunks(cols) {
        for group in row.chunks(GROUP) {
            match asym_grid(group, bits) {
                None => out.resize(out.len() + group.len(), 0.0),
                Some((scale, zero)) => {
                    out.extend(group.iter().map(|&x| asym_quantize(x, scale, zero, bits)))
                }
            }
        }
    }
    Ok(out)
}

/// Squared norms of a reference and of its error, accumulated in f64; sums
/// of several tensors add up (`a + b`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorStats {
    /// `||W||²`.
    pub signal: f64,
    /// `||W - Ŵ||²`.
    pub noise: f64,
    /// Number of elements compared.
    pub count: u64,
}

impl ErrorStats {
    /// Compares a reference `w` with its approximation `w_hat` (same length).
    pub fn measure(w: &[f32], w_hat: &[f32]) -> Result<ErrorStats> {
        if w.len() != w_hat.len() {
            return Err(Error::InvalidInput(format!(
                "cannot compare {} weights with {}",
                w.len(),
                w_hat.len()
            )));
        }
        let (mut signal, mut noise) = (0f64, 0f64);
        for (&a, &b) in w.iter().zip(w_hat) {
            let (a, b) = (a as f64, b as f64);
            signal += a * a;
            noise += (a - b) * (a - b);
        }
        Ok(ErrorStats {
            signal,
            noise,
            count: w.len() as u64,
        })
    }

    /// Relative Frobenius error `||W - Ŵ|| / ||W||` (NaN for a zero `W`
    /// with nonzero error, 0 when both are zero).
    pub fn rel_error(&self) -> f64 {
        if self.noise == 0.0 {
            return 0.0;
        }
        (self.noise / self.signal).sqrt()
    }

    /// SQNR in dB, `10·log10(||W||² / ||W - Ŵ||²)` (+∞ for an exact copy).
    pub fn sqnr_db(&self) -> f64 {
        10.0 * (self.signal / self.noise).log10()
    }
}

/// The statistics of two tensors taken together.
impl std::ops::Add for ErrorStats {
    type Output = ErrorStats;

    fn add(self, other: ErrorStats) -> ErrorStats {
        ErrorStats {
            signal: self.signal + other.signal,
            noise: self.noise + other.noise,
            count: self.count + other.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rtn_asym_known_group() {
        // Range [-1, 2] widened with 0: scale 3/15 = 0.2, zero round(5) = 5.
        let w = [-1.0f32, 2.0, 0.5, 0.0, 0.31];
        let (scale, zero) = asym_grid(&w, 4).unwrap();
        assert_eq!(zero, 5.0);
        assert_eq!(scale, f16::from_f32(0.2).to_f32());
        let got = quantize_dequantize_asym(&w, 5, 4).unwrap();
        for (x, g) in w.iter().zip(&got) {
            assert!((x - g).abs() <= scale / 2.0 + 1e-6, "{x} -> {g}");
        }
        assert_eq!(got[3], 0.0);
        assert_eq!(quantize_dequantize_asym(&[0.0; 4], 4, 4).unwrap(), [0.0; 4]);
        // Asymmetric is never worse than symmetric on a one-sided group.
        let w: Vec<f32> = (0..128).map(|i| i as f32 / 128.0).collect();
        let e = |v: &[f32]| -> f32 { w.iter().zip(v).map(|(a, b)| (a - b).powi(2)).sum() };
        let sym = quantize_dequantize(&w, 128, 4).unwrap();
        let asym = quantize_dequantize_asym(&w, 128, 4).unwrap();
        assert!(e(&asym) < 0.5 * e(&sym), "{} vs {}", e(&asym), e(&sym));
        assert_eq!(bits_per_weight_asym(4), 4.15625);
    }

    #[test]
    fn test_rtn_bits_per_weight() {
        assert_eq!(bits_per_weight(4), 4.125);
        assert_eq!(bits_per_weight(3), 3.125);
    }

    #[test]
    fn test_rtn_known_group() {
        // absmax 7 -> 4-bit scale exactly 1: values round to integers.
        let w = [7.0, -7.0, 0.4, 0.6, -2.5, 3.49, 0.0, 1.0];
        let got = quantize_dequantize(&w, 8, 4).unwrap();
        assert_eq!(got, vec![7.0, -7.0, 0.0, 1.0, -3.0, 3.0, 0.0, 1.0]);
        // 3-bit: absmax 6 -> scale 2; q in [-4, 3].
        let w = [6.0, -6.0, 2.9, 3.1, -1.0, 1.0];
        let got = quantize_dequantize(&w, 6, 3).unwrap();
        assert_eq!(got, vec![6.0, -6.0, 2.0, 4.0, -2.0, 2.0]);
    }

    #[test]
    fn test_rtn_scale_is_f16_rounded() {
        // absmax 0.1 -> scale f16(0.1/7); every output is a multiple of it.
        let w: Vec<f32> = (0..128).map(|i| (i as f32 - 64.0) / 640.0).collect();
        let scale = f16::from_f32(0.1 / 7.0).to_f32();
        let got = quantize_dequantize(&w, 128, 4).unwrap();
        for (x, y) in w.iter().zip(&got) {
            let q = (x / scale).round().clamp(-8.0, 7.0);
            assert_eq!(*y, q * scale);
        }
    }

    #[test]
    fn test_rtn_groups_follow_rows() {
        // Two rows of 130: groups are [0,128), [128,130) per row, so the
        // large value in row 0's tail group does not affect row 1.
        let mut w = vec![0.01f32; 260];
        w[129] = 70.0;
        let got = quantize_dequantize(&w, 130, 4).unwrap();
        assert_eq!(got[129], 70.0);
        assert_eq!(got[128], 0.0); // 0.01 / 10 rounds to 0 in row 0's tail
        let s = f16::from_f32(0.01 / 7.0).to_f32();
        assert_eq!(got[130 + 129], (0.01 / s).round() * s); // row 1 tail: own scale
        assert_eq!(got[5], got[130 + 5]);
    }

    #[test]
    fn test_rtn_zero_and_bad_input() {
        assert_eq!(quantize_dequantize(&[0.0; 4], 4, 4).unwrap(), vec![0.0; 4]);
        assert!(quantize_dequantize(&[1.0; 5], 4, 4).is_err());
        assert!(quantize_dequantize(&[1.0; 4], 0, 4).is_err());
        assert!(quantize_dequantize(&[1.0; 4], 4, 1).is_err());
    }

    #[test]
    fn test_error_stats_known_values() {
        let s = ErrorStats::measure(&[3.0, 4.0], &[3.0, 3.5]).unwrap();
        assert_eq!(s.signal, 25.0);
        assert_eq!(s.noise, 0.25);
        assert!((s.rel_error() - 0.1).abs() < 1e-15);
        assert!((s.sqnr_db() - 20.0).abs() < 1e-12);
        let t = s + ErrorStats::measure(&[0.0, 0.0], &[0.0, 0.0]).unwrap();
        assert_eq!(t.count, 4);
        assert_eq!(t.rel_error(), s.rel_error());
        let exact = ErrorStats::measure(&[1.0], &[1.0]).unwrap();
        assert_eq!(exact.rel_error(), 0.0);
        assert!(exact.sqnr_db().is_infinite());
        assert!(ErrorStats::measure(&[1.0], &[]).is_err());
    }
}
