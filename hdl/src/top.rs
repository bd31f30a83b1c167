//! The emitted design: the rust-hdl engine core plus a thin generated
//! wrapper `seedlm_engine` with flat AXI4-Stream-style ports, and the
//! manifest that `sim/` and `host/` read instead of retyping anything.
//!
//! The FP16 baseline ([`Kind::Fp16`], `gen-rtl --baseline fp16`) is the
//! same engine with FP16 lanes ([`crate::blocks::fp16_lane`]); its top
//! module is `fp16_engine`, with the same ports, CSR map and stream
//! protocol, and the weight layout of [`seedlm::fixed_fp16`].
//!
//! The wrapper exists because rust-hdl names `Vec` ports `blk_word$0`,
//! `blk_word$1`, ...; it packs them into one tile-word bus in the layout of
//! [`seedlm::hw`]. It holds no logic besides wiring.

use crate::blocks::engine::{engine_latency, fp16_engine_latency, SeedlmEngine, ACT_ADDR_BITS};
use crate::blocks::fp16_lane::{fp16_lane_latency, FP16_WORD_BITS};
use crate::blocks::mac_lane::lane_latency;
use crate::blocks::widths::AW;
use crate::{Error, Result};
use rust_hdl::prelude::*;
use seedlm::fixed_fp16::{self as fp16, FP16_C};
use seedlm::{hw, Config};
use serde_json::json;

/// Name of the SeedLM engine's top module.
pub const TOP: &str = "seedlm_engine";
/// Name of the FP16 baseline engine's top module.
pub const FP16_TOP: &str = "fp16_engine";

/// The datapath of an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SeedLM lanes of this (paper) configuration.
    Seedlm(Config),
    /// FP16 baseline lanes, 8 f16 weights per lane ([`seedlm::fixed_fp16`]).
    Fp16,
}

impl Kind {
    /// Name of the top module.
    pub fn top(&self) -> &'static str {
        match self {
            Kind::Seedlm(_) => TOP,
            Kind::Fp16 => FP16_TOP,
        }
    }

    /// Bits of one lane's word (a block word or 8 f16 weights).
    pub fn lane_bits(&self) -> u32 {
        match self {
            Kind::Seedlm(cfg) => cfg.bits_per_block(),
            Kind::Fp16 => FP16_WORD_BITS as u32,
        }
    }

    /// Bits of one tile word for `lanes` lanes.
    pub fn tile_word_bits(&self, lanes: usize) -> u32 {
        match self {
            Kind::Seedlm(cfg) => hw::tile_word_bits(cfg, lanes),
            Kind::Fp16 => fp16::fp16_tile_word_bits(lanes),
        }
    }

    /// Bits of one activation memory word.
    pub fn act_word_bits(&self) -> u32 {
        match self {
            Kind::Seedlm(cfg) => hw::act_word_bits(cfg),
            Kind::Fp16 => fp16::fp16_act_word_bits(),
        }
    }

    /// Columns per lane word (`C`).
    pub fn cols_per_word(&self) -> usize {
        match self {
            Kind::Seedlm(cfg) => cfg.c,
            Kind::Fp16 => FP16_C,
        }
    }

    /// Cycles from a lane word presented to a lane until its accumulator holds it.
    pub fn lane_latency(&self) -> usize {
        match self {
            Kind::Seedlm(cfg) => lane_latency(cfg),
            Kind::Fp16 => fp16_lane_latency(),
        }
    }

    /// Cycles from accepting a tile's last word to its first result.
    pub fn engine_latency(&self) -> usize {
        match self {
            Kind::Seedlm(cfg) => engine_latency(cfg),
            Kind::Fp16 => fp16_engine_latency(),
        }
    }
}

/// One port of the top module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Verilog name.
    pub name: &'static str,
    /// `true` for an input.
    pub input: bool,
    /// Width in bits.
    pub width: u32,
}

/// The generated RTL of one engine.
#[derive(Clone, Debug)]
pub struct Rtl {
    /// Verilog text: the core modules, then the wrapper `seedlm_engine`.
    pub verilog: String,
    /// Machine-readable description (see [`manifest`]).
    pub manifest: serde_json::Value,
}

/// The ports of `seedlm_engine` for `cfg` and `lanes`.
pub fn ports(cfg: &Config, lanes: usize) -> Vec<Port> {
    kind_ports(&Kind::Seedlm(*cfg), lanes)
}

