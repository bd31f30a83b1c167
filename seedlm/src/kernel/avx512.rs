//! AVX-512 loops of the two paper configurations (K = 16): the block's
//! integer weights by one `vpmaddwd` on the window, no scalar work per
//! weight.
//!
//! **The window.** The 16-bit states of a window are read from the cycle's
//! bit stream ([`Cycle::bits`], 8 KiB, so it stays in L1 where the 128 KiB
//! [`Cycle::seq`] does not): the `u64` at byte `s / 8` of window start `s`
//! holds states `s ..` from bit `s mod 8`, and one `vpmultishiftqb` lays
//! out any 16-bit fields of it in any order (its control vector, one per
//! `s mod 8`, from [`CTRL83`] or [`CTRL124`]); a `vpxord` with `0x8000`
//! centres them (`u = v - 2^15`).
//!
//! **4-bit (C = 8, P = 3).** Word `4i + k` = `u[3i + k]` (`k = 3` takes the
//! next row's first state, multiplied by 0); the mantissas `[q0, q1, q2, 0]`
//! repeated come from a table indexed by the 12 mantissa bits (`Q83`) by
//! one broadcast.
//! `vpmaddwd` then gives dword `2i` = `u_i0 q0 + u_i1 q1` and `2i + 1` =
//! `u_i2 q2`: `r_i` is the sum of dwords `2i` and `2i + 1`.
//!
//! **3-bit (C = 12, P = 4).** Word `4i + j` = `u[4i + j]`, states 0..32
//! from the `u64` at byte `s / 8` and 32..48 from the one 4 bytes on (the
//! float form; the integer form, whose vector ports are busier, loads them
//! from [`Cycle::seq`] instead: 10% faster there, 6% slower in the float
//! form), and
//! `vpmaddwd` with `[q0, q1, q2, q3]` repeated (the mantissa nibbles
//! broadcast and sign-extended in place by two shifts).
//!
//! - Float form: the dwords converted to f32 (exact, `< 2^22`) and
//!   multiplied by `x` with each entry twice (`x2[2i] = x2[2i + 1] = x_i`),
//!   scaled by `2^e`; four (4-bit) or two (3-bit) accumulators per row
//!   hide the latency.
//! - Integer form: `r_i` = dword `2i` + dword `2i + 1` (the low dword of
//!   qword `i` after adding the qword shifted right by 32), then `vpmuldq`
//!   by `x_i` (low dword of qword `i` of `x64`) gives `r_i · x_i` in `i64`,
//!   shifted left by `e + 8` and added to the row's `i64` lanes, folded to
//!   `i128` every segment as in the portable loop.
//! - Integer form, 4-bit, one vector (a token, [`acc_83_one`]): `vpmuldq`
//!   reads `x_i · 2^(e+8)` from a table built per call, one row of
//!   `bpr · 8` `i64` per exponent field the matrix uses (`x_i · 2^15` fits
//!   the low dword), so there is no shift per block; four blocks' lanes in
//!   four registers. The loop issues about 10 vector operations per block
//!   on two ports and the shift took 3 of them: on SmolLM2's layers (one
//!   thread, thread CPU time, best of 60 passes, table build included)
//!   1.07-1.12x faster. A row takes 8 KiB per 1,000 columns; a token
//!   touches mostly the 4-5 exponents that most blocks have. Tried and
//!   dropped here: `vpsllvq` by counts loaded from a 16-line table (0.9x)
//!   or broadcast from a register (1.0x); a table per thread instead of
//!   one shared (1.005x, within noise).
//!   Later (`examples/kernel_token.rs`: SmolLM2 blocks 1-3, one thread,
//!   process CPU time of calls from outside the pool, medians of 30
//!   passes, builds alternated; 576x576, 1536x576 and 576x1536 at
//!   1.95-2.45 ns per block, 1.75-1.9 by wall time inside the pool, where
//!   `f32_83` takes 1.75-2.0 on the same layers): the loop is not
//!   bound by one port or by its scalar work alone. Removing the pair sum
//!   (wrong result, timing only) gives 1.15x, reading every block's `x` from
//!   one exponent row (likewise) 1.11x; but a per-start table of the
//!   stream's `u64` (512 KiB, no field cuts, one fixed control: 7 instead of
//!   13 scalar instructions per block) 1.00x, `vpshufd` in place of the
//!   pair sum's `vpsrlq` (port 5 instead of 0) 1.01x, an `i32` table of
//!   `x·2^(e+8)` widened by `vpmovsxdq` (half the bytes) 1.00x. The rows'
//!   blocks sorted by exponent at load into runs of at most 32, with `x` in
//!   two byte halves so that `q_j · x_i` fits `i16`, `vpmullw` and
//!   `vpdpwssd` into `i32` lanes and one widening per run (no 64-bit
//!   multiply per block; exact, same hash) ran at 0.67-0.75x (0.62-0.71x
//!   by wall time in the pool): with the states from [`Cycle::seq`] or
//!   from the bit stream alike, and with its 256 KiB table of period-3
//!   mantissas replaced by one line (timing only) still 0.7-0.8x; SmolLM2's
//!   rows have about 5 runs per 72 blocks, and the run loop's exits and
//!   remainders are data-dependent branches (this VM has no counters to
//!   confirm mispredictions). Branch `kern4-runs-tried`. `vcvtdq2pd`
//!   and an f64 multiply-add in place of `vpmuldq` (exact while a lane
//!   stays below 2^53; timing only, one extra operation) ran at 0.93x. A
//!   512-bit `vpmuldq` issues about once per two cycles here, `vpmaddwd`,
//!   `vpdpwssd` and `vpmullw` twice per cycle (dependent chains of each, 8
//!   at a time).
//!
//! Every load is bounds-checked against its slice first. The helpers carry
//! the same `#[target_feature]` as the loops (calls between them are safe
//! and inline).
//!
//! [`Cycle::bits`]: crate::cycle::Cycle::bits
//! [`Cycle::seq`]: crate::cycle::Cycle::seq

