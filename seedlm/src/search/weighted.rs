//! The weighted search of the calibrated mode: each block minimises
//! `(w - ŵ)ᵀ M (w - ŵ)` for a `C × C` metric `M = A Aᵀ` shared by a column
//! group (see [`crate::gptq`] for where `M` comes from), exactly, over every
//! seed, exponent and coefficient vector considered.
//!
//! **Fit.** For one seed, with `z = Aᵀw` and `V = Aᵀ U` (`U` the seed's basis
//! scaled to `[-1, 1]`), the error of mantissas `q` at exponent `e` is
//! `||z - V q 2^e||²`. The least-squares `t = argmin ||z - V t||` is
//! computed in f64 (modified Gram–Schmidt, as [`crate::block::least_squares`]).
//! For each exponent the rounded vector `q_j = clamp(round(t_j / 2^e))` and,
//! with neighbour rounding, every vector with each `q_j` moved by `-1, 0, +1`
//! (clamped; `3^P` candidates) are scored; the smallest error wins, ties
//! going to the lowest exponent, then to the first candidate in the order
//! `-1, 0, +1` per coefficient, the first coefficient slowest. Candidates
//! are screened by a certified bound on their error (`P²` work each) and
//! only those that can win get the exact error (see the private `fit`).
//!
//! **Search.** [`Weighted::search_naive`] fits every seed; the fast path is
//! the bound pass of [`super::fast`] over tables built for `M` (the pass
//! bounds `||z||² - bᵀG⁻¹b` with `b = Uᵀ(Mw)`, `G = UᵀMU`), which returns
//! the same block. Errors are in the units of the normalised metric
//! ([`Metric::new`]).

use super::fast::{inverse_factor, inverse_trace, Fast};
use super::{zero_block, Found, Searcher};
use crate::block::{Block, Fit};
use crate::config::{Config, EXP_MAX, EXP_MIN, MAX_C, MAX_P, Q_MAX, Q_MIN};
use crate::error::{Error, Result};

/// A block metric `M = A Aᵀ`, `A` scaled by a power of two so that
/// `||A||_F² ∈ (1/4, 1]` (so `M`'s largest eigenvalue is at most 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Block length.
    c: usize,
    /// `A`, row-major, `C × C` used.
    a: [[f64; MAX_C]; MAX_C],
    /// An upper bound on the largest eigenvalue of `M` (Gershgorin), at most 1.
    lmax: f64,
}

impl Metric {
    /// The metric of the factor `a` (`C × C`, row-major, finite, nonzero).
    pub fn new(cfg: &Config, a: &[f64]) -> Result<Metric> {
        let c = cfg.c;
        if a.len() != c * c || a.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "a metric factor needs {} finite entries, got {}",
                c * c,
                a.len()
            )));
        }
        let ss: f64 = a.iter().map(|x| x * x).sum();
        if ss == 0.0 {
            return Err(Error::InvalidInput("the metric factor is zero".into()));
        }
        // 2^k with ||A 2^k||_F² in (1/4, 1]: exact.
        let k = (-0.5 * ss.log2()).floor() as i32;
        let k = if ss * 4f64.powi(k) > 1.0 { k - 1 } else { k };
        let scale = 2f64.powi(k);
        let mut m = Metric {
            c,
            a: [[0.0; MAX_C]; MAX_C],
            lmax: 0.0,
        };
        for (i, row) in a.chunks_exact(c).enumerate() {
            for (j, &x) in row.iter().enumerate() {
                m.a[i][j] = x * scale;
            }
        }
        // Gershgorin on M = A Aᵀ, and trace(M) = ||A||_F² <= 1 also bounds it.
        let dot = |i: usize, j: usize| -> f64 { (0..c).map(|k| m.a[i][k] * m.a[j][k]).sum() };
        let gersh = (0..c)
            .map(|i| (0..c).map(|j| dot(i, j).abs()).sum::<f64>())
            .fold(0f64, f64::max);
        m.lmax = gersh.min(ss * scale * scale);
        Ok(m)
    }

    /// The identity metric (the data-free error, for neighbour rounding).
    pub fn identity(cfg: &Config) -> Metric {
        let mut a = vec![0.0; cfg.c * cfg.c];
        for i in 0..cfg.c {
            a[i * cfg.c + i] = 1.0;
        }
        Metric::new(cfg, &a).expect("the identity is a valid factor")
    }

    /// The scaled factor `A`, row-major, `C × C` (the GPU search uploads it).
    #[cfg(feature = "cuda")]
    pub(crate) fn factor_rows(&self) -> Vec<f64> {
        (0..self.c)
            .flat_map(|i| self.a[i][..self.c].iter().copied())
            .collect()
    }

    /// An upper bound on the largest eigenvalue of `M`, at most 1.
    pub(crate) fn lmax(&self) -> f64 {
        self.lmax
    }

    /// `Aᵀ x` for a block `x` (`C` entries), as a vector.
    pub fn factor_t(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(x.len(), self.c, "a block has C entries");
        self.at(x)[..self.c].to_vec()
    }

    /// `Aᵀ x` for a block `x`.
    pub(crate) fn at(&self, x: &[f64]) -> [f64; MAX_C] {
        let mut out = [0f64; MAX_C];
        self.at_into(x, &mut out);
        out
    }

    /// `Aᵀ x` for a block `x` added to `out` (at least `C` entries; zeros
    /// give `Aᵀ x`).
    pub(crate) fn at_into(&self, x: &[f64], out: &mut [f64]) {
        for (i, &xi) in x.iter().enumerate().take(self.c) {
            for (o, &aij) in out.iter_mut().zip(&self.a[i][..self.c]) {
                *o += aij * xi;
            }
        }
    }

    /// `A y`.
    pub(crate) fn a(&self, y: &[f64]) -> [f64; MAX_C] {
        let mut out = [0f64; MAX_C];
        for (o, row) in out.iter_mut().zip(&self.a).take(self.c) {
            *o = row[..self.c].iter().zip(y).map(|(a, b)| a * b).sum();
        }
        out
    }

    /// `Aᵀ` applied to each of the `p` columns of a window of a centred
    /// basis (`u[i·P + j]`, scaled by `1 / unit`): `V = Aᵀ U`, column-major.
    pub(crate) fn transform(&self, u: &[i32], p: usize, unit: f64) -> [[f64; MAX_C]; MAX_P] {
        let mut v = [[0f64; MAX_C]; MAX_P];
        for (j, col) in v.iter_mut().enumerate().take(p) {
            let mut x = [0f64; MAX_C];
            for (i, xi) in x.iter_mut().enumerate().take(self.c) {
                *xi = u[i * p + j] as f64 / unit;
            }
            *col = self.at(&x);
        }
        v
    }
}

