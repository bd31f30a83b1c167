//! Layer shapes of the models the benchmark and the board model use, built
//! from their published dimensions.
//!
//! A decoder block of a Llama model has seven linear layers, each a mat-vec
//! `W (rows, cols) @ x (cols,)` per token: `q` (dim, dim), `k` and `v`
//! (kv_heads · head_dim, dim), `o` (dim, dim), `gate` and `up`
//! (hidden, dim), `down` (dim, hidden). These are what SeedLM compresses;
//! the token embedding, the output head (vocab, dim) and the norms are
//! counted in [`ModelShape::params`] but are not part of the per-token
//! linear-layer work ([`ModelShape::linears`]).
//!
//! Sources of the dimensions (dim, hidden, layers, heads, KV heads, vocab):
//! - Llama 2 7B / 13B / 70B: Touvron et al., "Llama 2: Open Foundation and
//!   Fine-Tuned Chat Models", arXiv 2307.09288 (Table 1: 70B uses grouped
//!   query attention), and the `config.json` of `meta-llama/Llama-2-{7,13,70}b-hf`:
//!   4096/11008/32/32/32, 5120/13824/40/40/40, 8192/28672/80/64/8; vocab 32000.
//! - Llama 3 8B / 70B: Llama Team, "The Llama 3 Herd of Models",
//!   arXiv 2407.21783 (Table 3), and `meta-llama/Meta-Llama-3-{8,70}B`
//!   `config.json`: 4096/14336/32/32/8 and 8192/28672/80/64/8; vocab 128256.
//! - SmolLM2-135M (the project's small real model, for `--quick`): its
//!   `config.json`: 576/1536/30/9/3; vocab 49152.
//!
//! The test `test_shapes_match_published_parameter_counts` checks the
//! totals against the published parameter counts.
//!
//! A token runs the linear layers as the runtime calls them
//! ([`ModelShape::calls`]): q/k/v stacked into one call and gate/up into
//! another, four calls per block ([`crate::llama::fused::CALLS`]).

use crate::llama::fused::CALLS;

/// One linear layer of a decoder block, or one call of stacked layers:
/// `W (rows, cols) @ x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    /// Short name (`q`, `k`, `v`, `o`, `gate`, `up`, `down`; for a call
    /// `qkv`, `o`, `gate_up`, `down`).
    pub name: &'static str,
    /// Output features (rows of W).
    pub rows: usize,
    /// Input features (columns of W).
    pub cols: usize,
}

impl Linear {
    /// Weights of the layer.
    pub fn params(&self) -> u64 {
        self.rows as u64 * self.cols as u64
    }
}

/// The shape of a Llama-architecture model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelShape {
    /// Name as accepted by `--models` (`llama2-7b`, ...).
    pub name: &'static str,
    /// Decoder blocks.
    pub layers: usize,
    /// Model width.
    pub dim: usize,
    /// Width of the feed-forward layer.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Whether the output head shares the embedding matrix.
    pub tied_embeddings: bool,
}

impl ModelShape {
    /// The seven linear layers of one decoder block.
    pub fn linears(&self) -> [Linear; 7] {
        let kv = self.kv_heads * (self.dim / self.heads);
        let l = |name, rows, cols| Linear { name, rows, cols };
        [
            l("q", self.dim, self.dim),
            l("k", kv, self.dim),
            l("v", kv, self.dim),
            l("o", self.dim, self.dim),
            l("gate", self.hidden, self.dim),
            l("up", self.hidden, self.dim),
            l("down", self.dim, self.hidden),
        ]
    }

    /// The calls of one decoder block as the runtime makes them
    /// ([`CALLS`]): each stacks the rows of layers that share their input.
    pub fn calls(&self) -> Vec<Linear> {
        let linears = self.linears();
        CALLS
            .iter()
            .map(|&(name, parts)| {
                let parts: Vec<&Linear> =
                    linears.iter().filter(|l| parts.contains(&l.name)).collect();
                Linear {
                    name,
                    rows: parts.iter().map(|l| l.rows).sum(),
                    cols: parts[0].cols,
                }
            })
            .collect()
    }

    /// Weights of the linear layers of all blocks (what SeedLM compresses
    /// and what a token streams through the mat-vec engine).
    pub fn linear_params(&self) -> u64 {
        self.layers as u64 * self.linears().iter().map(Linear::params).sum::<u64>()
    }

    /// All parameters: linear layers, embedding and output head, and the
    /// RMSNorm weights (two per block and a final one).
    pub fn params(&self) -> u64 {
        let emb = self.vocab as u64 * self.dim as u64;
        let head = if self.tied_embeddings { 0 } else { emb };
        let norms = (2 * self.layers as u64 + 1) * self.dim as u64;
        self.linear_params() + emb + head + norms
    }
}

