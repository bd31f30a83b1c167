//! AVX-512 loops of the two paper configurations: the block's integer
//! weights by one `vpmaddwd` on the window, no scalar work per weight.
//!
//! **4-bit (C = 8, P = 3).** One 32-word load from the window start;
//! `vpermw` lays out word `4i + k` = `u[3i + k]` (`k = 3` takes the next
//! row's first state, multiplied by 0); the mantissas `[q0, q1, q2, 0]`
//! repeated come from a table indexed by the 12 mantissa bits (`Q83`) by
//! one broadcast.
//! `vpmaddwd` then gives dword `2i` = `u_i0 q0 + u_i1 q1` and `2i + 1` =
//! `u_i2 q2`: `r_i` is the sum of dwords `2i` and `2i + 1`.
//!
//! **3-bit (C = 12, P = 4).** The window is already `4i + j`: two loads
//! (32 + 16 words) and `vpmaddwd` with `[q0, q1, q2, q3]` repeated (the
//! mantissa nibbles broadcast and sign-extended in place by two shifts).
//!
//! - Float form: the dwords converted to f32 (exact, `< 2^22`) and
//!   multiplied by `x · 2^e` with each entry twice, read from the slot of
//!   the block's exponent in [`ScaledX`] (built once per mat-vec), so one
//!   `and` of the word replaces the scaling; four (4-bit) or two (3-bit)
//!   accumulators per row hide the latency.
//! - Integer form: `r_i` = dword `2i` + dword `2i + 1` (the low dword of
//!   qword `i` after adding the qword shifted right by 32), then `vpmuldq`
//!   by `x_i` (low dword of qword `i` of `x64`) gives `r_i · x_i` in `i64`,
//!   shifted left by `e + 8` and added to the row's `i64` lanes, folded to
//!   `i128` every segment as in the portable loop.
//!
//! Every load is bounds-checked against its slice first. The helpers carry
//! the same `#[target_feature]` as the loops (calls between them are safe
//! and inline).

use std::arch::x86_64::*;

use super::loops::Shape;
use crate::cycle::TAIL;

/// `vpermw` indices of the 4-bit layout: word `4i + k` takes `u[3i + k]`.
const IDX83: [i16; 32] = {
    let mut t = [0i16; 32];
    let mut l = 0;
    while l < 32 {
        t[l] = (3 * (l / 4) + l % 4) as i16;
        l += 1;
    }
    t
};

/// The 4-bit mantissa patterns of [`mantissas`] for every 12-bit field
/// (32 KiB).
static Q83: [u64; 4096] = {
    let mut t = [0u64; 4096];
    let mut f = 0;
    while f < 4096 {
        let mut j = 0;
        while j < 3 {
            let q = ((f >> (4 * j)) & 15) as u64;
            t[f] |= (if q >= 8 { q | 0xfff0 } else { q }) << (16 * j);
            j += 1;
        }
        f += 1;
    }
    t
};

/// `2^(e - 8)` for the exponent field `e` in `0..16`.
static POW2: [f32; 16] = super::loops::POW2;

/// The window of block word `w` in `seq`, 48 words readable.
///
/// Every word the loops see was built by `SeedMatrix::new` from
/// `Cycle::start` of the cycle `seq` belongs to, with seed 0's start 0
/// replaced by 1 (its blocks are added apart, see the kernel's module
/// docs), so its start lies in `1..=N`, and `seq` holds `N + 2·TAIL` words
/// (`TAIL >= 48`; `check_seq` asserts it once per call).
#[inline(always)]
fn window(seq: &[i16], w: u64) -> *const i16 {
    let s = (w & 0xffff) as usize;
    debug_assert!(s + 48 <= seq.len());
    // SAFETY: `s <= N` and `seq` holds `N + 2·TAIL >= N + 96` words (see
    // above): the 48 words stay inside `seq`.
    unsafe { seq.as_ptr().add(s) }
}

/// What `window` relies on besides the words' starts: `seq` is the period
/// `N` plus two tails of at least 48 words.
fn check_seq(seq: &[i16]) {
    assert!(seq.len() >= 2 * TAIL && TAIL >= 48);
}

/// Left shifts that put nibble `j` of a 16-bit lane at its top, for lane
/// `j` of each qword.
const NIBBLE_TOP: [i16; 32] = {
    let mut t = [0i16; 32];
    let mut l = 0;
    while l < 32 {
        t[l] = 12 - 4 * (l % 4) as i16;
        l += 1;
    }
    t
};

