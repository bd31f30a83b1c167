//! The fast exact search: a vectorised lower bound for every seed, then the
//! exact [`fit`](crate::block::fit) of the few seeds that can still win.
//!
//! **Bound.** For the seed at cycle position `p`, with `G = UᵀU = LLᵀ` and
//! `b = Uᵀw`, no coefficients (quantized or not) do better than the
//! least-squares residual `r(p) = ||w||² - ||L⁻¹ b||²`, so `fit` returns an
//! error `≥ r(p)`. The bound pass (the `kernel` module) computes `r(p)` in f32
//! for 8 blocks at once from stored f32 `L⁻¹` factors (built in f64), two
//! neighbouring seeds at a time (they share all but one column).
//!
//! **Exactness.** Let `B` be the best `(error, seed)` found so far (exact
//! `fit` results, lexicographic minimum). A seed is fitted whenever its f32
//! bound is below `B.err + MARGIN` (in the block's normalised units, where
//! `||w||² ∈ [0.5, 2]`): the pass computes `bound - (B.err + MARGIN)` and
//! tests its sign bit. The f32 error `E` of the bound is below `MARGIN / 8`
//! (see the test `test_margin_covers_f32_bound_error`), so the seed the naive
//! search returns has `bound ≤ r + E ≤ its error + E < B.err + MARGIN` and
//! gets fitted; every fit goes through the same `fit` as the naive search,
//! and ties go to the lowest seed as there.
//!
//! **Ill-conditioned windows.** Where `cond(G) >` [`COND_MAX`] the f32 `L⁻¹`
//! bound is too inaccurate; those positions get a zero `L⁻¹` in the main
//! pass and are bounded per block in f64 with a stored orthonormal basis `Q`
//! of the window's columns: `r = ||w||² - ||Qᵀw||²`. Windows whose columns are
//! (numerically) dependent, which only happens for small K, are always fitted.
//!
//! **Order.** Per batch: (1) the pass over the first `PREFIX` positions
//! finds each block's smallest bound; fitting that seed gives a first `B`;
//! (2) the ill-conditioned positions are bounded in f64 and queued; (3) the
//! pass runs over the whole cycle in chunks of `CHUNK` positions, queueing
//! the positions below the threshold; (4) the queue is fitted in increasing
//! bound order, stopping at the first bound above `B.err + MARGIN`. Fitting
//! the lowest bounds of the whole cycle first keeps the exact fits to about
//! 3-5 per block (a queue reaching `FIT_AT` is fitted early, which only
//! bounds its length).
//!
//! **Configurations.** The kernel is specialised for `(C, P) = (8, 3)` and
//! `(12, 4)` (any K); other shapes fall back to the naive search.

use super::kernel::{self, any_negative, Isa, Lanes, Pass, Visit, LANES, QUAD_ROWS};
use super::weighted::{Metric, Weighted};
use super::{zero_block, Found, Searcher};
use crate::block::Block;
use crate::config::{Config, MAX_C, MAX_P};
use rayon::prelude::*;

/// Slack between the f32 bound and the true residual, in normalised units
/// (`||w||² ∈ [0.5, 2]`): at least 8× the largest f32 error measured on
/// well-conditioned windows.
pub const MARGIN: f64 = 1.0 / 4096.0;

/// Windows with `cond(G)` above this get the f64 orthonormal-basis bound.
pub const COND_MAX: f64 = 2000.0;

/// The seed of the placeholder best of a search below a cutoff (above every
/// real seed): no block of error at most the cutoff was found.
const NONE_BELOW: u32 = u32::MAX;

/// Positions searched for each block's first candidate.
const PREFIX: usize = 2048;

/// Positions per main-pass chunk (the threshold is updated between chunks).
const CHUNK: usize = 8192;

/// A block's pending candidates are fitted after a chunk once there are this
/// many; the rest wait for the end of the pass, when the best bounds of the
/// whole cycle are known and are fitted first.
const FIT_AT: usize = 64;

/// A remaining column norm below this fraction of the column's own norm
/// marks the window's columns as dependent.
const RANK_TOL: f64 = 1e-9;

/// The largest `C` and `P` of the shapes with a specialised kernel.
const SHAPE_C: usize = 12;
const SHAPE_P: usize = 4;

/// The block shapes with a specialised kernel.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// C = 8, P = 3 (the 4-bit configuration).
    C8P3,
    /// C = 12, P = 4 (the 3-bit configuration).
    C12P4,
}

/// The precomputed tables of the fast search.
pub(crate) struct Fast {
    shape: Shape,
    isa: Isa,
    /// Number of cycle positions, `2^K - 1`.
    n: usize,
    /// `2^(K-1) - 1`, the scale of `u`.
    unit: f64,
    /// `centred[n] / unit` as f32.
    u: Vec<f32>,
    /// Per `n`, the `C/4` bit patterns of the step `c(n) → c(n+1)` (see
    /// [`Pass::steps`]).
    steps: Vec<u8>,
    /// Per pair of positions, the shared and own `L⁻¹` rows as f32 (layout
    /// in [`Pass::linv`]); zero rows for ill windows.
    linv: Vec<f32>,
    /// Cycle positions of the ill-conditioned windows bounded in f64.
    ill_pos: Vec<u32>,
    /// Their orthonormal bases, one after the other: column `j` of basis `k`
    /// at `[(k·P + j)·C, (k·P + j + 1)·C)`.
    ill_q: Vec<f64>,
    /// Cycle positions of windows with dependent columns (always fitted).
    dependent: Vec<u32>,
}

