//! Hyperparameters of a Llama-architecture model, read from the checkpoint:
//! GGUF `llama.*` metadata, or an HF `config.json`. [`LlamaConfig::to_hf_json`]
//! writes the HF form back (what `compress` stores in a `.seedlm` file).

use std::path::Path;

use serde_json::{json, Value as Json};

use crate::checkpoint::gguf::{GgufFile, Value};
use crate::error::{Error, Result};

/// How RoPE scales positions beyond the trained context.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor` (HF `"linear"`).
    Linear {
        /// Position divisor.
        factor: f32,
    },
    /// Llama 3.1 frequency-dependent scaling (HF `"llama3"`).
    Llama3 {
        /// Scale of the low frequencies.
        factor: f32,
        /// Wavelength bound (in units of the original context) of the low band.
        low_freq_factor: f32,
        /// Wavelength bound of the high band.
        high_freq_factor: f32,
        /// Context length the model was trained with.
        original_max_position_embeddings: f32,
    },
}

/// Architecture of a Llama-style decoder.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// Residual stream width (`hidden_size`).
    pub dim: usize,
    /// SwiGLU inner width (`intermediate_size`).
    pub hidden_dim: usize,
    /// Decoder layers.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Longest context the model was trained for, in tokens.
    pub max_seq_len: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// RoPE base θ.
    pub rope_theta: f32,
    /// RoPE position scaling.
    pub rope_scaling: RopeScaling,
    /// Beginning-of-sequence token, if the model has one.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence tokens (generation stops at any).
    pub eos_token_ids: Vec<u32>,
}

