//! AVX2 loops of the two paper configurations (K = 16): the block's
//! integer weights by `vpmaddwd` on the window, no scalar work per weight
//! (the portable loop, compiled for AVX2, spends about twice the
//! instructions per block gathering the window's states one by one).
//!
//! **4-bit (C = 8, P = 3).** The layout is the AVX-512 loops' (see [`super::avx512`]):
//! word `4i + k` = `u[3i + k]` (`k = 3` takes the next row's first state,
//! multiplied by 0), in two registers, rows 0..4 and 4..8. Each 128-bit
//! lane holds two rows, `u[3i .. 3i + 7]`: one unaligned 16-byte load from
//! [`Cycle::seq`] at state `s + 3i` (rows `i`, `i + 1`), laid out by one
//! `vpshufb` (words 0..4 and 3..7 of the load). The mantissas
//! `[q0, q1, q2, 0]` repeated come from the AVX-512 loops' table by one
//! broadcast; `vpmaddwd` then gives dword `2i` = `u_i0 q0 + u_i1 q1` and
//! `2i + 1` = `u_i2 q2`, whose sum is `r_i`.
//!
//! - Float form: the dwords converted to f32 (exact, `< 2^22`) and
//!   multiplied by `x` with each entry twice, scaled by `2^e`; two blocks'
//!   accumulators per row hide the latency.
//! - Integer form: `r_i` = dword `2i` + dword `2i + 1` (the low dword of
//!   qword `i`), `vpmuldq` by `x_i` (in `i64`) gives `r_i · x_i`, shifted
//!   left by `e + 8` and added to the row's `i64` lanes, folded to `i128`
//!   every segment as in the portable loop.
//!
//! **3-bit (C = 12, P = 4).** Word `4i + j` = `u[4i + j]`: the window as it
//! lies in [`Cycle::seq`], three 32-byte loads and no shuffle; the
//! mantissas `[q0, q1, q2, q3]` repeated from two lookups of a 1 KiB table
//! (two nibbles each). The forms are the 4-bit ones with rows 0..4, 4..8,
//! 8..12 in three registers.
//!
//! Every load is bounds-checked against its slice first.
//!
//! [`Cycle::seq`]: crate::cycle::Cycle::seq

use std::arch::x86_64::*;

use super::avx512::Q83;
use super::loops::{Shape, POW2};
use crate::cycle::TAIL;

/// The `vpshufb` control of one lane: words 0..4, then words 3..7.
const SHUF: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut b = 0;
    while b < 32 {
        let word = (b % 16) / 2;
        let src = if word < 4 { word } else { word - 1 };
        t[b] = (2 * src + b % 2) as u8;
        b += 1;
    }
    t
};

/// What the loads rely on besides the words' starts: every start lies in
/// `1..=N` (`SeedMatrix::new` maps seed 0 to start 1), and `seq` holds `N
/// + 2·TAIL` states, so the 48 states from any start stay inside.
fn check_seq(seq: &[i16]) {
    assert!(seq.len() >= 65535 + 48 && TAIL >= 48);
}

/// Two 4-bit mantissas (the low and high nibble of the index) as
/// sign-extended `i16`, low one first.
static Q2: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut f = 0;
    while f < 256 {
        let mut j = 0;
        while j < 2 {
            let q = ((f >> (4 * j)) & 15) as u32;
            t[f] |= (if q >= 8 { q | 0xfff0 } else { q }) << (16 * j);
            j += 1;
        }
        f += 1;
    }
    t
};

/// The three registers of `vpmaddwd` dwords of 3-bit block word `w`
/// (rows 0..4, 4..8, 8..12, see module docs).
#[inline]
#[target_feature(enable = "avx2,fma,bmi2")]
fn dwords124(seq: &[i16], w: u64) -> [__m256i; 3] {
    let s = (w & 0xffff) as usize;
    debug_assert!(s + 48 <= seq.len());
    // SAFETY: `1 <= s <= 65535` and `seq` holds at least `65535 + 48`
    // states (`check_seq`): the 48 states from `s` stay inside; the loads
    // are unaligned.
    let u = unsafe {
        let p = seq.as_ptr().add(s);
        [0, 16, 32].map(|k| _mm256_loadu_si256(p.add(k) as *const __m256i))
    };
    let m = (w >> 20) as usize;
    let q = Q2[m & 0xff] as u64 | (Q2[(m >> 8) & 0xff] as u64) << 32;
    let q = _mm256_set1_epi64x(q as i64);
    u.map(|v| _mm256_madd_epi16(v, q))
}

