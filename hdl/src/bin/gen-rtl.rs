//! `gen-rtl`: writes the SeedLM engine's (or the FP16 baseline's) Verilog
//! and its JSON manifest.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use seedlm_hdl::top::Kind;
use std::path::PathBuf;

/// Generate the SeedLM accelerator RTL (top module `seedlm_engine`), or with
/// `--baseline fp16` the FP16 baseline engine (top module `fp16_engine`).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Bits per weight: 4 (C=8, P=3, K=16) or 3 (C=12, P=4, K=16). Not
    /// allowed with --baseline.
    #[arg(long, conflicts_with = "baseline")]
    bits: Option<u32>,
    /// Emit a baseline engine instead of SeedLM. `fp16`: plain MACs on f16
    /// weights, 8 weights (128 bits) per lane and cycle, so `--lanes 4`
    /// takes one 512-bit memory word (32 weights) per cycle; lane l works
    /// on row t*lanes + l. Same ports, CSR map and stream protocol.
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// MAC lanes, 1..=64: rows processed at once (one lane word each per cycle).
    #[arg(long, default_value_t = 8)]
    lanes: usize,
    /// Output directory; receives TOP.v and TOP.json (TOP: seedlm_engine
    /// or fp16_engine).
    #[arg(long)]
    out: PathBuf,
}

/// Baseline engines.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Baseline {
    /// IEEE binary16 weights, exact integer MACs (seedlm::fixed_fp16).
    Fp16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kind = match args.baseline {
        Some(Baseline::Fp16) => Kind::Fp16,
        None => Kind::Seedlm(seedlm::Config::for_bits(args.bits.unwrap_or(4))?),
    };
    let rtl = seedlm_hdl::top::generate_kind(&kind, args.lanes).with_context(|| {
        let what = match args.baseline {
            Some(_) => "--baseline fp16".to_string(),
            None => format!("--bits {}", args.bits.unwrap_or(4)),
        };
        format!(
            "failed to generate the engine for {what} --lanes {}",
            args.lanes
        )
    })?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let top = kind.top();
    let v = args.out.join(format!("{top}.v"));
    write_atomic(&v, rtl.verilog.as_bytes())?;
    let j = args.out.join(format!("{top}.json"));
    let text = serde_json::to_string_pretty(&rtl.manifest)? + "\n";
    write_atomic(&j, text.as_bytes())?;
    println!("wrote {} and {}", v.display(), j.display());
    Ok(())
}

/// Writes `path` through a temporary file in the same directory and a rename.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("failed to rename into {}", path.display()))
}
