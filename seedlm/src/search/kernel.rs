//! The bound pass: the lower bound `||w||² - ||L⁻¹ b||²` of every cycle
//! position, for 8 blocks at once (one f32 lane per block).
//!
//! For the seed at cycle position `p`, `b_j = c(p + 1 + j)` with the shared
//! correlation `c(n) = Σ_i w_i · u(n + i·P)`. The pass slides a window of
//! `P + 1` values of `c` along the cycle, two positions at a time. The table
//! entries of a pair (its factors and step indices) are loaded once for all
//! 8 blocks, which keeps the pass compute bound instead of streaming the
//! 1.2-1.8 MB table once per block.
//!
//! **Two seeds per window.** Column `j` of seed `p + 1` is column `j + 1` of
//! seed `p` (state `p + 2 + j + i·P`), so the `P + 1` columns `c(p + 1..=p + P + 1)`
//! hold both seeds, which share the `P - 1` columns `S = 1..P-1`. Since
//! `||L⁻¹ b||² = bᵀG⁻¹b` does not depend on the order of the columns, each
//! seed's Cholesky factor is taken in the order `[S, own column]`: the first
//! `P - 1` rows (`L_S⁻¹`, from `S` alone) are the same for both seeds, and only
//! the last row differs. A pair then costs `(P-1)P/2 + 2P` multiply-adds for
//! the `y` values and `P + 1` for the squares, against `P(P+1) + 2P` for two
//! separate positions: 13 instead of 18 at `P = 3`, 19 instead of 28 at `P = 4`.
//!
//! **The new `c` in `C/4` additions.** The LFSR step `v' = (v >> 1) | (f << (K-1))`
//! makes the centred states almost linear: `u(m+1) = u(m)/2 + d(m)` with
//! `d(m) = 2^(K-1)·(f(m) - 1/2) - a(m)/2`, where `a(m)` is the bit shifted
//! out and `f(m)` the bit shifted in. Hence
//! `c(n+1) = c(n)/2 + Σ_i w_i d(n + i·P) / unit`, and the sum depends on the
//! `2C` bits `(f, a)(n + i·P)` only: per batch, a table holds for each quad
//! of weights `(4g..4g+4)` the 256 possible values of its four terms, and each
//! position adds `C/4` table rows (picked by one precomputed byte each, which
//! indexes the 256 rows without masking or bounds checks) instead of doing
//! `C` multiply-adds. The additions run on the FP adder pipes, leaving the
//! multiply-add pipes to the `L⁻¹` product. Rounding errors do not build
//! up: the recurrence halves the error carried from the previous step.
//!
//! The kernel is written once over a small [`Vector`] trait of 8 f32 lanes
//! and compiled twice: with AVX2 intrinsics inside a
//! `#[target_feature(enable = "avx2,fma")]` function (fused multiply-adds),
//! picked at run time when the CPU has both, and over plain arrays as a
//! portable fallback (separate multiply and add, since a software `fmaf`
//! would be far slower).
//!
//! This is the one module of the search allowed `unsafe`: calling a
//! `#[target_feature]` function or an AVX2 intrinsic from code compiled
//! without those features is an `unsafe` call, sound only after the features
//! were detected at run time. [`Isa`] can only be built by that detection,
//! the single call site checks it, and the intrinsics are only reached from
//! there.
#![allow(unsafe_code)]

/// Blocks processed together: one f32 lane each (an AVX2 register).
pub(crate) const LANES: usize = 8;

/// One f32 value per block of the batch.
pub(crate) type Lanes = [f32; LANES];

/// The instruction set chosen at run time for the bound pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Isa {
    /// AVX2 and FMA were detected on this CPU.
    avx2_fma: bool,
}

impl Isa {
    /// Detects AVX2 + FMA (x86-64 only; elsewhere the portable kernel runs).
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        let avx2_fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2_fma = false;
        Isa { avx2_fma }
    }

    /// The portable kernel, whatever the CPU has (for tests).
    #[cfg(test)]
    pub(crate) fn portable() -> Isa {
        Isa { avx2_fma: false }
    }
}

