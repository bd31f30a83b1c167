//! `verilator --lint-only -Wall` on the emitted RTL: both configurations,
//! lanes 1, 3, 8, 16 and 64, and the FP16 baseline at 1, 4, 16 and 64
//! lanes, no warning at all.

use seedlm::Config;
use seedlm_hdl::top::{generate_kind, Kind, FP16_TOP, TOP};
use std::process::Command;

#[test]
fn test_emitted_rtl_is_lint_clean() {
    let dir = std::env::temp_dir().join(format!("seedlm_lint_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for cfg in [Config::BITS4, Config::BITS3] {
        for lanes in [1, 3, 8, 16, 64] {
            let rtl = seedlm_hdl::top::generate(&cfg, lanes).unwrap();
            let v = dir.join(format!("seedlm_engine_{}_{lanes}.v", cfg.c));
            std::fs::write(&v, &rtl.verilog).unwrap();
            lint(&v, TOP, &format!("{cfg} lanes {lanes}"));
        }
    }
    for lanes in [1, 4, 16, 64] {
        let rtl = generate_kind(&Kind::Fp16, lanes).unwrap();
        let v = dir.join(format!("fp16_engine_{lanes}.v"));
        std::fs::write(&v, &rtl.verilog).unwrap();
        lint(&v, FP16_TOP, &format!("fp16 lanes {lanes}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `verilator --lint-only -Wall` on `v` prints nothing and succeeds.
fn lint(v: &std::path::Path, top: &str, what: &str) {
    let out = Command::new("verilator")
        .args(["--lint-only", "-Wall", "--top-module", top])
        .arg(v)
        .output()
        .expect("verilator must be installed (apt-get install -y verilator)");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "{what}:\n{text}"
    );
}