/// A token id from a file: ids past `u32` become `u32::MAX`, which
/// [`LlamaConfig::validate`] then refuses as outside the vocabulary.
fn token_id(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn bad(path: &Path, what: String) -> Error {
    Error::Format {
        path: path.into(),
        what,
    }
}

impl LlamaConfig {
    /// Checks that the numbers describe a model this runtime can run: every
    /// count positive, heads grouping evenly, even head width, finite
    /// positive floats, token ids inside the vocabulary, and every size the
    /// runtime computes from them (`n_heads · head_dim`, each weight
    /// matrix's element count and f32 byte size) without overflow, so that
    /// later arithmetic on them cannot wrap. The error names the field.
    pub fn validate(&self, source: &Path) -> Result<()> {
        let fail = |what: String| Err(bad(source, format!("model config: {what}")));
        for (name, v) in [
            ("hidden size (dim)", self.dim),
            ("intermediate size", self.hidden_dim),
            ("layer count", self.n_layers),
            ("attention head count", self.n_heads),
            ("key/value head count", self.n_kv_heads),
            ("head width (head_dim)", self.head_dim),
            ("vocabulary size", self.vocab_size),
            ("context length", self.max_seq_len),
        ] {
            if v == 0 {
                return fail(format!("{name} is 0"));
            }
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return fail(format!(
                "{} attention heads do not group evenly over {} key/value heads",
                self.n_heads, self.n_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return fail(format!(
                "head width {} is odd (RoPE rotates pairs)",
                self.head_dim
            ));
        }
        for (name, v) in [
            ("rms_norm_eps", self.rms_eps),
            ("rope_theta", self.rope_theta),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return fail(format!("{name} {v} is not a positive number"));
            }
        }
        let scaling_ok = match self.rope_scaling {
            RopeScaling::None => true,
            RopeScaling::Linear { factor } => factor.is_finite() && factor > 0.0,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor: lo,
                high_freq_factor: hi,
                original_max_position_embeddings: old,
            } => {
                [factor, lo, hi, old]
                    .iter()
                    .all(|v| v.is_finite() && *v > 0.0)
                    && hi > lo
            }
        };
        if !scaling_ok {
            return fail(format!(
                "RoPE scaling {:?} is out of range",
                self.rope_scaling
            ));
        }
        // Token ids are u32 (and u32::MAX stands for "too large").
        if self.vocab_size > u32::MAX as usize {
            return fail(format!(
                "vocabulary of {} exceeds 2^32 - 1 tokens",
                self.vocab_size
            ));
        }
        let ids = self.bos_token_id.iter().chain(&self.eos_token_ids);
        if let Some(id) = ids.into_iter().find(|&&id| id as usize >= self.vocab_size) {
            return fail(format!(
                "token id {id} (BOS/EOS) is outside the vocabulary of {}",
                self.vocab_size
            ));
        }
        // Every size the runtime derives, as f32 elements that fit in memory.
        let max = isize::MAX as usize / 4;
        let mul = |a: usize, b: usize| a.checked_mul(b).filter(|&n| n <= max);
        let sizes = [
            ("n_heads x head_dim", mul(self.n_heads, self.head_dim)),
            ("n_kv_heads x head_dim", mul(self.n_kv_heads, self.head_dim)),
            ("vocab x dim", mul(self.vocab_size, self.dim)),
            ("intermediate x dim", mul(self.hidden_dim, self.dim)),
            (
                "n_heads x head_dim x dim",
                mul(self.n_heads, self.head_dim).and_then(|q| mul(q, self.dim)),
            ),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| v.is_none()) {
            return fail(format!("{name} overflows ({self:?})"));
        }
        Ok(())
    }

    /// From GGUF metadata (`general.architecture` must be `llama`).
    pub fn from_gguf(g: &GgufFile) -> Result<LlamaConfig> {
        let path = g.path();
        let arch = match g.meta("general.architecture") {
            Some(Value::String(s)) => s.as_str(),
            _ => {
                return Err(bad(
                    path,
                    "no general.architecture in the GGUF metadata".into(),
                ))
            }
        };
        if arch != "llama" {
            return Err(bad(
                path,
                format!("architecture '{arch}' is not supported (only 'llama')"),
            ));
        }
        let int = |key: &str| -> Result<usize> {
            g.meta(key)
                .and_then(Value::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("GGUF metadata '{key}' is missing or not an integer"),
                    )
                })
        };
        let float = |key: &str| -> Option<f32> {
            match g.meta(key)? {
                Value::F32(v) => Some(*v),
                Value::F64(v) => Some(*v as f32),
                _ => None,
            }
        };
        let dim = int("llama.embedding_length")?;
        let n_heads = int("llama.attention.head_count")?;
        let n_kv_heads = int("llama.attention.head_count_kv").unwrap_or(n_heads);
        let vocab_size = match int("llama.vocab_size") {
            Ok(v) => v,
            Err(_) => match g.meta("tokenizer.ggml.tokens") {
                Some(Value::Array(a)) => a.len,
                _ => {
                    return Err(bad(
                        path,
                        "no llama.vocab_size and no tokenizer.ggml.tokens".into(),
                    ))
                }
            },
        };
        let rope_scaling = match g.meta("llama.rope.scaling.type") {
            None => RopeScaling::None,
            Some(Value::String(s)) if s == "none" => RopeScaling::None,
            Some(Value::String(s)) if s == "linear" => RopeScaling::Linear {
                factor: float("llama.rope.scaling.factor").ok_or_else(|| {
                    bad(
                        path,
                        "linear RoPE scaling without llama.rope.scaling.factor".into(),
                    )
                })?,
            },
            Some(v) => return Err(bad(path, format!("RoPE scaling {v:?} is not supported"))),
        };
        let cfg = LlamaConfig {
            dim,
            hidden_dim: int("llama.feed_forward_length")?,
            n_layers: int("llama.block_count")?,
            n_heads,
            n_kv_heads,
            head_dim: int("llama.rope.dimension_count")
                .or_else(|_| int("llama.attention.key_length"))
                .unwrap_or(dim / n_heads.max(1)),
            vocab_size,
            max_seq_len: int("llama.context_length")?,
            rms_eps: float("llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: float("llama.rope.freq_base").unwrap_or(10000.0),
            rope_scaling,
            bos_token_id: int("tokenizer.ggml.bos_token_id").ok().map(token_id),
            eos_token_ids: int("tokenizer.ggml.eos_token_id")
                .ok()
                .map(|v| vec![token_id(v)])
                .unwrap_or_default(),
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// From the text of an HF `config.json` read from `source`.
    pub fn from_hf_json(text: &str, source: &Path) -> Result<LlamaConfig> {
        let j: Json = serde_json::from_str(text)
            .map_err(|e| bad(source, format!("config.json is not valid JSON: {e}")))?;
        if let Some(mt) = j.get("model_type").and_then(Json::as_str) {
            if !matches!(mt, "llama" | "mistral") {
                return Err(bad(
                    source,
                    format!("model_type '{mt}' is not supported (llama)"),
                ));
            }
        }
        let int = |key: &str| -> Result<usize> {
            j.get(key)
                .and_then(Json::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| {
                    bad(
                        source,
                        format!("config.json: '{key}' is missing or not an integer"),
                    )
                })
        };
        let float = |key: &str| j.get(key).and_then(Json::as_f64).map(|v| v as f32);
        let ids = |key: &str| -> Vec<u32> {
            match j.get(key) {
                Some(Json::Number(n)) => n
                    .as_u64()
                    .map(|v| vec![token_id(v as usize)])
                    .unwrap_or_default(),
                Some(Json::Array(a)) => a
                    .iter()
                    .filter_map(Json::as_u64)
                    .map(|v| token_id(v as usize))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let dim = int("hidden_size")?;
        let n_heads = int("num_attention_heads")?;
        let rope_scaling = match j.get("rope_scaling") {
            None | Some(Json::Null) => RopeScaling::None,
            Some(s) => {
                let f = |k: &str| s.get(k).and_then(Json::as_f64).map(|v| v as f32);
                let need = |k: &str| {
                    f(k).ok_or_else(|| {
                        bad(source, format!("config.json: rope_scaling.{k} is missing"))
                    })
                };
                let ty = s
                    .get("rope_type")
                    .or_else(|| s.get("type"))
                    .and_then(Json::as_str)
                    .unwrap_or("");
                match ty {
                    "default" => RopeScaling::None,
                    "linear" => RopeScaling::Linear {
                        factor: need("factor")?,
                    },
                    "llama3" => RopeScaling::Llama3 {
                        factor: need("factor")?,
                        low_freq_factor: need("low_freq_factor")?,
                        high_freq_factor: need("high_freq_factor")?,
                        original_max_position_embeddings: need("original_max_position_embeddings")?,
                    },
                    other => {
                        return Err(bad(
                            source,
                            format!("config.json: rope_scaling type '{other}' is not supported (linear, llama3)"),
                        ))
                    }
                }
            }
        };
        let cfg = LlamaConfig {
            dim,
            hidden_dim: int("intermediate_size")?,
            n_layers: int("num_hidden_layers")?,
            n_heads,
            n_kv_heads: int("num_key_value_heads").unwrap_or(n_heads),
            head_dim: int("head_dim").unwrap_or(dim / n_heads.max(1)),
            vocab_size: int("vocab_size")?,
            max_seq_len: int("max_position_embeddings")?,
            rms_eps: float("rms_norm_eps").unwrap_or(1e-6),
            rope_theta: float("rope_theta").unwrap_or(10000.0),
            rope_scaling,
            bos_token_id: ids("bos_token_id").first().copied(),
            eos_token_ids: ids("eos_token_id"),
        };
        cfg.validate(source)?;
        Ok(cfg)
    }

    /// The HF `config.json` form (what [`LlamaConfig::from_hf_json`] reads).
    pub fn to_hf_json(&self) -> String {
        let rope_scaling = match &self.rope_scaling {
            RopeScaling::None => Json::Null,
            RopeScaling::Linear { factor } => json!({"rope_type": "linear", "factor": factor}),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => json!({
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_max_position_embeddings,
            }),
        };
        let j = json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.dim,
            "intermediate_size": self.hidden_dim,
            "num_hidden_layers": self.n_layers,
            "num_attention_heads": self.n_heads,
            "num_key_value_heads": self.n_kv_heads,
            "head_dim": self.head_dim,
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.max_seq_len,
            "rms_norm_eps": self.rms_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_ids,
        });
        serde_json::to_string_pretty(&j).expect("JSON of plain values")
    }

    /// Per-dimension-pair inverse frequencies `θ^(-2i/d)` after scaling, and
    /// the position divisor (`1` unless linear scaling).
    pub fn rope_inv_freq(&self) -> (Vec<f32>, f32) {
        let d = self.head_dim;
        let base: Vec<f64> = (0..d / 2)
            .map(|i| (self.rope_theta as f64).powf(-((2 * i) as f64) / d as f64))
            .collect();
        match &self.rope_scaling {
            RopeScaling::None => (base.iter().map(|&f| f as f32).collect(), 1.0),
            RopeScaling::Linear { factor } => (base.iter().map(|&f| f as f32).collect(), *factor),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let (f, lo, hi, old) = (
                    *factor as f64,
                    *low_freq_factor as f64,
                    *high_freq_factor as f64,
                    *original_max_position_embeddings as f64,
                );
                let (low_wavelen, high_wavelen) = (old / lo, old / hi);
                let v = base
                    .iter()
                    .map(|&fr| {
                        let wavelen = 2.0 * std::f64::consts::PI / fr;
                        if wavelen < high_wavelen {
                            fr
                        } else if wavelen > low_wavelen {
                            fr / f
                        } else {
                            let s = (old / wavelen - lo) / (hi - lo);
                            (1.0 - s) * fr / f + s * fr
                        }
                    } as f32)
                    .collect();
                (v, 1.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smol() -> LlamaConfig {
        LlamaConfig {
            dim: 576,
            hidden_dim: 1536,
            n_layers: 30,
            n_heads: 9,
            n_kv_heads: 3,
            head_dim: 64,
            vocab_size: 49152,
            max_seq_len: 8192,
            rms_eps: 1e-5,
            rope_theta: 100000.0,
            rope_scaling: RopeScaling::None,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
        }
    }

    #[test]
    fn test_hf_json_round_trip() {
        let p = Path::new("config.json");
        for scaling in [
            RopeScaling::None,
            RopeScaling::Linear { factor: 2.0 },
            RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192.0,
            },
        ] {
            let c = LlamaConfig {
                rope_scaling: scaling,
                ..smol()
            };
            assert_eq!(LlamaConfig::from_hf_json(&c.to_hf_json(), p).unwrap(), c);
        }
    }

    #[test]
    fn test_bad_configs_are_errors_naming_the_file() {
        let p = Path::new("x/config.json");
        let e = LlamaConfig::from_hf_json("{", p).unwrap_err().to_string();
        assert!(e.starts_with("x/config.json"), "{e}");
        let e = LlamaConfig::from_hf_json(r#"{"hidden_size": 8}"#, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_attention_heads"), "{e}");
        let c = LlamaConfig {
            n_kv_heads: 4,
            ..smol()
        };
        assert!(LlamaConfig::from_hf_json(&c.to_hf_json(), p).is_err());
    }

    #[test]
    fn test_validate_refuses_overflowing_and_out_of_range_values() {
        let p = Path::new("config.json");
        let refused = |c: LlamaConfig| c.validate(p).unwrap_err().to_string();
        // n_heads·head_dim wraps: 9 · (2^64 / 9 + 1) = 2^64 + 8 -> 8.
        let wrap = usize::MAX / 9 + 1;
        assert!(refused(LlamaConfig {
            head_dim: wrap + wrap % 2,
            ..smol()
        })
        .contains("overflows"));
        assert!(refused(LlamaConfig {
            head_dim: 1 << 62,
            ..smol()
        })
        .contains("overflows"));
        assert!(refused(LlamaConfig {
            dim: 1 << 60,
            ..smol()
        })
        .contains("overflows"));
        assert!(refused(LlamaConfig {
            vocab_size: 1 << 40,
            ..smol()
        })
        .contains("2^32"));
        assert!(refused(LlamaConfig {
            n_kv_heads: 0,
            ..smol()
        })
        .contains("is 0"));
        assert!(refused(LlamaConfig {
            rope_theta: f32::INFINITY,
            ..smol()
        })
        .contains("rope_theta"));
        assert!(refused(LlamaConfig {
            eos_token_ids: vec![49152],
            ..smol()
        })
        .contains("token id 49152"));
        assert!(refused(LlamaConfig {
            rope_scaling: RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 4.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192.0,
            },
            ..smol()
        })
        .contains("RoPE scaling"));
        // A token id past u32 is not truncated into the vocabulary.
        let mut j: Json = serde_json::from_str(&smol().to_hf_json()).unwrap();
        j["eos_token_id"] = json!((1u64 << 32) + 2);
        let e = LlamaConfig::from_hf_json(&j.to_string(), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the vocabulary"), "{e}");
        smol().validate(p).unwrap();
    }

    #[test]
    fn test_rope_frequencies() {
        let (f, div) = smol().rope_inv_freq();
        assert_eq!(f.len(), 32);
        assert_eq!(div, 1.0);
        assert_eq!(f[0], 1.0);
        // θ^(-2·31/64)
        assert!((f[31] as f64 - 100000f64.powf(-62.0 / 64.0)).abs() < 1e-9);
    }
}