/// What the pass does with the value `base - ||y||²` of each position.
pub(crate) trait Visit {
    /// Only values with a negative lane (sign bit set) need visiting: the
    /// pass then skips the others with one test per pair of positions.
    const NEGATIVE_ONLY: bool = false;

    /// Called for each position `pos` (all, or those with a negative lane),
    /// in increasing order.
    fn visit(&mut self, pos: usize, acc: &Lanes);
}

/// Number of table rows per quad of weights (two bits `(f, a)` per weight).
pub(crate) const QUAD_ROWS: usize = 256;

/// The tables and the batch the pass runs over.
pub(crate) struct Pass<'a, const C: usize> {
    /// `u(n) = centred[n] / unit` as f32, at least `N + C·P` entries.
    pub u: &'a [f32],
    /// Per `n`, one bit pattern per quad of weights `g`:
    /// `Σ_{k<4} (f_{4g+k} | a_{4g+k} << 1) << 2k`, bits taken at `n + i·P`;
    /// `c(n+1) - c(n)/2 = Σ_g delta[g][pattern_g]`.
    pub steps: &'a [u8],
    /// Per batch, `256·C/4` rows: the value of `Σ_{i ∈ quad} w_i d / unit`
    /// for every bit pattern of the quad.
    pub delta: &'a [[Lanes; QUAD_ROWS]],
    /// Per pair of positions `(2k, 2k + 1)`, `W = (P-1)P/2 + 2P` entries:
    /// `L_S⁻¹` of the shared columns `1..P-1` (lower triangle, row by row),
    /// then the last row of `L⁻¹` of seed `2k` in column order
    /// `[1..P-1, 0]`, then that of seed `2k + 1` in order `[1..P-1, P]`. A
    /// seed bounded elsewhere has a zero last row (its value is then not a
    /// bound, only a possible extra candidate); a pair with both seeds
    /// bounded elsewhere is all zero.
    pub linv: &'a [f32],
    /// The batch: `w[i][lane]`, the `i`-th weight of each (scaled) block.
    pub w: &'a [Lanes; C],
    /// Start value per lane: `||w||² - threshold` (or `+∞` for idle lanes).
    pub base: Lanes,
}

/// The operations the pass needs on one value per block (8 f32 lanes):
/// plain arrays (portable, separate multiply and add) or an AVX2 register
/// (fused multiply-add). Written out rather than left to the auto-vectoriser,
/// which split some chains into 128-bit halves.
trait Vector: Copy {
    /// The lanes as a vector.
    fn load(x: &Lanes) -> Self;
    /// The vector as lanes.
    fn lanes(self) -> Lanes;
    /// `x` in every lane.
    fn splat(x: f32) -> Self;
    /// `self + b`.
    fn add(self, b: Self) -> Self;
    /// `self · b + c`.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `c - self · b`.
    fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// Bitwise or.
    fn or(self, b: Self) -> Self;
    /// Whether some lane has its sign bit set.
    fn any_negative(self) -> bool;
}

impl Vector for Lanes {
    #[inline(always)]
    fn load(x: &Lanes) -> Self {
        *x
    }
    #[inline(always)]
    fn lanes(self) -> Lanes {
        self
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        [x; LANES]
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        std::array::from_fn(|l| self[l] + b[l])
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        std::array::from_fn(|l| self[l] * b[l] + c[l])
    }
    #[inline(always)]
    fn neg_mul_add(self, b: Self, c: Self) -> Self {
        std::array::from_fn(|l| c[l] - self[l] * b[l])
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        std::array::from_fn(|l| f32::from_bits(self[l].to_bits() | b[l].to_bits()))
    }
    #[inline(always)]
    fn any_negative(self) -> bool {
        any_negative(&self)
    }
}

/// Whether some lane has its sign bit set: the pass's hit test, a value
/// below zero being a position under its block's threshold (`-0.0` counts,
/// which only adds a candidate).
#[inline(always)]
pub(crate) fn any_negative(x: &Lanes) -> bool {
    x.iter().fold(false, |neg, v| neg | v.is_sign_negative())
}

/// An AVX2 register of 8 f32. Only used inside `scan_avx2`, whose
/// `#[target_feature]` the intrinsics inline into.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx(std::arch::x86_64::__m256);

