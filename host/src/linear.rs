//! Linear layers `y = W x`: one trait, one implementation per backend.
//!
//! - [`DenseLinear`]: f32 weights, the reference (rayon over rows for one
//!   vector, `ndarray`'s `matrixmultiply` GEMM for a batch). Also carries
//!   the RTN baselines as fake-quantized weights ([`DenseLinear::rtn`]).
//! - [`HalfLinear`]: f16 weights (hardware conversion in the dot product);
//!   the option for the output head, and ([`HalfLinear::exact`]) f32
//!   weights that are all f16 values (an f16 tensor of the file, such as
//!   SmolLM2's tied head) giving [`DenseLinear`]'s results bit for bit from
//!   half the bytes.
//! - [`SeedCpuLinear`]: SeedLM blocks decoded on the fly by the float form
//!   of [`seedlm::kernel`] (the `cpu` backend); a batch decodes each block
//!   once.
//! - The golden model of the device datapath and the device itself
//!   (`crate::llama::backend::{GoldenLinear, DeviceLinear}`) implement the
//!   same trait.
//!
//! All shapes are row-major: `W` is `rows × cols`, a batch of `n` vectors is
//! `n × cols` in, `n × rows` out.

use half::f16;
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;
use seedlm::fixed::BlockMatrix;
use seedlm::kernel::dense::{dot_f16, dot_f16_as_f32, dot_f32};
use seedlm::kernel::{Isa, SeedMatrix};
use seedlm::{Block, Config};

use crate::error::{Error, Result};

/// Rows handled by one rayon task.
const ROW_TILE: usize = 32;

/// A linear layer `y = W x` without bias.
pub trait Linear: Send + Sync {
    /// Output length (rows of `W`).
    fn rows(&self) -> usize;

    /// Input length (columns of `W`).
    fn cols(&self) -> usize;

    /// `y = W x` for one vector: `x.len() == cols`, `y.len() == rows`.
    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()>;

    /// `Y = X Wᵀ` for `n` vectors: `x` is `n × cols`, `y` is `n × rows`,
    /// both row-major. The default runs [`Linear::forward`] per vector.
    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        check_batch(self.rows(), self.cols(), x, n, y)?;
        for (xi, yi) in x
            .chunks_exact(self.cols())
            .zip(y.chunks_exact_mut(self.rows()))
        {
            self.forward(xi, yi)?;
        }
        Ok(())
    }

    /// Bytes of weights read from memory by one [`Linear::forward`].
    fn weight_bytes(&self) -> usize;
}

/// Checks the lengths of a batch call against a `rows × cols` layer.
pub fn check_batch(rows: usize, cols: usize, x: &[f32], n: usize, y: &[f32]) -> Result<()> {
    if Some(x.len()) != n.checked_mul(cols) || Some(y.len()) != n.checked_mul(rows) {
        return Err(Error::Invalid(format!(
            "linear layer {rows}x{cols} given {} inputs and {} outputs for a batch of {n}",
            x.len(),
            y.len()
        )));
    }
    Ok(())
}

/// `Σ a_i b_i` in f32 ([`seedlm::kernel::dense::dot_f32`] for this CPU).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_f32(Isa::detect(), a, b)
}

/// `Y (n × rows) = X (n × cols) · Wᵀ` for a row-major `w` (`rows × cols`)
/// by GEMM.
fn gemm_xwt(w: &[f32], rows: usize, cols: usize, x: &[f32], n: usize, y: &mut [f32]) {
    let xv = ArrayView2::from_shape((n, cols), x).expect("checked shape");
    let wv = ArrayView2::from_shape((rows, cols), w).expect("checked shape");
    let mut yv = ArrayViewMut2::from_shape((n, rows), y).expect("checked shape");
    general_mat_mul(1.0, &xv, &wv.t(), 0.0, &mut yv);
}

/// A dense f32 layer: the reference.
pub struct DenseLinear {
    rows: usize,
    cols: usize,
    /// `rows × cols`, row-major.
    w: Vec<f32>,
}

