//! Builds the engine variants the simulator offers: for each (bits, lanes)
//! the Verilog comes from `seedlm_hdl::top::generate_kind` (the same code as
//! `gen-rtl`), Verilator turns it into C++, and a small generated C++
//! harness exposes `new`/`free`/`tick` over the C ABI. Everything is
//! compiled into one static library with the `cc` crate.
//!
//! Why a C++ harness over FFI rather than the `marlin` crate: it needs
//! nothing but Verilator and a C++ compiler, builds offline, and the
//! harness is generated from the same port list as the Verilog wrapper,
//! so the two cannot drift.

use seedlm_hdl::top::{generate_kind, kind_ports, Kind, Port};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variants compiled in, `(bits per weight, lanes)`; 16 bits is the FP16
/// baseline. Each costs build minutes on a small machine, so only what the
/// tests and the benchmark use: both paper configurations at lanes 1, 3, 8,
/// 16 (randomized tests), 3-bit at 14 lanes (504 of 512 bits, benchmark),
/// FP16 at 4 lanes (512 bits, benchmark and tests) and 1 lane (tests).
const VARIANTS: [(u32, usize); 11] = [
    (4, 1),
    (4, 3),
    (4, 8),
    (4, 16),
    (3, 1),
    (3, 3),
    (3, 8),
    (3, 14),
    (3, 16),
    (16, 1),
    (16, 4),
];

/// [`VARIANTS`], or for quicker builds while developing only those named
/// in `SEEDLM_SIM_VARIANTS` (comma-separated `b<bits>_l<lanes>`; tests that
/// need another variant then fail with `NoModel`).
fn variants() -> Vec<(u32, usize)> {
    println!("cargo:rerun-if-env-changed=SEEDLM_SIM_VARIANTS");
    let only = std::env::var("SEEDLM_SIM_VARIANTS").ok();
    VARIANTS
        .into_iter()
        .filter(|(b, l)| {
            only.as_ref()
                .is_none_or(|o| o.split(',').any(|n| n.trim() == format!("b{b}_l{l}")))
        })
        .collect()
}

/// Whether this run only type-checks: `cargo clippy` runs build scripts
/// again, in an output directory of their own (its
/// `RUSTC_WORKSPACE_WRAPPER` changes their fingerprint), but never links.
/// It gets the declarations without the models, so clippy does not
/// rebuild every model a second time.
fn check_only() -> bool {
    std::env::var_os("RUSTC_WORKSPACE_WRAPPER").is_some_and(|w| {
        Path::new(&w)
            .file_stem()
            .is_some_and(|s| s.to_string_lossy().starts_with("clippy-driver"))
    })
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VERILATOR_ROOT");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut rust = String::new();
    let mut table = String::new();
    for (bits, lanes) in variants() {
        let name = format!("b{bits}_l{lanes}");
        writeln!(
            rust,
            "    fn seedlm_sim_{name}_new(vcd: *const c_char) -> *mut c_void;"
        )
        .unwrap();
        writeln!(rust, "    fn seedlm_sim_{name}_free(h: *mut c_void);").unwrap();
        writeln!(
            rust,
            "    fn seedlm_sim_{name}_tick(h: *mut c_void, i: *const u32, o: *mut u32);"
        )
        .unwrap();
        writeln!(
            table,
            "    RawVariant {{ bits: {bits}, lanes: {lanes}, new: seedlm_sim_{name}_new, \
                 free: seedlm_sim_{name}_free, tick: seedlm_sim_{name}_tick }},"
        )
        .unwrap();
    }
    std::fs::write(
        out.join("variants.rs"),
        format!("extern \"C\" {{\n{rust}}}\n\n/// Every compiled variant.\npub(crate) static VARIANTS: &[RawVariant] = &[\n{table}];\n"),
    )
    .unwrap();
    if !check_only() {
        build_models(&out);
    }
}