#[cfg(target_arch = "x86_64")]
impl Vector for Avx {
    #[inline(always)]
    fn load(x: &Lanes) -> Self {
        // SAFETY: `[f32; 8]` and `__m256` have the same size and every bit
        // pattern is valid for both.
        Avx(unsafe { std::mem::transmute::<Lanes, std::arch::x86_64::__m256>(*x) })
    }
    #[inline(always)]
    fn lanes(self) -> Lanes {
        // SAFETY: as in `load`.
        unsafe { std::mem::transmute::<std::arch::x86_64::__m256, Lanes>(self.0) }
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Self::load(&[x; LANES])
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        // SAFETY: only reached from `scan_avx2`, after AVX2 + FMA were detected.
        Avx(unsafe { std::arch::x86_64::_mm256_add_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: as in `add`.
        Avx(unsafe { std::arch::x86_64::_mm256_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn neg_mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: as in `add`.
        Avx(unsafe { std::arch::x86_64::_mm256_fnmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: as in `add`.
        Avx(unsafe { std::arch::x86_64::_mm256_or_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn any_negative(self) -> bool {
        // SAFETY: as in `add`.
        unsafe { std::arch::x86_64::_mm256_movemask_ps(self.0) != 0 }
    }
}

/// Runs the pass over positions `start..end` (`start` even): calls
/// `v.visit(p, base - ||y(p)||²)` for each position in
/// order and returns `v` (taken by value so its state can live in
/// registers). `W` must be `(P-1)P/2 + 2P` with `P` 3 or 4, and `G` must
/// be `C/4` (`C` a multiple of 4, at least 8).
pub(crate) fn run<const C: usize, const P: usize, const W: usize, const G: usize, V: Visit>(
    isa: Isa,
    pass: &Pass<'_, C>,
    start: usize,
    end: usize,
    mut v: V,
) -> V {
    assert!(matches!(P, 3 | 4) && W == (P - 1) * P / 2 + 2 * P);
    assert!(C == 4 * G && G >= 2 && pass.delta.len() == G);
    assert!(start.is_multiple_of(2) && start <= end);
    assert!(end.div_ceil(2) * W <= pass.linv.len() && end + 1 + C * P <= pass.u.len());
    assert!((end.div_ceil(2) * 2 + P - 1) * G <= pass.steps.len());
    #[cfg(target_arch = "x86_64")]
    if isa.avx2_fma {
        // SAFETY: `avx2_fma` is only true when `Isa::detect` found AVX2 and
        // FMA on the running CPU, which is all `scan_avx2` requires.
        return unsafe { scan_avx2::<C, P, W, G, V>(pass, start, end, v) };
    }
    let _ = isa;
    scan::<C, P, W, G, Lanes, V>(pass, start, end, &mut v);
    v
}

/// [`scan`] compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scan_avx2<const C: usize, const P: usize, const W: usize, const G: usize, V: Visit>(
    pass: &Pass<'_, C>,
    start: usize,
    end: usize,
    mut v: V,
) -> V {
    scan::<C, P, W, G, Avx, V>(pass, start, end, &mut v);
    v
}

/// The f64 bound of the ill-conditioned windows: for each orthonormal basis
/// in `q` (`P` columns of `C`, column `j` of basis `k` at `(k·P + j)·C`),
/// `ww - ||Qᵀw||²` per lane, appended to `out`.
pub(crate) fn ortho_bounds<const C: usize, const P: usize>(
    isa: Isa,
    q: &[f64],
    wn: &[[f64; LANES]; C],
    ww: &[f64; LANES],
    out: &mut Vec<[f64; LANES]>,
) {
    #[cfg(target_arch = "x86_64")]
    if isa.avx2_fma {
        // SAFETY: `avx2_fma` is only true when `Isa::detect` found AVX2 and
        // FMA on the running CPU, which is all `ortho_avx2` requires.
        return unsafe { ortho_avx2::<C, P>(q, wn, ww, out) };
    }
    let _ = isa;
    ortho::<C, P>(q, wn, ww, out);
}

/// [`ortho`] compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn ortho_avx2<const C: usize, const P: usize>(
    q: &[f64],
    wn: &[[f64; LANES]; C],
    ww: &[f64; LANES],
    out: &mut Vec<[f64; LANES]>,
) {
    ortho::<C, P>(q, wn, ww, out);
}

/// See [`ortho_bounds`].
#[inline(always)]
fn ortho<const C: usize, const P: usize>(
    q: &[f64],
    wn: &[[f64; LANES]; C],
    ww: &[f64; LANES],
    out: &mut Vec<[f64; LANES]>,
) {
    let (bases, _) = q.as_chunks::<C>();
    for basis in bases.chunks_exact(P) {
        let mut r = *ww;
        for col in basis {
            let mut d = [0f64; LANES];
            for (qi, wi) in col.iter().zip(wn) {
                for l in 0..LANES {
                    d[l] += qi * wi[l];
                }
            }
            for l in 0..LANES {
                r[l] -= d[l] * d[l];
            }
        }
        out.push(r);
    }
}

/// `c(n) = Σ_i w_i u(n + i·P)` directly: `C` multiply-adds per lane, in two
/// chains (even and odd `i`). Used to start the ring.
#[inline(always)]
fn corr<const C: usize, const P: usize, X: Vector>(pass: &Pass<'_, C>, n: usize) -> X {
    let win = &pass.u[n..n + (C - 1) * P + 1];
    let mut acc = [X::splat(0.0); 2];
    for (i, wi) in pass.w.iter().enumerate() {
        acc[i % 2] = X::load(wi).mul_add(X::splat(win[i * P]), acc[i % 2]);
    }
    acc[0].add(acc[1])
}

/// `c(n+1) = c(n)/2 + Σ_g delta[g][pattern_g]` (see the module docs); only
/// the last multiply-add is on the chain through `c`.
#[inline(always)]
fn next_corr<const G: usize, X: Vector>(
    prev: X,
    pattern: &[u8; G],
    delta: &[[Lanes; QUAD_ROWS]],
) -> X {
    let mut sum = X::load(&delta[0][pattern[0] as usize]);
    for g in 1..G {
        sum = sum.add(X::load(&delta[g][pattern[g] as usize]));
    }
    X::splat(0.5).mul_add(prev, sum)
}

/// Most `c` values the ring holds: `P + 1` for `P <= 4`.
const RING: usize = 5;

/// Pairs per unrolled group of the pass: a multiple of the ring's period
/// (2 pairs at P = 3, 5 at P = 4).
const GROUP: usize = 10;

/// The pass itself (see the module docs).
#[inline(always)]
fn scan<const C: usize, const P: usize, const W: usize, const G: usize, X: Vector, V: Visit>(
    pass: &Pass<'_, C>,
    start: usize,
    end: usize,
    v: &mut V,
) {
    // Ring of the last P + 1 values of c: c(n) lives in slot
    // (n - start - 1) % (P + 1), so pair k (positions p = start + 2k and
    // p + 1) reads column j, c(p + 1 + j), from slot (2k + j) % (P + 1).
    let mut ring = [X::splat(0.0); RING];
    for (j, c) in ring.iter_mut().enumerate().take(P - 1) {
        *c = corr::<C, P, X>(pass, start + 1 + j);
    }
    let base = X::load(&pass.base);
    let pairs = (end - start).div_ceil(2);
    let (rows, _) = pass.linv[start / 2 * W..(start / 2 + pairs) * W].as_chunks::<W>();
    // steps[k] are the patterns for c(start + P + k) = next(c(start + P - 1 + k)).
    let (steps, _) =
        pass.steps[(start + P - 1) * G..(start + P - 1 + 2 * pairs) * G].as_chunks::<G>();
    let (steps, _) = steps.as_chunks::<2>();
    let delta = &pass.delta[..G];
    // Whole pairs; the last pair of an odd range visits its first position only.
    let whole = (end - start) / 2;
    // Groups of GROUP pairs, a multiple of the ring's period (2 pairs at
    // P = 3, 5 at P = 4), so every ring slot is a constant and the ring stays
    // in registers.
    let (groups, _) = rows[..whole].as_chunks::<GROUP>();
    let (step_groups, _) = steps[..whole].as_chunks::<GROUP>();
    let mut k = 0;
    for (li, st) in groups.iter().zip(step_groups) {
        let p = start + 2 * k;
        let ring = &mut ring;
        macro_rules! pairs {
            ($($r:literal)*) => {$(
                pair::<P, W, G, X, V>(base, ring, $r, p + 2 * $r, &li[$r], &st[$r], delta, true, v);
            )*};
        }
        pairs!(0 1 2 3 4 5 6 7 8 9);
        k += GROUP;
    }
    // The rest with slot offset 0 (k is a multiple of the period here), the
    // ring rotated by two slots after each pair: constant indices only, so
    // the ring is never addressed at run time.
    for (li, st) in rows[k..].iter().zip(&steps[k..]) {
        let (p, second) = (start + 2 * k, k < whole);
        pair::<P, W, G, X, V>(base, &mut ring, 0, p, li, st, delta, second, v);
        let old = ring;
        for (j, slot) in ring.iter_mut().enumerate().take(P + 1) {
            *slot = old[(j + 2) % (P + 1)];
        }
        k += 1;
    }
}

/// Pair `r` (mod `P + 1`: the ring slot of its column 0) at positions
/// `p`, `p + 1`: two new `c`, then `base - ||y_S||² - y_0²` for `p` and
/// `base - ||y_S||² - y_P²` for `p + 1` (`li`: the pair's table row, see
/// [`Pass::linv`]). Visits `p + 1` only when `second`.
#[allow(clippy::too_many_arguments)] // the kernel's state, kept in registers
#[inline(always)]
fn pair<const P: usize, const W: usize, const G: usize, X: Vector, V: Visit>(
    base: X,
    ring: &mut [X; RING],
    r: usize,
    p: usize,
    li: &[f32; W],
    st: &[[u8; G]; 2],
    delta: &[[Lanes; QUAD_ROWS]],
    second: bool,
    v: &mut V,
) {
    let q = P + 1;
    // c(p + P) and c(p + P + 1) from the newest value c(p + P - 1).
    let c0 = next_corr::<G, X>(ring[(2 * r + P - 2) % q], &st[0], delta);
    ring[(2 * r + P - 1) % q] = c0;
    ring[(2 * r + P) % q] = next_corr::<G, X>(c0, &st[1], delta);
    // Shared columns 1..P-1: y_S = L_S⁻¹ b_S.
    let mut acc = base;
    let mut k = 0;
    for j in 0..P - 1 {
        let mut y = X::splat(li[k]).mul_add(ring[(2 * r + 1) % q], X::splat(0.0));
        k += 1;
        for m in 1..=j {
            y = X::splat(li[k]).mul_add(ring[(2 * r + 1 + m) % q], y);
            k += 1;
        }
        acc = y.neg_mul_add(y, acc);
    }
    // The last rows of the two seeds: shared columns, then column 0 or P.
    let a0 = own_row::<P, W, X>(acc, ring, r, li, k, 0);
    let a1 = own_row::<P, W, X>(acc, ring, r, li, k + P, P);
    if V::NEGATIVE_ONLY && !(if second { a0.or(a1) } else { a0 }).any_negative() {
        return;
    }
    v.visit(p, &a0.lanes());
    if second {
        v.visit(p + 1, &a1.lanes());
    }
}

/// `acc - y²` with `y` the row `li[k..k + P]` times `[b_S, b_own]`, `b_own`
/// the pair's column `own` (0 or `P`).
#[inline(always)]
fn own_row<const P: usize, const W: usize, X: Vector>(
    acc: X,
    ring: &[X; RING],
    r: usize,
    li: &[f32; W],
    k: usize,
    own: usize,
) -> X {
    let q = P + 1;
    let mut y = X::splat(li[k + P - 1]).mul_add(ring[(2 * r + own) % q], X::splat(0.0));
    for m in 0..P - 1 {
        y = X::splat(li[k + m]).mul_add(ring[(2 * r + 1 + m) % q], y);
    }
    y.neg_mul_add(y, acc)
}
