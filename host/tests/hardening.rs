//! The CLI against hostile or careless use (issue 15): outputs that would
//! destroy data, inputs that panicked, ate memory or failed late, runs that
//! collided or were interrupted. Every test here failed on the code before
//! the fix it covers.

mod common;

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    fails, gguf_bytes, gguf_str, ok, seedlm, stderr, write_f32_safetensors, write_tiny_llama,
};
use seedlm::container::{RawDtype, SeedFile, Writer};

/// `n` deterministic weights of size about 0.02.
fn weights(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 * 4e-5 - 0.02)
        .collect()
}

fn compress(input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&OsStr> = vec![
        "compress".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--bits".as_ref(),
        "4".as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    seedlm(args)
}

fn sidecar(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial", out.display()))
}

#[test]
fn test_outputs_never_replace_inputs_or_non_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("a.safetensors");
    write_f32_safetensors(&input, &[("w", vec![4, 16], weights(64, 1))]);
    let original = std::fs::read(&input).unwrap();

    // The input itself, by name, by another spelling, by a hard link.
    let hard = d.join("hard.seedlm");
    std::fs::hard_link(&input, &hard).unwrap();
    for out in [input.clone(), d.join(".").join("a.safetensors"), hard] {
        for force in [&[][..], &["--force"][..]] {
            let e = fails(compress(&input, &out, force), 1);
            assert!(e.contains("same file"), "{e}");
        }
    }
    assert_eq!(std::fs::read(&input).unwrap(), original);

    // A FIFO, a symlink, a directory: refused even with --force.
    let fifo = d.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = fails(compress(&input, &fifo, &["--force"]), 1);
    assert!(e.contains("a FIFO"), "{e}");
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo_like());
    // bench --out too, before any benchmark runs.
    let e = fails(
        seedlm([
            OsStr::new("bench"),
            "--quick".as_ref(),
            "--out".as_ref(),
            fifo.as_os_str(),
        ]),
        1,
    );
    assert!(e.contains("a FIFO"), "{e}");
    let victim = d.join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    let link = d.join("link.seedlm");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let e = fails(compress(&input, &link, &["--force"]), 1);
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    let e = fails(compress(&input, d, &["--force"]), 1);
    assert!(e.contains("directory"), "{e}");

    // Inside an input directory of shards: a shard, or a new file.
    let shards = d.join("shards");
    std::fs::create_dir(&shards).unwrap();
    let shard = shards.join("model-00001-of-00001.safetensors");
    std::fs::copy(&input, &shard).unwrap();
    for out in [shard.clone(), shards.join("new.seedlm")] {
        let e = fails(compress(&shards, &out, &["--force"]), 1);
        assert!(e.contains("inside the input directory"), "{e}");
    }
    assert_eq!(std::fs::read(&shard).unwrap(), original);

    // An existing regular output: only with --force.
    let out = d.join("a.seedlm");
    ok(compress(&input, &out, &[]));
    let e = fails(compress(&input, &out, &[]), 1);
    assert!(e.contains("--force"), "{e}");
    ok(compress(&input, &out, &["--force"]));

    // decompress onto its own input.
    let packed = std::fs::read(&out).unwrap();
    let e = fails(
        seedlm([
            OsStr::new("decompress"),
            out.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--force".as_ref(),
        ]),
        1,
    );
    assert!(e.contains("same file"), "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), packed);
    let st = d.join("back.safetensors");
    let run = |force: bool| {
        let mut a = vec![
            OsStr::new("decompress"),
            out.as_os_str(),
            "-o".as_ref(),
            st.as_os_str(),
        ];
        if force {
            a.push("--force".as_ref());
        }
        seedlm(a)
    };
    ok(run(false));
    assert!(fails(run(false), 1).contains("--force"));
    ok(run(true));
}

/// FIFOs are not regular files.
trait FileTypeLike {
    fn is_fifo_like(&self) -> bool;
}

impl FileTypeLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

