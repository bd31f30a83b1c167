//! The forward pass: embeddings, RMSNorm, RoPE, grouped-query attention with
//! a KV cache, SwiGLU, the head. One path for a single token and for a
//! batch (prefill, evaluation): every linear layer sees the whole batch.

use rayon::prelude::*;

use super::config::LlamaConfig;
use super::weights::Weights;
use crate::error::{Error, Result};

/// A model ready to run.
pub struct Model {
    /// Hyperparameters.
    pub cfg: LlamaConfig,
    /// Weights.
    pub weights: Weights,
    /// RoPE inverse frequencies, one per dimension pair.
    inv_freq: Vec<f32>,
    /// RoPE position divisor (linear scaling).
    pos_div: f32,
}

/// Activations that persist between calls: the KV cache.
pub struct State {
    /// Per layer, (pos, n_kv_heads·head_dim) keys after RoPE.
    k: Vec<Vec<f32>>,
    /// Per layer, (pos, n_kv_heads·head_dim) values.
    v: Vec<Vec<f32>>,
    /// Tokens seen so far.
    pos: usize,
}

impl State {
    /// Tokens already in the cache (the position of the next one).
    pub fn pos(&self) -> usize {
        self.pos
    }
}

/// `x * w / rms(x)` per row of `dim` values.
// x (n, dim), w (dim,) -> out (n, dim)
fn rmsnorm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let d = w.len();
    out.par_chunks_mut(d)
        .zip(x.par_chunks(d))
        .for_each(|(o, xr)| {
            let ms = xr.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / d as f64;
            let inv = (1.0 / (ms + eps as f64).sqrt()) as f32;
            for ((oi, xi), wi) in o.iter_mut().zip(xr).zip(w) {
                *oi = xi * inv * wi;
            }
        });
}

/// `softmax` in place.
fn softmax(x: &mut [f32]) {
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut s = 0f32;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in x.iter_mut() {
        *v /= s;
    }
}

impl Model {
    /// A model of `cfg` over `weights`.
    pub fn new(cfg: LlamaConfig, weights: Weights) -> Model {
        let (inv_freq, pos_div) = cfg.rope_inv_freq();
        Model {
            cfg,
            weights,
            inv_freq,
            pos_div,
        }
    }

    /// An empty KV cache.
    pub fn new_state(&self) -> State {
        State {
            k: vec![Vec::new(); self.cfg.n_layers],
            v: vec![Vec::new(); self.cfg.n_layers],
            pos: 0,
        }
    }

    /// Rotates each head of each row of `x` (n rows of `heads·head_dim`)
    /// by its position `pos0 + row`.
    fn rope(&self, x: &mut [f32], heads: usize, pos0: usize) {
        let hd = self.cfg.head_dim;
        let interleaved = self.weights.naming.rope_interleaved();
        x.par_chunks_mut(heads * hd)
            .enumerate()
            .for_each(|(t, row)| {
                let p = (pos0 + t) as f32 / self.pos_div;
                let cs: Vec<(f32, f32)> = self
                    .inv_freq
                    .iter()
                    .map(|f| {
                        let a = p * f;
                        (a.cos(), a.sin())
                    })
                    .collect();
                for h in row.chunks_exact_mut(hd) {
                    for (i, &(c, s)) in cs.iter().enumerate() {
                        let (a, b) = if interleaved {
                            (2 * i, 2 * i + 1)
                        } else {
                            (i, i + hd / 2)
                        };
                        let (x0, x1) = (h[a], h[b]);
                        h[a] = x0 * c - x1 * s;
                        h[b] = x0 * s + x1 * c;
                    }
                }
            });
    }

    /// Runs `tokens` (continuing from the cache in `st`) and returns the
    /// logits: of every token (`n × vocab`) if `all`, else of the last one.
    ///
    /// The pass runs on a thread of rayon's pool: each of its parallel
    /// steps (a layer's rows, a norm, the heads) is then a fork-join inside
    /// the pool, not a hand-over from the calling thread to the pool and
    /// back (two thread wake-ups each, some 400 per token).
    pub fn forward(&self, st: &mut State, tokens: &[u32], all: bool) -> Result<Vec<f32>> {
        rayon::scope(|_| self.forward_in_pool(st, tokens, all))
    }

