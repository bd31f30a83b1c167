//! `gen-rtl`: writes the accelerator's Verilog (top `seedlm_accel`, the
//! engine behind the AXI shell; or `--top engine` for the engine alone)
//! and its JSON manifest.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use seedlm_hdl::shell::{accel_top, generate_accel, AccelOptions};
use seedlm_hdl::top::Kind;
use std::path::PathBuf;

/// Generate the SeedLM accelerator RTL (top module `seedlm_accel`: the
/// engine behind the AXI shell of `seedlm::hw::shell`), or with `--top
/// engine` the engine alone (`seedlm_engine`). With `--baseline fp16` the
/// FP16 baseline engine (`fp16_accel`, `fp16_engine`).
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
    /// Which top to emit: the whole accelerator or the engine alone.
    #[arg(long, value_enum, default_value_t = Top::Accel)]
    top: Top,
    /// Data width of the AXI4 master in bits: 256, 512 or 1024 (accelerator
    /// top only).
    #[arg(long, default_value_t = seedlm::hw::shell::DEFAULT_AXI_DATA_BITS)]
    axi_data_bits: u32,
    /// Device memory bytes: the default of the top's MEM_BYTES parameter,
    /// against which the shell checks every address (accelerator top only).
    #[arg(long, default_value_t = seedlm::hw::shell::DEFAULT_MEM_BYTES)]
    mem_bytes: u64,
    /// Output directory; receives TOP.v and TOP.json (TOP: seedlm_accel,
    /// seedlm_engine, fp16_accel or fp16_engine).
    #[arg(long)]
    out: PathBuf,
}

/// Top modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Top {
    /// Engine + shell (`seedlm_accel`, `fp16_accel`).
    Accel,
    /// The engine alone (`seedlm_engine`, `fp16_engine`), for engine-only tests.
    Engine,
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
    let opts = AccelOptions {
        axi_data_bits: args.axi_data_bits,
        mem_bytes: args.mem_bytes,
    };
    let rtl = match args.top {
        Top::Accel => generate_accel(&kind, args.lanes, &opts),
        Top::Engine => seedlm_hdl::top::generate_kind(&kind, args.lanes),
    }
    .with_context(|| {
        let what = match args.baseline {
            Some(_) => "--baseline fp16".to_string(),
            None => format!("--bits {}", args.bits.unwrap_or(4)),
        };
        format!(
            "failed to generate {:?} for {what} --lanes {}",
            args.top, args.lanes
        )
    })?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let top = match args.top {
        Top::Accel => accel_top(&kind),
        Top::Engine => kind.top(),
    };
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