/// The two registers of `vpmaddwd` dwords of block word `w` (rows 0..4
/// and 4..8, see module docs).
#[inline]
#[target_feature(enable = "avx2,fma,bmi2")]
fn dwords83(seq: &[i16], shuf: __m256i, w: u32) -> (__m256i, __m256i) {
    let s = (w & 0xffff) as usize;
    debug_assert!(s + 26 <= seq.len());
    // SAFETY: `1 <= s <= 65535` and `seq` holds at least `65535 + 26`
    // states (`check_seq`): the four 8-state loads at `s`, `s + 6`,
    // `s + 12`, `s + 18` stay inside; the loads are unaligned.
    let (a, b) = unsafe {
        let p = seq.as_ptr().add(s) as *const __m128i;
        let at = |k: usize| (p as *const i16).add(k) as *const __m128i;
        (
            _mm256_loadu2_m128i(at(6), p),
            _mm256_loadu2_m128i(at(18), at(12)),
        )
    };
    let q = _mm256_set1_epi64x(Q83[(w >> 20) as usize & 0xfff] as i64);
    (
        _mm256_madd_epi16(_mm256_shuffle_epi8(a, shuf), q),
        _mm256_madd_epi16(_mm256_shuffle_epi8(b, shuf), q),
    )
}

#[inline]
#[target_feature(enable = "avx2,fma,bmi2")]
fn shuf() -> __m256i {
    // SAFETY: `SHUF` holds 32 bytes.
    unsafe { _mm256_loadu_si256(SHUF.as_ptr() as *const __m256i) }
}

/// Float form, 4-bit: `x2` holds `bpr · 16` entries (each `x_i` twice).
#[target_feature(enable = "avx2,fma,bmi2")]
pub(super) fn f32_83(sh: &Shape, seq: &[i16], words: &[u32], x2: &[f32], y: &mut [f32]) {
    check_seq(seq);
    assert!(x2.len() >= sh.bpr * 16);
    let (xp, shuf) = (x2.as_ptr(), shuf());
    let block = |w: u32, b: usize, acc: (__m256, __m256)| {
        let (d0, d1) = dwords83(seq, shuf, w);
        let p = _mm256_set1_ps(POW2[(w >> 16) as usize & 15]);
        // SAFETY: `b < bpr` and `x2` holds `bpr · 16` f32.
        let (x0, x1) = unsafe {
            (
                _mm256_loadu_ps(xp.add(b * 16)),
                _mm256_loadu_ps(xp.add(b * 16 + 8)),
            )
        };
        (
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_mul_ps(x0, p), acc.0),
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_mul_ps(x1, p), acc.1),
        )
    };
    for (yr, ws) in y.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        let zero = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (mut a0, mut a1) = (zero, zero);
        let pairs = ws.chunks_exact(2);
        let rest = pairs.remainder();
        for (k, q) in pairs.enumerate() {
            a0 = block(q[0], 2 * k, a0);
            a1 = block(q[1], 2 * k + 1, a1);
        }
        if let Some(&w) = rest.first() {
            a0 = block(w, sh.bpr - 1, a0);
        }
        let s = _mm256_add_ps(_mm256_add_ps(a0.0, a0.1), _mm256_add_ps(a1.0, a1.1));
        let mut t = [0f32; 8];
        // SAFETY: `t` holds 8 f32.
        unsafe { _mm256_storeu_ps(t.as_mut_ptr(), s) };
        *yr = (t.iter().sum::<f32>() as f64 / sh.unit) as f32;
    }
}

/// `r_i` in the low dword of qword `i` (see module docs).
#[inline]
#[target_feature(enable = "avx2,fma,bmi2")]
fn pair_sums(d: __m256i) -> __m256i {
    _mm256_add_epi32(d, _mm256_srli_epi64(d, 32))
}