/// The ports of the top module of `kind` with `lanes` lanes.
pub fn kind_ports(kind: &Kind, lanes: usize) -> Vec<Port> {
    let p = |name, input, width| Port { name, input, width };
    vec![
        p("clk", true, 1),
        p("rst", true, 1),
        p("s_blk_tdata", true, kind.tile_word_bits(lanes)),
        p("s_blk_tvalid", true, 1),
        p("s_blk_tready", false, 1),
        p("m_res_tdata", false, hw::RESULT_BITS),
        p("m_res_tvalid", false, 1),
        p("m_res_tready", true, 1),
        p("act_we", true, 1),
        p("act_addr", true, ACT_ADDR_BITS as u32),
        p("act_wdata", true, kind.act_word_bits()),
        p("csr_addr", true, hw::CSR_ADDR_BITS),
        p("csr_wdata", true, 32),
        p("csr_we", true, 1),
        p("csr_re", true, 1),
        p("csr_rdata", false, 32),
        p("csr_rvalid", false, 1),
    ]
}

/// The manifest written beside the Verilog.
pub fn manifest(cfg: &Config, lanes: usize) -> serde_json::Value {
    kind_manifest(&Kind::Seedlm(*cfg), lanes)
}

/// The manifest of the engine of `kind` with `lanes` lanes. `kind` is
/// `"seedlm"` or `"fp16"`; `config` describes the lane word.
pub fn kind_manifest(kind: &Kind, lanes: usize) -> serde_json::Value {
    let (name, config) = match kind {
        Kind::Seedlm(cfg) => (
            "seedlm",
            json!({ "c": cfg.c, "p": cfg.p, "k": cfg.k, "bits_per_block": cfg.bits_per_block() }),
        ),
        Kind::Fp16 => (
            "fp16",
            json!({
                "c": FP16_C, "weight_bits": fp16::FP16_BITS, "bits_per_block": FP16_WORD_BITS,
                "doc": "lane word: 8 consecutive f16 weights of one row, weight i at bits 16i"
            }),
        ),
    };
    json!({
        "top": kind.top(),
        "kind": name,
        "config": config,
        "lanes": lanes,
        "act_addr_bits": ACT_ADDR_BITS,
        "act_depth": 1u32 << ACT_ADDR_BITS,
        "tile_word_bits": kind.tile_word_bits(lanes),
        "act_word_bits": kind.act_word_bits(),
        "result": { "bits": hw::RESULT_BITS, "acc_bits": AW, "row_bits": hw::RESULT_ROW_BITS },
        "latency": {
            "lane": kind.lane_latency(),
            "engine": kind.engine_latency(),
            "doc": "engine: cycles from accepting a tile's last word to its first result"
        },
        "ports": kind_ports(kind, lanes).iter().map(|p| json!({
            "name": p.name, "dir": if p.input { "in" } else { "out" }, "width": p.width
        })).collect::<Vec<_>>(),
        "registers": hw::REGISTERS.iter().map(|r| json!({
            "name": r.name, "offset": r.offset, "writable": r.writable, "doc": r.doc
        })).collect::<Vec<_>>(),
    })
}

/// Emits the engine for `cfg` (one of the paper configurations) and `lanes`.
pub fn generate(cfg: &Config, lanes: usize) -> Result<Rtl> {
    generate_kind(&Kind::Seedlm(*cfg), lanes)
}

/// Emits the engine of `kind` with `lanes` lanes.
pub fn generate_kind(kind: &Kind, lanes: usize) -> Result<Rtl> {
    hw::check_lanes(lanes)?;
    let core_name = format!("{}_core", kind.top());
    let core = match *kind {
        Kind::Seedlm(cfg) => {
            cfg.validate()?;
            match cfg {
                Config::BITS4 => {
                    core_verilog(SeedlmEngine::<32, 128>::new(&cfg, lanes), &core_name)
                }
                Config::BITS3 => {
                    core_verilog(SeedlmEngine::<36, 192>::new(&cfg, lanes), &core_name)
                }
                _ => {
                    return Err(Error::Unsupported(format!(
                        "{cfg}: the RTL supports the two paper configurations"
                    )))
                }
            }
        }
        Kind::Fp16 => core_verilog(SeedlmEngine::<128, 128>::new_fp16(lanes), &core_name),
    };
    // One file holds the whole generated hierarchy, so module names cannot
    // match the file name (Verilator's DECLFILENAME style warning).
    let what = match kind {
        Kind::Seedlm(_) => "SeedLM engine",
        Kind::Fp16 => "FP16 baseline engine",
    };
    let verilog = format!(
        "// {what}, generated by seedlm-hdl (gen-rtl); do not edit.\n\
         /* verilator lint_off DECLFILENAME */\n{core}\n{}",
        wrapper(kind, lanes)
    );
    Ok(Rtl {
        verilog,
        manifest: kind_manifest(kind, lanes),
    })
}

/// The rust-hdl core, its modules renamed from `top*` to `<core>*`.
fn core_verilog<B: Block>(mut uut: B, core: &str) -> String {
    uut.connect_all();
    let text = generate_verilog(&uut);
    let dollar = regex::Regex::new(r"\btop\$").expect("regex");
    let text = dollar.replace_all(&text, format!("{core}$"));
    text.replace("module top(", &format!("module {core}("))
        .replace("endmodule // top\n", &format!("endmodule // {core}\n"))
}