use std::arch::x86_64::*;

use super::loops::Shape;
use crate::cycle::{BITS_PAST, TAIL};

/// `vpmultishiftqb` controls, one per bit offset, each on a cache line of
/// its own (a 64-byte load of one that straddles two lines costs two).
#[repr(align(64))]
struct Ctrl([[u8; 64]; 8]);

/// The controls of the 4-bit layout, one per bit offset `o = s mod 8`:
/// word `4i + k` takes state `3i + k`, the 16 bits from bit `3i + k + o`
/// (low byte, then high byte 8 bits on).
static CTRL83: Ctrl = Ctrl(ctrl(3));

/// The controls of the 3-bit layout: word `l` takes state `l` (the first
/// 32 bytes also serve states 32..48, from the `u64` 4 bytes on).
static CTRL124: Ctrl = Ctrl(ctrl(4));

/// The controls of a layout where word `4i + k` takes state `stride·i + k`.
const fn ctrl(stride: usize) -> [[u8; 64]; 8] {
    let mut t = [[0u8; 64]; 8];
    let mut o = 0;
    while o < 8 {
        let mut l = 0;
        while l < 32 {
            let bit = stride * (l / 4) + l % 4 + o;
            t[o][2 * l] = bit as u8;
            t[o][2 * l + 1] = bit as u8 + 8;
            l += 1;
        }
        o += 1;
    }
    t
}

/// The 4-bit mantissa patterns of [`mantissas`] for every 12-bit field
/// (32 KiB).
pub(super) static Q83: [u64; 4096] = {
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

/// `2^(e - 8)` for the exponent field of block word `w`.
#[inline(always)]
fn pow2(w: u64) -> f32 {
    POW2[(w >> 16) as usize & 15]
}

/// The `u64` of `bits` at byte `s / 8 + off` (`off <= 4`) for the window
/// start `s` of block word `w`, and the control bytes of `s mod 8` from
/// `ctrl`.
///
/// Every word the loops see was built by `SeedMatrix::new` from
/// `Cycle::start` of the cycle `bits` belongs to, with seed 0's start 0
/// replaced by 1 (its blocks are added apart, see the kernel's module
/// docs), so its start lies in `1..=N`, and `bits` holds `N / 8 +
/// BITS_PAST` bytes (`check_bits` asserts `BITS_PAST >= 13` and that `bits`
/// covers every 16-bit start).
#[inline(always)]
fn window<'a>(bits: &[u8], w: u64, off: usize, ctrl: &'a [[u8; 64]; 8]) -> (i64, &'a [u8; 64]) {
    let s = (w & 0xffff) as usize;
    debug_assert!(s / 8 + off + 8 <= bits.len());
    // SAFETY: `s / 8 + off + 8 <= 65535 / 8 + 12 < bits.len()` (see
    // above); the read is unaligned.
    let g = unsafe { (bits.as_ptr().add(s / 8 + off) as *const u64).read_unaligned() };
    (g as i64, &ctrl[s % 8])
}

