//! Seed corpora for the fuzz targets, cut from the real SmolLM2 GGUF
//! (`scripts/fetch-model.sh`) so that the fuzzers start from the structure
//! of real files, small enough to mutate quickly:
//!
//! - `gguf/`: the GGUF's metadata (arrays cut to their first [`KEEP`]
//!   tokens and the merges among them) with two real tensors (the f32
//!   output norm, two Q4_1 rows of `blk.0.attn_q.weight`).
//! - `safetensors/`: those tensors dequantized, as f32 / bf16 safetensors.
//! - `seedlm_file/`: those tensors compressed at 4 and 3 bits, with the
//!   model's config and tokenizer blobs, each behind the target's mode byte.
//! - `config/`, `tokenizer/`: the model's HF config (and RoPE-scaling
//!   variants) and its cut tokenizer.json.
//! - `packer/`: the real blocks of those two rows behind packer parameters.
//!
//! Usage: `make_corpus GGUF OUT_DIR`.

use std::path::Path;

use half::bf16;
use safetensors::tensor::TensorView;
use seedlm::container::{RawDtype, Writer};
use seedlm::search::Searcher;
use seedlm::{pack, Config};
use seedlm_host::checkpoint::gguf::{GgufFile, Value};
use seedlm_host::checkpoint::Checkpoint;
use seedlm_host::llama::load::{META_CONFIG, META_TOKENIZER};
use seedlm_host::llama::{LlamaConfig, Tokenizer};

/// Tokens kept from the vocabulary.
const KEEP: usize = 64;

fn gguf_string(v: &mut Vec<u8>, s: &str) {
    v.extend((s.len() as u64).to_le_bytes());
    v.extend(s.as_bytes());
}

/// The GGUF encoding of a scalar value (type id, bytes).
fn scalar(v: &Value) -> (u32, Vec<u8>) {
    match v {
        Value::U8(x) => (0, vec![*x]),
        Value::I8(x) => (1, vec![*x as u8]),
        Value::U16(x) => (2, x.to_le_bytes().to_vec()),
        Value::I16(x) => (3, x.to_le_bytes().to_vec()),
        Value::U32(x) => (4, x.to_le_bytes().to_vec()),
        Value::I32(x) => (5, x.to_le_bytes().to_vec()),
        Value::F32(x) => (6, x.to_le_bytes().to_vec()),
        Value::Bool(x) => (7, vec![*x as u8]),
        Value::String(s) => {
            let mut b = Vec::new();
            gguf_string(&mut b, s);
            (8, b)
        }
        Value::U64(x) => (10, x.to_le_bytes().to_vec()),
        Value::I64(x) => (11, x.to_le_bytes().to_vec()),
        Value::F64(x) => (12, x.to_le_bytes().to_vec()),
        Value::Array(_) => unreachable!("arrays are not nested"),
    }
}

