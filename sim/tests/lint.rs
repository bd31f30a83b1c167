//! `verilator --lint-only -Wall` on the emitted engine RTL: both
//! configurations at lanes 1, 3, 8 and 16, and the FP16 baseline at 1, 4
//! and 16 lanes, no warning at all. `SEEDLM_LINT_FULL=1` adds 64 lanes of
//! each (about a minute more on 2 cores; the generator is the same code).
//! One test per kind, so that the harness lints them in parallel.

use seedlm::Config;
use seedlm_hdl::top::{generate_kind, Kind};
use std::process::Command;

/// `base`, plus 64 lanes with `SEEDLM_LINT_FULL=1`.
fn lane_counts(base: &[usize]) -> Vec<usize> {
    let full = std::env::var("SEEDLM_LINT_FULL").is_ok_and(|v| v == "1");
    base.iter().copied().chain(full.then_some(64)).collect()
}

/// Lints the engine of `kind` (`tag` names it in file names) at every
/// lane count of `lanes`.
fn lint_kind(kind: Kind, tag: &str, lanes: &[usize]) {
    let top = kind.top();
    let dir = std::env::temp_dir().join(format!("seedlm_lint_{}_{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for lanes in lane_counts(lanes) {
        let rtl = generate_kind(&kind, lanes).unwrap();
        let v = dir.join(format!("{top}_{lanes}.v"));
        std::fs::write(&v, &rtl.verilog).unwrap();
        lint(&v, top, &format!("{kind:?} lanes {lanes}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn test_emitted_rtl_is_lint_clean_4bit() {
    lint_kind(Kind::Seedlm(Config::BITS4), "4bit", &[1, 3, 8, 16]);
}

#[test]
fn test_emitted_rtl_is_lint_clean_3bit() {
    lint_kind(Kind::Seedlm(Config::BITS3), "3bit", &[1, 3, 8, 16]);
}

#[test]
fn test_emitted_rtl_is_lint_clean_fp16() {
    lint_kind(Kind::Fp16, "fp16", &[1, 4, 16]);
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