/// The default models of `seedlm bench`, smallest first.
pub fn llama_models() -> Vec<ModelShape> {
    let m = |name, layers, dim, hidden, heads, kv_heads, vocab| ModelShape {
        name,
        layers,
        dim,
        hidden,
        heads,
        kv_heads,
        vocab,
        tied_embeddings: false,
    };
    vec![
        m("llama2-7b", 32, 4096, 11008, 32, 32, 32000),
        m("llama3-8b", 32, 4096, 14336, 32, 8, 128256),
        m("llama2-13b", 40, 5120, 13824, 40, 40, 32000),
        m("llama2-70b", 80, 8192, 28672, 64, 8, 32000),
        m("llama3-70b", 80, 8192, 28672, 64, 8, 128256),
    ]
}

/// SmolLM2-135M: small shapes for `--quick`.
pub fn smollm2_135m() -> ModelShape {
    ModelShape {
        name: "smollm2-135m",
        layers: 30,
        dim: 576,
        hidden: 1536,
        heads: 9,
        kv_heads: 3,
        vocab: 49152,
        tied_embeddings: true,
    }
}

/// Every known model.
pub fn all_models() -> Vec<ModelShape> {
    let mut v = vec![smollm2_135m()];
    v.extend(llama_models());
    v
}

/// The model called `name` (case-insensitive), or an error listing the
/// known names.
pub fn find_model(name: &str) -> Result<ModelShape, String> {
    all_models()
        .into_iter()
        .find(|m| m.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let names: Vec<&str> = all_models().iter().map(|m| m.name).collect();
            format!("unknown model {name:?} (known: {})", names.join(", "))
        })
}

/// The distinct `(rows, cols)` shapes of `models`, in first-seen order:
/// each model's linear layers, then its calls ([`ModelShape::calls`]).
pub fn distinct_shapes(models: &[ModelShape]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for m in models {
        for l in m.linears().into_iter().chain(m.calls()) {
            if !out.contains(&(l.rows, l.cols)) {
                out.push((l.rows, l.cols));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_shapes_match_published_parameter_counts() {
        // Published totals: Llama 2 paper (6.74B, 13.02B, 68.98B as in the
        // HF model cards), Llama 3 model cards (8.03B, 70.55B), SmolLM2
        // model card (134.5M). Our count must be within 0.1%.
        let published = [
            ("smollm2-135m", 134.5e6),
            ("llama2-7b", 6.738e9),
            ("llama3-8b", 8.030e9),
            ("llama2-13b", 13.016e9),
            ("llama2-70b", 68.977e9),
            ("llama3-70b", 70.554e9),
        ];
        for (name, want) in published {
            let got = find_model(name).unwrap().params() as f64;
            assert!(
                (got / want - 1.0).abs() < 1e-3,
                "{name}: {got} parameters, published {want}"
            );
        }
    }

    #[test]
    fn test_shapes_gqa_and_lookup() {
        let m = find_model("LLAMA2-70B").unwrap();
        let l = m.linears();
        assert_eq!((l[1].rows, l[1].cols), (1024, 8192));
        assert_eq!((l[6].rows, l[6].cols), (8192, 28672));
        assert!(find_model("gpt2").unwrap_err().contains("llama3-8b"));
        let d = distinct_shapes(&llama_models());
        assert_eq!(
            d.len(),
            13 + 8,
            "13 layer shapes, 8 more stacked calls: {d:?}"
        );
        // Llama-2-7B: its layers, then the calls that stack them.
        assert_eq!(
            distinct_shapes(&[find_model("llama2-7b").unwrap()]),
            [
                (4096, 4096),
                (11008, 4096),
                (4096, 11008),
                (12288, 4096),
                (22016, 4096)
            ]
        );
    }

    #[test]
    fn test_calls_stack_the_layers_that_share_an_input() {
        // Llama-2-7B: q, k, v (4096 x 4096 each) -> 12288 x 4096; gate, up
        // (11008 x 4096) -> 22016 x 4096; the same weights in four calls.
        let m = find_model("llama2-7b").unwrap();
        let shape = |l: &Linear| (l.name, l.rows, l.cols);
        assert_eq!(
            m.calls().iter().map(shape).collect::<Vec<_>>(),
            [
                ("qkv", 12288, 4096),
                ("o", 4096, 4096),
                ("gate_up", 22016, 4096),
                ("down", 4096, 11008)
            ]
        );
        for m in all_models() {
            let calls: u64 = m.calls().iter().map(Linear::params).sum();
            assert_eq!(m.layers as u64 * calls, m.linear_params(), "{}", m.name);
        }
        // GQA: Llama-3-8B's k and v have 1024 rows each.
        assert_eq!(find_model("llama3-8b").unwrap().calls()[0].rows, 6144);
    }
}
