//! `seedlm bench` end to end: the CPU table and its JSON/CSV files on the
//! small shapes, the board model tables, and bad options.

use std::process::Command;

fn seedlm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_seedlm"))
        .args(args)
        .output()
        .expect("seedlm runs")
}

#[test]
fn test_bench_quick_writes_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = seedlm(&[
        "bench",
        "--quick",
        "--repeat",
        "1",
        "--threads",
        "2",
        "--out",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "576x1536",
        "seedlm-4bit",
        "seedlm-3bit int",
        "smollm2-135m",
        "read",
        "Working set 64 MiB",
        "calls of each block as the runtime makes them: qkv, o, gate_up, down",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["working_set"]["bytes"], 64 << 20);
    let layers = v["layers"].as_array().unwrap();
    // SmolLM2: 4 distinct layer shapes (q and o alike), 2 more stacked
    // calls (qkv 960 x 576, gate_up 3072 x 576).
    let shapes: Vec<(u64, u64)> = layers
        .iter()
        .map(|l| (l["rows"].as_u64().unwrap(), l["cols"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        shapes,
        [
            (576, 576),
            (192, 576),
            (1536, 576),
            (576, 1536),
            (960, 576),
            (3072, 576)
        ]
    );
    for l in layers {
        // The copies read in turn make up the working set.
        let (copies, cycle) = (l["copies"].as_u64().unwrap(), &l["cycle_bytes"]);
        assert!(copies > 1 && cycle.as_u64().unwrap() >= 64 << 20, "{l}");
        let k = l["kernels"].as_array().unwrap();
        assert_eq!(k.len(), 6);
        // Bytes moved: f16 weights are half of f32's, SeedLM 4-bit an eighth.
        let (rows, cols) = (l["rows"].as_u64().unwrap(), l["cols"].as_u64().unwrap());
        let io = 4 * (rows + cols);
        assert_eq!(k[0]["bytes"].as_u64().unwrap(), 4 * rows * cols + io);
        assert_eq!(k[1]["bytes"].as_u64().unwrap(), 2 * rows * cols + io);
        assert_eq!(k[2]["bytes"].as_u64().unwrap(), rows * cols / 2 + io);
        assert!(k.iter().all(|k| k["seconds"].as_f64().unwrap() > 0.0));
    }
    assert_eq!(v["per_token"][0]["model"], "smollm2-135m");
    assert_eq!(v["per_token"][0]["calls"][2]["rows"], 3072);

    let csv = dir.path().join("bench.csv");
    let out = seedlm(&[
        "bench",
        "--models",
        "smollm2-135m",
        "--repeat",
        "1",
        "--working-set",
        "32",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    // Header, 6 shapes x 6 kernels, 1 model x 6 kernels.
    assert_eq!(text.lines().count(), 1 + 36 + 6, "{text}");
    assert!(text.starts_with("scope,name,rows,cols,kernel,bytes,seconds"));

    // The emu backend: one call per shape and configuration, with the
    // model's cycles (the emulator has no clock).
    let out = seedlm(&[
        "bench",
        "--quick",
        "--repeat",
        "1",
        "--backend",
        "emu",
        "--lanes",
        "8",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(" emu ")).collect();
    assert_eq!(rows.len(), 12, "6 shapes x 2 configurations:\n{text}");
    assert!(rows[0].contains("4-bit, 8 lanes") && rows[1].contains("3-bit, 8 lanes"));
}

#[test]
fn test_bench_model_board_tables_and_bad_options() {
    let out = seedlm(&["bench", "--model-board", "--pcie", "gen4x8"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("u55c: memory 460 GB/s, 16 GiB; PCIe Gen4x8"),
        "{text}"
    );
    assert!(text.contains("u250: memory 77 GB/s, 64 GiB"));
    assert!(text.contains("llama2-70b") && text.contains("(S)"));

    for bad in [
        vec!["bench", "--model-board", "--boards", "vcu118"],
        vec!["bench", "--model-board", "--pcie", "gen9x16"],
        vec!["bench", "--model-board", "--engines", "0"],
        vec!["bench", "--models", "gpt2"],
        vec!["bench", "--quick", "--repeat", "0"],
        vec!["bench", "--quick", "--working-set", "0"],
        vec!["bench", "--quick", "--repeat", "1", "--backend", "fpga9"],
    ] {
        let out = seedlm(&bad);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}
