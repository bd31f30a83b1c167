//! End-to-end tests of the `seedlm` binary on small synthetic checkpoints,
//! and of the GGUF reader on a GGUF file built here.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use half::{bf16, f16};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use safetensors::tensor::TensorView;
use safetensors::Dtype as StDtype;
use seedlm::container::{SeedFile, TensorKind};
use seedlm::Lfsr;
use seedlm_host::checkpoint::{Checkpoint, Dtype};

/// Runs the binary with `args`.
fn seedlm<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_seedlm"))
        .args(args)
        .output()
        .expect("run seedlm")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stderr(&o), stdout(&o));
    stdout(&o)
}

/// Asserts failure with `code` and returns stderr.
fn fails(o: Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

/// A tensor to write: name, dtype, shape, f32 values.
type Spec = (&'static str, StDtype, Vec<usize>, Vec<f32>);

fn encode(dtype: StDtype, v: &[f32]) -> Vec<u8> {
    match dtype {
        StDtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        StDtype::F16 => v
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect(),
        StDtype::BF16 => v
            .iter()
            .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
            .collect(),
        StDtype::I32 => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
        other => panic!("no encoder for {other:?}"),
    }
}

fn write_safetensors(path: &Path, specs: &[Spec]) {
    let bytes: Vec<Vec<u8>> = specs.iter().map(|(_, d, _, v)| encode(*d, v)).collect();
    let views: Vec<(String, TensorView)> = specs
        .iter()
        .zip(&bytes)
        .map(|((n, d, s, _), b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn normal(n: usize, sigma: f32, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let d = Normal::new(0.0, sigma).unwrap();
    (0..n).map(|_| d.sample(&mut rng)).collect()
}

/// A small model: two linear layers (one needing row padding), a norm and
/// an embedding.
fn small_model() -> Vec<Spec> {
    vec![
        (
            "layers.0.attn.weight",
            StDtype::F32,
            vec![16, 96],
            normal(16 * 96, 0.02, 1),
        ),
        (
            "layers.0.mlp.weight",
            StDtype::F16,
            vec![8, 20],
            normal(8 * 20, 0.02, 2),
        ),
        (
            "layers.0.norm.weight",
            StDtype::BF16,
            vec![96],
            normal(96, 1.0, 3),
        ),
        (
            "model.embed_tokens.weight",
            StDtype::BF16,
            vec![32, 16],
            normal(32 * 16, 0.02, 4),
        ),
    ]
}

/// The line of `table` starting with `name`.
fn line<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no line {name} in\n{table}"))
}

#[test]
fn test_cli_round_trip_compress_inspect_decompress_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("model.safetensors");
    let specs = small_model();
    write_safetensors(&input, &specs);
    let original = Checkpoint::open(&input).unwrap();

    for (bits, want) in [("4", "4.00"), ("3", "3.00")] {
        let out = dir.path().join(format!("m{bits}.seedlm"));
        let o = seedlm([
            OsStr::new("compress"),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--bits".as_ref(),
            bits.as_ref(),
            "--threads".as_ref(),
            "2".as_ref(),
        ]);
        // stderr is a pipe here: one progress line per tensor instead of a bar.
        let log = stderr(&o);
        assert!(log.contains("[1/2] ") && log.contains("[2/2] "), "{log}");
        let o = ok(o);
        assert!(o.contains("2 compressed") && o.contains("2 raw"), "{o}");
        assert!(!dir.path().join(format!("m{bits}.seedlm.partial")).exists());

        let table = ok(seedlm([OsStr::new("inspect"), out.as_os_str()]));
        let l = line(&table, "layers.0.attn.weight");
        assert!(
            l.contains(want) && l.contains("f32") && l.contains("16x96"),
            "{l}"
        );
        assert!(line(&table, "layers.0.norm.weight").contains("raw bf16"));
        assert!(line(&table, "model.embed_tokens.weight").contains("raw bf16"));
        assert!(
            line(&table, "compressed tensors").contains("KiB")
                || line(&table, "compressed tensors").contains(" B")
        );

        let restored = dir.path().join(format!("m{bits}.safetensors"));
        ok(seedlm([
            OsStr::new("decompress"),
            out.as_os_str(),
            "-o".as_ref(),
            restored.as_os_str(),
        ]));
        let file = SeedFile::open(&out).unwrap();
        let back = Checkpoint::open(&restored).unwrap();
        for info in file.tensors() {
            let got = back.load_f32(&info.name).unwrap();
            assert_eq!(back.get(&info.name).unwrap().shape, info.shape);
            match info.kind {
                TensorKind::Raw(_) => assert_eq!(got, original.load_f32(&info.name).unwrap()),
                TensorKind::Seed(cfg) => {
                    // Rebuild from the stored blocks, independently of the CLI.
                    let lfsr = Lfsr::new(cfg.k);
                    let per_row = info.cols().div_ceil(cfg.c);
                    let mut want = Vec::new();
                    for row in file.blocks(&info.clone()).unwrap().chunks(per_row) {
                        let mut r = vec![0f32; per_row * cfg.c];
                        for (b, o) in row.iter().zip(r.chunks_mut(cfg.c)) {
                            b.decode(&cfg, &lfsr, o);
                        }
                        want.extend_from_slice(&r[..info.cols()]);
                    }
                    assert_eq!(got, want, "tensor {}", info.name);
                }
            }
        }

        let err = ok(seedlm([
            OsStr::new("error"),
            input.as_os_str(),
            out.as_os_str(),
        ]));
        let l = line(&err, "layers.0.attn.weight");
        let rel: f64 = l.split_whitespace().nth(3).unwrap().parse().unwrap();
        let limit = if bits == "4" { 0.2 } else { 0.35 };
        assert!(rel > 0.05 && rel < limit, "{err}");
        assert!(err.contains("total (2 tensors)"), "{err}");
        let one = ok(seedlm([
            OsStr::new("error"),
            input.as_os_str(),
            out.as_os_str(),
            "--tensor".as_ref(),
            "mlp".as_ref(),
        ]));
        assert!(
            one.contains("layers.0.mlp.weight") && !one.contains("layers.0.attn.weight"),
            "{one}"
        );
    }

    // f16 output.
    let out = dir.path().join("m4.seedlm");
    let restored = dir.path().join("half.safetensors");
    ok(seedlm([
        OsStr::new("decompress"),
        out.as_os_str(),
        "-o".as_ref(),
        restored.as_os_str(),
        "--dtype".as_ref(),
        "f16".as_ref(),
    ]));
    let back = Checkpoint::open(&restored).unwrap();
    assert!(back.tensors().iter().all(|t| t.dtype == Dtype::F16));
}

#[test]
fn test_cli_resume_reuses_sidecar_and_refuses_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("model.safetensors");
    let good = normal(8 * 16, 0.02, 7);
    let mut bad = normal(8 * 16, 0.02, 8);
    bad[5] = f32::NAN;
    // Names sort so that the good tensor is searched first.
    write_safetensors(
        &input,
        &[
            ("a.weight", StDtype::F32, vec![8, 16], good.clone()),
            ("b.weight", StDtype::F32, vec![8, 16], bad),
        ],
    );
    let out = dir.path().join("out.seedlm");
    let sidecar = PathBuf::from(format!("{}.partial", out.display()));
    let compress = |bits: &str| {
        seedlm([
            OsStr::new("compress"),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--bits".as_ref(),
            bits.as_ref(),
        ])
    };

    // Interrupted run: tensor b cannot be searched (NaN).
    let e = fails(compress("4"), 1);
    assert!(
        e.contains("'b.weight'") && e.contains("model.safetensors") && e.contains("NaN"),
        "{e}"
    );
    assert!(!out.exists(), "no output after a failed run");
    let part = sidecar.join("00000.seedlm");
    let saved = SeedFile::open(&part).unwrap();
    let saved_blocks = saved.blocks(saved.get("a.weight").unwrap()).unwrap();

    // A different run is refused, saying what changed.
    let e = fails(compress("3"), 1);
    assert!(
        e.contains("out.seedlm.partial")
            && e.contains("different run")
            && e.contains("bits was 4, now 3"),
        "{e}"
    );

    // Rewrite the input with b fixed and a unchanged: the resumed run takes
    // a from the sidecar (its input digest matches), not searching it.
    let fixed = normal(8 * 16, 0.02, 9);
    write_safetensors(
        &input,
        &[
            ("a.weight", StDtype::F32, vec![8, 16], good),
            ("b.weight", StDtype::F32, vec![8, 16], fixed),
        ],
    );
    let o = ok(compress("4"));
    assert!(o.contains("reused 1"), "{o}");
    assert!(!sidecar.exists(), "sidecar removed after success");
    let file = SeedFile::open(&out).unwrap();
    assert_eq!(
        file.blocks(file.get("a.weight").unwrap()).unwrap(),
        saved_blocks
    );
    // b was searched on the fixed values.
    let err = ok(seedlm([
        OsStr::new("error"),
        input.as_os_str(),
        out.as_os_str(),
        "--tensor".as_ref(),
        "^b".as_ref(),
    ]));
    let rel: f64 = line(&err, "b.weight")
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert!(rel < 0.2, "{err}");
}

#[test]
fn test_cli_bad_inputs_fail_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.seedlm");
    let run = |input: &Path, bits: &str| {
        seedlm([
            OsStr::new("compress"),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--bits".as_ref(),
            bits.as_ref(),
        ])
    };

    let missing = dir.path().join("missing.safetensors");
    let e = fails(run(&missing, "4"), 1);
    assert!(e.contains("missing.safetensors"), "{e}");

    let input = dir.path().join("m.safetensors");
    write_safetensors(&input, &small_model());
    let bytes = std::fs::read(&input).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let e = fails(run(&truncated, "4"), 1);
    assert!(e.contains("truncated.safetensors"), "{e}");

    let e = fails(run(&input, "5"), 2);
    assert!(e.contains("--bits"), "{e}");
    fails(seedlm(["compress"]), 2);
    fails(seedlm(["no-such-command"]), 2);

    let ints = dir.path().join("ints.safetensors");
    write_safetensors(
        &ints,
        &[
            ("w", StDtype::F32, vec![2, 8], vec![0.5; 16]),
            ("ids", StDtype::I32, vec![4], vec![1.0; 4]),
        ],
    );
    let e = fails(run(&ints, "4"), 1);
    assert!(
        e.contains("ints.safetensors") && e.contains("'ids'") && e.contains("I32"),
        "{e}"
    );

    // A corrupted .seedlm is refused by inspect and decompress.
    ok(run(&input, "4"));
    let mut b = std::fs::read(&out).unwrap();
    b[100] ^= 0x40;
    let bad = dir.path().join("bad.seedlm");
    std::fs::write(&bad, &b).unwrap();
    let e = fails(seedlm([OsStr::new("inspect"), bad.as_os_str()]), 1);
    assert!(e.contains("bad.seedlm"), "{e}");
    let e = fails(
        seedlm([
            OsStr::new("decompress"),
            bad.as_os_str(),
            "-o".as_ref(),
            dir.path().join("x.safetensors").as_os_str(),
        ]),
        1,
    );
    assert!(e.contains("bad.seedlm"), "{e}");
    assert!(!dir.path().join("x.safetensors").exists());
    // error against a checkpoint that lacks the tensor.
    let e = fails(
        seedlm([OsStr::new("error"), ints.as_os_str(), out.as_os_str()]),
        1,
    );
    assert!(
        e.contains("ints.safetensors") && e.contains("no tensor named"),
        "{e}"
    );
}

/// A minimal GGUF v3 writer: (name, row-major shape, ggml type, bytes).
fn write_gguf(path: &Path, tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) {
    let s = |v: &mut Vec<u8>, t: &str| {
        v.extend((t.len() as u64).to_le_bytes());
        v.extend(t.as_bytes());
    };
    let mut v = b"GGUF".to_vec();
    v.extend(3u32.to_le_bytes());
    v.extend((tensors.len() as u64).to_le_bytes());
    v.extend(1u64.to_le_bytes());
    s(&mut v, "general.architecture");
    v.extend(8u32.to_le_bytes());
    s(&mut v, "llama");
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
    std::fs::write(path, v).unwrap();
}

#[test]
fn test_gguf_reader_dequantizes_exactly_and_compresses() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let h = |x: f32| f16::from_f32(x).to_le_bytes();
    // F32 [64].
    let f32v: Vec<f32> = (0..64).map(|i| i as f32 * 0.25 - 3.0).collect();
    // Q8_0 [2, 32]: per block d, q; w = d·q.
    let (mut q8, mut q8v) = (Vec::new(), Vec::new());
    for d in [0.5f32, -0.125] {
        q8.extend(h(d));
        for _ in 0..32 {
            let q: i8 = rng.gen();
            q8.push(q as u8);
            q8v.push(d * q as f32);
        }
    }
    // Q4_1 [4, 64] (8 blocks, compressed by the CLI): w = d·q + m; byte i
    // holds element i (low nibble) and i + 16 (high nibble).
    let (mut q41, mut q41v) = (Vec::new(), Vec::new());
    for b in 0..8 {
        let (d, m) = (0.01 * (b + 1) as f32, -0.05 * b as f32);
        q41.extend(h(d));
        q41.extend(h(m));
        let q: Vec<u8> = (0..32).map(|_| rng.gen_range(0..16)).collect();
        q41.extend((0..16).map(|i| q[i] | q[i + 16] << 4));
        let (d, m) = (f16::from_f32(d).to_f32(), f16::from_f32(m).to_f32());
        q41v.extend(q.iter().map(|&q| d * q as f32 + m));
    }
    // Q4_0 [32]: w = d·(q - 8).
    let (mut q40, mut q40v) = (h(0.75).to_vec(), Vec::new());
    let q: Vec<u8> = (0..32).map(|_| rng.gen_range(0..16)).collect();
    q40.extend((0..16).map(|i| q[i] | q[i + 16] << 4));
    q40v.extend(q.iter().map(|&q| 0.75 * (q as i32 - 8) as f32));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    let f32b: Vec<u8> = f32v.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_gguf(
        &path,
        &[
            ("norm.weight", vec![64], 0, f32b),
            ("token_embd.weight", vec![2, 32], 8, q8),
            ("blk.0.ffn_up.weight", vec![4, 64], 3, q41),
            ("blk.0.bias", vec![32], 2, q40),
        ],
    );
    let ck = Checkpoint::open(&path).unwrap();
    assert_eq!(ck.format(), "gguf");
    let meta: Vec<(&str, Vec<usize>, Dtype)> = ck
        .tensors()
        .iter()
        .map(|t| (t.name.as_str(), t.shape.clone(), t.dtype.clone()))
        .collect();
    assert_eq!(
        meta,
        vec![
            ("norm.weight", vec![64], Dtype::F32),
            ("token_embd.weight", vec![2, 32], Dtype::Q8_0),
            ("blk.0.ffn_up.weight", vec![4, 64], Dtype::Q4_1),
            ("blk.0.bias", vec![32], Dtype::Q4_0),
        ]
    );
    assert_eq!(ck.load_f32("norm.weight").unwrap(), f32v);
    assert_eq!(ck.load_f32("token_embd.weight").unwrap(), q8v);
    assert_eq!(ck.load_f32("blk.0.ffn_up.weight").unwrap(), q41v);
    assert_eq!(ck.load_f32("blk.0.bias").unwrap(), q40v);

    // The CLI compresses the 2-D non-embedding tensors of a GGUF; the rest
    // is stored raw (f32 as is, quantized types as f16).
    let out = dir.path().join("tiny.seedlm");
    ok(seedlm([
        OsStr::new("compress"),
        path.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--bits".as_ref(),
        "4".as_ref(),
    ]));
    let table = ok(seedlm([OsStr::new("inspect"), out.as_os_str()]));
    assert!(
        line(&table, "blk.0.ffn_up.weight").contains("q4_1"),
        "{table}"
    );
    assert!(
        line(&table, "blk.0.ffn_up.weight").contains("4.00"),
        "{table}"
    );
    assert!(
        line(&table, "token_embd.weight").contains("raw f16"),
        "{table}"
    );
    assert!(line(&table, "norm.weight").contains("raw f32"), "{table}");
    let file = SeedFile::open(&out).unwrap();
    let emb = file
        .raw_f32(file.get("token_embd.weight").unwrap())
        .unwrap();
    let want: Vec<f32> = q8v.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
    assert_eq!(emb, want);
    let err = ok(seedlm([
        OsStr::new("error"),
        path.as_os_str(),
        out.as_os_str(),
    ]));
    assert!(line(&err, "blk.0.ffn_up.weight").contains("4x64"), "{err}");
}

#[test]
fn test_cli_demo_runs_and_checks_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let o = ok(seedlm([
        OsStr::new("demo"),
        "--dir".as_ref(),
        dir.path().as_os_str(),
    ]));
    assert!(o.contains("checked 11 tensors"), "{o}");
    assert!(o.contains("total (7 tensors)"), "{o}");
    assert!(dir.path().join("demo-model.seedlm").exists());
}

#[test]
fn test_cli_help_documents_every_subcommand() {
    let o = ok(seedlm(["--help"]));
    for sub in [
        "compress",
        "inspect",
        "decompress",
        "error",
        "bench-search",
        "demo",
    ] {
        assert!(o.contains(sub), "{o}");
        let h = ok(seedlm([sub, "--help"]));
        assert!(h.contains("Usage: seedlm"), "{h}");
    }
    let h = ok(seedlm(["compress", "--help"]));
    for opt in [
        "--bits",
        "--include",
        "--exclude",
        "--threads",
        "--compress-embeddings",
        "--output",
    ] {
        assert!(h.contains(opt), "{h}");
    }
}