impl DenseLinear {
    /// A layer from row-major weights; `w.len()` must be `rows · cols`.
    pub fn new(rows: usize, cols: usize, w: Vec<f32>) -> Result<DenseLinear> {
        if rows == 0 || cols == 0 || Some(w.len()) != rows.checked_mul(cols) {
            return Err(Error::Invalid(format!(
                "{} weights for a {rows}x{cols} layer",
                w.len()
            )));
        }
        Ok(DenseLinear { rows, cols, w })
    }

    /// The RTN baseline: `w` quantized to `bits` with one f16 absmax scale
    /// per 128-group of a row ([`seedlm::rtn`]) and dequantized again.
    pub fn rtn(rows: usize, cols: usize, w: &[f32], bits: u32) -> Result<DenseLinear> {
        let q = seedlm::rtn::quantize_dequantize(w, cols, bits).map_err(|e| {
            Error::from(e).context(format!("RTN {bits}-bit of a {rows}x{cols} layer"))
        })?;
        DenseLinear::new(rows, cols, q)
    }

    /// The weights, row-major.
    pub fn weights(&self) -> &[f32] {
        &self.w
    }
}

impl Linear for DenseLinear {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        check_batch(self.rows, self.cols, x, 1, y)?;
        // W (rows, cols) @ x (cols,) -> y (rows,)
        y.par_chunks_mut(ROW_TILE)
            .zip(self.w.par_chunks(ROW_TILE * self.cols))
            .for_each(|(yt, wt)| {
                for (yi, wr) in yt.iter_mut().zip(wt.chunks_exact(self.cols)) {
                    *yi = dot(wr, x);
                }
            });
        Ok(())
    }

    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        check_batch(self.rows, self.cols, x, n, y)?;
        if n == 1 {
            return self.forward(x, y);
        }
        gemm_xwt(&self.w, self.rows, self.cols, x, n, y);
        Ok(())
    }

    fn weight_bytes(&self) -> usize {
        self.w.len() * 4
    }
}

/// A dense layer of f16 weights: rounded to nearest from f32 at load
/// ([`HalfLinear::new`]), or f32 weights that are f16 values exactly and
/// give [`DenseLinear`]'s results bit for bit ([`HalfLinear::exact`]).
pub struct HalfLinear {
    rows: usize,
    cols: usize,
    /// `rows × cols`, row-major.
    w: Vec<f16>,
    /// The row's dot product: [`dot_f16`], or for [`HalfLinear::exact`]
    /// [`dot_f16_as_f32`] (the lanes and sums of [`DenseLinear`]'s).
    dot: fn(Isa, &[f16], &[f32]) -> f32,
}

impl HalfLinear {
    /// A layer from row-major f32 weights, rounded to f16; `w.len()` must be
    /// `rows · cols`.
    pub fn new(rows: usize, cols: usize, w: &[f32]) -> Result<HalfLinear> {
        if rows == 0 || cols == 0 || Some(w.len()) != rows.checked_mul(cols) {
            return Err(Error::Invalid(format!(
                "{} weights for a {rows}x{cols} layer",
                w.len()
            )));
        }
        let w = w.par_iter().map(|&v| f16::from_f32(v)).collect();
        Ok(HalfLinear {
            rows,
            cols,
            w,
            dot: dot_f16,
        })
    }

    /// The layer of row-major `w` (`rows · cols` weights) kept in f16 with
    /// [`DenseLinear`]'s results bit for bit (the dot products of
    /// [`dot_f16_as_f32`]; a batch converts each tile of rows for the
    /// GEMM), when every weight is an f16 value (bit for bit: a NaN payload
    /// or an f32 with more mantissa or range is not) and the CPU converts
    /// halves in the dot product's loop (AVX-512); `None` otherwise.
    pub fn exact(rows: usize, cols: usize, w: &[f32]) -> Option<HalfLinear> {
        if Isa::detect() != Isa::Avx512 {
            return None;
        }
        let half = HalfLinear::new(rows, cols, w).ok()?;
        let exact = half
            .w
            .par_iter()
            .zip(w)
            .all(|(h, v)| h.to_f32().to_bits() == v.to_bits());
        exact.then_some(HalfLinear {
            dot: dot_f16_as_f32,
            ..half
        })
    }
}

