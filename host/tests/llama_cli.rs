//! `seedlm compress` → `seedlm generate` on a tiny HF-layout Llama built here
//! (safetensors + config.json + a byte-level tokenizer.json): the `.seedlm`
//! file carries the model's config and tokenizer as u8 blobs, `generate`
//! runs from it alone, `decompress` moves the blobs into the safetensors
//! metadata, and greedy generation from the file is deterministic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{ok, seedlm, stderr, write_tiny_llama as write_model};
use seedlm::container::{RawDtype, SeedFile, TensorKind};
use seedlm_host::llama::load::{META_CONFIG, META_TOKENIZER};

/// Writes the tiny Llama into `dir/tiny` and compresses it at 4 bits into
/// `dir/tiny.seedlm`; returns both paths.
fn compress_tiny(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("tiny");
    std::fs::create_dir(&model).unwrap();
    write_model(&model);
    let out = dir.join("tiny.seedlm");
    ok(seedlm([
        "compress".as_ref(),
        model.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--bits".as_ref(),
        "4".as_ref(),
    ]));
    (model, out)
}

/// `seedlm generate --model MODEL --backend BACKEND --prompt PROMPT -n N`.
fn generate(model: &str, backend: &str, prompt: &str, n: &str) -> Output {
    seedlm([
        "generate",
        "--model",
        model,
        "--backend",
        backend,
        "--prompt",
        prompt,
        "-n",
        n,
    ])
}

#[test]
fn test_llama_cli_compress_carries_metadata_and_generates() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, out) = compress_tiny(tmp.path());
    let (m, o) = (model.to_str().unwrap(), out.to_str().unwrap());
    // inspect lists the blobs; their original size is unknown ("-"), not NaN.
    let table = ok(seedlm(["inspect", o]));
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
    let run = generate(o, "cpu", "Hello", "6");
    let err = stderr(&run);
    let a = ok(run);
    assert!(a.starts_with("Hello"), "{a}");
    assert!(
        err.contains("tokens/s") && err.contains("weights read per token"),
        "{err}"
    );
    assert_eq!(ok(generate(o, "cpu", "Hello", "6")), a);
    ok(generate(m, "dense", "Hi", "3"));

    // decompress keeps the blobs as safetensors metadata, not tensors.
    let st = tmp.path().join("back.safetensors");
    ok(seedlm(["decompress", o, "-o", st.to_str().unwrap()]));
    let bytes = std::fs::read(&st).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let md = meta.metadata().as_ref().unwrap();
    assert_eq!(
        md[META_CONFIG],
        std::fs::read_to_string(model.join("config.json")).unwrap()
    );
    assert!(meta.tensors().keys().all(|k| !k.starts_with("meta/")));
}

/// `seedlm device selftest` and `seedlm generate -n 4` through the RTL
/// accelerator (`seedlm_accel` in Verilator, the driver speaking AXI4-Lite
/// to its shell): the self-test passes, and generation prints exactly what
/// `emu` prints.
#[cfg(feature = "verilator")]
#[test]
fn test_llama_cli_selftest_and_generate_through_the_rtl_shell() {
    let out = ok(seedlm(["device", "selftest", "--backend", "verilator"]));
    assert!(out.starts_with("verilator"), "{out}");
    let info = ok(seedlm(["device", "info", "--backend", "verilator"]));
    assert!(info.contains("AXI master     512 bits"), "{info}");
    let tmp = tempfile::tempdir().unwrap();
    let (_, file) = compress_tiny(tmp.path());
    let gen = |b: &str| ok(generate(file.to_str().unwrap(), b, "Hello", "4"));
    let (rtl, emu) = (gen("verilator"), gen("emu"));
    assert!(rtl.starts_with("Hello"), "{rtl}");
    assert_eq!(rtl, emu);
}
