//! `seedlm compress` → `seedlm generate` on a tiny HF-layout Llama built here
//! (safetensors + config.json + a byte-level tokenizer.json): the `.seedlm`
//! file carries the model's config and tokenizer as u8 blobs, `generate`
//! runs from it alone, `decompress` moves the blobs into the safetensors
//! metadata, and greedy generation from the file is deterministic.

use std::path::Path;
use std::process::{Command, Output};

use rand::{Rng, SeedableRng};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use seedlm::container::{RawDtype, SeedFile, TensorKind};
use seedlm_host::llama::load::{META_CONFIG, META_TOKENIZER};
use serde_json::json;

fn seedlm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seedlm"))
        .args(args)
        .output()
        .expect("run seedlm")
}

fn ok(o: Output) -> (String, String) {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "failed: {err}\n{out}");
    (out, err)
}

/// GPT-2's byte-to-character map: printable bytes map to themselves, the
/// others to U+0100 onwards, in byte order.
fn byte_chars() -> Vec<char> {
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

/// Writes a 2-layer Llama with a 256-token byte-level vocabulary.
fn write_model(dir: &Path) {
    let (dim, hidden, layers, heads, kv, vocab) = (32, 64, 2, 4, 2, 256);
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

#[test]
fn test_llama_cli_compress_carries_metadata_and_generates() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("tiny");
    std::fs::create_dir(&model).unwrap();
    write_model(&model);
    let out = tmp.path().join("tiny.seedlm");
    let (m, o) = (model.to_str().unwrap(), out.to_str().unwrap());
    ok(seedlm(&["compress", m, "-o", o, "--bits", "4"]));
    // inspect lists the blobs; their original size is unknown ("-"), not NaN.
    let (table, _) = ok(seedlm(&["inspect", o]));
    let blob_row = table.lines().find(|l| l.starts_with(META_CONFIG)).unwrap();
    assert!(
        blob_row.contains(" u8 ") && !table.contains("NaN"),
        "{table}"
    );

    // The blobs are the source's files, byte for byte.
    let f = SeedFile::open(&out).unwrap();
    for (blob, file) in [
        (META_CONFIG, "config.json"),
        (META_TOKENIZER, "tokenizer.json"),
    ] {
        let t = f.get(blob).unwrap();
        assert_eq!(t.kind, TensorKind::Raw(RawDtype::U8));
        assert_eq!(
            f.raw_u8(t).unwrap(),
            std::fs::read(model.join(file)).unwrap()
        );
    }

    // generate runs from the .seedlm file alone, deterministically; the
    // dense checkpoint runs too.
    let args = |b: &'static str| {
        vec![
            "generate",
            "--model",
            o,
            "--backend",
            b,
            "--prompt",
            "Hello",
            "-n",
            "6",
        ]
    };
    let (a, err) = ok(seedlm(&args("cpu")));
    assert!(a.starts_with("Hello"), "{a}");
    assert!(
        err.contains("tokens/s") && err.contains("weights read per token"),
        "{err}"
    );
    assert_eq!(ok(seedlm(&args("cpu"))).0, a);
    ok(seedlm(&[
        "generate",
        "--model",
        m,
        "--backend",
        "dense",
        "--prompt",
        "Hi",
        "-n",
        "3",
    ]));

    // decompress keeps the blobs as safetensors metadata, not tensors.
    let st = tmp.path().join("back.safetensors");
    ok(seedlm(&["decompress", o, "-o", st.to_str().unwrap()]));
    let bytes = std::fs::read(&st).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let md = meta.metadata().as_ref().unwrap();
    assert_eq!(
        md[META_CONFIG],
        std::fs::read_to_string(model.join("config.json")).unwrap()
    );
    assert!(meta.tensors().keys().all(|k| !k.starts_with("meta/")));
}
