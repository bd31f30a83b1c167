//! Opening a model: weights from a checkpoint or a `.seedlm` file, config
//! and tokenizer from wherever the model keeps them.
//!
//! | model | config and tokenizer |
//! |---|---|
//! | `FILE.gguf` | its `llama.*` and `tokenizer.ggml.*` metadata |
//! | HF directory (or a `.safetensors` file in one) | `config.json`, `tokenizer.json` |
//! | `FILE.seedlm` | its `meta/config.json`, `meta/tokenizer.json` blobs |
//!
//! `base` (a GGUF file or an HF directory) overrides where config and
//! tokenizer come from: for `.seedlm` files written without metadata.

use std::path::{Path, PathBuf};

use super::backend::LayerFactory;
use super::config::LlamaConfig;
use super::forward::Model;
use super::fused::Stacking;
use super::tokenizer::Tokenizer;
use super::weights::{WeightFile, Weights};
use crate::checkpoint::gguf::{GgufFile, Value};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};

/// Prefix of the names of model metadata blobs in a `.seedlm` file
/// (reserved: no tensor may use it).
pub const META_PREFIX: &str = "meta/";
/// Name of the blob holding the HF `config.json` in a `.seedlm` file.
pub const META_CONFIG: &str = "meta/config.json";
/// Name of the blob holding the HF `tokenizer.json` in a `.seedlm` file.
pub const META_TOKENIZER: &str = "meta/tokenizer.json";

/// Reads a whole text file.
fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: path.into(),
        source,
    })
}

/// The HF `config.json` and `tokenizer.json` of the model at `path`, if it
/// is an HF directory or a `.safetensors` file (in the same directory).
pub fn hf_meta_files(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let dir = if path.is_dir() {
        path
    } else if path.extension().is_some_and(|e| e == "safetensors") {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    } else {
        return None;
    };
    Some((dir.join("config.json"), dir.join("tokenizer.json")))
}

/// Config and tokenizer of the model at `path` (see module docs).
pub fn load_meta(path: &Path) -> Result<(LlamaConfig, Tokenizer)> {
    if let Some((c, t)) = hf_meta_files(path) {
        return Ok((
            LlamaConfig::from_hf_json(&read_text(&c)?, &c)?,
            Tokenizer::from_json(&read_text(&t)?, &t)?,
        ));
    }
    match WeightFile::open(path)? {
        WeightFile::Checkpoint(Checkpoint::Gguf(g)) => gguf_meta(&g),
        WeightFile::Checkpoint(_) => unreachable!("a safetensors file is handled above"),
        WeightFile::Seed(s) => {
            let blob = |name: &str| -> Result<Option<String>> {
                let Some(t) = s.get(name) else {
                    return Ok(None);
                };
                let bytes = s.raw_u8(t).map_err(|e| Error::Format {
                    path: path.into(),
                    what: e.to_string(),
                })?;
                String::from_utf8(bytes.to_vec())
                    .map(Some)
                    .map_err(|_| Error::Format {
                        path: path.into(),
                        what: format!("blob '{name}' is not UTF-8"),
                    })
            };
            match (blob(META_CONFIG)?, blob(META_TOKENIZER)?) {
                (Some(c), Some(t)) => Ok((
                    LlamaConfig::from_hf_json(&c, &path.join(META_CONFIG))?,
                    Tokenizer::from_json(&t, &path.join(META_TOKENIZER))?,
                )),
                _ => Err(Error::Format {
                    path: path.into(),
                    what: format!(
                        "has no model metadata ('{META_CONFIG}', '{META_TOKENIZER}'; files compressed before they were stored); \
                         pass --base CHECKPOINT (the GGUF file or HF directory it was compressed from) for its config and tokenizer"
                    ),
                }),
            }
        }
    }
}

/// Config and tokenizer from GGUF metadata.
pub fn gguf_meta(g: &GgufFile) -> Result<(LlamaConfig, Tokenizer)> {
    Ok((LlamaConfig::from_gguf(g)?, Tokenizer::from_gguf(g)?))
}

/// Opens the model at `path` (config and tokenizer from `base` if given)
/// with its linear layers built by `layers` and its head by `head`.
pub fn load(
    path: &Path,
    base: Option<&Path>,
    layers: &LayerFactory,
    head: &LayerFactory,
) -> Result<(Model, Tokenizer)> {
    let (cfg, tok) = load_meta(base.unwrap_or(path))?;
    let file = WeightFile::open(path)?;
    let weights = Weights::load(
        &file,
        &cfg,
        &|name, stored| layers.build(name, stored),
        &|name, stored| head.build(name, stored),
        Stacking::Stacked,
    )?;
    Ok((Model::new(cfg, weights), tok))
}

/// The model metadata that `compress` stores in a `.seedlm` file, as
/// `(blob name, text)`: HF `config.json` and `tokenizer.json`, converted from
/// GGUF metadata for a GGUF Llama, copied from the HF directory of a
/// safetensors checkpoint that has both. Both are loaded first (config
/// validated, tokenizer built), so what is stored is what `generate` can
/// run. Empty for checkpoints without them or of another architecture; an
/// error if they are there but broken.
pub fn meta_blobs(ck: &Checkpoint) -> Result<Vec<(&'static str, String)>> {
    let g = match ck {
        Checkpoint::Gguf(g) => g,
        Checkpoint::SafeTensors(_) => {
            let Some((c, t)) = hf_meta_files(ck.path()) else {
                return Ok(Vec::new());
            };
            if !(c.is_file() && t.is_file()) {
                return Ok(Vec::new());
            }
            let (config, tokenizer) = (read_text(&c)?, read_text(&t)?);
            LlamaConfig::from_hf_json(&config, &c)?;
            Tokenizer::from_json(&tokenizer, &t)?;
            return Ok(vec![(META_CONFIG, config), (META_TOKENIZER, tokenizer)]);
        }
    };
    if !matches!(g.meta("general.architecture"), Some(Value::String(a)) if a == "llama") {
        return Ok(Vec::new());
    }
    let tokenizer = Tokenizer::json_from_gguf(g)?;
    Tokenizer::from_json(&tokenizer, g.path())?;
    Ok(vec![
        (META_CONFIG, LlamaConfig::from_gguf(g)?.to_hf_json()),
        (META_TOKENIZER, tokenizer),
    ])
}