/// The 4 mantissas of a 3-bit block word `w` as `i16`, `[q0, q1, q2, q3]`
/// in every qword: the 16 mantissa bits broadcast to every word, nibble
/// `j` shifted to the top of word `j` of each qword, then shifted back
/// arithmetically (sign-extending it).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn mantissas4(w: u64, tops: __m512i) -> __m512i {
    let all = _mm512_set1_epi16((w >> 20) as i16);
    _mm512_srai_epi16(_mm512_sllv_epi16(all, tops), 12)
}

/// Loads 32 words.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn load512(p: *const i16) -> __m512i {
    // SAFETY: callers pass a pointer from `window` (48 words in bounds);
    // the load is unaligned.
    unsafe { _mm512_loadu_si512(p as *const __m512i) }
}

/// The `vpmaddwd` dwords of one 4-bit block (see module docs).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn dwords83(seq: &[i16], w: u64, idx: __m512i) -> __m512i {
    let v = load512(window(seq, w));
    let t = _mm512_permutexvar_epi16(idx, v);
    let q = _mm512_set1_epi64(Q83[(w >> 20) as usize & 0xfff] as i64);
    _mm512_madd_epi16(t, q)
}

/// The `vpmaddwd` dwords of one 3-bit block, rows 0..8 and 8..12.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn dwords124(seq: &[i16], w: u64, tops: __m512i) -> (__m512i, __m256i) {
    let p = window(seq, w);
    let q = mantissas4(w, tops);
    let lo = load512(p);
    // SAFETY: `p` points at 48 words in bounds: words 32..48 are read.
    let hi = unsafe { _mm256_loadu_si256(p.add(32) as *const __m256i) };
    (
        _mm512_madd_epi16(lo, q),
        _mm256_madd_epi16(hi, _mm512_castsi512_si256(q)),
    )
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn vec512(t: &[i16; 32]) -> __m512i {
    // SAFETY: `t` holds 32 words.
    unsafe { _mm512_loadu_si512(t.as_ptr() as *const __m512i) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn loadq(x: &[i64], at: usize) -> __m512i {
    // SAFETY: bounds-checked slice of 8 i64.
    unsafe { _mm512_loadu_si512(x[at..at + 8].as_ptr() as *const __m512i) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn loadq4(x: &[i64], at: usize) -> __m256i {
    // SAFETY: bounds-checked slice of 4 i64.
    unsafe { _mm256_loadu_si256(x[at..at + 4].as_ptr() as *const __m256i) }
}

/// Activations scaled once per exponent, for the single-vector loops:
/// slot `e` (for each exponent field `e` the matrix uses) holds the
/// activations scaled by the exponent `e` (`x_i · 2^(e - 8)` twice in f32,
/// or `x_i << e` in one `i64`: 8 bytes per activation either way). Slot
/// `e` starts `e · 2^(16 + SH)` bytes in, so that the byte offset of a
/// block word's slot is its exponent bits masked in place, shifted by `SH`:
/// one `and` per block, and no scaling.
pub(super) struct ScaledX<T> {
    data: Vec<T>,
    shift: u32,
    top: usize,
}

impl<T: Copy + Default> ScaledX<T> {
    /// Slots of `len` entries, filled by `fill(e, slot)` for the exponent
    /// fields set in `exps`; `None` when a slot would exceed `2^19` bytes
    /// (rows of more than 65,532 columns).
    pub(super) fn new(len: usize, exps: u16, fill: impl Fn(usize, &mut [T])) -> Option<Self> {
        let size = std::mem::size_of::<T>();
        let shift = (0..4).find(|s| 65536usize << s >= len * size)?;
        let stride = (65536usize << shift) / size;
        let top = 16 - exps.leading_zeros() as usize;
        let mut data = vec![T::default(); top * stride];
        for (e, slot) in data.chunks_exact_mut(stride).enumerate() {
            if exps >> e & 1 == 1 {
                fill(e, &mut slot[..len]);
            }
        }
        Some(ScaledX { data, shift, top })
    }

    /// `SH`, for the loops' const parameter.
    pub(super) fn shift(&self) -> u32 {
        self.shift
    }

    /// Checks what the loops rely on besides the words' exponent fields
    /// being below `top` (`SeedMatrix` built `exps` from them): `bytes` per
    /// block of `bpr` fit a slot. Returns the base pointer.
    fn base<const SH: u32>(&self, bpr: usize, bytes: usize) -> *const u8 {
        assert!(SH == self.shift && bpr * bytes <= 65536 << SH);
        let stride = (65536 << SH) / std::mem::size_of::<T>();
        assert!(self.data.len() >= self.top * stride);
        self.data.as_ptr() as *const u8
    }
}

/// The float form's [`ScaledX`] of `x` (padded to `bpr · C`).
pub(super) fn scaled_f32(x: &[f32], exps: u16) -> Option<ScaledX<f32>> {
    ScaledX::new(2 * x.len(), exps, |e, slot| {
        for (d, &v) in slot.chunks_exact_mut(2).zip(x) {
            d.fill(v * POW2[e]);
        }
    })
}

/// The integer form's [`ScaledX`] of `x` (padded to `bpr · C`):
/// `|x << e| <= 2^30`, so `vpmuldq` reads it from the low dword.
pub(super) fn scaled_i64(x: &[i16], exps: u16) -> Option<ScaledX<i64>> {
    ScaledX::new(x.len(), exps, |e, slot| {
        for (d, &v) in slot.iter_mut().zip(x) {
            *d = (v as i64) << e;
        }
    })
}

/// The slot offset in bytes of block word `w` (see [`ScaledX`]).
#[inline(always)]
fn slot<const SH: u32>(w: u64) -> usize {
    ((w & 0xf_0000) as usize) << SH
}

/// Float form, 4-bit, one row per `y` entry; `xs` from [`scaled_f32`].
///
/// # Safety
/// Besides the target features: every exponent field of `words` is below
/// the `top` of `xs` (it was built with the matrix's exponent mask).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
pub(super) unsafe fn f32_83<const SH: u32>(
    sh: &Shape,
    seq: &[i16],
    words: &[u32],
    xs: &ScaledX<f32>,
    y: &mut [f32],
) {
    let idx = vec512(&IDX83);
    check_seq(seq);
    let base = xs.base::<SH>(sh.bpr, 64);
    // `xb` points at block `b`'s 16 floats of slot 0.
    let block = |w: u32, xb: *const u8, acc: __m512| {
        let w = w as u64;
        let d = _mm512_cvtepi32_ps(dwords83(seq, w, idx));
        // SAFETY: the slot of `w` is below `top` (the caller's contract)
        // and `b < bpr` with `bpr · 64` bytes in a slot (`base` checked).
        let xv = unsafe { _mm512_loadu_ps(xb.add(slot::<SH>(w)) as *const f32) };
        _mm512_fmadd_ps(d, xv, acc)
    };
    for (yr, ws) in y.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm512_setzero_ps(),
            _mm512_setzero_ps(),
            _mm512_setzero_ps(),
            _mm512_setzero_ps(),
        );
        let quads = ws.chunks_exact(4);
        let rest = quads.remainder();
        let mut xb = base;
        for q in quads {
            // SAFETY: offsets inside block `b .. b + 4` of slot 0.
            let (x1, x2, x3) = unsafe { (xb.add(64), xb.add(128), xb.add(192)) };
            a0 = block(q[0], xb, a0);
            a1 = block(q[1], x1, a1);
            a2 = block(q[2], x2, a2);
            a3 = block(q[3], x3, a3);
            // SAFETY: at most `bpr · 64` bytes past `base`, inside slot 0.
            xb = unsafe { xb.add(256) };
        }
        for &w in rest {
            a0 = block(w, xb, a0);
            // SAFETY: as above.
            xb = unsafe { xb.add(64) };
        }
        let s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        *yr = (_mm512_reduce_add_ps(s) as f64 / sh.unit) as f32;
    }
}

/// Float form, 3-bit, as [`f32_83`] with 24 floats per block.
///
/// # Safety
/// As [`f32_83`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
pub(super) unsafe fn f32_124<const SH: u32>(
    sh: &Shape,
    seq: &[i16],
    words: &[u64],
    xs: &ScaledX<f32>,
    y: &mut [f32],
) {
    check_seq(seq);
    let tops = vec512(&NIBBLE_TOP);
    let base = xs.base::<SH>(sh.bpr, 96);
    let block = |w: u64, xb: *const u8, acc: (__m512, __m256)| {
        let (lo, hi) = dwords124(seq, w, tops);
        // SAFETY: as in `f32_83`, with `bpr · 96` bytes in a slot.
        let (xv, xv8) = unsafe {
            let p = xb.add(slot::<SH>(w));
            (
                _mm512_loadu_ps(p as *const f32),
                _mm256_loadu_ps(p.add(64) as *const f32),
            )
        };
        (
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), xv, acc.0),
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), xv8, acc.1),
        )
    };
    for (yr, ws) in y.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        let zero = (_mm512_setzero_ps(), _mm256_setzero_ps());
        let (mut a0, mut a1) = (zero, zero);
        let pairs = ws.chunks_exact(2);
        let rest = pairs.remainder();
        let mut xb = base;
        for q in pairs {
            // SAFETY: an offset inside block `b + 1` of slot 0.
            let x1 = unsafe { xb.add(96) };
            a0 = block(q[0], xb, a0);
            a1 = block(q[1], x1, a1);
            // SAFETY: at most `bpr · 96` bytes past `base`, inside slot 0.
            xb = unsafe { xb.add(192) };
        }
        if let Some(&w) = rest.first() {
            a0 = block(w, xb, a0);
        }
        let mut t = [0f32; 8];
        // SAFETY: `t` holds 8 f32.
        unsafe { _mm256_storeu_ps(t.as_mut_ptr(), _mm256_add_ps(a0.1, a1.1)) };
        let s = _mm512_reduce_add_ps(_mm512_add_ps(a0.0, a1.0)) + t.iter().sum::<f32>();
        *yr = (s as f64 / sh.unit) as f32;
    }
}