#[test]
fn test_demo_dir_refuses_symlinks_and_recovers_from_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    // A symlink where the demo writes its model: refused, target untouched.
    let d = tmp.path().join("with-link");
    std::fs::create_dir(&d).unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    std::os::unix::fs::symlink(&victim, d.join("demo-model.safetensors")).unwrap();
    let demo = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_seedlm"))
            .args(["demo", "--threads", "1", "--dir"])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let e = fails(demo(&d).wait_with_output().unwrap(), 1);
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");

    // Killed once a tensor is saved; the next demo in the same directory
    // resumes and completes.
    let d = tmp.path().join("killed");
    let mut child = demo(&d);
    let part = sidecar(&d.join("demo-model.seedlm")).join("00002.seedlm");
    let start = Instant::now();
    while !part.exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(part.exists(), "the demo saved no tensor in time");
    let o = demo(&d).wait_with_output().unwrap();
    assert!(stderr(&o).contains("resuming"), "{}", stderr(&o));
    assert!(ok(o).contains("checked 11 tensors"));
}

/// A Llama directory with `edit` applied to its config and tokenizer JSON.
fn llama_with(dir: &Path, edit: impl Fn(&mut serde_json::Value, &mut serde_json::Value)) {
    std::fs::create_dir_all(dir).unwrap();
    write_tiny_llama(dir);
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let (mut c, mut t) = (read("config.json"), read("tokenizer.json"));
    edit(&mut c, &mut t);
    std::fs::write(dir.join("config.json"), c.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), t.to_string()).unwrap();
}

fn generate(model: &Path, extra: &[&str]) -> std::process::Output {
    let mut a: Vec<&OsStr> = vec![
        "generate".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--backend".as_ref(),
        "dense".as_ref(),
        "--prompt".as_ref(),
        "Hello".as_ref(),
    ];
    a.extend(extra.iter().map(OsStr::new));
    seedlm(a)
}

