//! `compress --calib` on a tiny Llama: the calibrated blocks lower every
//! layer's output error on the calibration inputs, the run is resumable,
//! `--refine` passes never raise the objective, and `--neighbours` never
//! raises the data-free error.

mod common;

use std::ffi::OsStr;

use common::{fails, ok, seedlm, stderr, write_tiny_llama_layers};
use seedlm::container::SeedFile;

/// A tiny Llama of `layers` layers in `dir/model` and a short calibration
/// text in `dir/calib.txt`.
fn tiny_llama_and_text(
    dir: &std::path::Path,
    layers: usize,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let model = dir.join("model");
    std::fs::create_dir(&model).unwrap();
    write_tiny_llama_layers(&model, layers);
    let text = dir.join("calib.txt");
    std::fs::write(
        &text,
        "The quick brown fox jumps over the lazy dog. ".repeat(20),
    )
    .unwrap();
    (model, text)
}

/// `--calib TEXT` on 300 tokens in windows of 100: what the tiny model's
/// calibrated compressions use.
fn calib_args(text: &std::path::Path) -> Vec<&OsStr> {
    vec![
        "--calib".as_ref(),
        text.as_os_str(),
        "--calib-tokens".as_ref(),
        "300".as_ref(),
        "--calib-ctx".as_ref(),
        "100".as_ref(),
    ]
}

/// Runs `seedlm compress DIR -o OUT --bits 4 EXTRA...`; returns stderr.
fn compress(dir: &std::path::Path, out: &std::path::Path, extra: &[&OsStr]) -> String {
    let mut args = vec![
        OsStr::new("compress"),
        dir.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--bits".as_ref(),
        "4".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
    ];
    args.extend_from_slice(extra);
    let o = seedlm(args);
    let log = stderr(&o);
    ok(o);
    log
}

#[test]
fn test_cli_calibrated_compress() {
    let dir = tempfile::tempdir().unwrap();
    let (model, text) = tiny_llama_and_text(dir.path(), 2);

    let plain = dir.path().join("plain.seedlm");
    compress(&model, &plain, &[]);
    let cal = dir.path().join("cal.seedlm");
    let log = compress(&model, &cal, &calib_args(&text));
    assert!(
        log.contains("calibrating on") && log.contains("second moments"),
        "{log}"
    );
    // One output-error line per linear layer (2 layers x 7).
    let errs: Vec<(f64, f64)> = log
        .lines()
        .filter(|l| l.contains("relative output error"))
        .map(|l| {
            let nums: Vec<f64> = l
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter_map(|t| t.parse().ok())
                .collect();
            (nums[nums.len() - 2], nums[nums.len() - 1])
        })
        .collect();
    assert_eq!(errs.len(), 14, "{log}");
    // The output error is far below the weight error it would track without
    // calibration (data-free blocks have output error about the weight error).
    for (output, weights) in &errs {
        assert!(output < weights, "{log}");
    }
    let (p, c) = (
        SeedFile::open(&plain).unwrap(),
        SeedFile::open(&cal).unwrap(),
    );
    let name = "model.layers.0.self_attn.q_proj.weight";
    assert_ne!(
        p.blocks(p.get(name).unwrap()).unwrap(),
        c.blocks(c.get(name).unwrap()).unwrap()
    );

    // Neighbour rounding in the data-free mode: every tensor's error no
    // larger (the exact search over a superset of candidates).
    let nb = dir.path().join("nb.seedlm");
    compress(&model, &nb, &["--neighbours".as_ref()]);
    let rel = |f: &std::path::Path| -> Vec<f64> {
        let t = ok(seedlm([
            OsStr::new("error"),
            model.as_os_str(),
            f.as_os_str(),
        ]));
        t.lines()
            .filter(|l| l.starts_with("model.layers"))
            .map(|l| l.split_whitespace().nth(3).unwrap().parse().unwrap())
            .collect()
    };
    let (a, b) = (rel(&plain), rel(&nb));
    assert_eq!(a.len(), 14);
    for (x, y) in a.iter().zip(&b) {
        assert!(y <= x, "neighbours {y} > plain {x}");
    }
}