/// Adds the 8 `i64` lanes of `v` to `out` as `i128`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn fold(v: __m512i, out: &mut i128) {
    let mut l = [0i64; 8];
    // SAFETY: `l` holds 8 i64.
    unsafe { _mm512_storeu_si512(l.as_mut_ptr() as *mut __m512i, v) };
    *out += l.iter().map(|&a| a as i128).sum::<i128>();
}

/// `r_i` in the low dword of qword `i` (see module docs).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
fn pair_sums(d: __m512i) -> __m512i {
    _mm512_add_epi32(d, _mm512_srli_epi64(d, 32))
}

/// Integer form, 4-bit, one vector (a token): `out[k]` as in the portable
/// loop; `xs` from [`scaled_i64`], the lanes stay in a register.
///
/// # Safety
/// As [`f32_83`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
pub(super) unsafe fn acc1_83<const SH: u32>(
    sh: &Shape,
    seq: &[i16],
    words: &[u32],
    xs: &ScaledX<i64>,
    out: &mut [i128],
) {
    check_seq(seq);
    let idx = vec512(&IDX83);
    let base = xs.base::<SH>(sh.bpr, 64);
    // `xb` points at block `b`'s 8 activations of slot 0.
    let step = |w: u32, xb: *const u8, l: __m512i| {
        let w = w as u64;
        let r = pair_sums(dwords83(seq, w, idx));
        // SAFETY: the slot of `w` is below `top` (the caller's contract),
        // and `b < bpr` with `bpr · 64` bytes in a slot (`base` checked).
        let xv = unsafe { _mm512_loadu_si512(xb.add(slot::<SH>(w)) as *const __m512i) };
        _mm512_add_epi64(l, _mm512_mul_epi32(r, xv))
    };
    for (o, ws) in out.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        *o = 0;
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            let (mut l0, mut l1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            // SAFETY: block `s · segment < bpr` of slot 0.
            let mut xb = unsafe { base.add(s * sh.segment * 64) };
            let pairs = seg.chunks_exact(2);
            let rest = pairs.remainder();
            for q in pairs {
                // SAFETY: an offset inside block `b + 1` of slot 0.
                let x1 = unsafe { xb.add(64) };
                l0 = step(q[0], xb, l0);
                l1 = step(q[1], x1, l1);
                // SAFETY: at most `bpr · 64` bytes past `base`, in slot 0.
                xb = unsafe { xb.add(128) };
            }
            if let Some(&w) = rest.first() {
                l0 = step(w, xb, l0);
            }
            fold(_mm512_add_epi64(l0, l1), o);
        }
    }
}

