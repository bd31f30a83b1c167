//! The model's tensors: where they come from (a checkpoint or a `.seedlm`
//! file), what each is called (GGUF or HF names), and how each linear layer
//! is built for the chosen backend.

use std::path::Path;

use seedlm::container::{SeedFile, TensorKind};
use seedlm::{Block, Config};

use super::config::LlamaConfig;
use super::fused::{Fused, Stacking, GATE_UP, QKV};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::linear::Linear;

/// A file of model weights.
pub enum WeightFile {
    /// HF safetensors or GGUF.
    Checkpoint(Checkpoint),
    /// A `.seedlm` file (seed tensors and raw tensors).
    Seed(SeedFile),
}

/// One linear layer's weights as stored.
pub enum StoredLinear {
    /// Float weights, `rows × cols` row-major (dequantized if quantized).
    Dense {
        /// Output rows.
        rows: usize,
        /// Input columns.
        cols: usize,
        /// The weights.
        w: Vec<f32>,
    },
    /// SeedLM blocks (layout of [`seedlm::fixed::BlockMatrix`]).
    Seed {
        /// Output rows.
        rows: usize,
        /// Input columns.
        cols: usize,
        /// Block configuration.
        cfg: Config,
        /// `rows · ceil(cols / C)` blocks, row-major.
        blocks: Vec<Block>,
        /// The weights are the decoded blocks times `2^exp_offset`
        /// ([`seedlm::magnitude`]); 0 for most tensors.
        exp_offset: i16,
    },
}

/// Builds a backend's [`Linear`] from a stored layer called `name` (for
/// layers stacked into one call, [`Stacking::Stacked`], their names joined
/// by `+`).
pub type LinearBuilder<'a> = dyn Fn(&str, StoredLinear) -> Result<Box<dyn Linear>> + Sync + 'a;

/// Tensor naming convention, which also fixes the RoPE pairing: GGUF
/// converters permute q/k rows for interleaved pairs, HF keeps half-split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `token_embd.weight`, `blk.N.attn_q.weight`, ...
    Gguf,
    /// `model.embed_tokens.weight`, `model.layers.N.self_attn.q_proj.weight`, ...
    Hf,
}

/// The per-layer linear layers, in the order [`Naming::linear`] names them.
pub const LINEARS: [&str; 7] = ["q", "k", "v", "o", "gate", "up", "down"];

impl Naming {
    /// Token embedding.
    pub fn embedding(self) -> &'static str {
        match self {
            Naming::Gguf => "token_embd.weight",
            Naming::Hf => "model.embed_tokens.weight",
        }
    }

    /// Final RMSNorm weight.
    pub fn final_norm(self) -> &'static str {
        match self {
            Naming::Gguf => "output_norm.weight",
            Naming::Hf => "model.norm.weight",
        }
    }

    /// Output head (absent when tied to the embedding).
    pub fn head(self) -> &'static str {
        match self {
            Naming::Gguf => "output.weight",
            Naming::Hf => "lm_head.weight",
        }
    }

    /// Layer `i`'s attention (`attn = true`) or MLP RMSNorm weight.
    pub fn norm(self, i: usize, attn: bool) -> String {
        match (self, attn) {
            (Naming::Gguf, true) => format!("blk.{i}.attn_norm.weight"),
            (Naming::Gguf, false) => format!("blk.{i}.ffn_norm.weight"),
            (Naming::Hf, true) => format!("model.layers.{i}.input_layernorm.weight"),
            (Naming::Hf, false) => format!("model.layers.{i}.post_attention_layernorm.weight"),
        }
    }

    /// Layer `i`'s linear `which` (one of [`LINEARS`]).
    pub fn linear(self, i: usize, which: &str) -> String {
        match self {
            Naming::Gguf => {
                let n = match which {
                    "q" => "attn_q",
                    "k" => "attn_k",
                    "v" => "attn_v",
                    "o" => "attn_output",
                    "gate" => "ffn_gate",
                    "up" => "ffn_up",
                    _ => "ffn_down",
                };
                format!("blk.{i}.{n}.weight")
            }
            Naming::Hf => match which {
                "q" | "k" | "v" | "o" => format!("model.layers.{i}.self_attn.{which}_proj.weight"),
                _ => format!("model.layers.{i}.mlp.{which}_proj.weight"),
            },
        }
    }

    /// Whether RoPE rotates adjacent pairs `(2i, 2i+1)` (GGUF) rather than
    /// `(i, i + d/2)` (HF).
    pub fn rope_interleaved(self) -> bool {
        self == Naming::Gguf
    }
}

