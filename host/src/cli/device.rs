//! `seedlm device`: talk to the accelerator through a backend.
//!
//! - `seedlm device info --backend B` prints what the device reports
//!   (config, lanes, versions, activation depth, memory).
//! - `seedlm device selftest --backend B` runs the known-answer vectors of
//!   [`seedlm_host::device::selftest`] and exits with status 1 on any
//!   mismatch.
//!
//! `B` is `emu`, `verilator` (a build with `--features
//! seedlm-host/verilator`) or `vfio:<pci-addr>`; `--bits` and `--lanes`
//! choose the engine that `emu` and `verilator` model (a board reports its
//! own).

use anyhow::{bail, Context, Result};
use seedlm::Config;
use seedlm_host::device::{open, selftest, Engine, OpenOptions};

use super::Table;

/// Arguments of `seedlm device`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `seedlm device` subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Action {
    /// Print what the device reports: config, lanes, versions, memory.
    Info(Backend),
    /// Run known-answer vectors; exit status 1 on any mismatch.
    Selftest(Backend),
}

/// Which device to open.
#[derive(clap::Args, Debug, Clone)]
pub struct Backend {
    /// emu, verilator or vfio:<pci-addr> (e.g. vfio:0000:01:00.0).
    #[arg(long, default_value = "emu", value_name = "BACKEND")]
    pub backend: String,
    /// Bits per weight of the modelled engine (emu, verilator): 4 or 3.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(3..=4))]
    pub bits: u32,
    /// Lanes of the modelled engine (emu: 1..=64; verilator: 1, 3, 8, 16).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub lanes: usize,
}

fn engine(b: &Backend) -> Result<Engine> {
    let opts = OpenOptions {
        cfg: Config::for_bits(b.bits)?,
        lanes: b.lanes,
        ..OpenOptions::default()
    };
    let dev = open(&b.backend, &opts)
        .with_context(|| format!("failed to open device '{}'", b.backend))?;
    Engine::new(dev).with_context(|| format!("failed to take over device '{}'", b.backend))
}

/// Runs `seedlm device`.
pub fn run(args: &Args) -> Result<()> {
    match &args.action {
        Action::Info(b) => {
            let e = engine(b)?;
            println!("{}", e.info());
        }
        Action::Selftest(b) => {
            let mut e = engine(b)?;
            println!("{}", e.info().backend);
            let cases = selftest::run(&mut e).context("self-test could not run")?;
            let mut t = Table::new(&["case", "shape", "vectors", "mismatches"]);
            for c in &cases {
                t.row(vec![
                    c.name.clone(),
                    format!("{}x{}", c.shape.0, c.shape.1),
                    c.vectors.to_string(),
                    c.mismatches.to_string(),
                ]);
            }
            print!("{}", t.render());
            let bad: Vec<_> = cases.iter().filter(|c| c.mismatches > 0).collect();
            if let Some(c) = bad.first() {
                let (v, row, got, want) = c.first.expect("a mismatch is recorded");
                bail!(
                    "self-test failed: {} case(s) mismatched; first in '{}': vector {v} row {row}: \
                     accumulator {got}, expected {want}",
                    bad.len(),
                    c.name
                );
            }
            println!("selftest passed");
        }
    }
    Ok(())
}