/// Least squares `t = argmin ||z - V t||` over `p` columns of length `c`
/// (modified Gram–Schmidt; a column whose remaining norm falls below `1e-9`
/// of its own is dropped, `t_j = 0`).
fn least_squares(v: &[[f64; MAX_C]; MAX_P], z: &[f64], c: usize, p: usize) -> [f64; MAX_P] {
    let mut q = *v;
    let mut r = [[0f64; MAX_P]; MAX_P];
    let mut keep = [false; MAX_P];
    for j in 0..p {
        let norm0 = q[j][..c].iter().map(|x| x * x).sum::<f64>().sqrt();
        for k in 0..j {
            if !keep[k] {
                continue;
            }
            let d: f64 = (0..c).map(|i| q[k][i] * q[j][i]).sum();
            r[k][j] = d;
            let (done, rest) = q.split_at_mut(j);
            for (x, y) in rest[0][..c].iter_mut().zip(&done[k][..c]) {
                *x -= d * y;
            }
        }
        let norm = q[j][..c].iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-9 * norm0 && norm > 0.0 {
            keep[j] = true;
            r[j][j] = norm;
            for x in &mut q[j][..c] {
                *x /= norm;
            }
        }
    }
    let mut qtz = [0f64; MAX_P];
    for j in 0..p {
        if keep[j] {
            qtz[j] = (0..c).map(|i| q[j][i] * z[i]).sum();
        }
    }
    let mut t = [0f64; MAX_P];
    for j in (0..p).rev() {
        if keep[j] {
            let s: f64 = (j + 1..p)
                .filter(|&k| keep[k])
                .map(|k| r[j][k] * t[k])
                .sum();
            t[j] = (qtz[j] - s) / r[j][j];
        }
    }
    t
}

/// `clamp(round(x), Q_MIN, Q_MAX)`, half away from zero (NaN gives 0).
fn quantize(x: f64) -> i8 {
    let r = x.round();
    if r.is_nan() {
        0
    } else {
        r.clamp(Q_MIN as f64, Q_MAX as f64) as i8
    }
}

/// Relative slack of the screened candidate errors: for the candidates of
/// one rounded vector `r` at scale `s`, the screened error and the exact one
/// differ by at most `SCREEN_EPS · (||z|| + s Σ_j (|r_j| + 1) ||v_j||)²`
/// (both are short f64 sums of terms bounded by that square, rounded within
/// a few tens of ulps; `test_screen_eps_covers_the_screened_error`).
const SCREEN_EPS: f64 = 1.0 / (1u64 << 40) as f64;

/// `||z||²` range where the screen is used (far from f64 underflow and
/// overflow, so the rounding errors are relative as [`SCREEN_EPS`]
/// assumes); outside it every candidate gets the exact error.
const SCREEN_RANGE: (f64, f64) = (1e-150, 1e150);

