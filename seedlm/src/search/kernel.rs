//! The bound pass: the lower bound `||w||² - ||L⁻¹ b||²` of every cycle
//! position, for 8 blocks at once (one f32 lane per block).
//!
//! For the seed at cycle position `p`, `b_j = c(p + 1 + j)` with the shared
//! correlation `c(n) = Σ_i w_i · u(n + i·P)`. The pass slides a window of `P`
//! values of `c` along the cycle, so each position costs one new `c`,
//! `P(P+1)/2` multiply-adds for `y = L⁻¹ b` and `P` for `base - ||y||²`. The
//! table entries of a position (its `L⁻¹` and step indices) are loaded once
//! for all 8 blocks, which keeps the pass compute bound instead of streaming
//! the 1.5-2.6 MB table once per block.
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
//! The kernel is plain array code over `[f32; 8]` lanes that LLVM turns into
//! AVX2 vectors. It is compiled twice: inside a
//! `#[target_feature(enable = "avx2,fma")]` function (fused multiply-adds),
//! picked at run time when the CPU has both, and as a portable fallback
//! (separate multiply and add, since a software `fmaf` would be far slower).
//!
//! This is the one module of the search allowed `unsafe`: calling a
//! `#[target_feature]` function from code compiled without those features is
//! an `unsafe` call, sound only after the features were detected at run time.
//! [`Isa`] can only be built by that detection, and the single call site
//! checks it.
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
    /// Called once per position `pos`, in increasing order.
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
    /// Per position, the `P(P+1)/2` entries of `L⁻¹` row by row (lower
    /// triangle); all zero for positions bounded elsewhere.
    pub linv: &'a [f32],
    /// The batch: `w[i][lane]`, the `i`-th weight of each (scaled) block.
    pub w: &'a [Lanes; C],
    /// Start value per lane: `||w||² - threshold` (or `+∞` for idle lanes).
    pub base: Lanes,
}

/// `a·b + c`, fused when `FUSED`.
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Runs the pass over positions `start..end`: calls `v.visit(p, base - ||y(p)||²)`
/// and returns `v` (taken by value so its state can live in registers).
/// `T` must be `P(P+1)/2` and `G` must be `C/4` (`C` a multiple of 4, at
/// least 8).
pub(crate) fn run<const C: usize, const P: usize, const T: usize, const G: usize, V: Visit>(
    isa: Isa,
    pass: &Pass<'_, C>,
    start: usize,
    end: usize,
    mut v: V,
) -> V {
    assert_eq!(T, P * (P + 1) / 2);
    assert!(C == 4 * G && G >= 2 && pass.delta.len() == G);
    assert!(end * T <= pass.linv.len() && end + C * P <= pass.u.len());
    assert!((end + P) * G <= pass.steps.len());
    #[cfg(target_arch = "x86_64")]
    if isa.avx2_fma {
        // SAFETY: `avx2_fma` is only true when `Isa::detect` found AVX2 and
        // FMA on the running CPU, which is all `scan_avx2` requires.
        return unsafe { scan_avx2::<C, P, T, G, V>(pass, start, end, v) };
    }
    let _ = isa;
    scan::<C, P, T, G, false, V>(pass, start, end, &mut v);
    v
}