/// Verilates every variant and compiles the models and their harnesses
/// into one static library.
fn build_models(out: &Path) {
    let version = Command::new("verilator").arg("--version").output();
    let version = match version {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => panic!(
            "seedlm-sim needs Verilator 5.x on PATH to build the engine models \
             (Debian/Ubuntu: apt-get update && apt-get install -y verilator yosys)"
        ),
    };
    assert!(
        version.starts_with("Verilator 5"),
        "seedlm-sim needs Verilator 5.x, found `{version}`"
    );
    let root = String::from_utf8(
        Command::new("verilator")
            .args(["--getenv", "VERILATOR_ROOT"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let root = PathBuf::from(root.trim());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .flag_if_supported("-std=c++17")
        .opt_level(1)
        .debug(false)
        .warnings(false)
        .flag_if_supported("-w")
        .define("VM_TRACE", "1")
        .define("VM_COVERAGE", "0")
        .define("VM_SC", "0")
        .include(root.join("include"))
        .include(root.join("include/vltstd"));
    for f in [
        "verilated.cpp",
        "verilated_vcd_c.cpp",
        "verilated_threads.cpp",
    ] {
        build.file(root.join("include").join(f));
    }
    for (bits, lanes) in variants() {
        let name = format!("b{bits}_l{lanes}");
        let kind = match bits {
            16 => Kind::Fp16,
            _ => Kind::Seedlm(seedlm::Config::for_bits(bits).unwrap()),
        };
        let dir = out.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let rtl = generate_kind(&kind, lanes).expect("engine generation");
        let v = dir.join(format!("{}.v", kind.top()));
        std::fs::write(&v, &rtl.verilog).unwrap();
        verilate(&v, &dir, &name, kind.top());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "cpp") {
                build.file(p);
            }
        }
        let harness = dir.join(format!("harness_{name}.cpp"));
        std::fs::write(&harness, harness_cpp(&name, &kind_ports(&kind, lanes))).unwrap();
        build.file(harness).include(&dir);
    }
    build.compile("seedlm_sim_models");
    println!("cargo:rustc-link-lib=stdc++");
}

fn verilate(v: &Path, dir: &Path, name: &str, top: &str) {
    let status = Command::new("verilator")
        .args([
            "--cc",
            "--trace",
            "-O3",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
        ])
        .args(["--top-module", top, "--prefix"])
        .arg(format!("V{name}"))
        .arg("-Mdir")
        .arg(dir)
        .arg(v)
        .status()
        .expect("failed to run verilator");
    assert!(status.success(), "verilator failed on {}", v.display());
}

/// 32-bit words of a port in the flat tick buffers.
fn words(p: &Port) -> usize {
    p.width.div_ceil(32) as usize
}

fn harness_cpp(name: &str, ports: &[Port]) -> String {
    let (mut set, mut get) = (String::new(), String::new());
    let (mut io, mut oo) = (0usize, 0usize);
    for p in ports.iter().filter(|p| p.name != "clk") {
        let n = p.name;
        let (buf, off) = if p.input {
            ("in", &mut io)
        } else {
            ("out", &mut oo)
        };
        let o = *off;
        let code = match (p.input, p.width) {
            (true, 1..=32) => format!("  m->{n} = {buf}[{o}];\n"),
            (true, 33..=64) => format!(
                "  m->{n} = (uint64_t){buf}[{o}] | ((uint64_t){buf}[{}] << 32);\n",
                o + 1
            ),
            (true, _) => format!(
                "  for (int k = 0; k < {}; k++) m->{n}[k] = {buf}[{o} + k];\n",
                words(p)
            ),
            (false, 1..=32) => format!("  {buf}[{o}] = m->{n};\n"),
            (false, 33..=64) => format!(
                "  {buf}[{o}] = (uint32_t)m->{n}; {buf}[{}] = (uint32_t)(m->{n} >> 32);\n",
                o + 1
            ),
            (false, _) => format!(
                "  for (int k = 0; k < {}; k++) {buf}[{o} + k] = m->{n}[k];\n",
                words(p)
            ),
        };
        if p.input {
            set += &code
        } else {
            get += &code
        }
        *off += words(p);
    }
    format!(
        r#"// Generated by seedlm-sim's build.rs for variant {name}.
#include <cstdint>
#include "V{name}.h"
#include "verilated.h"
#include "verilated_vcd_c.h"

namespace {{
struct Handle {{
  VerilatedContext* ctx;
  V{name}* m;
  VerilatedVcdC* vcd;
  uint64_t t;
}};
}}

extern "C" void* seedlm_sim_{name}_new(const char* vcd) {{
  Handle* h = new Handle;
  h->ctx = new VerilatedContext;
  h->vcd = nullptr;
  h->t = 0;
  if (vcd) h->ctx->traceEverOn(true);
  h->m = new V{name}{{h->ctx}};
  if (vcd) {{
    h->vcd = new VerilatedVcdC;
    h->m->trace(h->vcd, 99);
    h->vcd->open(vcd);
  }}
  h->m->clk = 0;
  h->m->eval();
  return h;
}}

extern "C" void seedlm_sim_{name}_free(void* p) {{
  Handle* h = static_cast<Handle*>(p);
  if (h->vcd) {{
    h->vcd->close();
    delete h->vcd;
  }}
  h->m->final();
  delete h->m;
  delete h->ctx;
  delete h;
}}

// Applies the inputs, settles with the clock low, samples the outputs,
// then raises the clock (one rising edge per call).
extern "C" void seedlm_sim_{name}_tick(void* p, const uint32_t* in, uint32_t* out) {{
  Handle* h = static_cast<Handle*>(p);
  V{name}* m = h->m;
{set}  m->clk = 0;
  m->eval();
  if (h->vcd) h->vcd->dump(h->t);
  h->t++;
{get}  m->clk = 1;
  m->eval();
  if (h->vcd) h->vcd->dump(h->t);
  h->t++;
}}
"#
    )
}