impl WeightFile {
    /// Opens a `.seedlm` file (by its magic) or a checkpoint.
    pub fn open(path: &Path) -> Result<WeightFile> {
        if is_seedlm(path) {
            SeedFile::open(path)
                .map(WeightFile::Seed)
                .map_err(|e| Error::Format {
                    path: path.into(),
                    what: e.to_string(),
                })
        } else {
            Checkpoint::open(path).map(WeightFile::Checkpoint)
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        match self {
            WeightFile::Checkpoint(c) => c.path(),
            WeightFile::Seed(s) => s.path(),
        }
    }

    /// The shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        match self {
            WeightFile::Checkpoint(c) => c.get(name).ok().map(|t| t.shape.clone()),
            WeightFile::Seed(s) => s.get(name).map(|t| t.shape.clone()),
        }
    }

    /// The naming convention of the file's tensors.
    pub fn naming(&self) -> Result<Naming> {
        for n in [Naming::Gguf, Naming::Hf] {
            if self.shape(n.embedding()).is_some() {
                return Ok(n);
            }
        }
        Err(Error::Format {
            path: self.path().into(),
            what: format!(
                "no token embedding ('{}' or '{}'): not a Llama checkpoint",
                Naming::Gguf.embedding(),
                Naming::Hf.embedding()
            ),
        })
    }

    /// Tensor `name` as f32 (seed tensors decoded), checked to have `shape`.
    pub fn load_f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.check_shape(name, shape)?;
        match self {
            WeightFile::Checkpoint(c) => c.load_f32(name),
            WeightFile::Seed(s) => {
                let t = s.get(name).expect("shape checked");
                match t.kind {
                    TensorKind::Raw(_) => s.raw_f32(t).map_err(|e| self.err(e.to_string())),
                    TensorKind::Seed(_) => match self.load_linear(name, shape[0], shape[1])? {
                        StoredLinear::Dense { w, .. } => Ok(w),
                        StoredLinear::Seed {
                            rows,
                            cols,
                            cfg,
                            blocks,
                            exp_offset,
                        } => {
                            let mut w = decode_blocks(rows, cols, &cfg, &blocks)
                                .map_err(|e| e.context(format!("tensor '{name}'")))?;
                            seedlm::magnitude::scale_up(&mut w, exp_offset);
                            Ok(w)
                        }
                    },
                }
            }
        }
    }

    /// Linear layer `name` (`rows × cols`) as stored.
    pub fn load_linear(&self, name: &str, rows: usize, cols: usize) -> Result<StoredLinear> {
        self.check_shape(name, &[rows, cols])?;
        if let WeightFile::Seed(s) = self {
            let t = s.get(name).expect("shape checked");
            if let TensorKind::Seed(cfg) = t.kind {
                let blocks = s.blocks(t).map_err(|e| self.err(e.to_string()))?;
                return Ok(StoredLinear::Seed {
                    rows,
                    cols,
                    cfg,
                    blocks,
                    exp_offset: t.exp_offset,
                });
            }
        }
        Ok(StoredLinear::Dense {
            rows,
            cols,
            w: self.load_f32(name, &[rows, cols])?,
        })
    }

    fn check_shape(&self, name: &str, want: &[usize]) -> Result<()> {
        match self.shape(name) {
            None => Err(Error::NoTensor {
                path: self.path().into(),
                tensor: name.into(),
            }),
            Some(s) if s == want => Ok(()),
            Some(s) => Err(self.err(format!(
                "tensor '{name}' has shape {s:?}, the model config needs {want:?}"
            ))),
        }
    }

    fn err(&self, what: String) -> Error {
        Error::Format {
            path: self.path().into(),
            what,
        }
    }
}

/// Whether `path` is a file starting with the `.seedlm` magic.
pub fn is_seedlm(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == seedlm::container::MAGIC
}

/// Decodes `rows × cols` weights from their blocks (the weights of
/// [`Block::decode`], by [`seedlm::kernel::SeedMatrix::decode`]).
pub fn decode_blocks(rows: usize, cols: usize, cfg: &Config, blocks: &[Block]) -> Result<Vec<f32>> {
    let m = seedlm::kernel::SeedMatrix::new(&seedlm::fixed::BlockMatrix {
        cfg: *cfg,
        rows,
        cols,
        blocks,
    })?;
    Ok(m.decode())
}

