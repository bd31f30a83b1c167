//! The emitted design: the rust-hdl engine core plus a thin generated
//! wrapper `seedlm_engine` with flat AXI4-Stream-style ports, and the
//! manifest that `sim/` and `host/` read instead of retyping anything.
//!
//! The wrapper exists because rust-hdl names `Vec` ports `blk_word$0`,
//! `blk_word$1`, ...; it packs them into one tile-word bus in the layout of
//! [`seedlm::hw`]. It holds no logic besides wiring.

use crate::blocks::engine::{engine_latency, SeedlmEngine, ACT_ADDR_BITS};
use crate::blocks::mac_lane::{lane_latency, AW};
use crate::{Error, Result};
use rust_hdl::prelude::*;
use seedlm::{hw, Config};
use serde_json::json;

/// Name of the top module.
pub const TOP: &str = "seedlm_engine";

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
    let p = |name, input, width| Port { name, input, width };
    vec![
        p("clk", true, 1),
        p("rst", true, 1),
        p("s_blk_tdata", true, hw::tile_word_bits(cfg, lanes)),
        p("s_blk_tvalid", true, 1),
        p("s_blk_tready", false, 1),
        p("m_res_tdata", false, hw::RESULT_BITS),
        p("m_res_tvalid", false, 1),
        p("m_res_tready", true, 1),
        p("act_we", true, 1),
        p("act_addr", true, ACT_ADDR_BITS as u32),
        p("act_wdata", true, hw::act_word_bits(cfg)),
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
    json!({
        "top": TOP,
        "config": { "c": cfg.c, "p": cfg.p, "k": cfg.k, "bits_per_block": cfg.bits_per_block() },
        "lanes": lanes,
        "act_addr_bits": ACT_ADDR_BITS,
        "act_depth": 1u32 << ACT_ADDR_BITS,
        "tile_word_bits": hw::tile_word_bits(cfg, lanes),
        "act_word_bits": hw::act_word_bits(cfg),
        "result": { "bits": hw::RESULT_BITS, "acc_bits": AW, "row_bits": hw::RESULT_ROW_BITS },
        "latency": {
            "lane": lane_latency(cfg),
            "engine": engine_latency(cfg),
            "doc": "engine: cycles from accepting a tile's last word to its first result"
        },
        "ports": ports(cfg, lanes).iter().map(|p| json!({
            "name": p.name, "dir": if p.input { "in" } else { "out" }, "width": p.width
        })).collect::<Vec<_>>(),
        "registers": hw::REGISTERS.iter().map(|r| json!({
            "name": r.name, "offset": r.offset, "writable": r.writable, "doc": r.doc
        })).collect::<Vec<_>>(),
    })
}

/// Emits the engine for `cfg` (one of the paper configurations) and `lanes`.
pub fn generate(cfg: &Config, lanes: usize) -> Result<Rtl> {
    cfg.validate()?;
    hw::check_lanes(lanes)?;
    let core = match *cfg {
        Config::BITS4 => core_verilog::<32, 128>(cfg, lanes),
        Config::BITS3 => core_verilog::<36, 192>(cfg, lanes),
        _ => {
            return Err(Error::Unsupported(format!(
                "{cfg}: the RTL supports the two paper configurations"
            )))
        }
    };
    let verilog = format!("{core}\n{}", wrapper(cfg, lanes));
    Ok(Rtl {
        verilog,
        manifest: manifest(cfg, lanes),
    })
}

/// The rust-hdl core, its modules renamed from `top*` to `seedlm_engine_core*`.
fn core_verilog<const BW: usize, const XW: usize>(cfg: &Config, lanes: usize) -> String {
    let mut uut = SeedlmEngine::<BW, XW>::new(cfg, lanes);
    uut.connect_all();
    let text = generate_verilog(&uut);
    let dollar = regex::Regex::new(r"\btop\$").expect("regex");
    let text = dollar.replace_all(&text, "seedlm_engine_core$");
    text.replace("module top(", "module seedlm_engine_core(")
        .replace("endmodule // top\n", "endmodule // seedlm_engine_core\n")
}

/// The wrapper module `seedlm_engine`.
fn wrapper(cfg: &Config, lanes: usize) -> String {
    let ports = ports(cfg, lanes);
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
    let bw = cfg.bits_per_block() as usize;
    let words: String = (0..lanes)
        .map(|l| {
            format!(
                "        .blk_word${l}(s_blk_tdata[{}:{}]),\n",
                (l + 1) * bw - 1,
                l * bw
            )
        })
        .collect();
    format!(
        "`default_nettype none\n\
         // SeedLM engine: C={c}, P={p}, K={k}, {lanes} lanes. Generated by gen-rtl.\n\
         module {TOP} (\n{decl}\n);\n\
         \x20   wire [{aw1}:0] res_acc;\n\
         \x20   wire [31:0] res_row;\n\
         \x20   assign m_res_tdata = {{res_row, res_acc}};\n\
         \x20   seedlm_engine_core core (\n\
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
        c = cfg.c,
        p = cfg.p,
        k = cfg.k,
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
        assert_eq!(m["latency"]["engine"], 12);
        assert!(generate(&Config::new(8, 2, 16).unwrap(), 4).is_err());
        assert!(generate(&Config::BITS4, 0).is_err());
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
