//! `seedlm bench-search`: seed-search throughput and quality on N(0,1)
//! blocks, for both paper configurations, on one thread and on all cores
//! (a thin wrapper over `seedlm::search::bench::bench_search`).

use anyhow::{Context, Result};
use seedlm::search::bench::bench_search;
use seedlm::Config;

use super::Table;

/// Arguments of `seedlm bench-search`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Blocks searched per run.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub blocks: usize,
    /// Thread counts to run, comma-separated (default: 1 and one per core;
    /// each at most 1024).
    #[arg(long, value_delimiter = ',', value_name = "N,..", value_parser = super::threads_arg())]
    pub threads: Vec<usize>,
}

/// Runs `seedlm bench-search`.
pub fn run(args: &Args) -> Result<()> {
    let threads = if args.threads.is_empty() {
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        if all > 1 {
            vec![1, all]
        } else {
            vec![1]
        }
    } else {
        args.threads.clone()
    };
    let mut t = Table::new(&[
        "config", "bits/w", "threads", "blocks", "blocks/s", "params/s", "rel err",
    ]);
    for cfg in [Config::BITS4, Config::BITS3] {
        for &n in &threads {
            let r = bench_search(cfg, args.blocks, n)
                .with_context(|| format!("search benchmark of {cfg} on {n} threads failed"))?;
            t.row(vec![
                cfg.to_string(),
                format!("{:.2}", cfg.bits_per_weight()),
                r.threads.to_string(),
                r.blocks.to_string(),
                format!("{:.0}", r.blocks_per_s),
                format!("{:.0}", r.params_per_s),
                format!("{:.4}", r.rel_error),
            ]);
        }
    }
    print!("{}", t.render());
    Ok(())
}