/// The screen of one fit: `b = Vᵀz` and `G = VᵀV`, from which the error
/// `||z||² - 2s qᵀb + s² qᵀGq` of every candidate `q` is bounded in a few
/// operations per candidate instead of `C·P`.
struct Screen {
    p: usize,
    zz: f64,
    /// `||z||`.
    zn: f64,
    b: [f64; MAX_P],
    g: [[f64; MAX_P]; MAX_P],
    /// `||v_j||`.
    norm: [f64; MAX_P],
    /// The floor of each exponent's errors, where `G` is well enough
    /// conditioned.
    floor: Option<Floor>,
}

/// A lower bound on the errors of an exponent's candidates from their
/// distance to the least-squares coefficients `t`: in real arithmetic, with
/// `F(x) = ||z||² - 2xᵀb + xᵀGx`, `r = Gt - b` and `λ ≤ λ_min(G)`,
/// `F(x) ≥ F(t) - 2ρ||r|| + λρ²` for `ρ = ||x - t||`, and every candidate
/// `x = s q` of a rounded vector `base` has `ρ ≥ ||s·base - t||` (each
/// `base_j` is the in-range integer nearest to `t_j / s`).
struct Floor {
    t: [f64; MAX_P],
    /// `F(t)`.
    ft: f64,
    /// `||r||`.
    rn: f64,
    /// `1 / (2 tr(G⁻¹))`: at most `λ_min(G)` with room for rounding.
    lambda: f64,
    /// `Σ_j |t_j| ||v_j||`, for the slack.
    tsize: f64,
}

/// Largest `tr(G⁻¹) · max_j G_jj` (about `cond(G)`) for which a fit uses
/// the [`Floor`]: far inside the range where `tr(G⁻¹)` computed in f64 is
/// within a factor 2 of the true one.
const FLOOR_COND_MAX: f64 = 1e8;

impl Floor {
    /// The floor of the screen's `b`, `G` at `t`, or `None` if `G` is not
    /// positive definite or too ill-conditioned.
    fn new(sc: &Screen, t: &[f64; MAX_P]) -> Option<Floor> {
        let p = sc.p;
        let (mut ft, mut rn, mut tsize) = (sc.zz, 0.0, 0.0);
        for j in 0..p {
            let gt: f64 = (0..p).map(|k| sc.g[j][k] * t[k]).sum();
            ft += t[j] * (gt - 2.0 * sc.b[j]);
            rn += (gt - sc.b[j]).powi(2);
            tsize += t[j].abs() * sc.norm[j];
        }
        let tr = inverse_trace(&inverse_factor(&sc.g, p)?, p);
        let gmax = (0..p).map(|j| sc.g[j][j]).fold(0.0, f64::max);
        let cond = tr * gmax;
        if cond.is_nan() || cond > FLOOR_COND_MAX || !ft.is_finite() || !tsize.is_finite() {
            return None;
        }
        Some(Floor {
            t: *t,
            ft,
            rn: rn.sqrt(),
            lambda: 0.5 / tr,
            tsize,
        })
    }
}

impl Screen {
    /// The screen of `V` and `z`, or `None` when `||z||²` is outside
    /// [`SCREEN_RANGE`].
    fn new(
        v: &[[f64; MAX_C]; MAX_P],
        z: &[f64],
        zz: f64,
        t: &[f64; MAX_P],
        c: usize,
        p: usize,
    ) -> Option<Screen> {
        if !(zz > SCREEN_RANGE.0 && zz < SCREEN_RANGE.1) {
            return None;
        }
        let mut sc = Screen {
            p,
            zz,
            zn: zz.sqrt(),
            b: [0.0; MAX_P],
            g: [[0.0; MAX_P]; MAX_P],
            norm: [0.0; MAX_P],
            floor: None,
        };
        for j in 0..p {
            sc.b[j] = (0..c).map(|i| v[j][i] * z[i]).sum();
            for k in 0..p {
                sc.g[j][k] = (0..c).map(|i| v[j][i] * v[k][i]).sum();
            }
            sc.norm[j] = sc.g[j][j].sqrt();
        }
        sc.floor = Floor::new(&sc, t);
        Some(sc)
    }

    /// `Σ_j (|base_j| + 1) ||v_j||`: bounds `Σ_j |q_j| ||v_j||` for every
    /// candidate of `base`.
    fn size(&self, base: &[i8; MAX_P]) -> f64 {
        (0..self.p)
            .map(|j| (base[j].unsigned_abs() as f64 + 1.0) * self.norm[j])
            .sum()
    }