/// What `window` relies on besides the words' starts.
fn check_bits(bits: &[u8]) {
    assert!(bits.len() >= 65535 / 8 + BITS_PAST && BITS_PAST >= 13);
}

/// The 48 states of block word `w` in `seq` (the 3-bit integer form, see
/// module docs).
///
/// The start lies in `1..=N` (see `window`), and `seq` holds `N + 2·TAIL`
/// words (`TAIL >= 48`; `check_seq` asserts it once per call).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn states48(seq: &[i16], w: u64) -> (__m512i, __m256i) {
    let s = (w & 0xffff) as usize;
    debug_assert!(s + 48 <= seq.len());
    // SAFETY: `s <= N` and `seq` holds `N + 2·TAIL >= N + 96` words (see
    // above): the 48 words stay inside `seq`; the loads are unaligned.
    unsafe {
        let p = seq.as_ptr().add(s);
        (
            _mm512_loadu_si512(p as *const __m512i),
            _mm256_loadu_si256(p.add(32) as *const __m256i),
        )
    }
}

/// What `states48` relies on besides the words' starts: `seq` is the
/// period `N` plus two tails of at least 48 words.
fn check_seq(seq: &[i16]) {
    assert!(seq.len() >= 2 * TAIL && TAIL >= 48);
}

/// The 32 centred states laid out by `ctrl` from the `u64` at byte `s / 8
/// + off`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn states(bits: &[u8], w: u64, off: usize, ctrl: &[[u8; 64]; 8]) -> __m512i {
    let (g, c) = window(bits, w, off, ctrl);
    // SAFETY: `c` holds 64 bytes.
    let c = unsafe { _mm512_loadu_si512(c.as_ptr() as *const __m512i) };
    _mm512_xor_si512(
        _mm512_multishift_epi64_epi8(c, _mm512_set1_epi64(g)),
        _mm512_set1_epi16(i16::MIN),
    )
}

/// The first 16 of `states`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn states16(bits: &[u8], w: u64, off: usize, ctrl: &[[u8; 64]; 8]) -> __m256i {
    let (g, c) = window(bits, w, off, ctrl);
    // SAFETY: `c` holds 64 bytes, of which 32 are read.
    let c = unsafe { _mm256_loadu_si256(c.as_ptr() as *const __m256i) };
    _mm256_xor_si256(
        _mm256_multishift_epi64_epi8(c, _mm256_set1_epi64x(g)),
        _mm256_set1_epi16(i16::MIN),
    )
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn mantissas4(w: u64, tops: __m512i) -> __m512i {
    let all = _mm512_set1_epi16((w >> 20) as i16);
    _mm512_srai_epi16(_mm512_sllv_epi16(all, tops), 12)
}

/// The `vpmaddwd` dwords of one 4-bit block (see module docs).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn dwords83(bits: &[u8], w: u64) -> __m512i {
    let t = states(bits, w, 0, &CTRL83.0);
    let q = _mm512_set1_epi64(Q83[(w >> 20) as usize & 0xfff] as i64);
    _mm512_madd_epi16(t, q)
}

