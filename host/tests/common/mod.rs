//! What the CLI test files share: running the binary, and small models
//! written to a temporary directory.
#![allow(dead_code)] // each test file uses part of it

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use rand::{Rng, SeedableRng};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::json;

/// Runs the `seedlm` binary with `args`.
pub fn seedlm<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_seedlm"))
        .args(args)
        .output()
        .expect("run seedlm")
}

/// stdout of `o`.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of `o`.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stderr(&o), stdout(&o));
    stdout(&o)
}

/// Asserts failure with `code` and returns stderr.
pub fn fails(o: Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

/// Writes f32 tensors `(name, shape, values)` as a safetensors file.
pub fn write_f32_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.to_string(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// A GGUF v3 file: metadata `(key, type id, value bytes)` and tensors
/// `(name, row-major shape, ggml type, data)`.
pub fn gguf_bytes(
    meta: &[(&str, u32, Vec<u8>)],
    tensors: &[(&str, Vec<u64>, u32, Vec<u8>)],
) -> Vec<u8> {
    let s = |v: &mut Vec<u8>, t: &str| {
        v.extend((t.len() as u64).to_le_bytes());
        v.extend(t.as_bytes());
    };
    let mut v = b"GGUF".to_vec();
    v.extend(3u32.to_le_bytes());
    v.extend((tensors.len() as u64).to_le_bytes());
    v.extend((meta.len() as u64).to_le_bytes());
    for (k, ty, val) in meta {
        s(&mut v, k);
        v.extend(ty.to_le_bytes());
        v.extend(val);
    }
    let mut off = 0u64;
    for (name, shape, ty, data) in tensors {
        s(&mut v, name);
        v.extend((shape.len() as u32).to_le_bytes());
        for d in shape.iter().rev() {
            v.extend(d.to_le_bytes()); // innermost first
        }
        v.extend(ty.to_le_bytes());
        v.extend(off.to_le_bytes());
        off += (data.len() as u64).div_ceil(32) * 32;
    }
    v.resize(v.len().div_ceil(32) * 32, 0);
    for (_, _, _, data) in tensors {
        v.extend(data);
        v.resize(v.len().div_ceil(32) * 32, 0);
    }
    v
}

/// A GGUF string value.
pub fn gguf_str(t: &str) -> Vec<u8> {
    let mut v = (t.len() as u64).to_le_bytes().to_vec();
    v.extend(t.as_bytes());
    v
}

/// GPT-2's byte-to-character map: printable bytes map to themselves, the
/// others to U+0100 onwards, in byte order.
pub fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut n = 0;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                n += 1;
                char::from_u32(255 + n).unwrap()
            }
        })
        .collect()
}

/// Writes a 2-layer Llama with a 256-token byte-level vocabulary
/// (`model.safetensors`, `config.json`, `tokenizer.json`) into `dir`.
pub fn write_tiny_llama(dir: &Path) {
    write_tiny_llama_layers(dir, 2);
}

/// [`write_tiny_llama`] with `layers` layers.
pub fn write_tiny_llama_layers(dir: &Path, layers: usize) {
    let (dim, hidden, heads, kv, vocab) = (32, 64, 4, 2, 256);
    let hd = dim / heads;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, std: f32, rng: &mut rand::rngs::StdRng| {
        let n: usize = shape.iter().product();
        let v: Vec<u8> = (0..n)
            .flat_map(|_| (rng.gen_range(-1.0f32..1.0) * std).to_le_bytes())
            .collect();
        tensors.push((name, shape, v));
    };
    add(
        "model.embed_tokens.weight".into(),
        vec![vocab, dim],
        1.0,
        &mut rng,
    );
    add("model.norm.weight".into(), vec![dim], 0.0, &mut rng);
    for i in 0..layers {
        let p = format!("model.layers.{i}.");
        for (n, r, c) in [
            ("self_attn.q_proj", heads * hd, dim),
            ("self_attn.k_proj", kv * hd, dim),
            ("self_attn.v_proj", kv * hd, dim),
            ("self_attn.o_proj", dim, heads * hd),
            ("mlp.gate_proj", hidden, dim),
            ("mlp.up_proj", hidden, dim),
            ("mlp.down_proj", dim, hidden),
        ] {
            add(
                format!("{p}{n}.weight"),
                vec![r, c],
                1.0 / (c as f32).sqrt(),
                &mut rng,
            );
        }
        add(
            format!("{p}input_layernorm.weight"),
            vec![dim],
            0.0,
            &mut rng,
        );
        add(
            format!("{p}post_attention_layernorm.weight"),
            vec![dim],
            0.0,
            &mut rng,
        );
    }
    // Norm weights of 1 (std 0 above gives zeros).
    for t in tensors.iter_mut().filter(|t| t.0.contains("norm")) {
        t.2 = (0..dim).flat_map(|_| 1f32.to_le_bytes()).collect();
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
    let config = json!({
        "model_type": "llama", "hidden_size": dim, "intermediate_size": hidden,
        "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "vocab_size": vocab, "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "eos_token_id": [],
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let vocab_map: serde_json::Map<String, serde_json::Value> = byte_chars()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), json!(i)))
        .collect();
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab_map, "merges": []},
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
}
