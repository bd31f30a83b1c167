//! `gen-rtl`: writes the SeedLM engine's Verilog and its JSON manifest.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;

/// Generate the SeedLM accelerator RTL (top module `seedlm_engine`).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Bits per weight: 4 (C=8, P=3, K=16) or 3 (C=12, P=4, K=16).
    #[arg(long, default_value_t = 4)]
    bits: u32,
    /// MAC lanes, 1..=64: rows processed at once (one block word each per cycle).
    #[arg(long, default_value_t = 8)]
    lanes: usize,
    /// Output directory; receives seedlm_engine.v and seedlm_engine.json.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = seedlm::Config::for_bits(args.bits)?;
    let rtl = seedlm_hdl::top::generate(&cfg, args.lanes).with_context(|| {
        format!(
            "failed to generate the engine for --bits {} --lanes {}",
            args.bits, args.lanes
        )
    })?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let v = args.out.join("seedlm_engine.v");
    std::fs::write(&v, &rtl.verilog).with_context(|| format!("failed to write {}", v.display()))?;
    let j = args.out.join("seedlm_engine.json");
    let text = serde_json::to_string_pretty(&rtl.manifest)?;
    std::fs::write(&j, text + "\n").with_context(|| format!("failed to write {}", j.display()))?;
    println!("wrote {} and {}", v.display(), j.display());
    Ok(())
}