/// Integer form, 3-bit, one vector, as [`acc1_83`] with 12 activations per
/// block.
///
/// # Safety
/// As [`f32_83`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
pub(super) unsafe fn acc1_124<const SH: u32>(
    sh: &Shape,
    seq: &[i16],
    words: &[u64],
    xs: &ScaledX<i64>,
    out: &mut [i128],
) {
    check_seq(seq);
    let tops = vec512(&NIBBLE_TOP);
    let base = xs.base::<SH>(sh.bpr, 96);
    for (o, ws) in out.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        *o = 0;
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            let (mut l, mut l4) = (_mm512_setzero_si512(), _mm256_setzero_si256());
            // SAFETY: block `s · segment < bpr` of slot 0.
            let mut xb = unsafe { base.add(s * sh.segment * 96) };
            for &w in seg {
                let (lo, hi) = dwords124(seq, w, tops);
                let (r, r4) = (
                    pair_sums(lo),
                    _mm256_add_epi32(hi, _mm256_srli_epi64(hi, 32)),
                );
                // SAFETY: as in `acc1_83`, with `bpr · 96` bytes in a slot.
                let (xv, xv4) = unsafe {
                    let p = xb.add(slot::<SH>(w));
                    (
                        _mm512_loadu_si512(p as *const __m512i),
                        _mm256_loadu_si256(p.add(64) as *const __m256i),
                    )
                };
                l = _mm512_add_epi64(l, _mm512_mul_epi32(r, xv));
                l4 = _mm256_add_epi64(l4, _mm256_mul_epi32(r4, xv4));
                // SAFETY: at most `bpr · 96` bytes past `base`, in slot 0.
                xb = unsafe { xb.add(96) };
            }
            let mut t = [0i64; 4];
            // SAFETY: `t` holds 4 i64.
            unsafe { _mm256_storeu_si256(t.as_mut_ptr() as *mut __m256i, l4) };
            *o += t.iter().map(|&a| a as i128).sum::<i128>();
            fold(l, o);
        }
    }
}

