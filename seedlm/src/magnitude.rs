//! Per-tensor exponent offset: the 4-bit block exponent covers a fixed range
//! of magnitudes, so a tensor far outside it is searched and stored scaled by
//! `2^-offset`, and its decoded weights are multiplied back by `2^offset` on
//! the host (with the activation scale: the engine does not change).
//!
//! **Rule.** With `A = max |w|` over the tensor and `a = floor(log2 A)`, the
//! offset is 0 when `a` is in [`NEUTRAL`] (every SmolLM2 tensor is, so such
//! files stay version 1 and byte-identical to what the format always wrote);
//! otherwise it is `a` clamped to `±`[`MAX_EXP_OFFSET`], which puts the scaled
//! tensor's largest weight in `[1, 2)`, the middle of the blocks' range.
//! All-zero tensors get 0.

use std::ops::RangeInclusive;

/// Largest `|offset|` a file may store: enough for any finite nonzero f32
/// (`2^-149 ..= 2^128`), and `2^±150` is exact in f64.
pub const MAX_EXP_OFFSET: i16 = 150;

/// Values of `floor(log2 max|w|)` that need no offset.
pub const NEUTRAL: RangeInclusive<i32> = -5..=4;

/// The exponent offset of a tensor (see the module docs). Non-finite weights
/// are ignored (the search rejects them).
pub fn exp_offset(w: &[f32]) -> i16 {
    let a = w
        .iter()
        .filter(|x| x.is_finite())
        .fold(0f32, |m, &x| m.max(x.abs()));
    if a == 0.0 {
        return 0;
    }
    // Exact: f64 holds every f32, and log2 of an f64 power of two is exact.
    let e = (a as f64).log2().floor() as i32;
    if NEUTRAL.contains(&e) {
        0
    } else {
        e.clamp(-(MAX_EXP_OFFSET as i32), MAX_EXP_OFFSET as i32) as i16
    }
}

/// `2^offset` in f64 (exact for `|offset| <= MAX_EXP_OFFSET`).
pub fn scale(offset: i16) -> f64 {
    (offset as f64).exp2()
}

/// `w · 2^-offset`, each weight rounded once to f32 (exact unless the result
/// is subnormal).
pub fn scale_down(w: &[f32], offset: i16) -> Vec<f32> {
    let s = scale(-offset);
    w.iter().map(|&x| (x as f64 * s) as f32).collect()
}

/// Multiplies `y` by `2^offset` in place (rounded once per element); no-op
/// for offset 0.
pub fn scale_up(y: &mut [f32], offset: i16) {
    if offset != 0 {
        let s = scale(offset);
        for v in y {
            *v = (*v as f64 * s) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_offset_rule() {
        assert_eq!(exp_offset(&[]), 0);
        assert_eq!(exp_offset(&[0.0, -0.0]), 0);
        assert_eq!(exp_offset(&[0.02, -1.5, 0.3]), 0);
        assert_eq!(exp_offset(&[1.0 / 32.0]), 0);
        assert_eq!(exp_offset(&[1.0 / 33.0]), -6);
        assert_eq!(exp_offset(&[31.9]), 0);
        assert_eq!(exp_offset(&[32.0]), 5);
        assert_eq!(exp_offset(&[1e-3, -4e-3]), -8);
        assert_eq!(exp_offset(&[1e-30]), -100);
        assert_eq!(exp_offset(&[f32::MAX]), 127);
        assert_eq!(exp_offset(&[f32::from_bits(1)]), -149);
        assert_eq!(exp_offset(&[f32::NAN, 2.0, f32::INFINITY]), 0);
        // The scaled tensor's largest weight lands in [1, 2).
        for w in [1e-30f32, 3e-7, 1e9, f32::MAX, -5e-3] {
            let o = exp_offset(&[w]);
            let s = scale_down(&[w], o)[0].abs();
            assert!((1.0..2.0).contains(&s), "{w:e}: offset {o} gives {s}");
        }
    }

    #[test]
    fn test_scale_round_trip_is_exact() {
        let w = [1e-30f32, -3.5e-31, 7e-29];
        let o = exp_offset(&w);
        let mut back = scale_down(&w, o);
        scale_up(&mut back, o);
        assert_eq!(back, w);
    }
}