/// The inverse Cholesky factor of a window's Gram matrix, row-major lower.
#[cfg(any(test, feature = "cuda"))]
pub(crate) type Linv = [[f64; MAX_P]; MAX_P];

impl Fast {
    /// Builds the tables for `cfg` over the extended centred cycle, or `None`
    /// when `(C, P)` has no specialised kernel.
    pub(crate) fn new(cfg: &Config, centred: &[i32]) -> Option<Fast> {
        let shape = match (cfg.c, cfg.p) {
            (8, 3) => Shape::C8P3,
            (12, 4) => Shape::C12P4,
            _ => return None,
        };
        Some(Self::build(
            shape,
            Isa::detect(),
            cfg,
            centred,
            None,
            BUILD_PAIRS,
        ))
    }

    /// The tables of the weighted search for `metric` ([`super::weighted`]):
    /// the window columns are transformed by `Aᵀ` before they are factored,
    /// so the pass bounds `||Aᵀw||² - bᵀG⁻¹b` with `G = UᵀMU`, given the
    /// block `Mw`. `None` without a specialised kernel.
    pub(crate) fn new_weighted(cfg: &Config, centred: &[i32], metric: &Metric) -> Option<Fast> {
        let shape = match (cfg.c, cfg.p) {
            (8, 3) => Shape::C8P3,
            (12, 4) => Shape::C12P4,
            _ => return None,
        };
        Some(Self::build(
            shape,
            Isa::detect(),
            cfg,
            centred,
            Some(metric),
            BUILD_PAIRS,
        ))
    }

    fn build(
        shape: Shape,
        isa: Isa,
        cfg: &Config,
        centred: &[i32],
        metric: Option<&Metric>,
        pairs_per_task: usize,
    ) -> Fast {
        let (c, p) = (cfg.c, cfg.p);
        let n = cfg.num_seeds() as usize;
        let unit = cfg.unit();
        let shared = (p - 1) * p / 2;
        let width = shared + 2 * p;
        let u: Vec<f32> = centred.iter().map(|&x| (x as f64 / unit) as f32).collect();
        // Bits of the step u(m) → u(m+1): a = bit shifted out, f = bit shifted in.
        let half = cfg.half();
        let bits = |m: usize| {
            let a = ((centred[m] + half) & 1) as u8;
            let f = ((centred[m + 1] + half) >> (cfg.k - 1) & 1) as u8;
            f | a << 1
        };
        let quads = c / 4;
        let mut steps = Vec::with_capacity((n + p) * quads);
        for m in 0..n + p {
            for g in 0..quads {
                steps.push((0..4).fold(0, |x, k| x | bits(m + (4 * g + k) * p) << (2 * k)));
            }
        }
        let mut linv = vec![0f32; n.div_ceil(2) * width];
        let limit = match metric {
            None => Limit::Cond,
            Some(m) => Limit::Trace(LINV_MAX / m.lmax()),
        };
        // Column m of the cycle, (centred[m + i·P] / unit)_i, times Aᵀ when
        // weighted.
        // Arrays of the shapes' sizes: the build copies and clears them
        // once per window.
        assert!(c <= SHAPE_C && p <= SHAPE_P);
        let column = |m: usize| -> [f64; SHAPE_C] {
            let mut col = [0f64; SHAPE_C];
            for (i, x) in col.iter_mut().enumerate().take(c) {
                *x = centred[m + i * p] as f64 / unit;
            }
            match metric {
                Some(m) => {
                    let mut out = [0f64; SHAPE_C];
                    m.at_into(&col[..c], &mut out);
                    out
                }
                None => col,
            }
        };
        let dot =
            |a: &[f64; SHAPE_C], b: &[f64; SHAPE_C]| -> f64 { (0..c).map(|i| a[i] * b[i]).sum() };
        // Pairs `k0..` into `chunk`: the windows' factors, and the ill and
        // dependent positions among them (in position order). Each chunk
        // starts with a fresh window, so the chunks are independent and
        // give the same bits as one pass.
        let pairs = |k0: usize, chunk: &mut [f32]| -> Ill {
            let mut ill = Ill::default();
            // Columns 0..=P of the pair's window (columns 2k + 1 ..= 2k + 1 + P
            // of the cycle; seed 2k has 0..P-1, seed 2k + 1 has 1..=P) and
            // their Gram matrix. The next pair's window is this one shifted
            // by two, so each pair computes two new columns and their dot
            // products.
            let mut ext = [[0f64; SHAPE_C]; SHAPE_P + 1];
            let mut gram = [[0f64; SHAPE_P + 1]; SHAPE_P + 1];
            for (dk, out) in chunk.chunks_exact_mut(width).enumerate() {
                let first = 2 * (k0 + dk);
                let fresh = if dk == 0 { 0 } else { p - 1 };
                if dk > 0 {
                    ext.copy_within(2..=p, 0);
                    for row in &mut gram[..=p] {
                        row.copy_within(2..=p, 0);
                    }
                    gram.copy_within(2..=p, 0);
                }
                for j in fresh..=p {
                    ext[j] = column(first + 1 + j);
                    for i in 0..=j {
                        gram[i][j] = dot(&ext[i], &ext[j]);
                        gram[j][i] = gram[i][j];
                    }
                }
                for (seed, own) in [(0, 0), (1, p)] {
                    // Column order [1..P-1, own]: the first P-1 rows of the
                    // factor are the shared ones.
                    let mut order = [0usize; SHAPE_P];
                    for (j, o) in order.iter_mut().enumerate().take(p - 1) {
                        *o = j + 1;
                    }
                    order[p - 1] = own;
                    let mut g = [[0f64; SHAPE_P]; SHAPE_P];
                    for (a, row) in g.iter_mut().enumerate().take(p) {
                        for (b, x) in row.iter_mut().enumerate().take(p) {
                            *x = gram[order[a]][order[b]];
                        }
                    }
                    if let Some(l) = factor_gram(&g, p, limit) {
                        let mut at = 0;
                        for (j, row) in l.iter().enumerate().take(p - 1) {
                            for &x in &row[..=j] {
                                out[at] = x as f32;
                                at += 1;
                            }
                        }
                        for (o, &x) in out[shared + seed * p..][..p].iter_mut().zip(&l[p - 1]) {
                            *o = x as f32;
                        }
                        continue;
                    }
                    let pos = first + seed;
                    if pos >= n {
                        continue;
                    }
                    let mut natural = [[0f64; MAX_C]; MAX_P];
                    for (n, e) in natural.iter_mut().zip(&ext[seed..seed + p]) {
                        n[..c].copy_from_slice(&e[..c]);
                    }
                    match orthonormal(&natural, c, p) {
                        Some(q) => {
                            ill.pos.push(pos as u32);
                            ill.q.extend(q);
                        }
                        None => ill.dependent.push(pos as u32),
                    }
                }
            }
            ill
        };
        let chunks: Vec<Ill> = linv
            .par_chunks_mut(pairs_per_task * width)
            .enumerate()
            .map(|(i, chunk)| pairs(i * pairs_per_task, chunk))
            .collect();
        let (mut ill_pos, mut ill_q, mut dependent) = (Vec::new(), Vec::new(), Vec::new());
        for ill in chunks {
            ill_pos.extend(ill.pos);
            ill_q.extend(ill.q);
            dependent.extend(ill.dependent);
        }
        Fast {
            shape,
            isa,
            n,
            unit,
            u,
            steps,
            linv,
            ill_pos,
            ill_q,
            dependent,
        }
    }

