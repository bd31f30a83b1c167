//! The emitted accelerator top against its one definition,
//! [`seedlm::hw::shell`]: the module header (ports, parameter) and the
//! register offsets it was built with, parsed back from the Verilog; and
//! `verilator --lint-only -Wall` on the top for both configurations at
//! lanes 1, 3, 8, 16, the FP16 baseline and the other AXI data widths;
//! Yosys reads two of them (`proc; check -assert`), one per tile gearbox
//! direction.

use seedlm::hw::shell::{self as sh, Dir, Port};
use seedlm::hw::{self, Register};
use seedlm::Config;
use seedlm_hdl::shell::{accel_top, generate_accel, AccelOptions};
use seedlm_hdl::top::Kind;
use std::process::Command;

/// `(name, dir, width)` of every port in the header of module `top`.
fn parse_ports(verilog: &str, top: &str) -> Result<Vec<(String, Dir, u32)>, String> {
    let start = verilog
        .find(&format!("module {top} #("))
        .ok_or(format!("no module {top}"))?;
    let body = &verilog[start..];
    let open = body.find(") (\n").ok_or("no port list")? + 4;
    let close = body[open..].find("\n);").ok_or("unclosed port list")? + open;
    let re = regex::Regex::new(r"^\s*(input|output)\s+wire\s+(?:\[(\d+):0\]\s+)?(\w+),?$").unwrap();
    body[open..close]
        .lines()
        .map(|l| {
            let c = re.captures(l).ok_or(format!("bad port line `{l}`"))?;
            let dir = if &c[1] == "input" { Dir::In } else { Dir::Out };
            let width = c
                .get(2)
                .map_or(1, |m| m.as_str().parse::<u32>().unwrap() + 1);
            Ok((c[3].to_string(), dir, width))
        })
        .collect()
}

/// The value of `localparam [..] NAME = W'dV;` in the text.
fn localparam(verilog: &str, name: &str) -> Option<u64> {
    let re = regex::Regex::new(&format!(r"localparam \[\d+:0\] {name} = \d+'d(\d+);")).unwrap();
    re.captures(verilog).map(|c| c[1].parse().unwrap())
}

/// Checks the emitted header and register offsets against `seedlm::hw`.
fn check_parity(verilog: &str, top: &str, opts: &AccelOptions) -> Result<(), String> {
    let want: Vec<(String, Dir, u32)> = sh::accel_ports(opts.axi_data_bits)
        .into_iter()
        .map(|Port { name, dir, width }| (name.to_string(), dir, width))
        .collect();
    let got = parse_ports(verilog, top)?;
    if got != want {
        return Err(format!("ports differ:\n got {got:?}\nwant {want:?}"));
    }
    let mem = format!("parameter [63:0] MEM_BYTES = 64'd{}", opts.mem_bytes);
    if !verilog.contains(&mem) {
        return Err(format!("no `{mem}`"));
    }
    let regs: Vec<&Register> = hw::REGISTERS
        .iter()
        .chain(sh::SHELL_REGISTERS.iter())
        .collect();
    for r in regs {
        let name = format!("R_{}", r.name);
        if localparam(verilog, &name) != Some(r.offset as u64) {
            return Err(format!("{name} is not {:#x}", r.offset));
        }
    }
    for (bit, name, _) in sh::SHELL_ERROR_FLAGS {
        if name == "TIMEOUT" {
            continue; // software shells only
        }
        if localparam(verilog, &format!("E_{name}")) != Some(bit as u64) {
            return Err(format!("E_{name} is not {bit:#x}"));
        }
    }
    Ok(())
}