    /// A lower bound on the exact error of every candidate of `base` at
    /// scale `s` (the [`Floor`] less four times the screen's slack, which
    /// also covers the rounding of the floor's terms), or -inf without a
    /// floor.
    fn floor(&self, base: &[i8; MAX_P], s: f64) -> f64 {
        let Some(f) = &self.floor else {
            return f64::NEG_INFINITY;
        };
        let d2: f64 = (0..self.p)
            .map(|j| (s * base[j] as f64 - f.t[j]).powi(2))
            .sum();
        let rho = d2.sqrt().max(f.rn / f.lambda);
        let slack = 4.0 * SCREEN_EPS * (self.zn + s * self.size(base) + f.tsize).powi(2);
        f.ft - 2.0 * rho * f.rn + f.lambda * rho * rho - slack
    }

    /// Calls `visit(q, lower, upper)` for every candidate `q = base + d`
    /// (`d_j` from `steps`) whose coefficients are all in range, in the
    /// order of the module docs, with bounds on its exact error at scale
    /// `s`. A candidate left out because it was clamped equals the one with
    /// `d_j = 0` there, which is visited: same vector, same error.
    fn candidates(
        &self,
        base: &[i8; MAX_P],
        s: f64,
        steps: &[i8],
        mut visit: impl FnMut(&[i8; MAX_P], f64, f64),
    ) {
        let p = self.p;
        let slack = SCREEN_EPS * (self.zn + s * self.size(base)).powi(2);
        // Depth-first over the coefficients, the first one slowest. At
        // depth j: lin = Σ_{k<j} q_k b_k, quad = Σ_{k,l<j} q_k G_kl q_l and
        // gq[m] = Σ_{k<j} G_mk q_k.
        let mut lin = [0f64; MAX_P + 1];
        let mut quad = [0f64; MAX_P + 1];
        let mut gq = [[0f64; MAX_P]; MAX_P + 1];
        let mut step = [0usize; MAX_P];
        let mut q = [0i8; MAX_P];
        let mut j = 0;
        loop {
            if step[j] == steps.len() {
                if j == 0 {
                    return;
                }
                step[j] = 0;
                j -= 1;
                step[j] += 1;
                continue;
            }
            let qj = base[j] + steps[step[j]];
            if !(Q_MIN..=Q_MAX).contains(&qj) {
                step[j] += 1;
                continue;
            }
            q[j] = qj;
            let x = qj as f64;
            lin[j + 1] = lin[j] + x * self.b[j];
            quad[j + 1] = quad[j] + x * (2.0 * gq[j][j] + x * self.g[j][j]);
            if j + 1 == p {
                let e = self.zz - 2.0 * s * lin[p] + s * s * quad[p];
                visit(&q, e - slack, e + slack);
                step[j] += 1;
            } else {
                let (done, next) = gq.split_at_mut(j + 1);
                for ((o, &a), g) in next[0][j + 1..p]
                    .iter_mut()
                    .zip(&done[j][j + 1..p])
                    .zip(&self.g[j + 1..p])
                {
                    *o = a + g[j] * x;
                }
                j += 1;
            }
        }
    }
}

/// The exact error `Σ_i (z_i - s (V q)_i)²` of coefficients `q` at scale
/// `s` (`V`'s `P` columns of length `C`).
fn exact_error(
    v: &[[f64; MAX_C]; MAX_P],
    z: &[f64],
    q: &[i8; MAX_P],
    s: f64,
    c: usize,
    p: usize,
) -> f64 {
    (0..c)
        .map(|i| {
            let r: f64 = (0..p).map(|j| v[j][i] * q[j] as f64).sum();
            (z[i] - r * s).powi(2)
        })
        .sum()
}

/// The `k`-th candidate of `base` in the order of the module docs: each
/// coefficient moved by a step of `steps` (the last coefficient fastest)
/// and clamped.
fn candidate(base: &[i8; MAX_P], steps: &[i8], p: usize, k: usize) -> [i8; MAX_P] {
    let mut q = [0i8; MAX_P];
    let mut rest = k;
    for j in (0..p).rev() {
        let d = steps[rest % steps.len()];
        rest /= steps.len();
        q[j] = (base[j] + d).clamp(Q_MIN, Q_MAX);
    }
    q
}

