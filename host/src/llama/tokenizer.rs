//! The model's tokenizer: HF `tokenizers` over an HF `tokenizer.json`, which
//! for a GGUF checkpoint is built from its `tokenizer.ggml.*` metadata
//! (GPT-2 style byte-level BPE: tokens, merges, control tokens as special
//! tokens, the pre-tokenizer that `tokenizer.ggml.pre` names).

use std::path::Path;

use serde_json::{json, Map, Value as Json};

use crate::checkpoint::gguf::{GgufFile, Value};
use crate::error::{Error, Result};

/// GGUF token type of a control (special) token.
const GGUF_TOKEN_CONTROL: u64 = 3;

/// A loaded tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    json: String,
}

fn bad(path: &Path, what: String) -> Error {
    Error::Format {
        path: path.into(),
        what,
    }
}

fn strings(g: &GgufFile, key: &str) -> Result<Vec<String>> {
    match g.meta(key) {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad(
                    g.path(),
                    format!("GGUF metadata '{key}'[{i}] is not a string"),
                )),
            })
            .collect(),
        _ => Err(bad(
            g.path(),
            format!("GGUF metadata '{key}' is missing or not an array"),
        )),
    }
}

impl Tokenizer {
    /// From the text of an HF `tokenizer.json` read from `source`.
    pub fn from_json(text: &str, source: &Path) -> Result<Tokenizer> {
        let inner: tokenizers::Tokenizer = text
            .parse()
            .map_err(|e| bad(source, format!("tokenizer.json cannot be loaded: {e}")))?;
        Ok(Tokenizer {
            inner,
            json: text.to_string(),
        })
    }

    /// The `tokenizer.json` equivalent of a GGUF file's tokenizer metadata.
    pub fn json_from_gguf(g: &GgufFile) -> Result<String> {
        let path = g.path();
        match g.meta("tokenizer.ggml.model") {
            Some(Value::String(m)) if m == "gpt2" => {}
            other => {
                return Err(bad(
                    path,
                    format!(
                    "tokenizer.ggml.model {other:?} is not supported (only 'gpt2' byte-level BPE)"
                ),
                ))
            }
        }
        let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
        let pre = match g.meta("tokenizer.ggml.pre") {
            Some(Value::String(p)) if p == "smollm" => json!({
                "type": "Sequence",
                "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level],
            }),
            None => byte_level.clone(),
            Some(Value::String(p)) if p == "gpt2" || p == "default" => byte_level.clone(),
            Some(other) => {
                return Err(bad(
                    path,
                    format!(
                        "tokenizer.ggml.pre {other:?} is not supported (smollm, gpt2, default)"
                    ),
                ))
            }
        };
        let tokens = strings(g, "tokenizer.ggml.tokens")?;
        let merges = strings(g, "tokenizer.ggml.merges")?;
        let types: Vec<u64> = match g.meta("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => a.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        let mut vocab = Map::new();
        let mut added = Vec::new();
        for (id, t) in tokens.iter().enumerate() {
            if vocab.insert(t.clone(), json!(id)).is_some() {
                return Err(bad(
                    path,
                    format!("tokenizer.ggml.tokens[{id}] '{t}' is a duplicate"),
                ));
            }
            if types.get(id) == Some(&GGUF_TOKEN_CONTROL) {
                added.push(json!({
                    "id": id, "content": t, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": true,
                }));
            }
        }
        let j = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre,
            "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null,
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": Json::Object(vocab),
                "merges": merges,
            },
        });
        Ok(serde_json::to_string(&j).expect("JSON of plain values"))
    }

    /// From a GGUF file's tokenizer metadata.
    pub fn from_gguf(g: &GgufFile) -> Result<Tokenizer> {
        Tokenizer::from_json(&Tokenizer::json_from_gguf(g)?, g.path())
    }

    /// The `tokenizer.json` text this tokenizer was built from.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Token ids of `text`; special tokens written in the text (e.g.
    /// `<|im_start|>`) become their ids, no BOS/EOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Invalid(format!("failed to tokenize the text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids` (special tokens included).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| Error::Invalid(format!("failed to decode tokens {ids:?}: {e}")))
    }

    /// The id of token `text` if it is one token of the vocabulary.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }

    /// Number of tokens, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// A streaming decoder: feed ids one by one, get text as soon as it
    /// forms whole characters.
    pub fn stream(&self) -> TextStream<'_> {
        TextStream {
            tok: self,
            ids: Vec::new(),
            emitted: 0,
        }
    }
}

/// Incremental detokenization (see [`Tokenizer::stream`]): decodes the ids so
/// far and returns the new suffix once it no longer ends in a partial
/// UTF-8 character.
pub struct TextStream<'a> {
    tok: &'a Tokenizer,
    ids: Vec<u32>,
    emitted: usize,
}

impl TextStream<'_> {
    /// Adds one token; returns the text it completes, if any.
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let text = self.tok.decode(&self.ids)?;
        if text.ends_with('\u{FFFD}')
            || text.len() <= self.emitted
            || !text.is_char_boundary(self.emitted)
        {
            return Ok(None);
        }
        let new = text[self.emitted..].to_string();
        self.emitted = text.len();
        Ok(Some(new))
    }
}