/// `verilator --lint-only -Wall` on `verilog` prints nothing.
fn lint(verilog: &str, top: &str, what: &str) {
    let dir = tempdir(what);
    let v = dir.join(format!("{top}.v"));
    std::fs::write(&v, verilog).unwrap();
    let out = Command::new("verilator")
        .args(["--lint-only", "-Wall", "--top-module", top])
        .arg(&v)
        .output()
        .expect("verilator must be installed (apt-get install -y verilator)");
    std::fs::remove_dir_all(&dir).unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "{what}:\n{text}"
    );
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let tag: String = what.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let dir = std::env::temp_dir().join(format!("seedlm_accel_{}_{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every configuration the test covers: `(kind, lanes, options)`.
fn configs() -> Vec<(Kind, usize, AccelOptions)> {
    let mut out = Vec::new();
    for cfg in [Config::BITS4, Config::BITS3] {
        for lanes in [1, 3, 8, 16] {
            out.push((Kind::Seedlm(cfg), lanes, AccelOptions::default()));
        }
    }
    for axi_data_bits in [256, 1024] {
        let opts = AccelOptions {
            axi_data_bits,
            mem_bytes: 1 << 30,
        };
        out.push((Kind::Seedlm(Config::BITS3), 16, opts));
    }
    out.push((Kind::Fp16, 4, AccelOptions::default()));
    out
}

#[test]
fn test_accel_header_matches_hw_and_lints_clean() {
    for (kind, lanes, opts) in configs() {
        let rtl = generate_accel(&kind, lanes, &opts).unwrap();
        let top = accel_top(&kind);
        let what = format!("{top} {kind:?} lanes {lanes} axi {}", opts.axi_data_bits);
        check_parity(&rtl.verilog, top, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(rtl.manifest["top"], top);
        assert_eq!(
            rtl.manifest["ports"].as_array().unwrap().len(),
            sh::accel_ports(opts.axi_data_bits).len()
        );
        lint(&rtl.verilog, top, &what);
    }
}

#[test]
fn test_accel_parity_check_catches_drift() {
    let opts = AccelOptions::default();
    let rtl = generate_accel(&Kind::Seedlm(Config::BITS4), 1, &opts).unwrap();
    let top = sh::ACCEL_TOP;
    assert_eq!(check_parity(&rtl.verilog, top, &opts), Ok(()));
    let drifted = [
        rtl.verilog
            .replace("[511:0] m_axi_rdata", "[255:0] m_axi_rdata"),
        rtl.verilog.replace("output wire irq", "input  wire irq"),
        rtl.verilog.replace("R_BATCH = 9'd", "R_BATCH = 9'd1"),
        rtl.verilog.replace("E_ALIGN = 32'd", "E_ALIGN = 32'd1"),
        rtl.verilog.replace("input  wire aresetn,\n", ""),
    ];
    for (k, v) in drifted.iter().enumerate() {
        assert_ne!(v, &rtl.verilog, "mutation {k} did not apply");
        assert!(
            check_parity(v, top, &opts).is_err(),
            "mutation {k} not caught"
        );
    }
    let other = AccelOptions {
        mem_bytes: 4096,
        ..opts
    };
    assert!(check_parity(&rtl.verilog, top, &other).is_err());
}

#[test]
fn test_accel_synthesizes() {
    for (kind, lanes, axi_data_bits) in [
        (Kind::Seedlm(Config::BITS4), 1, 512), // 8 tile words per beat
        (Kind::Seedlm(Config::BITS3), 8, 256), // 2 beats per tile word
    ] {
        let opts = AccelOptions {
            axi_data_bits,
            ..Default::default()
        };
        let rtl = generate_accel(&kind, lanes, &opts).unwrap();
        let dir = tempdir(&format!("yosys{lanes}"));
        std::fs::write(dir.join("accel.v"), &rtl.verilog).unwrap();
        let script = format!(
            "read_verilog accel.v; hierarchy -check -top {}; proc; check -assert",
            sh::ACCEL_TOP
        );
        let out = Command::new("yosys")
            .current_dir(&dir)
            .args(["-q", "-p", &script])
            .output()
            .expect("yosys must be installed (apt-get install -y yosys)");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            out.status.success(),
            "{kind:?} x{lanes}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
