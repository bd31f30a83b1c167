//! Calibration for `compress --calib`: the input second moments
//! `H = Σ_t x_t x_tᵀ` of every linear layer of a Llama model, collected by
//! running the dense model over a text.
//!
//! Layers that read the same input share one `H`: `q, k, v` (the attention
//! input), `gate, up` (the MLP input); `o` and `down` have their own. Each
//! `H` is `cols × cols` f64, so the memory is
//! `Σ_layers (3·dim² + hidden²)·8` bytes (SmolLM2-135M: 805 MB), reported by
//! [`Calibration::bytes`]. Each batch adds the upper triangle of `XᵀX`,
//! computed by f32 GEMMs (partial sums over at most one window of tokens),
//! accumulated in f64.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::linear::{DenseLinear, Linear};
use crate::llama::config::LlamaConfig;
use crate::llama::fused::Stacking;
use crate::llama::weights::{Naming, StoredLinear, WeightFile, Weights, LINEARS};
use crate::llama::Model;

/// Calibration tokens by default (`compress --calib-tokens`, `eval ppl
/// --calib-tokens`): on SmolLM2-135M with the default two refinement passes,
/// 49,152 tokens of Botchan give calibrated SeedLM 4-bit 27.93 and 3-bit
/// 36.01 perplexity on Alice (1.095x and 1.412x dense), where 16,384 gave
/// 28.08 and 37.32 at a third of the calibration time, and 2,048 gave 29.94
/// and 46.57 without refinement (README, "Calibrated compression").
pub const DEFAULT_TOKENS: usize = 49152;

/// Calibration window in tokens by default (each window runs from an empty
/// cache); the context the README's perplexities are scored at.
pub const DEFAULT_CTX: usize = 512;

/// Rows of `XᵀX` per product in [`Moment::add`].
const BAND: usize = 128;

/// The second moment of one layer input.
pub struct Moment {
    /// Input length.
    dim: usize,
    /// `dim × dim`, row-major, f64; only the upper triangle (`j >= i`) is
    /// accumulated, [`Moment::h`] mirrors it.
    h: Mutex<Vec<f64>>,
    /// Input vectors seen.
    tokens: Mutex<usize>,
}

impl Moment {
    fn new(dim: usize) -> Moment {
        Moment {
            dim,
            h: Mutex::new(vec![0.0; dim * dim]),
            tokens: Mutex::new(0),
        }
    }

    /// Adds `XᵀX` for `n` rows of `x` (`n × dim`). Only the upper triangle
    /// is multiplied, in bands of [`BAND`] rows, and accumulated: each element
    /// is the same f32 sum over the tokens as one full product's (the GEMM's
    /// order over `k` does not depend on the output's shape), at a little
    /// over half the work.
    fn add(&self, x: &[f32], n: usize) {
        let d = self.dim;
        let xv = ArrayView2::from_shape((n, d), x).expect("checked batch");
        let mut band = Array2::<f32>::zeros((BAND.min(d), d));
        let mut h = self.h.lock().expect("moment lock poisoned");
        for i0 in (0..d).step_by(BAND) {
            let i1 = (i0 + BAND).min(d);
            let mut out = band.slice_mut(s![..i1 - i0, i0..]);
            general_mat_mul(
                1.0,
                &xv.slice(s![.., i0..i1]).t(),
                &xv.slice(s![.., i0..]),
                0.0,
                &mut out,
            );
            for (r, row) in out.outer_iter().enumerate() {
                let i = i0 + r;
                let acc = &mut h[i * d + i..(i + 1) * d];
                for (a, &v) in acc.iter_mut().zip(row.iter().skip(r)) {
                    *a += v as f64;
                }
            }
        }
        *self.tokens.lock().expect("moment lock poisoned") += n;
    }

    /// Input length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `H`, `dim × dim` row-major.
    pub fn h(&self) -> Vec<f64> {
        self.mirrored(self.h.lock().expect("moment lock poisoned").clone())
    }

    /// `H`, leaving the moment empty (to hand it over without a copy).
    pub fn take_h(&self) -> Vec<f64> {
        self.mirrored(std::mem::take(
            &mut *self.h.lock().expect("moment lock poisoned"),
        ))
    }

    /// The full symmetric `H` from its accumulated upper triangle (empty
    /// once taken).
    fn mirrored(&self, mut h: Vec<f64>) -> Vec<f64> {
        let d = self.dim;
        if h.is_empty() {
            return h;
        }
        for i in 0..d {
            for j in 0..i {
                h[i * d + j] = h[j * d + i];
            }
        }
        h
    }

    /// Input vectors accumulated.
    pub fn tokens(&self) -> usize {
        *self.tokens.lock().expect("moment lock poisoned")
    }
}

/// A dense layer that adds its inputs to a [`Moment`] (only the first layer
/// of a group that shares an input records it).
struct Recorder {
    inner: DenseLinear,
    moment: Option<Arc<Moment>>,
}

impl Linear for Recorder {
    fn rows(&self) -> usize {
        self.inner.rows()
    }

    fn cols(&self) -> usize {
        self.inner.cols()
    }

    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        self.forward_batch(x, 1, y)
    }

    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        self.inner.forward_batch(x, n, y)?;
        if let Some(m) = &self.moment {
            m.add(x, n);
        }
        Ok(())
    }

    fn weight_bytes(&self) -> usize {
        self.inner.weight_bytes()
    }
}

/// The input group of linear layer `which` (one of [`LINEARS`]): the layer
/// of the group that records, e.g. `"q"` for `q`, `k` and `v`.
fn group_of(which: &str) -> &'static str {
    match which {
        "q" | "k" | "v" => "q",
        "o" => "o",
        "gate" | "up" => "gate",
        _ => "down",
    }
}