/// Fits one seed's window `u` (`C·P` centred entries) to `z = Aᵀw` under
/// `m` (see the module docs); `neighbours` scores the `3^P` neighbours of
/// each rounded vector too. Only a fit of error at most `cutoff` is wanted:
/// when the seed's error is above it, the result is some fit of error above
/// `cutoff` (possibly none: infinite error).
///
/// The result is the first candidate, in the order of the module docs, of
/// smallest exact error `Σ_i (z_i - s (V q)_i)²`. To find it cheaply, every
/// candidate's error is first bounded by a [`Screen`]; with `upper` the
/// smallest upper bound (or `cutoff` if smaller), only the candidates whose
/// lower bound is at most `upper` can reach the smallest error (or the
/// cutoff), and only they get the exact error, in the same order, so the
/// same candidate wins.
pub(crate) fn fit(
    cfg: &Config,
    m: &Metric,
    u: &[i32],
    z: &[f64],
    neighbours: bool,
    cutoff: f64,
) -> Fit {
    let (c, p) = (cfg.c, cfg.p);
    let v = m.transform(u, p, cfg.unit());
    let t = least_squares(&v, z, c, p);
    let zz: f64 = z[..c].iter().map(|x| x * x).sum();
    let steps: &[i8] = if neighbours { &[-1, 0, 1] } else { &[0] };
    let rounded = |exp: i8| -> (f64, [i8; MAX_P]) {
        let s = (exp as f64).exp2();
        let mut base = [0i8; MAX_P];
        for j in 0..p {
            base[j] = quantize(t[j] / s);
        }
        (s, base)
    };
    let exact = |q: &[i8; MAX_P], s: f64| -> f64 {
        if *q == [0; MAX_P] {
            zz
        } else {
            exact_error(&v, z, q, s, c, p)
        }
    };
    let mut best = Fit {
        exp: EXP_MIN,
        q: [0; MAX_P],
        err: f64::INFINITY,
    };
    let mut offer = |exp: i8, q: &[i8; MAX_P], s: f64| {
        let err = exact(q, s);
        if err < best.err {
            best = Fit { exp, q: *q, err };
        }
    };
    let Some(sc) = Screen::new(&v, z, zz, &t, c, p) else {
        for exp in EXP_MIN..=EXP_MAX {
            let (s, base) = rounded(exp);
            for k in 0..steps.len().pow(p as u32) {
                offer(exp, &candidate(&base, steps, p, k), s);
            }
        }
        return best;
    };
    // Per exponent, the smallest lower bound of its candidates (+inf for
    // the exponents never screened); the smallest upper bound of all.
    // Exponents are screened in increasing order of their floor, until the
    // floor is above `upper`: none of their candidates can win.
    let mut lowest = [f64::INFINITY; (EXP_MAX - EXP_MIN + 1) as usize];
    let mut upper = cutoff;
    let mut order = [(0f64, 0i8); (EXP_MAX - EXP_MIN + 1) as usize];
    for (o, exp) in order.iter_mut().zip(EXP_MIN..=EXP_MAX) {
        let (s, base) = rounded(exp);
        *o = (sc.floor(&base, s), exp);
    }
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    for (floor, exp) in order {
        if floor > upper {
            break;
        }
        let (s, base) = rounded(exp);
        let x = (exp - EXP_MIN) as usize;
        sc.candidates(&base, s, steps, |_, lo, hi| {
            lowest[x] = lowest[x].min(lo);
            upper = upper.min(hi);
        });
    }
    for (x, exp) in (EXP_MIN..=EXP_MAX).enumerate() {
        if lowest[x] <= upper {
            let (s, base) = rounded(exp);
            sc.candidates(&base, s, steps, |q, lo, _| {
                if lo <= upper {
                    offer(exp, q, s);
                }
            });
        }
    }
    best
}

/// Search tables for one metric (one column group): the fast path's tables
/// built for `M`, or none for shapes the fast kernel does not cover.
pub struct Weighted {
    metric: Metric,
    neighbours: bool,
    fast: Option<Fast>,
}

impl Weighted {
    /// Builds the tables of `metric` for `s`'s configuration; `neighbours`
    /// turns on neighbour rounding in every fit.
    pub fn new(s: &Searcher, metric: Metric, neighbours: bool) -> Weighted {
        let fast = Fast::new_weighted(&s.cfg, &s.centred, &metric);
        Weighted {
            metric,
            neighbours,
            fast,
        }
    }

    /// The reference search alone (no fast-path tables): for the blocks the
    /// GPU search leaves to the host.
    #[cfg(feature = "cuda")]
    pub(crate) fn naive_only(metric: Metric, neighbours: bool) -> Weighted {
        Weighted {
            metric,
            neighbours,
            fast: None,
        }
    }

    /// The metric.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// Fits the seed at cycle position `pos` to `w` (as f64); a result of
    /// error above `cutoff` is only known to be above it ([`fit`]).
    pub(crate) fn fit_position(&self, s: &Searcher, w: &[f64], pos: usize, cutoff: f64) -> Found {
        let z = self.metric.at(w);
        let f = fit(
            &s.cfg,
            &self.metric,
            s.window(pos),
            &z,
            self.neighbours,
            cutoff,
        );
        Found {
            block: Block {
                seed: (s.centred[pos] + s.cfg.half()) as u32,
                exp: f.exp,
                q: f.q,
            },
            err: f.err,
        }
    }