impl Linear for HalfLinear {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        check_batch(self.rows, self.cols, x, 1, y)?;
        let isa = Isa::detect();
        y.par_chunks_mut(ROW_TILE)
            .zip(self.w.par_chunks(ROW_TILE * self.cols))
            .for_each(|(yt, wt)| {
                for (yi, wr) in yt.iter_mut().zip(wt.chunks_exact(self.cols)) {
                    *yi = (self.dot)(isa, wr, x);
                }
            });
        Ok(())
    }

    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        check_batch(self.rows, self.cols, x, n, y)?;
        if n == 1 {
            return self.forward(x, y);
        }
        let (rows, cols) = (self.rows, self.cols);
        tiled_gemm(rows, cols, x, n, y, |r0, w| {
            for (d, s) in w.iter_mut().zip(&self.w[r0 * cols..]) {
                *d = s.to_f32();
            }
        });
        Ok(())
    }

    fn weight_bytes(&self) -> usize {
        self.w.len() * 2
    }
}

/// `Y = X Wᵀ` for weights produced a tile of [`ROW_TILE`] rows at a time
/// by `fill(r0, w)` (rows `r0..` into `w`, `nr × cols`), each tile once
/// for the whole batch.
fn tiled_gemm(
    rows: usize,
    cols: usize,
    x: &[f32],
    n: usize,
    y: &mut [f32],
    fill: impl Fn(usize, &mut [f32]) + Sync,
) {
    let tiles: Vec<(usize, Vec<f32>)> = (0..rows.div_ceil(ROW_TILE))
        .into_par_iter()
        .map(|t| {
            let r0 = t * ROW_TILE;
            let nr = ROW_TILE.min(rows - r0);
            let mut w = vec![0f32; nr * cols];
            fill(r0, &mut w);
            let mut yt = vec![0f32; n * nr];
            gemm_xwt(&w, nr, cols, x, n, &mut yt);
            (nr, yt)
        })
        .collect();
    for (t, (nr, yt)) in tiles.iter().enumerate() {
        let r0 = t * ROW_TILE;
        for (yrow, trow) in y.chunks_exact_mut(rows).zip(yt.chunks_exact(*nr)) {
            yrow[r0..r0 + nr].copy_from_slice(trow);
        }
    }
}

/// A SeedLM layer decoded in float on the fly (the `cpu` backend): the
/// float form of [`seedlm::kernel`], whose weights are those of
/// [`Block::decode`] and whose only roundings are those of the f32
/// products and sums.
pub struct SeedCpuLinear {
    m: SeedMatrix,
}

impl SeedCpuLinear {
    /// A layer of `rows × cols` weights stored as `blocks` of `cfg`
    /// (layout of [`seedlm::fixed::BlockMatrix`]).
    pub fn new(rows: usize, cols: usize, cfg: Config, blocks: &[Block]) -> Result<SeedCpuLinear> {
        Ok(SeedCpuLinear {
            m: seed_matrix(rows, cols, cfg, blocks)?,
        })
    }
}

/// The kernel's matrix of a non-empty `rows × cols` layer stored as `blocks`
/// of `cfg` (layout of [`seedlm::fixed::BlockMatrix`]).
pub(crate) fn seed_matrix(
    rows: usize,
    cols: usize,
    cfg: Config,
    blocks: &[Block],
) -> Result<SeedMatrix> {
    if rows == 0 || cols == 0 {
        return Err(Error::Invalid(format!("empty {rows}x{cols} layer")));
    }
    Ok(SeedMatrix::new(&BlockMatrix {
        cfg,
        rows,
        cols,
        blocks,
    })?)
}

impl Linear for SeedCpuLinear {
    fn rows(&self) -> usize {
        self.m.rows()
    }