/// Adds the 4 `i64` lanes of each of `v` to `out` as `i128`.
#[inline]
#[target_feature(enable = "avx2,fma,bmi2")]
fn fold(v: (__m256i, __m256i), out: &mut i128) {
    let mut l = [0i64; 8];
    // SAFETY: `l` holds 8 i64.
    unsafe {
        _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, v.0);
        _mm256_storeu_si256(l.as_mut_ptr().add(4) as *mut __m256i, v.1);
    }
    *out += l.iter().map(|&a| a as i128).sum::<i128>();
}

/// Integer form, 4-bit: `x64` holds `n` vectors of `bpr · 8` entries;
/// `out[k · n + v]` as in the portable loop.
#[target_feature(enable = "avx2,fma,bmi2")]
pub(super) fn acc_83(
    sh: &Shape,
    seq: &[i16],
    words: &[u32],
    x64: &[i64],
    n: usize,
    out: &mut [i128],
) {
    check_seq(seq);
    let xlen = sh.bpr * 8;
    assert!(x64.len() >= n * xlen);
    let (xp, shuf) = (x64.as_ptr(), shuf());
    let zero = (_mm256_setzero_si256(), _mm256_setzero_si256());
    // `r_i · x_i · 2^(e + 8)` of block word `w` at column block `b` of
    // the vector at `at` (`b < bpr`, `v < n`), in two `i64` registers.
    let prod = |r: (__m256i, __m256i), e: __m128i, at: usize| {
        debug_assert!(at + 8 <= x64.len());
        // SAFETY: `at = v · xlen + b · 8` with `b < bpr` and `v < n`, and
        // `x64` holds `n · bpr · 8` i64.
        let (x0, x1) = unsafe {
            (
                _mm256_loadu_si256(xp.add(at) as *const __m256i),
                _mm256_loadu_si256(xp.add(at + 4) as *const __m256i),
            )
        };
        (
            _mm256_sll_epi64(_mm256_mul_epi32(r.0, x0), e),
            _mm256_sll_epi64(_mm256_mul_epi32(r.1, x1), e),
        )
    };
    let block = |w: u32| {
        let (d0, d1) = dwords83(seq, shuf, w);
        let e = _mm_cvtsi32_si128((w >> 16) as i32 & 15);
        ((pair_sums(d0), pair_sums(d1)), e)
    };
    let add = |l: (__m256i, __m256i), p: (__m256i, __m256i)| {
        (_mm256_add_epi64(l.0, p.0), _mm256_add_epi64(l.1, p.1))
    };
    if n == 1 {
        // One vector (a token): the lanes stay in registers.
        for (o, ws) in out.iter_mut().zip(words.chunks_exact(sh.bpr)) {
            *o = 0;
            for (s, seg) in ws.chunks(sh.segment).enumerate() {
                let mut l = zero;
                for (k, &w) in seg.iter().enumerate() {
                    let (r, e) = block(w);
                    l = add(l, prod(r, e, (s * sh.segment + k) * 8));
                }
                fold(l, o);
            }
        }
        return;
    }
    let mut lanes = vec![zero; n];
    for (o, ws) in out.chunks_exact_mut(n).zip(words.chunks_exact(sh.bpr)) {
        o.fill(0);
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            lanes.fill(zero);
            for (k, &w) in seg.iter().enumerate() {
                let (r, e) = block(w);
                let b = s * sh.segment + k;
                for (v, l) in lanes.iter_mut().enumerate() {
                    *l = add(*l, prod(r, e, v * xlen + b * 8));
                }
            }
            for (ov, &l) in o.iter_mut().zip(&lanes) {
                fold(l, ov);
            }
        }
    }
}

