//! `seedlm bench-search`: seed-search throughput and quality on N(0,1)
//! blocks, for both paper configurations, on one thread and on all cores
//! (a thin wrapper over `seedlm::search::bench::bench_search`); with
//! `--device cuda`, on the GPU (`super::gpu::bench`).

use anyhow::{Context, Result};
use seedlm::search::bench::bench_search;
use seedlm::Config;

use super::gpu::SearchDevice;
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
    /// Where the search runs.
    #[arg(long, value_enum, default_value_t)]
    pub device: SearchDevice,
    /// GPU only: blocks per scan thread, comma-separated values to compare.
    #[arg(long, value_delimiter = ',', value_name = "N,..", default_value = "2")]
    pub gpu_blocks_per_thread: Vec<u32>,
    /// GPU only: smallest bounds kept per block, comma-separated values to
    /// compare.
    #[arg(long, value_delimiter = ',', value_name = "N,..", default_value = "16")]
    pub gpu_top_k: Vec<u32>,
    /// GPU only: unrolling of the scan's position loop, comma-separated
    /// values to compare.
    #[arg(long, value_delimiter = ',', value_name = "N,..", default_value = "2")]
    pub gpu_unroll: Vec<u32>,
}

/// Runs `seedlm bench-search`.
pub fn run(args: &Args) -> Result<()> {
    if args.device == SearchDevice::Cuda {
        return bench_cuda(args);
    }
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

#[cfg(feature = "cuda")]
fn bench_cuda(args: &Args) -> Result<()> {
    let mut tunings = Vec::new();
    for &b in &args.gpu_blocks_per_thread {
        for &k in &args.gpu_top_k {
            for &u in &args.gpu_unroll {
                tunings.push(seedlm::search::gpu::Tuning {
                    blocks_per_thread: b,
                    top_k: k,
                    scan_unroll: u,
                    ..Default::default()
                });
            }
        }
    }
    super::gpu::bench(args.blocks, &tunings)
}

#[cfg(not(feature = "cuda"))]
fn bench_cuda(_: &Args) -> Result<()> {
    anyhow::bail!("--device cuda: this seedlm was built without the `cuda` feature")
}