    /// Positions not bounded by the f32 pass (bounded in f64 or always fitted).
    #[cfg(test)]
    fn ill_positions(&self) -> impl Iterator<Item = u32> + '_ {
        self.ill_pos.iter().chain(&self.dependent).copied()
    }

    /// Searches up to 8 blocks (`blocks[k]` has `C` weights) into `out[k]`.
    pub(crate) fn search_batch(&self, s: &Searcher, blocks: &[&[f32]], out: &mut [Found]) {
        match self.shape {
            Shape::C8P3 => self.batch::<8, 3, 9, 2>(s, None, blocks, out),
            Shape::C12P4 => self.batch::<12, 4, 14, 3>(s, None, blocks, out),
        }
    }

    /// [`Fast::search_batch`] for the weighted search `wt` (whose tables
    /// these are), below `cutoffs` as [`Weighted::search_batch_below`].
    pub(crate) fn search_batch_weighted(
        &self,
        s: &Searcher,
        wt: &Weighted,
        blocks: &[&[f32]],
        cutoffs: &[f64],
        out: &mut [Found],
    ) {
        let w = Some((wt, cutoffs));
        match self.shape {
            Shape::C8P3 => self.batch::<8, 3, 9, 2>(s, w, blocks, out),
            Shape::C12P4 => self.batch::<12, 4, 14, 3>(s, w, blocks, out),
        }
    }

    fn batch<const C: usize, const P: usize, const W: usize, const G: usize>(
        &self,
        s: &Searcher,
        weighted: Option<(&Weighted, &[f64])>,
        blocks: &[&[f32]],
        out: &mut [Found],
    ) {
        assert!(blocks.len() <= LANES && out.len() == blocks.len());
        let wt = weighted.map(|(wt, _)| wt);
        let mut b = Batch::<C>::new(blocks, wt);
        if let Some((_, cutoffs)) = weighted {
            b.start_below(cutoffs);
        }
        let w32 = b.w32;
        let live = b.active();
        let delta = b.delta(self.unit);
        let mut pass = Pass {
            u: &self.u,
            steps: &self.steps,
            delta: &delta,
            linv: &self.linv,
            w: &w32,
            base: [f32::INFINITY; LANES],
        };

        // (1) First candidate: smallest bound over a prefix of the cycle.
        for &l in &live {
            pass.base[l] = b.ww[l] as f32;
        }
        let first = ArgMin {
            min: [f32::INFINITY; LANES],
            arg: [0; LANES],
        };
        let first = kernel::run::<C, P, W, G, _>(self.isa, &pass, 0, PREFIX.min(self.n), first);
        for &l in &live {
            b.offer(s, l, first.arg[l] as usize);
        }

        // (2) Ill-conditioned windows, bounded in f64.
        let mut cands: Vec<Vec<(f64, u32)>> = vec![Vec::new(); LANES];
        let mut thr = [0f64; LANES];
        for &l in &live {
            thr[l] = b.threshold(l);
        }
        let mut bounds = Vec::with_capacity(self.ill_pos.len());
        kernel::ortho_bounds::<C, P>(self.isa, &self.ill_q, &b.zn, &b.ww, &mut bounds);
        for (&pos, r) in self.ill_pos.iter().zip(&bounds) {
            for &l in &live {
                if r[l] <= thr[l] {
                    cands[l].push((r[l], pos));
                }
            }
        }
        for &l in &live {
            cands[l].extend(self.dependent.iter().map(|&pos| (f64::NEG_INFINITY, pos)));
            b.fit_sorted(s, l, &mut cands[l]);
        }

        // (3) Every position, in chunks, fitting candidates after each chunk.
        let mut collect = Collect {
            hits: Box::new([(0, [0.0; LANES]); HIT_CAP]),
            len: 0,
        };
        let mut overflow = Vec::new();
        for start in (0..self.n).step_by(CHUNK) {
            for &l in &live {
                thr[l] = b.threshold(l);
                pass.base[l] = (b.ww[l] - thr[l]) as f32;
            }
            let end = (start + CHUNK).min(self.n);
            collect.len = 0;
            collect = kernel::run::<C, P, W, G, _>(self.isa, &pass, start, end, collect);
            let hits = if collect.len <= HIT_CAP {
                &collect.hits[..collect.len]
            } else {
                // Rare (e.g. weights so large that no exponent fits): redo
                // the chunk keeping every hit.
                overflow.clear();
                overflow = kernel::run::<C, P, W, G, _>(
                    self.isa,
                    &pass,
                    start,
                    end,
                    CollectAll { hits: overflow },
                )
                .hits;
                &overflow[..]
            };
            for &l in &live {
                let list = &mut cands[l];
                list.extend(
                    hits.iter()
                        .filter(|(_, acc)| acc[l] <= 0.0)
                        .map(|(pos, acc)| (acc[l] as f64 + thr[l], *pos)),
                );
                if list.len() >= FIT_AT {
                    b.fit_sorted(s, l, list);
                }
            }
        }
        for &l in &live {
            b.fit_sorted(s, l, &mut cands[l]);
        }
        out.copy_from_slice(&b.best[..blocks.len()]);
        for o in out.iter_mut() {
            if o.block.seed == NONE_BELOW {
                *o = Found {
                    block: Block::default(),
                    err: f64::INFINITY,
                };
            }
        }
        if let Some(wt) = wt {
            for (l, o) in out.iter_mut().enumerate() {
                if b.degenerate[l] {
                    *o = wt.search_naive(s, blocks[l]);
                }
            }
        }
    }
}