/// The `vpmaddwd` dwords of one 3-bit block, rows 0..8 and 8..12, from
/// its states `(lo, hi)`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn dwords124(w: u64, tops: __m512i, (lo, hi): (__m512i, __m256i)) -> (__m512i, __m256i) {
    let q = mantissas4(w, tops);
    (
        _mm512_madd_epi16(lo, q),
        _mm256_madd_epi16(hi, _mm512_castsi512_si256(q)),
    )
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn vec512(t: &[i16; 32]) -> __m512i {
    // SAFETY: `t` holds 32 words.
    unsafe { _mm512_loadu_si512(t.as_ptr() as *const __m512i) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn loadq(x: &[i64], at: usize) -> __m512i {
    // SAFETY: bounds-checked slice of 8 i64.
    unsafe { _mm512_loadu_si512(x[at..at + 8].as_ptr() as *const __m512i) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn loadq4(x: &[i64], at: usize) -> __m256i {
    // SAFETY: bounds-checked slice of 4 i64.
    unsafe { _mm256_loadu_si256(x[at..at + 4].as_ptr() as *const __m256i) }
}

/// Float form, 4-bit: `x2` holds `bpr · 16` entries (each `x_i` twice).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
pub(super) fn f32_83(sh: &Shape, bits: &[u8], words: &[u32], x2: &[f32], y: &mut [f32]) {
    check_bits(bits);
    assert!(x2.len() >= sh.bpr * 16);
    let xp = x2.as_ptr();
    let block = |w: u32, b: usize, acc: __m512| {
        let w = w as u64;
        let d = _mm512_cvtepi32_ps(dwords83(bits, w));
        // SAFETY: `b < bpr` and `x2` holds `bpr · 16` f32.
        let xv = unsafe { _mm512_loadu_ps(xp.add(b * 16)) };
        _mm512_fmadd_ps(d, _mm512_mul_ps(xv, _mm512_set1_ps(pow2(w))), acc)
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
        for (k, q) in quads.enumerate() {
            let b = 4 * k;
            a0 = block(q[0], b, a0);
            a1 = block(q[1], b + 1, a1);
            a2 = block(q[2], b + 2, a2);
            a3 = block(q[3], b + 3, a3);
        }
        for (k, &w) in rest.iter().enumerate() {
            a0 = block(w, sh.bpr - rest.len() + k, a0);
        }
        let s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        *yr = (_mm512_reduce_add_ps(s) as f64 / sh.unit) as f32;
    }
}

/// Float form, 3-bit: `x2` holds `bpr · 24` entries (each `x_i` twice).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
pub(super) fn f32_124(sh: &Shape, bits: &[u8], words: &[u64], x2: &[f32], y: &mut [f32]) {
    check_bits(bits);
    let tops = vec512(&NIBBLE_TOP);
    assert!(x2.len() >= sh.bpr * 24);
    let xp = x2.as_ptr();
    let block = |w: u64, b: usize, acc: (__m512, __m256)| {
        let states = (
            states(bits, w, 0, &CTRL124.0),
            states16(bits, w, 4, &CTRL124.0),
        );
        let (lo, hi) = dwords124(w, tops, states);
        let p = _mm512_set1_ps(pow2(w));
        // SAFETY: `b < bpr` and `x2` holds `bpr · 24` f32.
        let (xv, xv8) = unsafe {
            (
                _mm512_loadu_ps(xp.add(b * 24)),
                _mm256_loadu_ps(xp.add(b * 24 + 16)),
            )
        };
        let xs = _mm512_mul_ps(xv, p);
        let xs8 = _mm256_mul_ps(xv8, _mm512_castps512_ps256(p));
        (
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), xs, acc.0),
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), xs8, acc.1),
        )
    };
    for (yr, ws) in y.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        let zero = (_mm512_setzero_ps(), _mm256_setzero_ps());
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
        let mut t = [0f32; 8];
        // SAFETY: `t` holds 8 f32.
        unsafe { _mm256_storeu_ps(t.as_mut_ptr(), _mm256_add_ps(a0.1, a1.1)) };
        let s = _mm512_reduce_add_ps(_mm512_add_ps(a0.0, a1.0)) + t.iter().sum::<f32>();
        *yr = (s as f64 / sh.unit) as f32;
    }
}

/// Adds the 8 `i64` lanes of `v` to `out` as `i128`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn fold(v: __m512i, out: &mut i128) {
    let mut l = [0i64; 8];
    // SAFETY: `l` holds 8 i64.
    unsafe { _mm512_storeu_si512(l.as_mut_ptr() as *mut __m512i, v) };
    *out += l.iter().map(|&a| a as i128).sum::<i128>();
}

/// `r_i` in the low dword of qword `i` (see module docs).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
fn pair_sums(d: __m512i) -> __m512i {
    _mm512_add_epi32(d, _mm512_srli_epi64(d, 32))
}