    /// Reference search: fits every seed. `w.len()` must be `C`.
    pub fn search_naive(&self, s: &Searcher, w: &[f32]) -> Found {
        let w64 = super::to_f64(&s.cfg, w);
        if w64.iter().all(|&x| x == 0.0) {
            return zero_block();
        }
        let mut best = Found {
            block: Block::default(),
            err: f64::INFINITY,
        };
        for seed in 1..=s.cfg.num_seeds() {
            let f = self.fit_position(s, &w64, s.pos[seed as usize] as usize, f64::INFINITY);
            if f.err < best.err {
                best = f;
            }
        }
        best
    }

    /// Searches up to 8 blocks (`C` weights each) into `out` (same length):
    /// the same blocks as [`Weighted::search_naive`].
    pub fn search_batch(&self, s: &Searcher, blocks: &[&[f32]], out: &mut [Found]) {
        let none = [f64::INFINITY; 8];
        self.search_batch_below(s, blocks, &none[..blocks.len()], out);
    }

    /// [`Weighted::search_batch`] where only a block of error at most
    /// `cutoffs[k]` is wanted for `blocks[k]`: `out[k]` is the naive
    /// search's block whenever that block's error is at most the cutoff,
    /// and otherwise some result of error above it (possibly none: infinite
    /// error). A known upper bound on the best error (the error of any
    /// valid block) as the cutoff changes nothing at or below it and saves
    /// the fits of the seeds that cannot reach it.
    pub fn search_batch_below(
        &self,
        s: &Searcher,
        blocks: &[&[f32]],
        cutoffs: &[f64],
        out: &mut [Found],
    ) {
        assert_eq!(cutoffs.len(), blocks.len(), "one cutoff per block");
        match &self.fast {
            Some(f) => f.search_batch_weighted(s, self, blocks, cutoffs, out),
            None => {
                for (o, w) in out.iter_mut().zip(blocks) {
                    *o = self.search_naive(s, w);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::centred_basis;
    use crate::lfsr::Lfsr;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_identity_metric_without_neighbours_is_the_plain_fit() {
        let cfg = Config::BITS4;
        let l = Lfsr::new(16);
        let m = Metric::identity(&cfg);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for _ in 0..200 {
            let w: Vec<f64> = (0..8).map(|_| rng.gen_range(-1.0..1.0) * 0.05).collect();
            let mut u = vec![0i32; 24];
            centred_basis(&cfg, &l, rng.gen_range(1..65536), &mut u);
            let a = crate::block::fit(&cfg, &u, &w);
            // ||A||_F² = 8 is scaled to 1/2 (A = I/4): errors scale by 1/16.
            let b = fit(&cfg, &m, &u, &m.at(&w), false, f64::INFINITY);
            assert_eq!((a.exp, a.q), (b.exp, b.q));
            assert!((a.err / 16.0 - b.err).abs() <= 1e-12 * a.err.max(1e-30));
            let n = fit(&cfg, &m, &u, &m.at(&w), true, f64::INFINITY);
            assert!(n.err <= b.err);
        }
    }

    #[test]
    fn test_weighted_fit_error_is_the_decoded_blocks_metric_error() {
        let cfg = Config::BITS3;
        let l = Lfsr::new(16);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for _ in 0..50 {
            let a: Vec<f64> = (0..cfg.c * cfg.c)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let m = Metric::new(&cfg, &a).unwrap();
            let w: Vec<f64> = (0..cfg.c).map(|_| rng.gen_range(-1.0..1.0) * 0.1).collect();
            let seed = rng.gen_range(1..65536);
            let mut u = vec![0i32; cfg.c * cfg.p];
            centred_basis(&cfg, &l, seed, &mut u);
            let f = fit(&cfg, &m, &u, &m.at(&w), true, f64::INFINITY);
            let blk = Block {
                seed,
                exp: f.exp,
                q: f.q,
            };
            let mut dec = vec![0f32; cfg.c];
            blk.decode(&cfg, &l, &mut dec);
            let d: Vec<f64> = (0..cfg.c).map(|i| w[i] - dec[i] as f64).collect();
            let direct: f64 = m.at(&d)[..cfg.c].iter().map(|x| x * x).sum();
            assert!(
                (direct - f.err).abs() <= 1e-6 * f.err.max(1e-12),
                "{direct} vs {}",
                f.err
            );
        }
    }

    /// A random metric factor: a Gaussian matrix times a diagonal
    /// log-spaced from 1 to `1/sqrt(cond)`.
    fn random_metric(cfg: &Config, cond: f64, rng: &mut impl Rng) -> Metric {
        let c = cfg.c;
        let a: Vec<f64> = (0..c * c)
            .map(|k| {
                let d = cond.powf(-0.5 * (k % c) as f64 / (c - 1) as f64);
                rng.sample::<f64, _>(rand_distr::StandardNormal) * d
            })
            .collect();
        Metric::new(cfg, &a).unwrap()
    }

    /// The fit without the screen: every candidate's exact error.
    fn fit_exhaustive(cfg: &Config, m: &Metric, u: &[i32], z: &[f64], neighbours: bool) -> Fit {
        let (c, p) = (cfg.c, cfg.p);
        let v = m.transform(u, p, cfg.unit());
        let t = least_squares(&v, z, c, p);
        let steps: &[i8] = if neighbours { &[-1, 0, 1] } else { &[0] };
        let mut best = Fit {
            exp: EXP_MIN,
            q: [0; MAX_P],
            err: f64::INFINITY,
        };
        for exp in EXP_MIN..=EXP_MAX {
            let s = (exp as f64).exp2();
            let base = t.map(|x| quantize(x / s));
            for k in 0..steps.len().pow(p as u32) {
                let q = candidate(&base, steps, p, k);
                let err = exact_error(&v, z, &q, s, c, p);
                if err < best.err {
                    best = Fit { exp, q, err };
                }
            }
        }
        best
    }

    /// `V`, the least-squares `t`, `||z||²` and the screen of one fit.
    type Screened = ([[f64; MAX_C]; MAX_P], [f64; MAX_P], f64, Screen);

    /// The [`Screened`] of one fit, or `None` outside the screened range.
    fn screened(cfg: &Config, m: &Metric, u: &[i32], z: &[f64]) -> Option<Screened> {
        let (c, p) = (cfg.c, cfg.p);
        let v = m.transform(u, p, cfg.unit());
        let zz: f64 = z.iter().map(|x| x * x).sum();
        let t = least_squares(&v, z, c, p);
        let sc = Screen::new(&v, z, zz, &t, c, p)?;
        Some((v, t, zz, sc))
    }

    /// Random windows, metrics of condition 1..1e8 and blocks of scale
    /// 1e-80..1e80 (outside the screened range too): `(cfg, metric, u, z)`.
    fn random_fits(n: usize, seed: u64) -> Vec<(Config, Metric, Vec<i32>, Vec<f64>)> {
        let l = Lfsr::new(16);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|k| {
                let cfg = if k % 2 == 0 {
                    Config::BITS4
                } else {
                    Config::BITS3
                };
                let m = random_metric(&cfg, 10f64.powf(rng.gen_range(0.0..8.0)), &mut rng);
                let mut u = vec![0i32; cfg.c * cfg.p];
                centred_basis(&cfg, &l, rng.gen_range(1..65536), &mut u);
                let scale = 10f64.powf(if k % 10 == 0 {
                    rng.gen_range(-80.0..80.0)
                } else {
                    rng.gen_range(-4.0..1.0)
                });
                let w: Vec<f64> = (0..cfg.c)
                    .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) * scale)
                    .collect();
                let z = m.factor_t(&w);
                (cfg, m, u, z)
            })
            .collect()
    }

    #[test]
    fn test_screened_fit_equals_exhaustive() {
        for (cfg, m, u, z) in random_fits(3000, 21) {
            for neighbours in [false, true] {
                let want = fit_exhaustive(&cfg, &m, &u, &z, neighbours);
                assert_eq!(
                    fit(&cfg, &m, &u, &z, neighbours, f64::INFINITY),
                    want,
                    "{cfg} neighbours {neighbours}: {z:?}"
                );
                // Below the cutoff (or at it): the same fit; above: an
                // error above the cutoff.
                for factor in [0.5, 0.999, 1.0, 1.001, 2.0] {
                    let cutoff = want.err * factor;
                    let got = fit(&cfg, &m, &u, &z, neighbours, cutoff);
                    if want.err <= cutoff {
                        assert_eq!(got, want, "{cfg} cutoff {cutoff:e}: {z:?}");
                    } else {
                        assert!(got.err > cutoff, "{cfg} cutoff {cutoff:e}: {got:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn test_screen_eps_covers_the_screened_error() {
        // Every candidate of every exponent (q = 0 included): the screened
        // value is within SCREEN_EPS / 16 of the slack's scale.
        let mut worst = 0f64;
        for (cfg, m, u, z) in random_fits(600, 22) {
            let (c, p) = (cfg.c, cfg.p);
            let Some((v, t, _, sc)) = screened(&cfg, &m, &u, &z) else {
                continue;
            };
            for exp in EXP_MIN..=EXP_MAX {
                let s = (exp as f64).exp2();
                let base = t.map(|x| quantize(x / s));
                sc.candidates(&base, s, &[-1, 0, 1], |q, lo, hi| {
                    let (mid, scale) = (lo + (hi - lo) / 2.0, (hi - lo) / 2.0 / SCREEN_EPS);
                    let exact = exact_error(&v, &z, q, s, c, p);
                    worst = worst.max((mid - exact).abs() / scale);
                });
            }
        }
        println!("largest |screened - exact| / scale {worst:.3e}, SCREEN_EPS {SCREEN_EPS:.3e}");
        assert!(worst > 0.0 && worst <= SCREEN_EPS / 16.0, "{worst:e}");
    }

    #[test]
    fn test_floor_is_below_every_candidates_error() {
        // Per exponent: the floor is at most the smallest exact error of its
        // candidates, and it is above the fit's error (so the exponent is
        // not screened) for most exponents.
        let (mut exps, mut above, mut floors) = (0, 0, 0);
        for (cfg, m, u, z) in random_fits(1000, 23) {
            let (c, p) = (cfg.c, cfg.p);
            let Some((v, t, zz, sc)) = screened(&cfg, &m, &u, &z) else {
                continue;
            };
            floors += sc.floor.is_some() as usize;
            let best = fit_exhaustive(&cfg, &m, &u, &z, true).err;
            for exp in EXP_MIN..=EXP_MAX {
                let s = (exp as f64).exp2();
                let base = t.map(|x| quantize(x / s));
                let mut lowest = f64::INFINITY;
                for k in 0..3usize.pow(p as u32) {
                    let q = candidate(&base, &[-1, 0, 1], p, k);
                    let exact = exact_error(&v, &z, &q, s, c, p);
                    lowest = lowest.min(if q == [0; MAX_P] { zz } else { exact });
                }
                let floor = sc.floor(&base, s);
                assert!(
                    floor <= lowest,
                    "{cfg} exp {exp}: floor {floor:e} > {lowest:e}"
                );
                exps += 1;
                above += (floor > best) as usize;
            }
        }
        println!("{floors} floors; {above} of {exps} exponents have a floor above the best error");
        assert!(above * 3 > exps, "{above} of {exps}");
    }

    #[test]
    fn test_weighted_fast_search_equals_naive() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        // Small K keeps the naive search cheap (K = 10 has windows with
        // dependent columns); one K = 16 case per shape, few blocks.
        let cases = [
            (8, 3, 10, 12, 4),
            (12, 4, 10, 12, 4),
            (8, 3, 12, 12, 4),
            (12, 4, 12, 12, 4),
            (8, 3, 16, 2, 2),
            (12, 4, 16, 2, 2),
        ];
        for (c, p, k, n, metrics) in cases {
            let cfg = Config::new(c, p, k).unwrap();
            let s = Searcher::new(cfg).unwrap();
            for (mi, cond) in [1e3, 0.0, 1e0, 1e6].into_iter().enumerate().take(metrics) {
                let metric = if cond == 0.0 {
                    Metric::identity(&cfg)
                } else {
                    random_metric(&cfg, cond, &mut rng)
                };
                let neighbours = mi % 2 == 0 || k == 12;
                let wt = Weighted::new(&s, metric, neighbours);
                let blocks: Vec<Vec<f32>> = (0..n)
                    .map(|b| {
                        if b == 3 % n {
                            return vec![0.0; c];
                        }
                        let scale = 10f64.powf(rng.gen_range(-3.0..1.0));
                        (0..c)
                            .map(|_| {
                                (rng.sample::<f64, _>(rand_distr::StandardNormal) * scale) as f32
                            })
                            .collect()
                    })
                    .collect();
                for chunk in blocks.chunks(8) {
                    let refs: Vec<&[f32]> = chunk.iter().map(|b| b.as_slice()).collect();
                    let mut fast = vec![zero_block(); refs.len()];
                    wt.search_batch(&s, &refs, &mut fast);
                    let naive: Vec<Found> = refs.iter().map(|w| wt.search_naive(&s, w)).collect();
                    for (w, (f, n)) in refs.iter().zip(fast.iter().zip(&naive)) {
                        assert_eq!(f, n, "{cfg} cond {cond} neighbours {neighbours}: {w:?}");
                    }
                    // Below a cutoff (or at it, a tie with the placeholder):
                    // the same block; above: an error above the cutoff.
                    for factor in [0.5, 0.999, 1.0, 1.001, 2.0] {
                        let cutoffs: Vec<f64> = naive.iter().map(|n| n.err * factor).collect();
                        wt.search_batch_below(&s, &refs, &cutoffs, &mut fast);
                        for ((f, n), &cut) in fast.iter().zip(&naive).zip(&cutoffs) {
                            if n.err <= cut {
                                assert_eq!(f, n, "{cfg} cond {cond} cutoff {cut:e}");
                            } else {
                                assert!(f.err > cut, "{cfg} cond {cond} cutoff {cut:e}: {f:?}");
                            }
                        }
                    }
                }
            }
        }
    }
}
