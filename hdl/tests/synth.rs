//! Synthesis check of the generated engine with Yosys `synth_xilinx` (no
//! place and route): no latch anywhere, exactly `C` DSPs per lane (the
//! activation products), and none in the weight rebuild (the coefficient
//! products `u·q`, shift-and-add in LUTs). A small configuration (4-bit,
//! 1 lane) keeps it cheap; `bitstreams/synth.sh` runs every configuration.
//! Each check is first shown to fail on a small module that breaks it.

use seedlm::Config;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Cell counts and the log of one Yosys run.
struct Synth {
    cells: BTreeMap<String, u64>,
    log: String,
}

impl Synth {
    fn count(&self, cell: &str) -> u64 {
        self.cells.get(cell).copied().unwrap_or(0)
    }

    /// Latch cells (Xilinx LDCE/LDPE, generic `$_DLATCH_*`) or a latch
    /// reported by `proc_dlatch`.
    fn latches(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .cells
            .keys()
            .filter(|c| c.starts_with("LD") || c.contains("DLATCH"))
            .cloned()
            .collect();
        found.extend(
            self.log
                .lines()
                .filter(|l| l.contains("Latch inferred"))
                .map(|l| l.trim().to_string()),
        );
        found
    }

    fn dsps(&self) -> u64 {
        self.count("DSP48E1")
    }
}

/// Synthesizes module `top` of `verilog` for Xilinx 7-series (`hierarchy
/// -top` first, so a submodule can be checked alone).
fn synth_xilinx(verilog: &str, top: &str, dir: &Path) -> Synth {
    let src = dir.join("design.v");
    let stat = dir.join("stat.txt");
    std::fs::write(&src, verilog).unwrap();
    let script = format!(
        "read_verilog {}; hierarchy -top {top}; synth_xilinx -flatten; tee -q -o {} stat",
        src.display(),
        stat.display()
    );
    let out = Command::new("yosys")
        .args(["-p", &script])
        .output()
        .expect("yosys on PATH (scripts/setup.sh installs it)");
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "yosys failed on {top}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    // Cell lines of `stat`: "     LUT6     559" (type, then count) in
    // Debian's Yosys 0.23, "      559   LUT6" in newer ones.
    let mut cells = BTreeMap::new();
    for line in std::fs::read_to_string(&stat).unwrap().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (name, n) = match f[..] {
            [a, b] if b.parse::<u64>().is_ok() => (a, b),
            [a, b] if a.parse::<u64>().is_ok() => (b, a),
            _ => continue,
        };
        *cells.entry(name.to_string()).or_insert(0) += n.parse::<u64>().unwrap();
    }
    Synth { cells, log }
}

/// The checks the test makes of a netlist: no latch, `want_dsps` DSPs.
fn check(s: &Synth, want_dsps: u64) -> Result<(), String> {
    let latches = s.latches();
    if !latches.is_empty() {
        return Err(format!("latches: {latches:?}"));
    }
    if s.dsps() != want_dsps {
        return Err(format!("{} DSPs, want {want_dsps}", s.dsps()));
    }
    Ok(())
}

#[test]
fn checks_catch_a_latch_and_a_multiplier() {
    let dir = tempfile::tempdir().unwrap();
    let latch = "module l(input en, input [3:0] d, output reg [3:0] q);\n\
                 always @* if (en) q = d;\nendmodule\n";
    let err = check(&synth_xilinx(latch, "l", dir.path()), 0).unwrap_err();
    assert!(err.contains("latch"), "{err}");
    // A 21 x 16 coefficient product written as `*` maps to a DSP.
    let mul = "module m(input clk, input signed [20:0] a, input signed [15:0] b,\n\
               output reg signed [36:0] p);\n\
               always @(posedge clk) p <= a * b;\nendmodule\n";
    let err = check(&synth_xilinx(mul, "m", dir.path()), 0).unwrap_err();
    assert!(err.contains("1 DSPs"), "{err}");
}

#[test]
fn engine_has_no_latch_and_dsps_only_in_the_activation_products() {
    let cfg = Config::BITS4;
    let rtl = seedlm_hdl::top::generate(&cfg, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = synth_xilinx(&rtl.verilog, seedlm_hdl::top::TOP, dir.path());
    check(&engine, cfg.c as u64).unwrap();
    // The rebuild module of lane 0 alone (rust-hdl's hierarchical name).
    let rebuild = synth_xilinx(
        &rtl.verilog,
        &format!("\\{}_core$lanes$0$rebuild", seedlm_hdl::top::TOP),
        dir.path(),
    );
    assert!(rebuild.count("LUT6") + rebuild.count("CARRY4") > 0);
    check(&rebuild, 0).unwrap();
}