/// Pass visitor: each lane's smallest value and its position.
struct ArgMin {
    min: Lanes,
    arg: [u32; LANES],
}

impl Visit for ArgMin {
    #[inline(always)]
    fn visit(&mut self, pos: usize, acc: &Lanes) {
        // Branch-free: a lane mask picks the new position, so the lanes stay
        // one vector (checked in the assembly; iterator forms did not).
        #[allow(clippy::needless_range_loop)]
        for l in 0..LANES {
            let mask = 0u32.wrapping_sub((acc[l] < self.min[l]) as u32);
            self.arg[l] = (pos as u32 & mask) | (self.arg[l] & !mask);
            self.min[l] = self.min[l].min(acc[l]);
        }
    }
}

/// Hits kept by [`Collect`] per chunk.
const HIT_CAP: usize = 512;

/// Pass visitor: positions where some lane is below its threshold,
/// into a fixed buffer (no allocation, so no call, in the pass's loop);
/// `len > HIT_CAP` means it overflowed.
struct Collect {
    hits: Box<[(u32, Lanes); HIT_CAP]>,
    len: usize,
}

impl Visit for Collect {
    const NEGATIVE_ONLY: bool = true;

    #[inline(always)]
    fn visit(&mut self, pos: usize, acc: &Lanes) {
        // The pass skips pairs without a hit; of a pair with one, keep only
        // the position(s) that have it.
        if any_negative(acc) {
            if self.len < HIT_CAP {
                self.hits[self.len] = (pos as u32, *acc);
            }
            self.len += 1;
        }
    }
}

/// Pass visitor: like [`Collect`], without a limit.
struct CollectAll {
    hits: Vec<(u32, Lanes)>,
}

impl Visit for CollectAll {
    const NEGATIVE_ONLY: bool = true;

    #[inline(always)]
    fn visit(&mut self, pos: usize, acc: &Lanes) {
        if any_negative(acc) {
            self.hits.push((pos as u32, *acc));
        }
    }
}

/// The state of one batch of up to 8 blocks.
struct Batch<'a, const C: usize> {
    /// The weighted search, or `None` for the plain error.
    wt: Option<&'a Weighted>,
    /// Number of blocks in the batch.
    len: usize,
    /// Lane is a nonzero block (zero blocks and padding lanes are idle).
    live: [bool; LANES],
    /// Lane is a nonzero block with `||Aᵀw||²` zero or subnormal (idle in
    /// the pass, searched naively).
    degenerate: [bool; LANES],
    /// The blocks as given, f64.
    w64: [[f64; MAX_C]; LANES],
    /// What the pass correlates with the basis, normalised: `w · 2^k` per
    /// lane (exact), or `Mw · 2^k` when weighted; lane-major, f64.
    wn: [[f64; LANES]; C],
    /// The same as f32, for the pass.
    w32: [Lanes; C],
    /// What the f64 bound projects: `wn`, or `Aᵀw · 2^k` when weighted.
    zn: [[f64; LANES]; C],
    /// `4^k` per lane: normalised error = error · `scale2`.
    scale2: [f64; LANES],
    /// Normalised `||w||²` (or `||Aᵀw||²`), in `[0.5, 2]`.
    ww: [f64; LANES],
    /// Best exact result so far.
    best: [Found; LANES],
}

