//! Builds the models the simulator offers: the engines alone
//! (`seedlm_engine`, `fp16_engine`, from `seedlm_hdl::top::generate_kind`)
//! and the whole accelerators (`seedlm_accel`, `fp16_accel`, from
//! `seedlm_hdl::shell::generate_accel`), the same code as `gen-rtl`.
//! Verilator turns each into C++, and a small generated C++ harness
//! exposes `new`/`free`/`tick` over the C ABI. Everything is compiled into
//! one static library with the `cc` crate.
//!
//! Why a C++ harness over FFI rather than the `marlin` crate: it needs
//! nothing but Verilator and a C++ compiler, builds offline, and the
//! harness is generated from the same port list as the Verilog top, so the
//! two cannot drift.

use seedlm::hw::shell::{self as sh, Dir};
use seedlm_hdl::shell::{accel_top, generate_accel, AccelOptions};
use seedlm_hdl::top::{generate_kind, kind_ports, Kind};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The engine-only models, `(bits per weight, lanes)`; 16 bits is the FP16
/// baseline. Each costs build minutes on a small machine, and the
/// accelerators below run the same engine inside the shell, so only what
/// the engine's own tests and the benchmark use: 1 lane (every word a
/// tile's first and last), 3-bit at 3 lanes (ragged tiles, CSR errors),
/// 4-bit at 16 and 3-bit at 14 lanes (512 and 504 of 512 bits, benchmark),
/// FP16 at 4 lanes (the benchmark's baseline).
const ENGINES: [(u32, usize); 5] = [(4, 1), (4, 16), (3, 3), (3, 14), (16, 4)];

/// The accelerator models (engine + shell), `(bits per weight, lanes)`,
/// co-simulated against `emu`: 1 lane, ragged tiles (3-bit at 3 lanes), a
/// tile word narrower than a beat (4-bit at 8), exactly one beat (4-bit at
/// 16: 512 bits) and wider than a beat (3-bit at 16: 576 bits, two beats
/// per word); FP16 at 4 lanes, the benchmark's baseline behind the same
/// shell.
const ACCELS: [(u32, usize); 6] = [(4, 1), (4, 8), (4, 16), (3, 3), (3, 16), (16, 4)];

/// With `SEEDLM_SIM_FULL=1`, the other accelerators of lanes 1, 3, 8 and 16
/// of both configurations (the co-simulation then covers all eight; three
/// more models, several minutes more on 2 cores).
const ACCELS_FULL: [(u32, usize); 3] = [(4, 3), (3, 1), (3, 8)];

/// Device memory of the simulated accelerators (MEM_SIZE): 4 GiB, the
/// host's default for its software devices; the harness's memory is
/// allocated lazily, so unused space costs nothing.
const ACCEL_MEM_BYTES: u64 = 4 << 30;

/// One model to build.
#[derive(Clone, Copy, Debug)]
struct Variant {
    bits: u32,
    lanes: usize,
    accel: bool,
}

impl Variant {
    /// Name of its C ABI symbols and build directory.
    fn name(&self) -> String {
        let what = if self.accel { "accel_" } else { "" };
        format!("{what}b{}_l{}", self.bits, self.lanes)
    }

    fn kind(&self) -> Kind {
        match self.bits {
            16 => Kind::Fp16,
            b => Kind::Seedlm(seedlm::Config::for_bits(b).unwrap()),
        }
    }

    fn data_bits(&self) -> u32 {
        if self.accel {
            sh::DEFAULT_AXI_DATA_BITS
        } else {
            0
        }
    }