#[test]
fn test_cli_refine_and_damp() {
    let dir = tempfile::tempdir().unwrap();
    let (model, text) = tiny_llama_and_text(dir.path(), 2);
    let run = |out: &str, extra: &[&str]| -> (String, std::path::PathBuf) {
        let out = dir.path().join(out);
        let mut args = calib_args(&text);
        args.extend(extra.iter().map(OsStr::new));
        (compress(&model, &out, &args), out)
    };
    let (_, plain) = run("r0.seedlm", &["--refine", "0"]);
    let (log, refined) = run("r2.seedlm", &["--refine", "2"]);
    // Every calibrated layer (2 layers x 7) logs its GPTQ pass and two
    // refinement passes, none raising the objective.
    assert_eq!(log.matches("GPTQ pass: output error").count(), 14, "{log}");
    for pass in 1..=2 {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!("refine pass {pass}: ")))
            .collect();
        assert_eq!(lines.len(), 14, "{log}");
        for l in lines {
            let change: f64 = l
                .split("objective ")
                .nth(1)
                .and_then(|x| x.split('%').next())
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("no objective change in: {l}"));
            assert!(change <= 0.0, "{l}");
        }
    }
    let blocks = |f: &std::path::Path| -> Vec<Vec<seedlm::Block>> {
        let sf = SeedFile::open(f).unwrap();
        (0..2)
            .flat_map(|i| {
                ["q_proj", "k_proj", "v_proj", "o_proj"]
                    .map(|m| format!("model.layers.{i}.self_attn.{m}.weight"))
            })
            .map(|n| sf.blocks(sf.get(&n).unwrap()).unwrap())
            .collect()
    };
    assert_ne!(blocks(&plain), blocks(&refined));
    let (_, damped) = run("d.seedlm", &["--refine", "0", "--damp", "0.5"]);
    assert_ne!(blocks(&plain), blocks(&damped));

    // Both need --calib; --damp is a finite fraction >= 0 (usage errors).
    let out = dir.path().join("x.seedlm");
    for extra in [&["--refine", "1"][..], &["--damp", "0.1"]] {
        let mut args = vec![
            OsStr::new("compress"),
            model.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--bits".as_ref(),
            "4".as_ref(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        let err = fails(seedlm(args), 2);
        assert!(err.contains("--calib"), "{err}");
    }
    for bad in ["--damp=-1", "--damp=nan", "--damp=inf"] {
        let o = seedlm([
            OsStr::new("compress"),
            model.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--bits".as_ref(),
            "4".as_ref(),
            "--calib".as_ref(),
            text.as_os_str(),
            bad.as_ref(),
        ]);
        let err = fails(o, 2);
        assert!(err.contains("finite number >= 0"), "{err}");
    }
}

/// `eval ppl --calib` builds its GPTQ rows while the layers load in
/// parallel: with many threads it must finish (it once could deadlock on
/// the cache of feedback factors) and score both GPTQ rows.
#[test]
fn test_cli_eval_gptq_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (model, text) = tiny_llama_and_text(dir.path(), 32);
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_seedlm"))
        .args([
            "eval",
            "ppl",
            "--no-rtn",
            "--agree",
            "0",
            "--max-tokens",
            "64",
        ])
        .args([
            "--ctx",
            "32",
            "--stride",
            "32",
            "--calib-tokens",
            "200",
            "--calib-ctx",
            "50",
        ])
        .arg("--model")
        .arg(&model)
        .arg("--data")
        .arg(&text)
        .arg("--calib")
        .arg(&text)
        .env("RAYON_NUM_THREADS", "16")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "eval ppl --calib hung: {}",
                std::fs::read_to_string(&err).unwrap()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&err).unwrap();
    assert!(status.success(), "{log}");
    // Each row's stderr line: "NAME: perplexity P (T s)".
    for bits in [4, 3] {
        let ppl: f64 = log
            .lines()
            .filter(|l| l.starts_with(&format!("GPTQ {bits}-bit")))
            .find_map(|l| {
                l.split(": perplexity ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no GPTQ-{bits} row: {log}"));
        assert!(
            ppl.is_finite() && ppl >= 1.0,
            "GPTQ-{bits} perplexity {ppl}: {log}"
        );
    }
}