/// The metadata of `g` with arrays cut to the first [`KEEP`] tokens (and
/// the merges whose parts and result are among them), GGUF-encoded.
fn cut_metadata(g: &GgufFile) -> Vec<(String, u32, Vec<u8>)> {
    let tokens: std::collections::HashSet<&str> = g
        .strings("tokenizer.ggml.tokens")
        .map(|t| t.into_iter().take(KEEP).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (key, v) in g.metadata() {
        let Value::Array(a) = v else {
            let (ty, b) = scalar(v);
            out.push((key.clone(), ty, b));
            continue;
        };
        let items: Vec<Value> = g
            .array(a)
            .filter(|item| match (key.as_str(), item) {
                ("tokenizer.ggml.merges", Value::String(m)) => {
                    m.split_once(' ').is_some_and(|(x, y)| {
                        tokens.contains(x)
                            && tokens.contains(y)
                            && tokens.contains(format!("{x}{y}").as_str())
                    })
                }
                _ => true,
            })
            .take(KEEP)
            .collect();
        let mut b = a.elem_type.to_le_bytes().to_vec();
        b.extend((items.len() as u64).to_le_bytes());
        for item in &items {
            b.extend(scalar(item).1);
        }
        out.push((key.clone(), 9, b));
    }
    for (key, ty, b) in &mut out {
        if key == "llama.vocab_size" {
            *ty = 4;
            *b = (KEEP as u32).to_le_bytes().to_vec();
        }
    }
    out
}

/// A GGUF v3 file of `meta` and `(name, innermost-first dims, type, data)`.
fn gguf(meta: &[(String, u32, Vec<u8>)], tensors: &[(&str, Vec<u64>, u32, &[u8])]) -> Vec<u8> {
    let mut v = b"GGUF".to_vec();
    v.extend(3u32.to_le_bytes());
    v.extend((tensors.len() as u64).to_le_bytes());
    v.extend((meta.len() as u64).to_le_bytes());
    for (k, ty, b) in meta {
        gguf_string(&mut v, k);
        v.extend(ty.to_le_bytes());
        v.extend(b);
    }
    let mut off = 0u64;
    for (name, dims, ty, data) in tensors {
        gguf_string(&mut v, name);
        v.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            v.extend(d.to_le_bytes());
        }
        v.extend(ty.to_le_bytes());
        v.extend(off.to_le_bytes());
        off += (data.len() as u64).div_ceil(32) * 32;
    }
    v.resize(v.len().div_ceil(32) * 32, 0);
    for (_, _, _, data) in tensors {
        v.extend(*data);
        v.resize(v.len().div_ceil(32) * 32, 0);
    }
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, gguf_path, out] = &args[..] else {
        eprintln!("usage: make_corpus GGUF OUT_DIR");
        std::process::exit(2);
    };
    let (src, out) = (Path::new(gguf_path), Path::new(out));
    let Checkpoint::Gguf(g) = Checkpoint::open(src).expect("open the GGUF") else {
        panic!("{gguf_path} is not a GGUF file");
    };

    // Two real tensors: the f32 output norm, two Q4_1 rows of attn_q.
    let ck = Checkpoint::Gguf(g);
    let norm = ck
        .bytes("output_norm.weight")
        .expect("output_norm.weight")
        .1
        .to_vec();
    let q = ck
        .get("blk.0.attn_q.weight")
        .expect("blk.0.attn_q.weight")
        .clone();
    let cols = q.shape[1];
    let row_bytes = q.dtype.byte_len(cols).expect("Q4_1 rows");
    let q_rows = ck.bytes(&q.name).unwrap().1[..2 * row_bytes].to_vec();
    let Checkpoint::Gguf(g) = &ck else {
        unreachable!()
    };
    let meta = cut_metadata(g);
    let tensors = [
        (
            "output_norm.weight",
            vec![norm.len() as u64 / 4],
            0,
            &norm[..],
        ),
        ("blk.0.attn_q.weight", vec![cols as u64, 2], 3, &q_rows[..]),
    ];
    let small = gguf(&meta, &tensors);
    write(&out.join("gguf"), "smollm2-cut.gguf", &small);
    write(
        &out.join("gguf"),
        "smollm2-tensors-only.gguf",
        &gguf(&[], &tensors),
    );

    // The same, dequantized, as safetensors; and the HF config/tokenizer.
    let tmp = tempfile::tempdir().unwrap();
    let cut_path = tmp.path().join("cut.gguf");
    std::fs::write(&cut_path, &small).unwrap();
    let cut = Checkpoint::open(&cut_path).unwrap();
    let norm_f32 = cut.load_f32("output_norm.weight").unwrap();
    let q_f32 = cut.load_f32("blk.0.attn_q.weight").unwrap();
    let Checkpoint::Gguf(cut_g) = &cut else {
        unreachable!()
    };
    let config = LlamaConfig::from_gguf(cut_g).expect("config of the cut GGUF");
    let tokenizer = Tokenizer::json_from_gguf(cut_g).expect("tokenizer of the cut GGUF");
    Tokenizer::from_json(&tokenizer, &cut_path).expect("the cut tokenizer loads");
    let f32b: Vec<u8> = norm_f32.iter().flat_map(|x| x.to_le_bytes()).collect();
    let bf16b: Vec<u8> = q_f32
        .iter()
        .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
        .collect();
    for (name, views) in [
        (
            "smollm2-two.safetensors",
            vec![
                (
                    "model.norm.weight",
                    TensorView::new(safetensors::Dtype::F32, vec![norm_f32.len()], &f32b).unwrap(),
                ),
                (
                    "model.layers.0.self_attn.q_proj.weight",
                    TensorView::new(safetensors::Dtype::BF16, vec![2, cols], &bf16b).unwrap(),
                ),
            ],
        ),
        (
            "smollm2-row.safetensors",
            vec![(
                "w",
                TensorView::new(safetensors::Dtype::BF16, vec![1, cols], &bf16b[..2 * cols])
                    .unwrap(),
            )],
        ),
    ] {
        let bytes = safetensors::serialize(views, None).unwrap();
        write(&out.join("safetensors"), name, &bytes);
    }
    let hf = config.to_hf_json();
    write(&out.join("config"), "smollm2.json", hf.as_bytes());
    let mut j: serde_json::Value = serde_json::from_str(&hf).unwrap();
    j["rope_scaling"] = serde_json::json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
    write(
        &out.join("config"),
        "smollm2-llama3.json",
        j.to_string().as_bytes(),
    );
    j["rope_scaling"] = serde_json::json!({"type": "linear", "factor": 2.0});
    write(
        &out.join("config"),
        "smollm2-linear.json",
        j.to_string().as_bytes(),
    );
    write(
        &out.join("tokenizer"),
        "smollm2-cut.json",
        tokenizer.as_bytes(),
    );

    // The two rows compressed, with the blobs; and their blocks for the packer.
    for bits in [4, 3] {
        let cfg = Config::for_bits(bits).unwrap();
        let mut padded = Vec::new();
        for row in q_f32.chunks(cols) {
            padded.extend_from_slice(row);
            padded.resize(padded.len().div_ceil(cfg.c) * cfg.c, 0.0);
        }
        let found = Searcher::new(cfg)
            .unwrap()
            .search_all(&padded, &|_| {})
            .unwrap();
        let blocks: Vec<_> = found.iter().map(|f| f.block).collect();
        let path = tmp.path().join(format!("m{bits}.seedlm"));
        let mut wr = Writer::create(&path).unwrap();
        wr.add_seed(
            "model.layers.0.self_attn.q_proj.weight",
            &[2, cols],
            "q4_1",
            cfg,
            &blocks,
        )
        .unwrap();
        wr.add_raw(
            "model.norm.weight",
            &[norm_f32.len()],
            "f32",
            RawDtype::F32,
            &f32b,
        )
        .unwrap();
        for (name, text) in [(META_CONFIG, &hf), (META_TOKENIZER, &tokenizer)] {
            wr.add_raw(name, &[text.len()], "u8", RawDtype::U8, text.as_bytes())
                .unwrap();
        }
        wr.finish().unwrap();
        let file = std::fs::read(&path).unwrap();
        for mode in [0u8, 1] {
            let mut b = vec![mode];
            b.extend(&file);
            write(
                &out.join("seedlm_file"),
                &format!("smollm2-{bits}bit-mode{mode}.seedlm"),
                &b,
            );
        }
        let mut b = vec![(bits == 3) as u8, 7, 1, 95];
        b.extend(pack::pack_blocks(&cfg, &blocks));
        write(&out.join("packer"), &format!("smollm2-{bits}bit"), &b);
    }
    eprintln!("seed corpora written to {}", out.display());
}
