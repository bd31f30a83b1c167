//! Prints the seed-search benchmark for both paper configurations on one
//! thread and on all threads: `cargo run --release -p seedlm --example
//! bench_search [BLOCKS] [BITS] [THREADS]` (default 20000 blocks, both
//! configurations, 1 thread and all). `BITS` (4 or 3) and `THREADS` restrict
//! the run to one configuration and one thread count, e.g. for profiling.

use seedlm::search::bench::bench_search;
use seedlm::{Config, Error};

/// Parses the positional argument `i`, if present.
fn arg<T: std::str::FromStr>(i: usize, name: &str) -> seedlm::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    std::env::args()
        .nth(i)
        .map(|a| {
            a.parse()
                .map_err(|e| Error::InvalidInput(format!("{name} {a:?}: {e}")))
        })
        .transpose()
}

fn main() -> seedlm::Result<()> {
    let blocks = arg(1, "BLOCKS")?.unwrap_or(20_000);
    let configs = match arg::<u32>(2, "BITS")? {
        None => vec![Config::BITS4, Config::BITS3],
        Some(4) => vec![Config::BITS4],
        Some(3) => vec![Config::BITS3],
        Some(b) => return Err(Error::InvalidInput(format!("BITS {b}: must be 4 or 3"))),
    };
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = match arg(3, "THREADS")? {
        Some(t) => vec![t],
        None => vec![1, all],
    };
    println!(
        "{:<16} {:>7} {:>8} {:>12} {:>14} {:>9}",
        "config", "threads", "blocks", "blocks/s", "params/s", "rel err"
    );
    for &cfg in &configs {
        for &t in &threads {
            let r = bench_search(cfg, blocks, t)?;
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