/// [`scan`] compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scan_avx2<const C: usize, const P: usize, const T: usize, const G: usize, V: Visit>(
    pass: &Pass<'_, C>,
    start: usize,
    end: usize,
    mut v: V,
) -> V {
    scan::<C, P, T, G, true, V>(pass, start, end, &mut v);
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
fn corr<const C: usize, const P: usize, const FUSED: bool>(pass: &Pass<'_, C>, n: usize) -> Lanes {
    let win = &pass.u[n..n + (C - 1) * P + 1];
    let mut acc = [[0f32; LANES]; 2];
    for (i, wi) in pass.w.iter().enumerate() {
        let x = win[i * P];
        let a = &mut acc[i % 2];
        for l in 0..LANES {
            a[l] = madd::<FUSED>(wi[l], x, a[l]);
        }
    }
    let mut sum = acc[0];
    for l in 0..LANES {
        sum[l] += acc[1][l];
    }
    sum
}

/// `c(n+1) = c(n)/2 + Σ_g delta[g][pattern_g]` (see the module docs); the
/// rows are summed in two chains so only the last multiply-add is on the
/// chain through `c`.
#[inline(always)]
fn next_corr<const G: usize, const FUSED: bool>(
    prev: &Lanes,
    pattern: &[u8; G],
    delta: &[[Lanes; QUAD_ROWS]],
) -> Lanes {
    let row = |g: usize| &delta[g][pattern[g] as usize];
    let mut part = [*row(0), *row(1)];
    for g in 2..G {
        let d = row(g);
        let a = &mut part[g % 2];
        for l in 0..LANES {
            a[l] += d[l];
        }
    }
    let mut c = [0f32; LANES];
    for l in 0..LANES {
        c[l] = madd::<FUSED>(0.5, prev[l], part[0][l] + part[1][l]);
    }
    c
}

/// `base - Σ_j y_j²` with `y = L⁻¹ b` (`li`: lower triangle, row by row) and
/// `b_j = ring[(r + j) % P]`.
#[inline(always)]
fn bound<const P: usize, const T: usize, const FUSED: bool>(
    base: &Lanes,
    ring: &[Lanes; P],
    r: usize,
    li: &[f32; T],
) -> Lanes {
    let mut acc = *base;
    let mut k = 0;
    for j in 0..P {
        let mut y = [0f32; LANES];
        for m in 0..=j {
            let c = &ring[(r + m) % P];
            for l in 0..LANES {
                y[l] = madd::<FUSED>(li[k], c[l], y[l]);
            }
            k += 1;
        }
        for l in 0..LANES {
            acc[l] = madd::<FUSED>(-y[l], y[l], acc[l]);
        }
    }
    acc
}

/// The pass itself (see the module docs).
#[inline(always)]
fn scan<
    const C: usize,
    const P: usize,
    const T: usize,
    const G: usize,
    const FUSED: bool,
    V: Visit,
>(
    pass: &Pass<'_, C>,
    start: usize,
    end: usize,
    v: &mut V,
) {
    // Ring of the last P values of c: c(n) lives in slot (n - start - 1) % P,
    // so position p = start + r reads c(p + 1 + j) from slot (r + j) % P and
    // writes the new c(p + P) over c(p), slot (r + P - 1) % P.
    let mut ring = [[0f32; LANES]; P];
    for (j, c) in ring.iter_mut().enumerate().take(P - 1) {
        *c = corr::<C, P, FUSED>(pass, start + 1 + j);
    }
    // The newest value, c(p + P - 1) at position p: the recurrence input.
    let mut last = if P > 1 {
        ring[P - 2]
    } else {
        corr::<C, P, FUSED>(pass, start)
    };
    let (rows, _) = pass.linv[start * T..end * T].as_chunks::<T>();
    // steps[k] are the patterns for c(start + P + k) = next(c(start + P - 1 + k)).
    let (steps, _) = pass.steps[(start + P - 1) * G..(end + P - 1) * G].as_chunks::<G>();
    let delta = &pass.delta[..G];
    // Groups of P positions with the ring slot as a constant (`R`), so the
    // ring stays in registers; then the tail with run-time slots.
    let mut groups = rows.chunks_exact(P).zip(steps.chunks_exact(P));
    let mut p = start;
    for (g, s) in &mut groups {
        step::<P, T, G, FUSED, V, 0>(&pass.base, &mut ring, &mut last, p, &g[0], &s[0], delta, v);
        step::<P, T, G, FUSED, V, 1>(
            &pass.base,
            &mut ring,
            &mut last,
            p + 1,
            &g[1 % P],
            &s[1 % P],
            delta,
            v,
        );
        step::<P, T, G, FUSED, V, 2>(
            &pass.base,
            &mut ring,
            &mut last,
            p + 2,
            &g[2 % P],
            &s[2 % P],
            delta,
            v,
        );
        step::<P, T, G, FUSED, V, 3>(
            &pass.base,
            &mut ring,
            &mut last,
            p + 3,
            &g[3 % P],
            &s[3 % P],
            delta,
            v,
        );
        step::<P, T, G, FUSED, V, 4>(
            &pass.base,
            &mut ring,
            &mut last,
            p + 4,
            &g[4 % P],
            &s[4 % P],
            delta,
            v,
        );
        step::<P, T, G, FUSED, V, 5>(
            &pass.base,
            &mut ring,
            &mut last,
            p + 5,
            &g[5 % P],
            &s[5 % P],
            delta,
            v,
        );
        step::<P, T, G, FUSED, V, 6>(
            &pass.base,
            &mut ring,
            &mut last,
            p + 6,
            &g[6 % P],
            &s[6 % P],
            delta,
            v,
        );
        step::<P, T, G, FUSED, V, 7>(
            &pass.base,
            &mut ring,
            &mut last,
            p + 7,
            &g[7 % P],
            &s[7 % P],
            delta,
            v,
        );
        p += P;
    }
    let done = p - start;
    for (r, (li, st)) in rows[done..].iter().zip(&steps[done..]).enumerate() {
        last = next_corr::<G, FUSED>(&last, st, delta);
        ring[(r + P - 1) % P] = last;
        v.visit(p, &bound::<P, T, FUSED>(&pass.base, &ring, r, li));
        p += 1;
    }
}

/// Position `p`, the `R`-th of its group (a no-op when `R >= P`, so that one
/// list of calls serves every `P <= 8`).
#[allow(clippy::too_many_arguments)] // the kernel's state, kept in registers
#[inline(always)]
fn step<
    const P: usize,
    const T: usize,
    const G: usize,
    const FUSED: bool,
    V: Visit,
    const R: usize,
>(
    base: &Lanes,
    ring: &mut [Lanes; P],
    last: &mut Lanes,
    p: usize,
    li: &[f32; T],
    st: &[u8; G],
    delta: &[[Lanes; QUAD_ROWS]],
    v: &mut V,
) {
    if R < P {
        *last = next_corr::<G, FUSED>(last, st, delta);
        ring[(R + P - 1) % P] = *last;
        v.visit(p, &bound::<P, T, FUSED>(base, ring, R, li));
    }
}
