//! Dense dot products, the baselines the SeedLM kernel is measured against
//! and the runtime's dense layers: f32, and f16 weights converted by the
//! hardware (`vcvtph2ps`: AVX-512 F on 16 lanes, F16C on 8) inside the
//! multiply-add loop, so that the weights are read once and never stored
//! as f32.
//!
//! Both use four independent accumulators (the multiply-add latency is
//! hidden) and sum them at the end; the f32 one is the auto-vectorized loop
//! compiled per [`Isa`], the f16 one uses the conversion intrinsics.

use half::f16;

use super::Isa;

/// Lanes summed separately by the portable and auto-vectorized loops.
const LANES: usize = 32;

/// `Σ a_i b_i` in [`LANES`] partial sums (vectorizes).
#[inline(always)]
fn dot_body<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for k in 0..LANES {
            acc[k] = if FMA {
                x[k].mul_add(y[k], acc[k])
            } else {
                acc[k] + x[k] * y[k]
            };
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    dot_body::<true>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi2")]
fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body::<true>(a, b)
}

/// `Σ a_i b_i` over `min(a.len(), b.len())` terms, f32.
pub fn dot_f32(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    match isa {
        // SAFETY: `Isa::Avx512` only comes from `Isa::available`, which
        // detected every feature the function enables.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { dot_f32_avx512(a, b) },
        // SAFETY: as above, for AVX2, FMA and BMI2.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { dot_f32_avx2(a, b) },
        _ => dot_body::<false>(a, b),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2,f16c")]
fn dot_f16_avx512(w: &[f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = w.len();
    let (wp, xp) = (w.as_ptr() as *const u16, x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let o = i + 16 * k;
            // SAFETY: `o + 16 <= n = w.len() = x.len()`: 16 halves (32
            // bytes) and 16 f32 are in bounds; the loads are unaligned.
            let (h, xv) = unsafe {
                (
                    _mm256_loadu_si256(wp.add(o) as *const __m256i),
                    _mm512_loadu_ps(xp.add(o)),
                )
            };
            *a = _mm512_fmadd_ps(_mm512_cvtph_ps(h), xv, *a);
        }
        i += 64;
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(s) + tail_f16(&w[i..], &x[i..])
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi2,f16c")]
fn dot_f16_avx2(w: &[f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = w.len();
    let (wp, xp) = (w.as_ptr() as *const u16, x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let o = i + 8 * k;
            // SAFETY: `o + 8 <= n = w.len() = x.len()`: 8 halves (16
            // bytes) and 8 f32 are in bounds; the loads are unaligned.
            let (h, xv) = unsafe {
                (
                    _mm_loadu_si128(wp.add(o) as *const __m128i),
                    _mm256_loadu_ps(xp.add(o)),
                )
            };
            *a = _mm256_fmadd_ps(_mm256_cvtph_ps(h), xv, *a);
        }
        i += 32;
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut l = [0f32; 8];
    // SAFETY: `l` holds 8 f32.
    unsafe { _mm256_storeu_ps(l.as_mut_ptr(), s) };
    l.iter().sum::<f32>() + tail_f16(&w[i..], &x[i..])
}

/// The scalar tail of an f16 dot product.
#[inline(always)]
fn tail_f16(w: &[f16], x: &[f32]) -> f32 {
    w.iter().zip(x).map(|(w, x)| w.to_f32() * x).sum()
}

/// `Σ w_i x_i` over `min(w.len(), x.len())` terms, f16 weights converted
/// to f32 (exactly) and multiplied in f32.
pub fn dot_f16(isa: Isa, w: &[f16], x: &[f32]) -> f32 {
    let n = w.len().min(x.len());
    let (w, x) = (&w[..n], &x[..n]);
    match isa {
        // SAFETY: `Isa::Avx512` only comes from `Isa::available`, which
        // detected every feature the function enables (F16C with AVX2).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { dot_f16_avx512(w, x) },
        // SAFETY: as above, for AVX2, FMA, BMI2 and F16C.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { dot_f16_avx2(w, x) },
        _ => {
            use half::slice::HalfFloatSliceExt;
            let mut buf = [0f32; 256];
            w.chunks(256)
                .zip(x.chunks(256))
                .map(|(wc, xc)| {
                    wc.convert_to_f32_slice(&mut buf[..wc.len()]);
                    dot_body::<false>(&buf[..wc.len()], xc)
                })
                .sum()
        }
    }
}

/// AVX-512 body of [`dot_f16_as_f32`]: the lanes of [`dot_body`] (32, in
/// two vectors), each weight converted by `vcvtph2ps`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2,f16c")]
fn dot_f16_as_f32_avx512(w: &[f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = w.len();
    let (wp, xp) = (w.as_ptr() as *const u16, x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 2];
    let mut i = 0;
    while i + LANES <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let o = i + 16 * k;
            // SAFETY: `o + 16 <= n = w.len() = x.len()`: 16 halves and 16
            // f32 are in bounds; the loads are unaligned.
            let (h, xv) = unsafe {
                (
                    _mm256_loadu_si256(wp.add(o) as *const __m256i),
                    _mm512_loadu_ps(xp.add(o)),
                )
            };
            *a = _mm512_fmadd_ps(_mm512_cvtph_ps(h), xv, *a);
        }
        i += LANES;
    }
    let mut l = [0f32; LANES];
    // SAFETY: `l` holds 32 f32.
    unsafe {
        _mm512_storeu_ps(l.as_mut_ptr(), acc[0]);
        _mm512_storeu_ps(l.as_mut_ptr().add(16), acc[1]);
    }
    l.iter().sum::<f32>() + tail_f16(&w[i..], &x[i..])
}

/// [`dot_f32`] of the weights converted to f32, bit for bit: the same
/// lanes, fused multiply-adds and sums (so a layer whose f32 weights are
/// all f16 values can be stored in f16 and give the f32 layer's results).
/// On AVX-512 the weights are converted in the loop; elsewhere the row is
/// converted first.
pub fn dot_f16_as_f32(isa: Isa, w: &[f16], x: &[f32]) -> f32 {
    let n = w.len().min(x.len());
    let (w, x) = (&w[..n], &x[..n]);
    match isa {
        // SAFETY: `Isa::Avx512` only comes from `Isa::available`, which
        // detected every feature the function enables (F16C with AVX2).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { dot_f16_as_f32_avx512(w, x) },
        _ => {
            let wf: Vec<f32> = w.iter().map(|v| v.to_f32()).collect();
            dot_f32(isa, &wf, x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_dense_dots_within_bound_on_every_isa() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for n in [0usize, 1, 7, 31, 64, 65, 517, 1000] {
            let w: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            let x: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for isa in Isa::available() {
                for (got, ws) in [
                    (dot_f32(isa, &w, &x), w.clone()),
                    (dot_f16(isa, &h, &x), h.iter().map(|v| v.to_f32()).collect()),
                ] {
                    let exact: f64 = ws.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
                    let mag: f64 = ws
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| (a as f64 * b as f64).abs())
                        .sum();
                    // n-term f32 sum: within n·eps·Σ|w x| (Higham, γ_n).
                    let bound = (n + 1) as f64 * f32::EPSILON as f64 * mag + 1e-30;
                    assert!((got as f64 - exact).abs() <= bound, "{isa:?} n={n}");
                }
            }
        }
    }

    /// The f16 weights give the f32 dot product of their values bit for
    /// bit, on every instruction set and length (whole chunks and tails).
    #[test]
    fn test_dot_f16_as_f32_equals_dot_f32_bitwise() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for n in [0usize, 1, 7, 31, 32, 33, 64, 65, 517, 576, 1000] {
            let h: Vec<f16> = (0..n)
                .map(|_| f16::from_f32(rng.gen_range(-1.0..1.0)))
                .collect();
            let w: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
            let x: Vec<f32> = (0..n).map(|_| rng.gen_range(-3.0..3.0)).collect();
            for isa in Isa::available() {
                assert_eq!(
                    dot_f16_as_f32(isa, &h, &x).to_bits(),
                    dot_f32(isa, &w, &x).to_bits(),
                    "{isa:?} n={n}"
                );
            }
        }
    }
}