#[test]
fn test_malformed_tokenizer_and_huge_dims_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // A Precompiled normalizer with bad data panicked inside tokenizers.
    let bad_tok = t.join("bad-tok");
    llama_with(&bad_tok, |_, tok| {
        tok["normalizer"] =
            serde_json::json!({"type": "Precompiled", "precompiled_charsmap": "AAAA"});
    });
    let e = fails(generate(&bad_tok, &["-n", "2"]), 1);
    assert!(
        e.contains("tokenizer.json") && e.contains("Precompiled"),
        "{e}"
    );
    // compress validates before storing: no metadata, said up front.
    let out = t.join("bad-tok.seedlm");
    let o = compress(&bad_tok, &out, &[]);
    assert!(
        stderr(&o).contains("not storing model metadata"),
        "{}",
        stderr(&o)
    );
    ok(o);
    let e = fails(generate(&out, &["-n", "2"]), 1);
    assert!(e.contains("no model metadata"), "{e}");

    // Truncation with stride >= max_length panicked while encoding: the
    // runtime tokenizes whole texts and drops those settings.
    let trunc = t.join("trunc");
    llama_with(&trunc, |_, tok| {
        tok["truncation"] = serde_json::json!(
            {"direction": "Right", "max_length": 1, "strategy": "LongestFirst", "stride": 5});
    });
    ok(generate(&trunc, &["-n", "2"]));

    // A .seedlm whose tokenizer blob is broken (compress of an older seedlm
    // copied it without looking).
    let blobbed = t.join("blob.seedlm");
    let file = SeedFile::open(&out).unwrap();
    let mut wr = Writer::create(&blobbed).unwrap();
    for info in file.tensors() {
        match info.kind {
            seedlm::container::TensorKind::Seed(cfg) => wr
                .add_seed(
                    &info.name,
                    &info.shape,
                    &info.orig_dtype,
                    cfg,
                    &file.blocks(info).unwrap(),
                )
                .unwrap(),
            seedlm::container::TensorKind::Raw(d) => wr
                .add_raw(
                    &info.name,
                    &info.shape,
                    &info.orig_dtype,
                    d,
                    file.data(info),
                )
                .unwrap(),
        }
    }
    let config = std::fs::read(bad_tok.join("config.json")).unwrap();
    let tok = std::fs::read(bad_tok.join("tokenizer.json")).unwrap();
    for (name, b) in [("meta/config.json", &config), ("meta/tokenizer.json", &tok)] {
        wr.add_raw(name, &[b.len()], "u8", RawDtype::U8, b).unwrap();
    }
    wr.finish().unwrap();
    let e = fails(generate(&blobbed, &["-n", "2"]), 1);
    assert!(e.contains("Precompiled"), "{e}");

    // head_dim near 2^62: n_heads·head_dim wrapped past the shape checks.
    let huge = t.join("huge");
    llama_with(&huge, |c, _| c["head_dim"] = serde_json::json!(1u64 << 62));
    let e = fails(generate(&huge, &["-n", "2"]), 1);
    assert!(e.contains("overflows"), "{e}");
    // ... and GGUF rope.dimension_count.
    let u32v = |v: u32| v.to_le_bytes().to_vec();
    let gguf = t.join("huge.gguf");
    let meta = vec![
        ("general.architecture", 8, gguf_str("llama")),
        ("llama.embedding_length", 4, u32v(32)),
        ("llama.feed_forward_length", 4, u32v(64)),
        ("llama.block_count", 4, u32v(1)),
        ("llama.attention.head_count", 4, u32v(4)),
        ("llama.context_length", 4, u32v(64)),
        ("llama.vocab_size", 4, u32v(256)),
        (
            "llama.rope.dimension_count",
            10,
            (1u64 << 62).to_le_bytes().to_vec(),
        ),
    ];
    std::fs::write(
        &gguf,
        gguf_bytes(&meta, &[("w", vec![2, 32], 0, vec![0; 256])]),
    )
    .unwrap();
    let e = fails(generate(&gguf, &["-n", "2"]), 1);
    assert!(e.contains("overflows"), "{e}");
}

#[test]
fn test_gguf_metadata_array_memory_is_bounded() {
    // One u8 array of 40M elements: parsed twice into 32-byte values it took
    // 2.6 GB; under a 1 GB address-space limit compress must still work.
    let tmp = tempfile::tempdir().unwrap();
    let n: u64 = 40_000_000;
    let mut arr = 0u32.to_le_bytes().to_vec();
    arr.extend(n.to_le_bytes());
    arr.resize(arr.len() + n as usize, 7);
    let data: Vec<u8> = weights(64, 3)
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let path = tmp.path().join("big.gguf");
    let meta = [
        ("general.architecture", 8, gguf_str("llama")),
        ("big", 9, arr),
    ];
    std::fs::write(&path, gguf_bytes(&meta, &[("w", vec![4, 16], 0, data)])).unwrap();
    let out = tmp.path().join("big.seedlm");
    let o = Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -v 1000000 && exec "$0" compress "$1" -o "$2" --bits 4 --threads 2"#)
        .arg(env!("CARGO_BIN_EXE_seedlm"))
        .arg(&path)
        .arg(&out)
        .output()
        .unwrap();
    ok(o);
}

#[test]
fn test_threads_are_bounded() {
    let e = fails(
        seedlm([
            "compress",
            "x",
            "-o",
            "y",
            "--bits",
            "4",
            "--threads",
            "100000",
        ]),
        2,
    );
    assert!(e.contains("0..=1024"), "{e}");
    let e = fails(seedlm(["bench-search", "--threads", "1,5000"]), 2);
    assert!(e.contains("0..=1024"), "{e}");
}