    /// Top module name, Verilog text, clock port and the other ports as
    /// `(name, input, width)`.
    fn generate(
        &self,
    ) -> (
        &'static str,
        String,
        &'static str,
        Vec<(&'static str, bool, u32)>,
    ) {
        let kind = self.kind();
        if self.accel {
            let opts = AccelOptions {
                axi_data_bits: self.data_bits(),
                mem_bytes: ACCEL_MEM_BYTES,
            };
            let rtl = generate_accel(&kind, self.lanes, &opts).expect("accelerator generation");
            let ports = sh::accel_ports(opts.axi_data_bits)
                .into_iter()
                .filter(|p| p.name != "aclk")
                .map(|p| (p.name, p.dir == Dir::In, p.width))
                .collect();
            (accel_top(&kind), rtl.verilog, "aclk", ports)
        } else {
            let rtl = generate_kind(&kind, self.lanes).expect("engine generation");
            let ports = kind_ports(&kind, self.lanes)
                .into_iter()
                .filter(|p| p.name != "clk")
                .map(|p| (p.name, p.input, p.width))
                .collect();
            (kind.top(), rtl.verilog, "clk", ports)
        }
    }
}

/// [`ENGINES`] and [`ACCELS`] (and [`ACCELS_FULL`] with `SEEDLM_SIM_FULL=1`),
/// or for quicker builds while developing only
/// those named in `SEEDLM_SIM_VARIANTS` (comma-separated `b<bits>_l<lanes>`
/// for engines, `accel_b<bits>_l<lanes>` for accelerators; tests that need
/// another model then fail with `NoModel`).
fn variants() -> Vec<Variant> {
    println!("cargo:rerun-if-env-changed=SEEDLM_SIM_VARIANTS");
    let only = std::env::var("SEEDLM_SIM_VARIANTS").ok();
    let engines = ENGINES.iter().map(|&(bits, lanes)| Variant {
        bits,
        lanes,
        accel: false,
    });
    println!("cargo:rerun-if-env-changed=SEEDLM_SIM_FULL");
    let full = std::env::var("SEEDLM_SIM_FULL").is_ok_and(|v| v == "1");
    let extra = if full { &ACCELS_FULL[..] } else { &[] };
    let accels = ACCELS.iter().chain(extra).map(|&(bits, lanes)| Variant {
        bits,
        lanes,
        accel: true,
    });
    engines
        .chain(accels)
        .filter(|v| {
            only.as_ref()
                .is_none_or(|o| o.split(',').any(|n| n.trim() == v.name()))
        })
        .collect()
}

/// Whether this run only type-checks: `cargo clippy` runs build scripts
/// again, in an output directory of their own (its
/// `RUSTC_WORKSPACE_WRAPPER` changes their fingerprint), but never links.
/// It gets the declarations without the models, so clippy does not
/// rebuild every model a second time.
///
/// `SEEDLM_SIM_NO_MODELS=1` asks for the same explicitly: `cargo doc`
/// resolves features without dev-dependencies, so it runs this script
/// again in a directory of its own, and the documentation needs no model.
fn check_only() -> bool {
    println!("cargo:rerun-if-env-changed=SEEDLM_SIM_NO_MODELS");
    std::env::var_os("SEEDLM_SIM_NO_MODELS").is_some_and(|v| v == "1")
        || std::env::var_os("RUSTC_WORKSPACE_WRAPPER").is_some_and(|w| {
            Path::new(&w)
                .file_stem()
                .is_some_and(|s| s.to_string_lossy().starts_with("clippy-driver"))
        })
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VERILATOR_ROOT");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let variants = variants();
    let mut rust = String::new();
    let mut table = String::new();
    for v in &variants {
        let name = v.name();
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
            "    RawVariant {{ bits: {}, lanes: {}, accel: {}, data_bits: {}, \
                 new: seedlm_sim_{name}_new, free: seedlm_sim_{name}_free, \
                 tick: seedlm_sim_{name}_tick }},",
            v.bits,
            v.lanes,
            v.accel,
            v.data_bits()
        )
        .unwrap();
    }
    std::fs::write(
        out.join("variants.rs"),
        format!("extern \"C\" {{\n{rust}}}\n\n/// Every compiled variant.\npub(crate) static VARIANTS: &[RawVariant] = &[\n{table}];\n"),
    )
    .unwrap();
    if !check_only() {
        build_models(&out, &variants);
    }
}

/// Verilates every variant and compiles the models and their harnesses
/// into one static library.
fn build_models(out: &Path, variants: &[Variant]) {
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
    // Verilator is single-threaded: run one per core.
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dirs: Vec<(Variant, PathBuf, String)> = std::thread::scope(|s| {
        let mut done = Vec::new();
        for chunk in variants.chunks(jobs) {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&v| {
                    s.spawn(move || {
                        let name = v.name();
                        let dir = out.join(&name);
                        std::fs::create_dir_all(&dir).unwrap();
                        let (top, verilog, clock, ports) = v.generate();
                        let file = dir.join(format!("{top}.v"));
                        std::fs::write(&file, verilog).unwrap();
                        verilate(&file, &dir, &name, top);
                        let harness = harness_cpp(&name, clock, &ports);
                        (v, dir, harness)
                    })
                })
                .collect();
            done.extend(handles.into_iter().map(|h| h.join().unwrap()));
        }
        done
    });
    for (v, dir, harness) in dirs {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "cpp") {
                build.file(p);
            }
        }
        let file = dir.join(format!("harness_{}.cpp", v.name()));
        std::fs::write(&file, harness).unwrap();
        build.file(file).include(&dir);
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

/// 32-bit words of a port of `width` bits in the flat tick buffers.
fn words(width: u32) -> usize {
    width.div_ceil(32) as usize
}

/// The C++ harness of model `name`: clock port `clock`, the other ports
/// `(name, input, width)` in buffer order.
fn harness_cpp(name: &str, clock: &str, ports: &[(&str, bool, u32)]) -> String {
    let (mut set, mut get) = (String::new(), String::new());
    let (mut io, mut oo) = (0usize, 0usize);
    for &(n, input, width) in ports {
        let (buf, off) = if input {
            ("in", &mut io)
        } else {
            ("out", &mut oo)
        };
        let o = *off;
        let code = match (input, width) {
            (true, 1..=32) => format!("  m->{n} = {buf}[{o}];\n"),
            (true, 33..=64) => format!(
                "  m->{n} = (uint64_t){buf}[{o}] | ((uint64_t){buf}[{}] << 32);\n",
                o + 1
            ),
            (true, _) => format!(
                "  for (int k = 0; k < {}; k++) m->{n}[k] = {buf}[{o} + k];\n",
                words(width)
            ),
            (false, 1..=32) => format!("  {buf}[{o}] = m->{n};\n"),
            (false, 33..=64) => format!(
                "  {buf}[{o}] = (uint32_t)m->{n}; {buf}[{}] = (uint32_t)(m->{n} >> 32);\n",
                o + 1
            ),
            (false, _) => format!(
                "  for (int k = 0; k < {}; k++) {buf}[{o} + k] = m->{n}[k];\n",
                words(width)
            ),
        };
        if input {
            set += &code
        } else {
            get += &code
        }
        *off += words(width);
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
  h->m->{clock} = 0;
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
{set}  m->{clock} = 0;
  m->eval();
  if (h->vcd) h->vcd->dump(h->t);
  h->t++;
{get}  m->{clock} = 1;
  m->eval();
  if (h->vcd) h->vcd->dump(h->t);
  h->t++;
}}
"#
    )
}
