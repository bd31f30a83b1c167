//! Seed search: for each block, the seed (and its quantized coefficients)
//! with the smallest exact error `||w - U(s)·q·2^e||²` over all `2^K - 1`
//! seeds, ties going to the lowest seed.
//!
//! [`Searcher::search_naive`] is the reference: it fits every seed. The fast
//! path returns the same block (same minimum error, same tie-break) while
//! fitting only the few seeds whose lower bound can still win (see
//! [`fast`] for the method and the proof of exactness, [`mod@bench`] for the
//! benchmark).
//!
//! With the feature `cuda`, the module `gpu` runs the same search on a CUDA GPU.
//!
//! `unsafe` is denied here and in every submodule except `kernel`, which
//! holds the one call into a `#[target_feature]` function, and `gpu`, which
//! launches the CUDA kernels.
#![deny(unsafe_code)]

pub mod bench;
pub mod fast;
#[cfg(feature = "cuda")]
pub mod gpu;
mod kernel;
pub mod weighted;

use rayon::prelude::*;

use crate::block::{fit, Block};
use crate::config::{Config, EXP_MIN, MAX_C, MAX_P};
use crate::error::{Error, Result};
use crate::lfsr::Lfsr;

pub use weighted::{Metric, Weighted};

/// A block chosen by the search and its exact squared error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Found {
    /// The encoded block.
    pub block: Block,
    /// `||w - ŵ||²`, f64.
    pub err: f64,
}

/// The block chosen for an all-zero input: seed 1, zero mantissas (error 0,
/// which is what the naive search returns too).
fn zero_block() -> Found {
    Found {
        block: Block {
            seed: 1,
            exp: EXP_MIN,
            q: [0; MAX_P],
        },
        err: 0.0,
    }
}

/// Seed search for one configuration; holds the tables it precomputes once.
pub struct Searcher {
    cfg: Config,
    lfsr: Lfsr,
    /// Centred LFSR cycle from state 1, extended by `C·P` entries so every
    /// window is contiguous: `u[n] = cycle[n mod N] - 2^(K-1)`.
    centred: Vec<i32>,
    /// `pos[state]` = index of `state` in the cycle.
    pos: Vec<u32>,
    /// Tables of the fast search; `None` for shapes without a specialised
    /// kernel (those use the naive search).
    fast: Option<fast::Fast>,
}

impl Searcher {
    /// Builds the search tables for `cfg`.
    pub fn new(cfg: Config) -> Result<Searcher> {
        cfg.validate()?;
        let lfsr = Lfsr::new(cfg.k);
        let cycle = lfsr.cycle();
        let n = cycle.len();
        let mut pos = vec![0u32; n + 1];
        for (i, &s) in cycle.iter().enumerate() {
            pos[s as usize] = i as u32;
        }
        let centred = (0..n + cfg.c * cfg.p + 1)
            .map(|i| cycle[i % n] as i32 - cfg.half())
            .collect::<Vec<i32>>();
        let fast = fast::Fast::new(&cfg, &centred);
        Ok(Searcher {
            cfg,
            lfsr,
            centred,
            pos,
            fast,
        })
    }

    /// The configuration searched.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The LFSR used.
    pub fn lfsr(&self) -> &Lfsr {
        &self.lfsr
    }

    /// Centred basis of the seed at cycle position `p` (its `C·P` successors).
    fn window(&self, p: usize) -> &[i32] {
        &self.centred[p + 1..p + 1 + self.cfg.c * self.cfg.p]
    }

    /// Fits the seed at cycle position `p` exactly.
    fn fit_position(&self, w: &[f64], p: usize) -> Found {
        let f = fit(&self.cfg, self.window(p), w);
        let seed = self.centred[p] + self.cfg.half();
        Found {
            block: Block {
                seed: seed as u32,
                exp: f.exp,
                q: f.q,
            },
            err: f.err,
        }
    }

    /// Reference search: fits every seed. `w.len()` must be `C`.
    pub fn search_naive(&self, w: &[f32]) -> Found {
        let w64 = to_f64(&self.cfg, w);
        if w64.iter().all(|&x| x == 0.0) {
            return zero_block();
        }
        let mut best = Found {
            block: Block::default(),
            err: f64::INFINITY,
        };
        for seed in 1..=self.cfg.num_seeds() {
            let f = self.fit_position(&w64, self.pos[seed as usize] as usize);
            if f.err < best.err {
                best = f;
            }
        }
        best
    }

    /// Searches one block (the fast exact search). `w.len()` must be `C`.
    ///
    /// The fast path works on batches of 8 blocks and costs the same for one
    /// block as for 8: use [`Searcher::search_all`] for throughput.
    pub fn search(&self, w: &[f32]) -> Found {
        let mut out = [zero_block()];
        self.search_batch(&[w], &mut out);
        out[0]
    }

    /// Searches up to 8 blocks at once into `out` (same length).
    fn search_batch(&self, blocks: &[&[f32]], out: &mut [Found]) {
        match &self.fast {
            Some(f) => f.search_batch(self, blocks, out),
            None => {
                for (o, w) in out.iter_mut().zip(blocks) {
                    *o = self.search_naive(w);
                }
            }
        }
    }

    /// Searches every block of `weights` (length a multiple of `C`, finite) on
    /// the current rayon pool. `progress` is called with the number of blocks
    /// finished since its last call.
    pub fn search_all(
        &self,
        weights: &[f32],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Found>> {
        self.check_weights(weights)?;
        let c = self.cfg.c;
        const CHUNK: usize = 64;
        const BATCH: usize = kernel::LANES;
        Ok(weights
            .par_chunks(c * CHUNK)
            .flat_map_iter(|chunk| {
                let mut found = vec![zero_block(); chunk.len() / c];
                for (w, out) in chunk.chunks(c * BATCH).zip(found.chunks_mut(BATCH)) {
                    let blocks: Vec<&[f32]> = w.chunks(c).collect();
                    self.search_batch(&blocks, out);
                }
                progress(found.len());
                found
            })
            .collect())
    }
}

impl Searcher {
    /// Checks that `weights` is a whole number of blocks of finite values.
    pub(crate) fn check_weights(&self, weights: &[f32]) -> Result<()> {
        let c = self.cfg.c;
        if !weights.len().is_multiple_of(c) {
            return Err(Error::InvalidInput(format!(
                "{} weights is not a whole number of blocks of {c}",
                weights.len()
            )));
        }
        if let Some(i) = weights.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!("weight {i} is {}", weights[i])));
        }
        Ok(())
    }
}

/// Widens one block to f64 (fixed size, no allocation).
fn to_f64(cfg: &Config, w: &[f32]) -> [f64; MAX_C] {
    assert_eq!(w.len(), cfg.c, "block length must be C");
    let mut out = [0f64; MAX_C];
    for (o, &x) in out.iter_mut().zip(w) {
        *o = x as f64;
    }
    out
}