/// Integer form, 4-bit: `x64` holds `n` vectors of `bpr · 8` entries;
/// `out[k · n + v]` as in the portable loop.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
pub(super) fn acc_83(
    sh: &Shape,
    seq: &[i16],
    words: &[u32],
    x64: &[i64],
    n: usize,
    out: &mut [i128],
) {
    check_seq(seq);
    let idx = vec512(&IDX83);
    let xlen = sh.bpr * 8;
    let mut lanes = vec![_mm512_setzero_si512(); n];
    for (o, ws) in out.chunks_exact_mut(n).zip(words.chunks_exact(sh.bpr)) {
        o.fill(0);
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            lanes.fill(_mm512_setzero_si512());
            for (k, &w) in seg.iter().enumerate() {
                let (b, w) = (s * sh.segment + k, w as u64);
                let r = pair_sums(dwords83(seq, w, idx));
                let e = _mm_cvtsi32_si128((w >> 16) as i32 & 15);
                for (v, l) in lanes.iter_mut().enumerate() {
                    let prod = _mm512_mul_epi32(r, loadq(x64, v * xlen + b * 8));
                    *l = _mm512_add_epi64(*l, _mm512_sll_epi64(prod, e));
                }
            }
            for (ov, &l) in o.iter_mut().zip(&lanes) {
                fold(l, ov);
            }
        }
    }
}

/// Integer form, 3-bit: `x64` holds `n` vectors of `bpr · 12` entries.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
pub(super) fn acc_124(
    sh: &Shape,
    seq: &[i16],
    words: &[u64],
    x64: &[i64],
    n: usize,
    out: &mut [i128],
) {
    check_seq(seq);
    let tops = vec512(&NIBBLE_TOP);
    let xlen = sh.bpr * 12;
    let mut lanes = vec![(_mm512_setzero_si512(), _mm256_setzero_si256()); n];
    for (o, ws) in out.chunks_exact_mut(n).zip(words.chunks_exact(sh.bpr)) {
        o.fill(0);
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            lanes.fill((_mm512_setzero_si512(), _mm256_setzero_si256()));
            for (k, &w) in seg.iter().enumerate() {
                let b = s * sh.segment + k;
                let (lo, hi) = dwords124(seq, w, tops);
                let (r, r4) = (
                    pair_sums(lo),
                    _mm256_add_epi32(hi, _mm256_srli_epi64(hi, 32)),
                );
                let e = _mm_cvtsi32_si128((w >> 16) as i32 & 15);
                for (v, l) in lanes.iter_mut().enumerate() {
                    let at = v * xlen + b * 12;
                    let p = _mm512_mul_epi32(r, loadq(x64, at));
                    let p4 = _mm256_mul_epi32(r4, loadq4(x64, at + 8));
                    l.0 = _mm512_add_epi64(l.0, _mm512_sll_epi64(p, e));
                    l.1 = _mm256_add_epi64(l.1, _mm256_sll_epi64(p4, e));
                }
            }
            for (ov, &(l, l4)) in o.iter_mut().zip(&lanes) {
                let mut t = [0i64; 4];
                // SAFETY: `t` holds 4 i64.
                unsafe { _mm256_storeu_si256(t.as_mut_ptr() as *mut __m256i, l4) };
                *ov += t.iter().map(|&a| a as i128).sum::<i128>();
                fold(l, ov);
            }
        }
    }
}