/// Float form, 3-bit: `x2` holds `bpr · 24` entries (each `x_i` twice).
#[target_feature(enable = "avx2,fma,bmi2")]
pub(super) fn f32_124(sh: &Shape, seq: &[i16], words: &[u64], x2: &[f32], y: &mut [f32]) {
    check_seq(seq);
    assert!(x2.len() >= sh.bpr * 24);
    let xp = x2.as_ptr();
    let block = |w: u64, b: usize, acc: [__m256; 3]| {
        let d = dwords124(seq, w);
        let p = _mm256_set1_ps(POW2[(w >> 16) as usize & 15]);
        let mut out = acc;
        for k in 0..3 {
            // SAFETY: `b < bpr` and `x2` holds `bpr · 24` f32.
            let xv = unsafe { _mm256_loadu_ps(xp.add(b * 24 + 8 * k)) };
            out[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d[k]), _mm256_mul_ps(xv, p), acc[k]);
        }
        out
    };
    for (yr, ws) in y.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        let (mut a0, mut a1) = ([_mm256_setzero_ps(); 3], [_mm256_setzero_ps(); 3]);
        let pairs = ws.chunks_exact(2);
        let rest = pairs.remainder();
        for (k, q) in pairs.enumerate() {
            a0 = block(q[0], 2 * k, a0);
            a1 = block(q[1], 2 * k + 1, a1);
        }
        if let Some(&w) = rest.first() {
            a0 = block(w, sh.bpr - 1, a0);
        }
        let s = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(a0[0], a0[1]), a0[2]),
            _mm256_add_ps(_mm256_add_ps(a1[0], a1[1]), a1[2]),
        );
        let mut t = [0f32; 8];
        // SAFETY: `t` holds 8 f32.
        unsafe { _mm256_storeu_ps(t.as_mut_ptr(), s) };
        *yr = (t.iter().sum::<f32>() as f64 / sh.unit) as f32;
    }
}

/// Integer form, 3-bit: `x64` holds `n` vectors of `bpr · 12` entries;
/// `out[k · n + v]` as in the portable loop.
#[target_feature(enable = "avx2,fma,bmi2")]
pub(super) fn acc_124(
    sh: &Shape,
    seq: &[i16],
    words: &[u64],
    x64: &[i64],
    n: usize,
    out: &mut [i128],
) {
    check_seq(seq);
    let xlen = sh.bpr * 12;
    assert!(x64.len() >= n * xlen);
    let xp = x64.as_ptr();
    let zero = [_mm256_setzero_si256(); 3];
    // `r_i · x_i · 2^(e + 8)` of a block whose `r` and `e` are given, for
    // the vector entries at `at` (`b < bpr`, `v < n`: see `acc_83`).
    let prod = |r: [__m256i; 3], e: __m128i, at: usize| {
        debug_assert!(at + 12 <= x64.len());
        let mut p = zero;
        for k in 0..3 {
            // SAFETY: `at = v · xlen + b · 12` with `b < bpr` and `v < n`,
            // and `x64` holds `n · bpr · 12` i64.
            let xv = unsafe { _mm256_loadu_si256(xp.add(at + 4 * k) as *const __m256i) };
            p[k] = _mm256_sll_epi64(_mm256_mul_epi32(r[k], xv), e);
        }
        p
    };
    let block = |w: u64| {
        let e = _mm_cvtsi32_si128((w >> 16) as i32 & 15);
        (dwords124(seq, w).map(|d| pair_sums(d)), e)
    };
    let add = |l: [__m256i; 3], p: [__m256i; 3]| [0, 1, 2].map(|k| _mm256_add_epi64(l[k], p[k]));
    let fold3 = |l: [__m256i; 3], o: &mut i128| {
        fold((l[0], l[1]), o);
        fold((l[2], _mm256_setzero_si256()), o);
    };
    if n == 1 {
        // One vector (a token): the lanes stay in registers.
        for (o, ws) in out.iter_mut().zip(words.chunks_exact(sh.bpr)) {
            *o = 0;
            for (s, seg) in ws.chunks(sh.segment).enumerate() {
                let mut l = zero;
                for (k, &w) in seg.iter().enumerate() {
                    let (r, e) = block(w);
                    l = add(l, prod(r, e, (s * sh.segment + k) * 12));
                }
                fold3(l, o);
            }
        }
        return;
    }
    let mut lanes = vec![zero; n];
    for (o, ws) in out.chunks_exact_mut(n).zip(words.chunks_exact(sh.bpr)) {
        o.fill(0);
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            lanes.fill(zero);
            for (k, &w) in seg.iter().enumerate() {
                let (r, e) = block(w);
                let b = s * sh.segment + k;
                for (v, l) in lanes.iter_mut().enumerate() {
                    *l = add(*l, prod(r, e, v * xlen + b * 12));
                }
            }
            for (ov, &l) in o.iter_mut().zip(&lanes) {
                fold3(l, ov);
            }
        }
    }
}
