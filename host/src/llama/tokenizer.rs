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

/// Runs `f`, a call into the `tokenizers` crate, turning a panic into an
/// error: the crate panics on some malformed inputs (a `Precompiled`
/// normalizer with bad data, truncation with `stride >= max_length`), and a
/// broken `tokenizer.json` must give an error, not take the process down.
/// The known cases are refused before the call ([`check_supported`]); this
/// is the backstop for the rest.
fn guard<T>(what: &str, f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("the tokenizers library failed while {what}: {msg}")
    })
}

/// Refuses what this runtime does not run, before `tokenizers` sees it:
/// models other than BPE (Llama tokenizers are byte-level or
/// SentencePiece-style BPE), and `Precompiled` normalizers (SentencePiece
/// Unigram only; `tokenizers` panics on bad ones).
fn check_supported(text: &str) -> std::result::Result<(), String> {
    let j: Json = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    match j.pointer("/model/type").and_then(Json::as_str) {
        Some("BPE") => {}
        other => {
            return Err(format!(
                "model type {other:?} is not supported (only BPE, as Llama models use)"
            ))
        }
    }
    fn has_precompiled(j: &Json) -> bool {
        match j {
            Json::Object(m) => {
                m.get("type").and_then(Json::as_str) == Some("Precompiled")
                    || m.values().any(has_precompiled)
            }
            Json::Array(a) => a.iter().any(has_precompiled),
            _ => false,
        }
    }
    if j.get("normalizer").is_some_and(has_precompiled) {
        return Err(
            "a Precompiled normalizer is not supported (SentencePiece Unigram models)".into(),
        );
    }
    Ok(())
}

impl Tokenizer {
    /// From the text of an HF `tokenizer.json` read from `source`. Its
    /// truncation and padding settings are dropped: texts are tokenized
    /// whole.
    pub fn from_json(text: &str, source: &Path) -> Result<Tokenizer> {
        let fail = |e: String| bad(source, format!("tokenizer.json cannot be loaded: {e}"));
        check_supported(text).map_err(fail)?;
        let mut inner = guard("parsing it", || text.parse::<tokenizers::Tokenizer>())
            .map_err(fail)?
            .map_err(|e| fail(e.to_string()))?;
        inner
            .with_truncation(None)
            .map_err(|e| fail(e.to_string()))?
            .with_padding(None);
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
        let tokens = g.strings("tokenizer.ggml.tokens")?;
        let merges = g.strings("tokenizer.ggml.merges")?;
        let types: Vec<u64> = match g.meta("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => g.array(a).map(|v| v.as_u64().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        let mut vocab = Map::new();
        let mut added = Vec::new();
        for (id, t) in tokens.iter().enumerate() {
            if vocab.insert(t.to_string(), json!(id)).is_some() {
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
        let enc = guard("tokenizing", || self.inner.encode(text, false))
            .map_err(Error::Invalid)?
            .map_err(|e| Error::Invalid(format!("failed to tokenize the text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids` (special tokens included).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        guard("decoding", || self.inner.decode(ids, false))
            .map_err(Error::Invalid)?
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte-free BPE tokenizer over `a`, `b`, `ab`, with `extra` merged
    /// into the top-level object.
    fn json_with(extra: Json) -> String {
        let mut j = json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
            "model": {"type": "BPE", "dropout": null, "unk_token": null,
                      "continuing_subword_prefix": null, "end_of_word_suffix": null,
                      "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
        });
        if let (Json::Object(j), Json::Object(e)) = (&mut j, extra) {
            j.extend(e);
        }
        j.to_string()
    }

    #[test]
    fn test_tokenizer_refuses_what_panicked_inside_tokenizers() {
        let p = Path::new("tokenizer.json");
        let t = Tokenizer::from_json(&json_with(json!({})), p).unwrap();
        assert_eq!(t.encode("abab").unwrap(), [2, 2]);
        // Bad Precompiled data: `expect` inside the crate's deserializer.
        let bad = json_with(json!({"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": "AAAA"}]}}));
        let e = Tokenizer::from_json(&bad, p).err().unwrap().to_string();
        assert!(
            e.contains("tokenizer.json") && e.contains("Precompiled"),
            "{e}"
        );
        // stride >= max_length: an assert inside encode. Truncation is dropped.
        let trunc = json_with(json!({"truncation": {"direction": "Right", "max_length": 1,
            "strategy": "LongestFirst", "stride": 5}}));
        let t = Tokenizer::from_json(&trunc, p).unwrap();
        assert_eq!(t.encode("ababab").unwrap(), [2, 2, 2]);
        // Not BPE.
        let mut wl: Json = serde_json::from_str(&json_with(json!({}))).unwrap();
        wl["model"] = json!({"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"});
        let e = Tokenizer::from_json(&wl.to_string(), p)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("WordLevel"), "{e}");
    }

    #[test]
    fn test_guard_turns_a_panic_into_an_error() {
        let e = guard("testing", || -> u32 { panic!("boom") }).unwrap_err();
        assert!(e.contains("testing") && e.contains("boom"), "{e}");
    }
}