impl<'a, const C: usize> Batch<'a, C> {
    fn new(blocks: &[&[f32]], wt: Option<&'a Weighted>) -> Batch<'a, C> {
        let mut b = Batch {
            wt,
            len: blocks.len(),
            live: [false; LANES],
            degenerate: [false; LANES],
            w64: [[0.0; MAX_C]; LANES],
            wn: [[0.0; LANES]; C],
            w32: [[0.0; LANES]; C],
            zn: [[0.0; LANES]; C],
            scale2: [1.0; LANES],
            ww: [0.0; LANES],
            best: [zero_block(); LANES],
        };
        for (l, w) in blocks.iter().enumerate() {
            assert_eq!(w.len(), C, "block length must be C");
            for (o, &x) in b.w64[l].iter_mut().zip(w.iter()) {
                *o = x as f64;
            }
            if b.w64[l].iter().all(|&x| x == 0.0) {
                continue;
            }
            // The pass's vector and the projected one: w and w, or Mw and Aᵀw.
            let (v, z) = match wt {
                None => (b.w64[l], b.w64[l]),
                Some(wt) => {
                    let z = wt.metric().at(&b.w64[l][..C]);
                    (wt.metric().a(&z[..C]), z)
                }
            };
            let ss: f64 = z[..C].iter().map(|x| x * x).sum();
            if !ss.is_normal() {
                // A nonzero block a singular metric does not see (or one
                // whose error underflows): left to the naive search.
                b.degenerate[l] = true;
                continue;
            }
            // 2^k with ||z · 2^k||² ∈ [0.5, 2]; both scalings are exact.
            let k = (-0.5 * ss.log2()).round() as i32;
            let scale = 2f64.powi(k);
            b.scale2[l] = scale * scale;
            b.ww[l] = ss * b.scale2[l];
            for i in 0..C {
                b.wn[i][l] = v[i] * scale;
                b.w32[i][l] = b.wn[i][l] as f32;
                b.zn[i][l] = z[i] * scale;
            }
            b.live[l] = true;
            b.best[l].err = f64::INFINITY;
        }
        b
    }

    /// Starts each live lane's best at its cutoff (a placeholder of seed
    /// [`NONE_BELOW`] and error `cutoffs[l]`): the exactness argument of the
    /// module docs holds with it whenever the naive result's error `E` is
    /// at most the cutoff (`B.err >= E` throughout; an equal error
    /// replaces the placeholder, whose seed is above every real one), and
    /// otherwise no fit of error above the cutoff is kept.
    fn start_below(&mut self, cutoffs: &[f64]) {
        for (l, &cut) in cutoffs.iter().enumerate().take(self.len) {
            if self.live[l] && cut < f64::INFINITY {
                self.best[l] = Found {
                    block: Block {
                        seed: NONE_BELOW,
                        ..Block::default()
                    },
                    err: cut,
                };
            }
        }
    }

    /// The live lanes.
    fn active(&self) -> Vec<usize> {
        (0..self.len).filter(|&l| self.live[l]).collect()
    }

    /// Candidates of lane `l` whose normalised bound is at most this are fitted.
    fn threshold(&self, l: usize) -> f64 {
        self.best[l].err * self.scale2[l] + MARGIN
    }

    /// Fits position `pos` for lane `l` and keeps it if it beats the best
    /// (lower error, or equal error and lower seed).
    fn offer(&mut self, s: &Searcher, l: usize, pos: usize) {
        let f = match self.wt {
            None => s.fit_position(&self.w64[l], pos),
            Some(wt) => wt.fit_position(s, &self.w64[l], pos, self.best[l].err),
        };
        let best = &mut self.best[l];
        if f.err < best.err || (f.err == best.err && f.block.seed < best.block.seed) {
            *best = f;
        }
    }

    /// Fits lane `l`'s candidates `(bound, pos)` in increasing bound order
    /// while their bound is within the (tightening) threshold, and empties
    /// `list`.
    fn fit_sorted(&mut self, s: &Searcher, l: usize, list: &mut Vec<(f64, u32)>) {
        list.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        for &(bound, pos) in list.iter() {
            if bound > self.threshold(l) {
                break;
            }
            self.offer(s, l, pos as usize);
        }
        list.clear();
    }

    /// The per-batch step table of [`Pass::delta`]: for quad `g` and bit
    /// pattern `x`, `Σ_{k<4} w_{4g+k} · d(x >> 2k) / unit` with
    /// `d(f, a) = half·(2f - 1) - a/2` (normalised weights, f64 rounded once).
    fn delta(&self, unit: f64) -> Vec<[Lanes; QUAD_ROWS]> {
        let half = (unit + 1.0) / 2.0;
        let d = |bits: usize| half * (2.0 * (bits & 1) as f64 - 1.0) - (bits >> 1 & 1) as f64 / 2.0;
        let mut table = vec![[[0f32; LANES]; QUAD_ROWS]; C / 4];
        for (g, rows) in table.iter_mut().enumerate() {
            // Each weight's four possible terms, then the rows as sums of four.
            let mut terms = [[[0f64; LANES]; 4]; 4];
            for (k, t) in terms.iter_mut().enumerate() {
                for (bits, row) in t.iter_mut().enumerate() {
                    for (l, v) in row.iter_mut().enumerate() {
                        *v = self.wn[4 * g + k][l] * d(bits);
                    }
                }
            }
            for (x, row) in rows.iter_mut().enumerate() {
                for (l, out) in row.iter_mut().enumerate() {
                    let v: f64 = (0..4).map(|k| terms[k][x >> (2 * k) & 3][l]).sum();
                    *out = (v / unit) as f32;
                }
            }
        }
        table
    }
}

/// Window pairs per parallel task of [`Fast::build`] (a pair's factors take
/// microseconds; 65,536 positions make 16 tasks).
const BUILD_PAIRS: usize = 2048;

/// The windows of a run of pairs that the f32 pass does not bound, in
/// position order: as the fields of [`Fast`] of the same names.
#[derive(Default)]
struct Ill {
    /// Positions bounded in f64.
    pos: Vec<u32>,
    /// Their orthonormal bases.
    q: Vec<f64>,
    /// Positions always fitted.
    dependent: Vec<u32>,
}

/// Which windows the f32 pass bounds (the others are ill).
#[derive(Clone, Copy, Debug)]
enum Limit {
    /// `cond(G) <= COND_MAX` (the plain search).
    Cond,
    /// `tr(G⁻¹) = ||L⁻¹||_F² <=` this (the weighted search: `LINV_MAX / λ`,
    /// `λ` a bound on the metric's largest eigenvalue), which bounds the
    /// amplification of the pass's f32 errors as `cond` does in the plain
    /// search, without an eigenvalue computation per window.
    Trace(f64),
}

/// Largest `tr(G⁻¹)` of a window the weighted pass bounds, times the metric's
/// largest eigenvalue. The largest `tr(G⁻¹)` among the plain search's
/// windows with `cond(G) <= COND_MAX` is 405 at K = 16, C = 8 (40 at C = 12;
/// `test_linv_max_covers_the_plain_windows`); the pass's f32 error grows
/// like `sqrt(tr(G⁻¹))`, so 10x that allows about 3x the plain pass's
/// error, still well inside [`MARGIN`] / 8
/// (`test_margin_covers_weighted_f32_bound_error`). A lower limit sends
/// most windows of an ill-conditioned metric to the f64 bound (36630 of
/// 65535 at cond(M) = 1e5 with 450), which made the search 3x slower.
pub const LINV_MAX: f64 = 4000.0;

/// The Gram matrix `G_jk = cols_j · cols_k` of `P` columns of length `C`.
#[cfg(any(test, feature = "cuda"))]
fn gram(cols: &[[f64; MAX_C]; MAX_P], c: usize, p: usize) -> [[f64; MAX_P]; MAX_P] {
    let mut g = [[0f64; MAX_P]; MAX_P];
    for j in 0..p {
        for k in 0..p {
            g[j][k] = (0..c).map(|i| cols[j][i] * cols[k][i]).sum();
        }
    }
    g
}

/// Cholesky of a window's Gram matrix `g` (`P × P`) and its inverse factor,
/// or `None` (an ill window) when `G` is outside `limit` or not numerically
/// positive definite.
fn factor_gram<const N: usize>(g: &[[f64; N]; N], p: usize, limit: Limit) -> Option<[[f64; N]; N]> {
    if let Limit::Cond = limit {
        let (lo, hi) = eigen_range(*g, p);
        if lo <= 0.0 || hi > COND_MAX * lo {
            return None;
        }
    }
    let inv = inverse_factor(g, p)?;
    if let Limit::Trace(max) = limit {
        let tr = inverse_trace(&inv, p);
        if tr.is_nan() || tr > max {
            return None;
        }
    }
    Some(inv)
}

/// `L⁻¹` for `g = L Lᵀ` (`P × P`, Cholesky), or `None` when `g` is not
/// numerically positive definite.
pub(super) fn inverse_factor<const N: usize>(g: &[[f64; N]; N], p: usize) -> Option<[[f64; N]; N]> {
    let mut l = [[0f64; N]; N];
    for j in 0..p {
        for k in 0..=j {
            let s: f64 = g[j][k] - (0..k).map(|m| l[j][m] * l[k][m]).sum::<f64>();
            if k == j {
                if s <= 0.0 {
                    return None;
                }
                l[j][j] = s.sqrt();
            } else {
                l[j][k] = s / l[k][k];
            }
        }
    }
    // L⁻¹ by forward substitution on the identity.
    let mut inv = [[0f64; N]; N];
    #[allow(clippy::needless_range_loop)] // triangular indices read clearer
    for col in 0..p {
        for j in col..p {
            let rhs = if j == col { 1.0 } else { 0.0 };
            let s: f64 = (col..j).map(|m| l[j][m] * inv[m][col]).sum();
            let x = (rhs - s) / l[j][j];
            inv[j][col] = x;
        }
    }
    Some(inv)
}

/// `tr(G⁻¹) = ||L⁻¹||_F²` of an [`inverse_factor`], over the `P × P` used
/// (the zeros around it add nothing: the same sum).
pub(super) fn inverse_trace<const N: usize>(inv: &[[f64; N]; N], p: usize) -> f64 {
    inv[..p]
        .iter()
        .flat_map(|r| r[..p].iter())
        .map(|x| x * x)
        .sum()
}

/// [`factor_gram`] of the columns `cols` (`P` of length `C`) for the plain
/// search: `cond(G) <= COND_MAX`.
#[cfg(any(test, feature = "cuda"))]
pub(crate) fn factor(cols: &[[f64; MAX_C]; MAX_P], c: usize, p: usize) -> Option<Linv> {
    factor_gram(&gram(cols, c, p), p, Limit::Cond)
}

/// Smallest and largest eigenvalue of the symmetric `p × p` matrix `a`
/// (cyclic Jacobi rotations).
fn eigen_range<const N: usize>(mut a: [[f64; N]; N], p: usize) -> (f64, f64) {
    for _ in 0..50 {
        let off: f64 = (0..p)
            .flat_map(|i| (0..p).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let diag: f64 = (0..p).map(|i| a[i][i] * a[i][i]).sum();
        if off <= 1e-30 * diag {
            break;
        }
        for i in 0..p {
            for j in i + 1..p {
                if a[i][j] == 0.0 {
                    continue;
                }
                let theta = (a[j][j] - a[i][i]) / (2.0 * a[i][j]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let cs = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * cs;
                for row in a.iter_mut().take(p) {
                    let (x, y) = (row[i], row[j]);
                    row[i] = cs * x - sn * y;
                    row[j] = sn * x + cs * y;
                }
                let (ri, rj) = (a[i], a[j]);
                for (k, (x, y)) in ri.iter().zip(&rj).enumerate().take(p) {
                    a[i][k] = cs * x - sn * y;
                    a[j][k] = sn * x + cs * y;
                }
            }
        }
    }
    let d = (0..p).map(|i| a[i][i]);
    (
        d.clone().fold(f64::INFINITY, f64::min),
        d.fold(f64::NEG_INFINITY, f64::max),
    )
}

/// Orthonormal basis of `cols` by modified Gram–Schmidt with one
/// re-orthogonalisation pass, column `j` at `[j·C, (j+1)·C)`; `None` if a
/// column is (numerically) in the span of the previous ones.
pub(crate) fn orthonormal(cols: &[[f64; MAX_C]; MAX_P], c: usize, p: usize) -> Option<Vec<f64>> {
    let mut q = vec![0f64; c * p];
    for j in 0..p {
        let mut v: Vec<f64> = cols[j][..c].to_vec();
        let norm0 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for _ in 0..2 {
            for k in 0..j {
                let qk = &q[k * c..(k + 1) * c];
                let d: f64 = qk.iter().zip(&v).map(|(a, b)| a * b).sum();
                for (x, a) in v.iter_mut().zip(qk) {
                    *x -= d * a;
                }
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm <= RANK_TOL * norm0 {
            return None;
        }
        for (o, x) in q[j * c..(j + 1) * c].iter_mut().zip(&v) {
            *o = x / norm;
        }
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    /// Pass visitor: every position's value.
    struct Record {
        acc: Vec<Lanes>,
    }

    impl Visit for Record {
        fn visit(&mut self, _pos: usize, acc: &Lanes) {
            self.acc.push(*acc);
        }
    }

    /// Largest `|f32 bound - f64 bound|` over all well-conditioned positions
    /// for `batches` batches of 8 random blocks (N(0,1) times 10^-4..10^2),
    /// plain or under the metric of the weighted search `wt`.
    fn max_bound_error<const C: usize, const P: usize, const W: usize, const G: usize>(
        cfg: Config,
        isa: Isa,
        batches: usize,
        metric: Option<&Metric>,
    ) -> f64 {
        let s = Searcher::new(cfg).unwrap();
        let f = Fast::build(
            Fast::new(&cfg, &s.centred).unwrap().shape,
            isa,
            &cfg,
            &s.centred,
            metric,
            BUILD_PAIRS,
        );
        let wt = metric.map(|m| Weighted::new(&s, m.clone(), false));
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let ill: std::collections::HashSet<u32> = f.ill_positions().collect();
        println!("{cfg}: {} ill windows", ill.len());
        let mut worst = 0f64;
        for _ in 0..batches {
            let w: Vec<Vec<f32>> = (0..LANES)
                .map(|_| {
                    let scale = 10f64.powf(rng.gen_range(-4.0..2.0));
                    (0..C)
                        .map(|_| (rng.sample::<f64, _>(StandardNormal) * scale) as f32)
                        .collect()
                })
                .collect();
            let refs: Vec<&[f32]> = w.iter().map(|b| b.as_slice()).collect();
            let b = Batch::<C>::new(&refs, wt.as_ref());
            let delta = b.delta(f.unit);
            let pass = Pass {
                u: &f.u,
                steps: &f.steps,
                delta: &delta,
                linv: &f.linv,
                w: &b.w32,
                base: b.ww.map(|x| x as f32),
            };
            let rec = kernel::run::<C, P, W, G, _>(isa, &pass, 0, f.n, Record { acc: Vec::new() });
            let unit = cfg.unit();
            let mut cols = [[0f64; MAX_C]; MAX_P];
            for (pos, acc) in rec.acc.iter().enumerate() {
                if ill.contains(&(pos as u32)) {
                    continue;
                }
                let win = &s.centred[pos + 1..pos + 1 + C * P];
                for (j, col) in cols.iter_mut().enumerate().take(P) {
                    for (i, x) in col.iter_mut().enumerate().take(C) {
                        *x = win[i * P + j] as f64 / unit;
                    }
                    if let Some(m) = metric {
                        *col = m.at(&col[..C]);
                    }
                }
                let l = match metric {
                    None => factor(&cols, C, P),
                    Some(m) => {
                        factor_gram(&gram(&cols, C, P), P, Limit::Trace(LINV_MAX / m.lmax()))
                    }
                };
                let Some(l) = l else {
                    panic!("position {pos} is ill but not listed")
                };
                for (lane, &got) in acc.iter().enumerate() {
                    let bv: Vec<f64> = (0..P)
                        .map(|j| (0..C).map(|i| cols[j][i] * b.zn[i][lane]).sum())
                        .collect();
                    let yy: f64 = (0..P)
                        .map(|j| (0..=j).map(|k| l[j][k] * bv[k]).sum::<f64>().powi(2))
                        .sum();
                    worst = worst.max((got as f64 - (b.ww[lane] - yy)).abs());
                }
            }
        }
        worst
    }

    #[test]
    fn test_margin_covers_f32_bound_error() {
        for isa in [Isa::detect(), Isa::portable()] {
            let e4 = max_bound_error::<8, 3, 9, 2>(Config::BITS4, isa, 6, None);
            let e3 = max_bound_error::<12, 4, 14, 3>(Config::BITS3, isa, 6, None);
            println!("{isa:?}: max |f32 - f64 bound| 4-bit {e4:.3e}, 3-bit {e3:.3e}, margin {MARGIN:.3e}");
            assert!(e4 <= MARGIN / 8.0 && e3 <= MARGIN / 8.0);
        }
    }

    /// A random metric factor of condition number about `cond`: `A = Q D`
    /// with `Q` from a random matrix's QR-free Gram–Schmidt and `D`
    /// log-spaced from 1 to `1/sqrt(cond)`... (kept simple: a random
    /// matrix times a log-spaced diagonal).
    fn random_metric(cfg: &Config, cond: f64, seed: u64) -> Metric {
        let c = cfg.c;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut a = vec![0f64; c * c];
        for i in 0..c {
            for j in 0..c {
                let d = cond.powf(-0.5 * j as f64 / (c - 1) as f64);
                a[i * c + j] = rng.sample::<f64, _>(StandardNormal) * d;
            }
        }
        Metric::new(cfg, &a).unwrap()
    }

    #[test]
    fn test_margin_covers_weighted_f32_bound_error() {
        let isa = Isa::detect();
        for (k, cond) in [1e1, 1e3, 1e5].into_iter().enumerate() {
            let m4 = random_metric(&Config::BITS4, cond, k as u64);
            let m3 = random_metric(&Config::BITS3, cond, 10 + k as u64);
            let e4 = max_bound_error::<8, 3, 9, 2>(Config::BITS4, isa, 2, Some(&m4));
            let e3 = max_bound_error::<12, 4, 14, 3>(Config::BITS3, isa, 2, Some(&m3));
            println!("cond {cond:e}: weighted max |f32 - f64 bound| 4-bit {e4:.3e}, 3-bit {e3:.3e}, margin {MARGIN:.3e}");
            assert!(e4 <= MARGIN / 8.0 && e3 <= MARGIN / 8.0);
        }
    }

    #[test]
    fn test_linv_max_covers_the_plain_windows() {
        let mut largest = 0f64;
        for cfg in [Config::BITS4, Config::BITS3] {
            let s = Searcher::new(cfg).unwrap();
            let (c, p) = (cfg.c, cfg.p);
            let mut worst = 0f64;
            let mut cols = [[0f64; MAX_C]; MAX_P];
            for pos in 0..cfg.num_seeds() as usize {
                let win = s.window(pos);
                for (j, col) in cols.iter_mut().enumerate().take(p) {
                    for (i, x) in col.iter_mut().enumerate().take(c) {
                        *x = win[i * p + j] as f64 / cfg.unit();
                    }
                }
                if let Some(l) = factor(&cols, c, p) {
                    let tr: f64 = l.iter().flat_map(|r| r.iter()).map(|x| x * x).sum();
                    worst = worst.max(tr);
                }
            }
            println!("{cfg}: largest tr(G^-1) of a well window {worst:.1}");
            assert!(worst <= LINV_MAX, "{worst}");
            largest = largest.max(worst);
        }
        assert!(largest > LINV_MAX / 12.0, "LINV_MAX is loose: {largest}");
    }

    #[test]
    fn test_tables_do_not_depend_on_the_build_tasks() {
        // K = 12 has ill and dependent windows in both shapes.
        for (c, p) in [(8, 3), (12, 4)] {
            let cfg = Config::new(c, p, 12).unwrap();
            let s = Searcher::new(cfg).unwrap();
            let shape = Fast::new(&cfg, &s.centred).unwrap().shape;
            let metric = Metric::new(
                &cfg,
                &(0..c * c)
                    .map(|i| if i % (c + 1) == 0 { 1.0 } else { 0.1 })
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            for m in [None, Some(&metric)] {
                let build = |pairs| Fast::build(shape, Isa::detect(), &cfg, &s.centred, m, pairs);
                let one = build(1 << 20); // one task
                assert!(!one.ill_pos.is_empty(), "{cfg}: no ill window to split");
                for pairs in [1, 5, 77] {
                    let many = build(pairs);
                    let bits = |f: &Fast| f.linv.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert!(bits(&one) == bits(&many), "{cfg}, {pairs} pairs per task");
                    assert_eq!(one.ill_pos, many.ill_pos);
                    assert_eq!(
                        one.ill_q.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        many.ill_q.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                    );
                    assert_eq!(one.dependent, many.dependent);
                }
            }
        }
    }

    #[test]
    fn test_few_windows_need_the_f64_bound() {
        for cfg in [Config::BITS4, Config::BITS3] {
            let s = Searcher::new(cfg).unwrap();
            let n = s.fast.as_ref().unwrap().ill_positions().count();
            println!("{cfg}: {n} windows with cond(G) > {COND_MAX}");
            assert!(
                n > 0 && n < cfg.num_seeds() as usize / 50,
                "{cfg}: {n} ill windows"
            );
        }
    }

    #[test]
    fn test_orthonormal_basis_and_rank() {
        let mut cols = [[0f64; MAX_C]; MAX_P];
        for (j, col) in cols.iter_mut().enumerate().take(3) {
            for (i, x) in col.iter_mut().enumerate().take(8) {
                *x = ((i * 7 + j * 3) % 5) as f64 - 2.0 + 0.1 * j as f64;
            }
        }
        let q = orthonormal(&cols, 8, 3).unwrap();
        for a in 0..3 {
            for b in 0..3 {
                let d: f64 = (0..8).map(|i| q[a * 8 + i] * q[b * 8 + i]).sum();
                assert!((d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        cols[2] = cols[0].map(|x| 2.0 * x);
        assert!(orthonormal(&cols, 8, 3).is_none());
        assert!(factor(&cols, 8, 3).is_none());
    }
}