/// One decoder layer. Shapes in comments as (rows, cols).
pub struct Layer {
    /// (dim,) attention RMSNorm weight.
    pub attn_norm: Vec<f32>,
    /// q (n_heads·head_dim, dim), k and v (n_kv_heads·head_dim, dim): one
    /// call.
    pub wqkv: Fused,
    /// (dim, n_heads·head_dim).
    pub wo: Box<dyn Linear>,
    /// (dim,) MLP RMSNorm weight.
    pub ffn_norm: Vec<f32>,
    /// gate and up (hidden_dim, dim): one call.
    pub w_gate_up: Fused,
    /// (dim, hidden_dim).
    pub w_down: Box<dyn Linear>,
}

/// All weights of the model.
pub struct Weights {
    /// (vocab, dim) token embedding, f32.
    pub tok_emb: Vec<f32>,
    /// Decoder layers.
    pub layers: Vec<Layer>,
    /// (dim,) final RMSNorm weight.
    pub final_norm: Vec<f32>,
    /// (vocab, dim) output head (a copy of the embedding when tied).
    pub head: Box<dyn Linear>,
    /// Whether the head is tied to the embedding.
    pub tied_head: bool,
    /// Naming convention (fixes the RoPE pairing).
    pub naming: Naming,
}

impl Weights {
    /// Loads every tensor of `cfg`'s architecture from `file`; the seven
    /// linear layers of each block go through `layer_builder`, q/k/v and
    /// gate/up as `stacking` says ([`Fused::build`]), the head through
    /// `head_builder` (dense by default).
    pub fn load(
        file: &WeightFile,
        cfg: &LlamaConfig,
        layer_builder: &LinearBuilder<'_>,
        head_builder: &LinearBuilder<'_>,
        stacking: Stacking,
    ) -> Result<Weights> {
        use rayon::prelude::*;
        let naming = file.naming()?;
        let (d, hd) = (cfg.dim, cfg.head_dim);
        let (q_dim, kv_dim) = (cfg.n_heads * hd, cfg.n_kv_heads * hd);
        let tok_emb = file.load_f32(naming.embedding(), &[cfg.vocab_size, d])?;
        let layers = (0..cfg.n_layers)
            .into_par_iter()
            .map(|i| {
                let shape = |which: &str| match which {
                    "q" => (q_dim, d),
                    "k" | "v" => (kv_dim, d),
                    "o" => (d, q_dim),
                    "gate" | "up" => (cfg.hidden_dim, d),
                    _ => (d, cfg.hidden_dim),
                };
                let stored = |which: &str| {
                    let (rows, cols) = shape(which);
                    let name = naming.linear(i, which);
                    let s = file.load_linear(&name, rows, cols)?;
                    Ok::<_, Error>((name, s))
                };
                let lin = |which: &str| {
                    let (name, s) = stored(which)?;
                    layer_builder(&name, s)
                };
                let fused = |group: &[&str]| {
                    let (names, parts): (Vec<String>, Vec<StoredLinear>) =
                        group.iter().map(|w| stored(w)).collect::<Result<_>>()?;
                    Fused::build(&names, parts, layer_builder, stacking)
                };
                Ok(Layer {
                    attn_norm: file.load_f32(&naming.norm(i, true), &[d])?,
                    wqkv: fused(QKV)?,
                    wo: lin("o")?,
                    ffn_norm: file.load_f32(&naming.norm(i, false), &[d])?,
                    w_gate_up: fused(GATE_UP)?,
                    w_down: lin("down")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = file.load_f32(naming.final_norm(), &[d])?;
        let tied_head = file.shape(naming.head()).is_none();
        let head = if tied_head {
            head_builder(
                naming.embedding(),
                StoredLinear::Dense {
                    rows: cfg.vocab_size,
                    cols: d,
                    w: tok_emb.clone(),
                },
            )?
        } else {
            head_builder(
                naming.head(),
                file.load_linear(naming.head(), cfg.vocab_size, d)?,
            )?
        };
        Ok(Weights {
            tok_emb,
            layers,
            final_norm,
            head,
            tied_head,
            naming,
        })
    }

    /// Bytes of weights read per generated token: every linear layer's
    /// [`Linear::weight_bytes`], the head's, one embedding row, the norms.
    pub fn bytes_per_token(&self) -> usize {
        let d = self.final_norm.len();
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                l.wqkv.weight_bytes()
                    + l.wo.weight_bytes()
                    + l.w_gate_up.weight_bytes()
                    + l.w_down.weight_bytes()
                    + 2 * d * 4
            })
            .sum();
        layers + self.head.weight_bytes() + d * 4 + d * 4
    }
}