#[test]
fn test_compress_lock_crash_safe_cleanup_and_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = d.join("m.safetensors");
    let mut bad = weights(128, 2);
    bad[3] = f32::NAN;
    // Names sort so that a is searched before b fails.
    write_f32_safetensors(
        &input,
        &[("a", vec![8, 16], weights(128, 1)), ("b", vec![8, 16], bad)],
    );
    let out = d.join("m.seedlm");
    let side = sidecar(&out);

    // A run holding the lock keeps a second one out, with a clear message.
    let lock = File::create(format!("{}.lock", side.display())).unwrap();
    lock.try_lock().unwrap();
    let e = fails(compress(&input, &out, &[]), 1);
    assert!(e.contains("another seedlm compress"), "{e}");
    drop(lock);

    // Interrupted by b; then --bits changes: the message says what changed.
    fails(compress(&input, &out, &[]), 1);
    assert!(side.join("00000.seedlm").exists());
    let o = seedlm([
        OsStr::new("compress"),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--bits".as_ref(),
        "3".as_ref(),
    ]);
    let e = fails(o, 1);
    assert!(e.contains("bits was 4, now 3"), "{e}");

    // Another model with the same names and shapes at the same path: the
    // part of a is not reused (its input digest differs).
    let a2 = weights(128, 9);
    write_f32_safetensors(
        &input,
        &[
            ("a", vec![8, 16], a2.clone()),
            ("b", vec![8, 16], weights(128, 4)),
        ],
    );
    let o = compress(&input, &out, &[]);
    assert!(stderr(&o).contains("redoing tensor 'a'"), "{}", stderr(&o));
    ok(o);
    assert!(!side.exists());
    let fresh = d.join("fresh.seedlm");
    ok(compress(&input, &fresh, &[]));
    let blocks = |p: &Path| {
        let f = SeedFile::open(p).unwrap();
        f.blocks(f.get("a").unwrap()).unwrap()
    };
    assert_eq!(blocks(&out), blocks(&fresh));

    // Killed while removing the sidecar, after the manifest went: the
    // leftover parts are checked and reused, not refused.
    let out2 = d.join("m2.seedlm");
    let side2 = sidecar(&out2);
    std::fs::create_dir(&side2).unwrap();
    let o = compress(&input, &out2, &[]);
    ok(o);
    std::fs::create_dir(&side2).unwrap();
    std::fs::copy(fresh.as_path(), side2.join("00000.seedlm")).unwrap();
    let o = compress(&input, &out2, &["--force"]);
    assert!(stderr(&o).contains("redoing tensor 'a'"), "{}", stderr(&o));
    ok(o);
    // Killed after the rename: the renamed sidecar is deleted.
    let old = PathBuf::from(format!("{}.old", side2.display()));
    std::fs::create_dir(&old).unwrap();
    std::fs::write(old.join("00001.seedlm"), b"x").unwrap();
    ok(compress(&input, &out2, &["--force"]));
    assert!(!old.exists());
    // A sidecar path holding someone else's files is never deleted.
    std::fs::create_dir(&side2).unwrap();
    std::fs::write(side2.join("notes.txt"), b"mine").unwrap();
    let e = fails(compress(&input, &out2, &["--force"]), 1);
    assert!(
        e.contains("notes.txt") && e.contains("not a seedlm sidecar"),
        "{e}"
    );
    assert!(side2.join("notes.txt").exists());
}