    /// [`Model::forward`] on the current thread.
    fn forward_in_pool(&self, st: &mut State, tokens: &[u32], all: bool) -> Result<Vec<f32>> {
        let c = &self.cfg;
        let w = &self.weights;
        let n = tokens.len();
        if n == 0 {
            return Err(Error::Invalid("forward pass over no tokens".into()));
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(Error::Invalid(format!(
                "token id {t} is outside the vocabulary of {}",
                c.vocab_size
            )));
        }
        let (d, hd) = (c.dim, c.head_dim);
        let (q_dim, kv_dim) = (c.n_heads * hd, c.n_kv_heads * hd);
        let group = c.n_heads / c.n_kv_heads;
        let pos0 = st.pos;
        let total = pos0 + n;
        if total > c.max_seq_len {
            return Err(Error::Invalid(format!(
                "context of {total} tokens exceeds the model's limit of {}",
                c.max_seq_len
            )));
        }
        // x (n, dim): embeddings.
        let mut x = Vec::with_capacity(n * d);
        for &t in tokens {
            x.extend_from_slice(&w.tok_emb[t as usize * d..(t as usize + 1) * d]);
        }
        let mut xb = vec![0f32; n * d];
        let mut q = vec![0f32; n * q_dim];
        let mut k = vec![0f32; n * kv_dim];
        let mut v = vec![0f32; n * kv_dim];
        let mut att = vec![0f32; n * q_dim];
        let mut proj = vec![0f32; n * d];
        let mut gate = vec![0f32; n * c.hidden_dim];
        let mut up = vec![0f32; n * c.hidden_dim];
        let scale = 1.0 / (hd as f32).sqrt();
        for (li, l) in w.layers.iter().enumerate() {
            rmsnorm(&x, &l.attn_norm, c.rms_eps, &mut xb);
            l.wqkv
                .forward_split(&xb, n, &mut [&mut q, &mut k, &mut v])?;
            self.rope(&mut q, c.n_heads, pos0);
            self.rope(&mut k, c.n_kv_heads, pos0);
            st.k[li].extend_from_slice(&k);
            st.v[li].extend_from_slice(&v);
            let (kc, vc) = (&st.k[li], &st.v[li]);
            // Causal attention per (token, head); query head h reads KV head h / group.
            att.par_chunks_mut(hd)
                .zip(q.par_chunks(hd))
                .enumerate()
                .for_each(|(i, (out, qh))| {
                    let (t, h) = (i / c.n_heads, i % c.n_heads);
                    let kvh = h / group;
                    let len = pos0 + t + 1;
                    let mut s: Vec<f32> = (0..len)
                        .map(|p| {
                            let kp = &kc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                            crate::linear::dot(qh, kp) * scale
                        })
                        .collect();
                    softmax(&mut s);
                    out.fill(0.0);
                    for (p, &a) in s.iter().enumerate() {
                        let vp = &vc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                        for (o, vv) in out.iter_mut().zip(vp) {
                            *o += a * vv;
                        }
                    }
                });
            l.wo.forward_batch(&att, n, &mut proj)?;
            for (xi, pi) in x.iter_mut().zip(&proj) {
                *xi += pi;
            }
            rmsnorm(&x, &l.ffn_norm, c.rms_eps, &mut xb);
            l.w_gate_up
                .forward_split(&xb, n, &mut [&mut gate, &mut up])?;
            // SwiGLU: silu(gate) * up
            gate.par_iter_mut().zip(&up).for_each(|(g, u)| {
                *g = *g / (1.0 + (-*g).exp()) * u;
            });
            l.w_down.forward_batch(&gate, n, &mut proj)?;
            for (xi, pi) in x.iter_mut().zip(&proj) {
                *xi += pi;
            }
        }
        st.pos = total;
        let rows = if all { n } else { 1 };
        let xs = &x[(n - rows) * d..];
        let mut xn = vec![0f32; rows * d];
        rmsnorm(xs, &w.final_norm, c.rms_eps, &mut xn);
        let mut logits = vec![0f32; rows * c.vocab_size];
        w.head.forward_batch(&xn, rows, &mut logits)?;
        Ok(logits)
    }
}