    fn cols(&self) -> usize {
        self.m.cols()
    }

    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        check_batch(self.rows(), self.cols(), x, 1, y)?;
        Ok(self.m.matvec_f32(x, y)?)
    }

    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        let (rows, cols) = (self.rows(), self.cols());
        check_batch(rows, cols, x, n, y)?;
        if n == 1 {
            return self.forward(x, y);
        }
        // Decode a tile of rows once, multiply the whole batch by it.
        tiled_gemm(rows, cols, x, n, y, |r0, w| self.m.decode_rows(r0, w));
        Ok(())
    }

    fn weight_bytes(&self) -> usize {
        self.m.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use seedlm::sample::random_blocks;
    use seedlm::Lfsr;

    /// The seed layer equals a dense layer of the f64-decoded blocks within
    /// f32 summation error, for one vector and for a batch.
    #[test]
    fn test_seed_cpu_matches_dense_decode() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for bits in [4, 3] {
            let cfg = Config::for_bits(bits).unwrap();
            let lfsr = Lfsr::new(cfg.k);
            let (rows, cols) = (37usize, 100usize); // a partial last block and row tile
            let bpr = cols.div_ceil(cfg.c);
            let blocks = random_blocks(&cfg, rows * bpr, &mut rng);
            let mut w = vec![0f32; rows * cols];
            let mut buf = vec![0f32; bpr * cfg.c];
            for (r, wr) in w.chunks_exact_mut(cols).enumerate() {
                for (b, o) in blocks[r * bpr..(r + 1) * bpr]
                    .iter()
                    .zip(buf.chunks_exact_mut(cfg.c))
                {
                    b.decode(&cfg, &lfsr, o);
                }
                wr.copy_from_slice(&buf[..cols]);
            }
            let dense = DenseLinear::new(rows, cols, w.clone()).unwrap();
            let seed = SeedCpuLinear::new(rows, cols, cfg, &blocks).unwrap();
            let n = 5;
            let x: Vec<f32> = (0..n * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let (mut yd, mut ys, mut y1) =
                (vec![0f32; n * rows], vec![0f32; n * rows], vec![0f32; rows]);
            dense.forward_batch(&x, n, &mut yd).unwrap();
            seed.forward_batch(&x, n, &mut ys).unwrap();
            seed.forward(&x[..cols], &mut y1).unwrap();
            for v in 0..n {
                for r in 0..rows {
                    let l1: f32 = (0..cols)
                        .map(|c| (w[r * cols + c] * x[v * cols + c]).abs())
                        .sum();
                    // Both sides sum `cols` f32 products: each within
                    // cols·2^-24·Σ|w x| of the exact value.
                    let tol = 2.0 * cols as f32 * f32::EPSILON * l1 + 1e-30;
                    let want = yd[v * rows + r];
                    assert!(
                        (ys[v * rows + r] - want).abs() <= tol,
                        "batch {bits}-bit row {r}"
                    );
                    if v == 0 {
                        assert!((y1[r] - want).abs() <= tol, "single {bits}-bit row {r}");
                    }
                }
            }
            assert_eq!(
                seed.weight_bytes(),
                rows * bpr * if bits == 4 { 4 } else { 8 }
            );
        }
    }

    /// Dense forward and batched GEMM agree with a plain f64 mat-vec.
    #[test]
    fn test_dense_matches_f64_reference() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let (rows, cols, n) = (70, 45, 3);
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let x: Vec<f32> = (0..n * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let d = DenseLinear::new(rows, cols, w.clone()).unwrap();
        let mut yb = vec![0f32; n * rows];
        d.forward_batch(&x, n, &mut yb).unwrap();
        for v in 0..n {
            let mut y1 = vec![0f32; rows];
            d.forward(&x[v * cols..(v + 1) * cols], &mut y1).unwrap();
            for r in 0..rows {
                let exact: f64 = (0..cols)
                    .map(|c| w[r * cols + c] as f64 * x[v * cols + c] as f64)
                    .sum();
                let l1: f64 = (0..cols)
                    .map(|c| (w[r * cols + c] as f64 * x[v * cols + c] as f64).abs())
                    .sum();
                let tol = cols as f64 * f32::EPSILON as f64 * l1;
                assert!((y1[r] as f64 - exact).abs() <= tol);
                assert!((yb[v * rows + r] as f64 - exact).abs() <= tol);
            }
        }
        assert_eq!(d.weight_bytes(), rows * cols * 4);
    }

    /// The f16 layer equals a dense layer of the f16-rounded weights within
    /// f32 summation error, for one vector and a batch.
    #[test]
    fn test_half_matches_dense_of_rounded_weights() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (rows, cols, n) = (37, 70, 3);
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let wr: Vec<f32> = w.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
        let x: Vec<f32> = (0..n * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let h = HalfLinear::new(rows, cols, &w).unwrap();
        let d = DenseLinear::new(rows, cols, wr.clone()).unwrap();
        let (mut yh, mut yd, mut y1) =
            (vec![0f32; n * rows], vec![0f32; n * rows], vec![0f32; rows]);
        h.forward_batch(&x, n, &mut yh).unwrap();
        d.forward_batch(&x, n, &mut yd).unwrap();
        h.forward(&x[..cols], &mut y1).unwrap();
        for v in 0..n {
            for r in 0..rows {
                let l1: f32 = (0..cols)
                    .map(|c| (wr[r * cols + c] * x[v * cols + c]).abs())
                    .sum();
                let tol = 2.0 * cols as f32 * f32::EPSILON * l1;
                assert!((yh[v * rows + r] - yd[v * rows + r]).abs() <= tol);
                if v == 0 {
                    assert!((y1[r] - yd[r]).abs() <= tol);
                }
            }
        }
        assert_eq!(h.weight_bytes(), rows * cols * 2);
        assert!(HalfLinear::new(2, 3, &[0.0; 5]).is_err());
    }

    /// Weights that are all f16 values give the dense layer's results bit
    /// for bit, for one vector and a batch; other weights are refused.
    #[test]
    fn test_exact_half_equals_dense_bitwise() {
        if Isa::detect() != Isa::Avx512 {
            assert!(HalfLinear::exact(1, 1, &[1.0]).is_none());
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let (rows, cols, n) = (70, 100, 3);
        let w: Vec<f32> = (0..rows * cols)
            .map(|_| f16::from_f32(rng.gen_range(-1.0..1.0)).to_f32())
            .collect();
        let x: Vec<f32> = (0..n * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let e = HalfLinear::exact(rows, cols, &w).unwrap();
        let d = DenseLinear::new(rows, cols, w.clone()).unwrap();
        for m in [1, n] {
            let (mut ye, mut yd) = (vec![0f32; m * rows], vec![0f32; m * rows]);
            e.forward_batch(&x[..m * cols], m, &mut ye).unwrap();
            d.forward_batch(&x[..m * cols], m, &mut yd).unwrap();
            let bits = |y: &[f32]| y.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ye), bits(&yd), "batch of {m}");
        }
        assert_eq!(e.weight_bytes(), rows * cols * 2);
        let mut off = w.clone();
        off[17] = 0.1; // not an f16 value
        assert!(HalfLinear::exact(rows, cols, &off).is_none());
        assert!(HalfLinear::exact(rows, cols, &w[1..]).is_none());
    }

    #[test]
    fn test_bad_shapes_are_errors() {
        assert!(DenseLinear::new(2, 3, vec![0.0; 5]).is_err());
        let d = DenseLinear::new(2, 3, vec![0.0; 6]).unwrap();
        assert!(d.forward(&[0.0; 2], &mut [0.0; 2]).is_err());
        assert!(d.forward_batch(&[0.0; 6], 2, &mut [0.0; 3]).is_err());
        let cfg = Config::for_bits(4).unwrap();
        assert!(SeedCpuLinear::new(2, 9, cfg, &[Block::default(); 3]).is_err());
    }
}