/// Integer form, 4-bit, one vector: `xe` holds rows of `bpr · 8` entries,
/// row `f - lo` being `x << f`, for every exponent field `f` of `words`.
///
/// The caller builds the rows from `SeedMatrix::exps`, the exponent fields
/// of every word of the matrix that `words` is a part of, so each block's
/// row lies inside `xe` (asserted in debug builds).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
pub(super) fn acc_83_one(
    sh: &Shape,
    bits: &[u8],
    words: &[u32],
    xe: &[i64],
    lo: usize,
    out: &mut [i128],
) {
    check_bits(bits);
    let stride = sh.bpr * 8;
    let fields = xe.len() / stride.max(1);
    // Row `f` starts at `x0 + f · stride` (row `lo` at `xe[0]`).
    let x0 = xe.as_ptr().wrapping_sub(lo * stride);
    let block = |w: u32, b: usize, l: __m512i| {
        let w = w as u64;
        let f = (w >> 16) as usize & 15;
        debug_assert!(f >= lo && f - lo < fields && b < sh.bpr);
        // SAFETY: `lo <= f < lo + fields` (see above) and `b < bpr`: the
        // 8 entries lie in row `f - lo` of `xe`.
        let xv =
            unsafe { _mm512_loadu_si512(x0.wrapping_add(f * stride + b * 8) as *const __m512i) };
        _mm512_add_epi64(l, _mm512_mul_epi32(pair_sums(dwords83(bits, w)), xv))
    };
    for (o, ws) in out.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        *o = 0;
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            let b0 = s * sh.segment;
            let z = _mm512_setzero_si512();
            let (mut l0, mut l1, mut l2, mut l3) = (z, z, z, z);
            let quads = seg.chunks_exact(4);
            let rest = quads.remainder();
            for (k, q) in quads.enumerate() {
                let b = b0 + 4 * k;
                l0 = block(q[0], b, l0);
                l1 = block(q[1], b + 1, l1);
                l2 = block(q[2], b + 2, l2);
                l3 = block(q[3], b + 3, l3);
            }
            for (k, &w) in rest.iter().enumerate() {
                l0 = block(w, b0 + seg.len() - rest.len() + k, l0);
            }
            fold(
                _mm512_add_epi64(_mm512_add_epi64(l0, l1), _mm512_add_epi64(l2, l3)),
                o,
            );
        }
    }
}

/// Integer form, 4-bit, several vectors (one takes [`acc_83_one`]): `x64`
/// holds `n` vectors of `bpr · 8` entries; `out[k · n + v]` as in the
/// portable loop.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
pub(super) fn acc_83(
    sh: &Shape,
    bits: &[u8],
    words: &[u32],
    x64: &[i64],
    n: usize,
    out: &mut [i128],
) {
    check_bits(bits);
    let xlen = sh.bpr * 8;
    let mut lanes = vec![_mm512_setzero_si512(); n];
    for (o, ws) in out.chunks_exact_mut(n).zip(words.chunks_exact(sh.bpr)) {
        o.fill(0);
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            lanes.fill(_mm512_setzero_si512());
            for (k, &w) in seg.iter().enumerate() {
                let (b, w) = (s * sh.segment + k, w as u64);
                let r = pair_sums(dwords83(bits, w));
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
/// The states come from `seq` (see module docs).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,bmi2")]
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
    if n == 1 {
        // One vector (a token): the lanes stay in registers.
        assert!(x64.len() >= xlen);
        let xp = x64.as_ptr();
        for (o, ws) in out.iter_mut().zip(words.chunks_exact(sh.bpr)) {
            *o = 0;
            for (s, seg) in ws.chunks(sh.segment).enumerate() {
                let (mut l, mut l4) = (_mm512_setzero_si512(), _mm256_setzero_si256());
                for (k, &w) in seg.iter().enumerate() {
                    let b = s * sh.segment + k;
                    let (lo, hi) = dwords124(w, tops, states48(seq, w));
                    let (r, r4) = (
                        pair_sums(lo),
                        _mm256_add_epi32(hi, _mm256_srli_epi64(hi, 32)),
                    );
                    // SAFETY: `b < bpr` and `x64` holds `bpr · 12` i64.
                    let (xv, xv4) = unsafe {
                        (
                            _mm512_loadu_si512(xp.add(b * 12) as *const __m512i),
                            _mm256_loadu_si256(xp.add(b * 12 + 8) as *const __m256i),
                        )
                    };
                    let e = _mm_cvtsi32_si128((w >> 16) as i32 & 15);
                    l = _mm512_add_epi64(l, _mm512_sll_epi64(_mm512_mul_epi32(r, xv), e));
                    l4 = _mm256_add_epi64(l4, _mm256_sll_epi64(_mm256_mul_epi32(r4, xv4), e));
                }
                let mut t = [0i64; 4];
                // SAFETY: `t` holds 4 i64.
                unsafe { _mm256_storeu_si256(t.as_mut_ptr() as *mut __m256i, l4) };
                *o += t.iter().map(|&a| a as i128).sum::<i128>();
                fold(l, o);
            }
        }
        return;
    }
    let mut lanes = vec![(_mm512_setzero_si512(), _mm256_setzero_si256()); n];
    for (o, ws) in out.chunks_exact_mut(n).zip(words.chunks_exact(sh.bpr)) {
        o.fill(0);
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            lanes.fill((_mm512_setzero_si512(), _mm256_setzero_si256()));
            for (k, &w) in seg.iter().enumerate() {
                let b = s * sh.segment + k;
                let (lo, hi) = dwords124(w, tops, states48(seq, w));
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