#[test]
fn test_unstorable_tensors_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let f32s =
        |n: usize| -> Vec<u8> { weights(n, 5).iter().flat_map(|x| x.to_le_bytes()).collect() };
    let long = "x".repeat(70_000);
    // (file, (tensor name, shape), what the error says)
    type Case<'a> = (&'a str, (&'a str, Vec<u64>), &'a str);
    let cases: Vec<Case> = vec![
        ("dup", ("good", vec![4, 16]), "has the name of"),
        ("empty", ("", vec![4, 16]), "name must be"),
        ("long", (long.as_str(), vec![4, 16]), "name must be"),
        ("scalar", ("s", vec![]), "dims"),
        ("zero", ("z", vec![0, 16]), "at least 1"),
        ("meta", ("meta/config.json", vec![16]), "reserved"),
        ("md", ("__metadata__", vec![16]), "reserved"),
    ];
    for (file, (name, shape), want) in cases {
        let path = tmp.path().join(format!("{file}.gguf"));
        let n: u64 = shape.iter().product();
        let tensors = vec![
            ("good", vec![4, 16], 0, f32s(64)),
            (name, shape.clone(), 0, f32s(n as usize)),
        ];
        std::fs::write(&path, gguf_bytes(&[], &tensors)).unwrap();
        let out = tmp.path().join(format!("{file}.seedlm"));
        let e = fails(compress(&path, &out, &[]), 1);
        assert!(
            e.contains(&format!("{file}.gguf")) && e.contains(want),
            "{file}: {e}"
        );
        assert!(
            !sidecar(&out).exists(),
            "{file}: work started before the check"
        );
    }
}

#[test]
fn test_small_cases_of_issue_15() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    // NaN reported in the tensor's own coordinates, not the padded ones.
    let mut w = weights(4 * 60, 6);
    w[60] = f32::NAN;
    let nan = t.join("nan.safetensors");
    write_f32_safetensors(&nan, &[("w", vec![4, 60], w)]);
    let e = fails(compress(&nan, &t.join("nan.seedlm"), &[]), 1);
    assert!(e.contains("element (1, 0) is NaN"), "{e}");

    // A GGUF with a bad magic is not called a broken safetensors file.
    let gguf = t.join("m.gguf");
    let mut b = gguf_bytes(&[], &[("w", vec![4, 16], 0, vec![0; 256])]);
    b[3] = b'X';
    std::fs::write(&gguf, b).unwrap();
    let e = fails(compress(&gguf, &t.join("m.seedlm"), &[]), 1);
    assert!(
        e.contains("without the GGUF magic") && !e.contains("header too large"),
        "{e}"
    );

    // Option values that were silently clamped or failed late.
    let model = t.join("tiny");
    llama_with(&model, |c, _| {
        c["max_position_embeddings"] = serde_json::json!(12)
    });
    for (bad, opt) in [
        ("--temperature=-1", "--temperature"),
        ("--top-p=-0.5", "--top-p"),
        ("--top-p=1.5", "--top-p"),
    ] {
        let e = fails(generate(&model, &[bad]), 2);
        assert!(e.contains(opt), "{e}");
    }
    let e = fails(
        seedlm([
            "eval",
            "ppl",
            "--model",
            "m",
            "--data",
            "d",
            "--agree-prompt",
            "0",
        ]),
        2,
    );
    assert!(e.contains("--agree-prompt"), "{e}");

    // generate past the context stops there and succeeds.
    let o = generate(&model, &["-n", "40"]);
    assert!(
        stderr(&o).contains("context of 12 tokens is full"),
        "{}",
        stderr(&o)
    );
    ok(o);

    // Control characters in tensor names are escaped by inspect and error;
    // an all-zero tensor has no NaN SQNR.
    let input = t.join("names.safetensors");
    write_f32_safetensors(
        &input,
        &[
            ("evil\u{1b}[2J\nname", vec![4, 16], weights(64, 7)),
            ("zero", vec![4, 16], vec![0.0; 64]),
        ],
    );
    let out = t.join("names.seedlm");
    ok(compress(&input, &out, &[]));
    let table = ok(seedlm([OsStr::new("inspect"), out.as_os_str()]));
    assert!(
        table.contains(r"evil\u{1b}[2J\nname") && !table.contains('\u{1b}'),
        "{table}"
    );
    let table = ok(seedlm([
        OsStr::new("error"),
        input.as_os_str(),
        out.as_os_str(),
    ]));
    assert!(
        !table.contains("NaN") && !table.contains('\u{1b}'),
        "{table}"
    );
    let zero = table.lines().find(|l| l.starts_with("zero")).unwrap();
    assert!(zero.contains(" - "), "{table}");
}
