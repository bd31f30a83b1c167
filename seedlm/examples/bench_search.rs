//! Prints the seed-search benchmark for both paper configurations on one
//! thread and on all threads: `cargo run --release -p seedlm --example
//! bench_search [BLOCKS]` (default 20000 blocks).

use seedlm::search::bench::bench_search;
use seedlm::Config;

fn main() -> seedlm::Result<()> {
    let blocks = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|e| seedlm::Error::InvalidInput(format!("BLOCKS {a:?}: {e}")))?,
        None => 20_000,
    };
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{:<16} {:>7} {:>8} {:>12} {:>14} {:>9}",
        "config", "threads", "blocks", "blocks/s", "params/s", "rel err"
    );
    for cfg in [Config::BITS4, Config::BITS3] {
        for threads in [1, all] {
            let r = bench_search(cfg, blocks, threads)?;
            println!(
                "{:<16} {:>7} {:>8} {:>12.0} {:>14.0} {:>9.4}",
                cfg.to_string(),
                r.threads,
                r.blocks,
                r.blocks_per_s,
                r.params_per_s,
                r.rel_error
            );
        }
    }
    Ok(())
}