/// The moments of every linear layer of a model, by tensor name.
pub struct Calibration {
    by_name: HashMap<String, Arc<Moment>>,
    moments: Vec<Arc<Moment>>,
}

impl Calibration {
    /// Empty moments for every linear layer of `cfg` named by `naming`.
    fn new(cfg: &LlamaConfig, naming: Naming) -> Calibration {
        let mut by_name = HashMap::new();
        let mut moments = Vec::new();
        for i in 0..cfg.n_layers {
            let mut groups: HashMap<&str, Arc<Moment>> = HashMap::new();
            for which in LINEARS {
                let dim = match which {
                    "o" => cfg.n_heads * cfg.head_dim,
                    "down" => cfg.hidden_dim,
                    _ => cfg.dim,
                };
                let m = groups
                    .entry(group_of(which))
                    .or_insert_with(|| {
                        let m = Arc::new(Moment::new(dim));
                        moments.push(m.clone());
                        m
                    })
                    .clone();
                by_name.insert(naming.linear(i, which), m);
            }
        }
        Calibration { by_name, moments }
    }

    /// Runs the dense model in `path` over `tokens` in windows of `ctx`
    /// tokens (each from an empty cache) and collects every layer's `H`.
    /// `progress` gets the tokens done after each window.
    pub fn collect(
        path: &Path,
        cfg: &LlamaConfig,
        tokens: &[u32],
        ctx: usize,
        progress: &dyn Fn(usize),
    ) -> Result<Calibration> {
        if tokens.is_empty() || ctx == 0 {
            return Err(Error::Invalid(
                "calibration needs at least one token and a context of at least one".into(),
            ));
        }
        let file = WeightFile::open(path)?;
        let naming = file.naming()?;
        let cal = Calibration::new(cfg, naming);
        let build = |name: &str, stored: StoredLinear| -> Result<Box<dyn Linear>> {
            let StoredLinear::Dense { rows, cols, w } = stored else {
                return Err(Error::Invalid(format!(
                    "layer '{name}': calibration runs the dense model (a checkpoint, not a .seedlm file)"
                )));
            };
            let inner = DenseLinear::new(rows, cols, w)?;
            let which = LINEARS
                .iter()
                .find(|w| (0..cfg.n_layers).any(|i| naming.linear(i, w) == name));
            let moment = match which {
                Some(w) if group_of(w) == *w => cal.by_name.get(name).cloned(),
                _ => None,
            };
            Ok(Box::new(Recorder { inner, moment }))
        };
        let head = |_: &str, stored: StoredLinear| -> Result<Box<dyn Linear>> {
            let StoredLinear::Dense { rows, cols, w } = stored else {
                return Err(Error::Invalid("the head must be dense".into()));
            };
            Ok(Box::new(DenseLinear::new(rows, cols, w)?))
        };
        let weights = Weights::load(&file, cfg, &build, &head, Stacking::Separate)?;
        let model = Model::new(cfg.clone(), weights);
        let mut done = 0;
        for window in tokens.chunks(ctx) {
            let mut st = model.new_state();
            model.forward(&mut st, window, false)?;
            done += window.len();
            progress(done);
        }
        Ok(cal)
    }

    /// The moment of the input of linear layer `name`, if it is one.
    pub fn get(&self, name: &str) -> Option<&Arc<Moment>> {
        self.by_name.get(name)
    }

    /// Bytes held by all moments.
    pub fn bytes(&self) -> usize {
        self.moments.iter().map(|m| m.dim * m.dim * 8).sum()
    }

    /// Number of distinct moments (shared inputs counted once).
    pub fn len(&self) -> usize {
        self.moments.len()
    }

    /// Whether there are no moments.
    pub fn is_empty(&self) -> bool {
        self.moments.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_moment_adds_xtx_in_f64() {
        let m = Moment::new(3);
        let x = [1.0f32, 2.0, 3.0, -1.0, 0.5, 4.0];
        m.add(&x, 2);
        m.add(&x[..3], 1);
        let h = m.h();
        for i in 0..3 {
            for j in 0..3 {
                let want = 2.0 * (x[i] * x[j]) as f64 + (x[3 + i] * x[3 + j]) as f64;
                assert_eq!(h[i * 3 + j], want, "({i}, {j})");
            }
        }
        assert_eq!(m.tokens(), 3);
    }

    #[test]
    fn test_banded_moment_equals_one_full_product_bitwise() {
        // Dimensions around the band width, and token counts around the
        // GEMM's k-block (256).
        for (d, n) in [(5, 3), (BAND, 300), (BAND + 3, 257), (2 * BAND + 77, 512)] {
            let x = crate::perf::cpu::random_f32(n * d, (d * 1000 + n) as u64);
            let m = Moment::new(d);
            m.add(&x, n);
            let xv = ArrayView2::from_shape((n, d), &x[..]).unwrap();
            let mut full = Array2::<f32>::zeros((d, d));
            general_mat_mul(1.0, &xv.t(), &xv, 0.0, &mut full);
            let h = m.h();
            for (k, (&got, &want)) in h.iter().zip(full.iter()).enumerate() {
                assert_eq!(got, want as f64, "d {d}, n {n}: ({}, {})", k / d, k % d);
            }
        }
    }

    #[test]
    fn test_groups_share_one_moment() {
        assert_eq!(
            LINEARS.map(group_of),
            ["q", "q", "q", "o", "gate", "gate", "down"]
        );
    }
}