/// The wrapper module (`seedlm_engine` or `fp16_engine`).
fn wrapper(kind: &Kind, lanes: usize) -> String {
    let ports = kind_ports(kind, lanes);
    let decl: Vec<String> = ports
        .iter()
        .map(|p| {
            let dir = if p.input { "input " } else { "output" };
            let range = if p.width > 1 {
                format!("[{}:0] ", p.width - 1)
            } else {
                String::new()
            };
            format!("    {dir} wire {range}{}", p.name)
        })
        .collect();
    let bw = kind.lane_bits() as usize;
    let words: String = (0..lanes)
        .map(|l| {
            format!(
                "        .blk_word${l}(s_blk_tdata[{}:{}]),\n",
                (l + 1) * bw - 1,
                l * bw
            )
        })
        .collect();
    let title = match kind {
        Kind::Seedlm(cfg) => format!("SeedLM engine: C={}, P={}, K={}", cfg.c, cfg.p, cfg.k),
        Kind::Fp16 => format!("FP16 baseline engine: {FP16_C} f16 weights per lane"),
    };
    format!(
        "`default_nettype none\n\
         // {title}, {lanes} lanes. Generated by gen-rtl.\n\
         module {top} (\n{decl}\n);\n\
         \x20   wire [{aw1}:0] res_acc;\n\
         \x20   wire [31:0] res_row;\n\
         \x20   assign m_res_tdata = {{res_row, res_acc}};\n\
         \x20   {top}_core core (\n\
         \x20       .clock(clk),\n\
         \x20       .reset(rst),\n\
         {words}\
         \x20       .blk_valid(s_blk_tvalid),\n\
         \x20       .blk_ready(s_blk_tready),\n\
         \x20       .res_acc(res_acc),\n\
         \x20       .res_row(res_row),\n\
         \x20       .res_valid(m_res_tvalid),\n\
         \x20       .res_ready(m_res_tready),\n\
         \x20       .act_we(act_we),\n\
         \x20       .act_addr(act_addr),\n\
         \x20       .act_data(act_wdata),\n\
         \x20       .csr_addr(csr_addr),\n\
         \x20       .csr_wdata(csr_wdata),\n\
         \x20       .csr_we(csr_we),\n\
         \x20       .csr_re(csr_re),\n\
         \x20       .csr_rdata(csr_rdata),\n\
         \x20       .csr_rvalid(csr_rvalid)\n\
         \x20   );\n\
         endmodule\n\
         `default_nettype wire\n",
        top = kind.top(),
        decl = decl.join(",\n"),
        aw1 = AW - 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_top_manifest_matches_hw() {
        let m = manifest(&Config::BITS4, 16);
        assert_eq!(m["tile_word_bits"], 512);
        assert_eq!(
            m["registers"].as_array().unwrap().len(),
            hw::REGISTERS.len()
        );
        // Stages 0 and 1, the lane (expander, 3 rebuild, 2 multiplier,
        // 3 adder-tree, shifter, accumulator stages), the bank capture.
        assert_eq!(m["latency"]["engine"], 2 + 11 + 1);
        assert!(generate(&Config::new(8, 2, 16).unwrap(), 4).is_err());
        assert!(generate(&Config::BITS4, 0).is_err());
    }

    #[test]
    fn test_top_fp16_manifest() {
        let m = kind_manifest(&Kind::Fp16, 4);
        assert_eq!(m["top"], FP16_TOP);
        assert_eq!(m["kind"], "fp16");
        assert_eq!(m["tile_word_bits"], 512);
        assert_eq!(m["act_word_bits"], hw::act_word_bits(&Config::BITS4));
        assert_eq!(m["latency"]["engine"], fp16_engine_latency());
        assert!(generate_kind(&Kind::Fp16, 65).is_err());
        let rtl = generate_kind(&Kind::Fp16, 1).unwrap();
        assert!(rtl.verilog.contains("module fp16_engine ("));
        assert!(rtl.verilog.contains("module fp16_engine_core("));
        assert!(!rtl.verilog.contains("seedlm_engine"));
    }

    #[test]
    fn test_top_synthesizes() {
        let rtl = generate(&Config::BITS3, 3).unwrap();
        assert!(rtl.verilog.contains("module seedlm_engine ("));
        assert!(!rtl.verilog.contains("module top"));
        let dir = std::env::temp_dir().join("seedlm_engine_top");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("seedlm_engine.v"), &rtl.verilog).unwrap();
        let out = std::process::Command::new("yosys")
            .current_dir(&dir)
            .args(["-q", "-p", "read_verilog seedlm_engine.v; hierarchy -check -top seedlm_engine; proc; check -assert"])
            .output()
            .expect("yosys must be installed (apt-get install -y yosys)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
