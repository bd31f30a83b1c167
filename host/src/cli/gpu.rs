//! Where the seed search runs: `--device cpu` (rayon, every build) or
//! `--device cuda` (builds with the `cuda` feature; see
//! `seedlm::search::gpu`). Both give the same blocks, bit for bit.

use anyhow::Result;
use seedlm::gptq::{self, Feedback};
use seedlm::search::{Found, Searcher};
use seedlm::Config;

use super::thread_pool;

/// The device a seed search runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SearchDevice {
    /// The CPU, on `--threads` threads.
    #[default]
    Cpu,
    /// The first CUDA GPU (needs a build with `--features cuda`, and
    /// libcuda and libnvrtc at run time).
    Cuda,
}

/// A seed search on one device.
pub enum SeedSearch {
    /// The CPU search on a thread pool.
    Cpu(Box<Searcher>, rayon::ThreadPool),
    /// The CUDA search.
    #[cfg(feature = "cuda")]
    Cuda(Box<seedlm::search::gpu::GpuSearcher>),
}

impl SeedSearch {
    /// The search of `cfg` on `device` (`threads`: CPU threads, 0 for one
    /// per core).
    pub fn new(device: SearchDevice, cfg: Config, threads: usize) -> Result<SeedSearch> {
        match device {
            SearchDevice::Cpu => Ok(SeedSearch::Cpu(
                Box::new(Searcher::new(cfg)?),
                thread_pool(threads)?,
            )),
            #[cfg(feature = "cuda")]
            SearchDevice::Cuda => {
                let g = seedlm::search::gpu::GpuSearcher::new(cfg, 0, Default::default())?;
                Ok(SeedSearch::Cuda(Box::new(g)))
            }
            #[cfg(not(feature = "cuda"))]
            SearchDevice::Cuda => {
                anyhow::bail!("--device cuda: this seedlm was built without the `cuda` feature (cargo build --release --features cuda)")
            }
        }
    }

    /// Searches every block of `weights` (see [`Searcher::search_all`]).
    pub fn search_all(
        &self,
        weights: &[f32],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Found>> {
        Ok(match self {
            SeedSearch::Cpu(s, pool) => pool.install(|| s.search_all(weights, progress))?,
            #[cfg(feature = "cuda")]
            SeedSearch::Cuda(g) => g.search_all(weights, progress)?,
        })
    }

    /// The calibrated search of one `rows × cols` tensor under the error
    /// feedback `fb` (see `seedlm::gptq`): on the CPU,
    /// `gptq::search_calibrated`; on a GPU, one column group per batch, the
    /// feedback between groups on `pool`. The same blocks either way.
    /// `tables` keeps the CPU's search tables for the next tensor of the
    /// same input (`gptq::search_calibrated_in`).
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn search_calibrated(
        &self,
        fb: &Feedback,
        weights: &[f32],
        cols: usize,
        tables: &mut gptq::GroupTables,
        pool: &rayon::ThreadPool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Found>> {
        Ok(match self {
            SeedSearch::Cpu(s, pool) => {
                pool.install(|| gptq::search_calibrated_in(s, fb, weights, cols, tables, progress))?
            }
            #[cfg(feature = "cuda")]
            SeedSearch::Cuda(g) => {
                let mut search =
                    |m: &seedlm::search::Metric, blocks: &[f32]| g.search_weighted(m, true, blocks);
                pool.install(|| {
                    gptq::search_calibrated_by_group(
                        g.searcher(),
                        fb,
                        weights,
                        cols,
                        &mut search,
                        progress,
                    )
                })?
            }
        })
    }

    /// One refinement pass of `r` (see `seedlm::gptq::Refinement`), each
    /// column group's blocks searched on this device (the rest on `pool`).
    /// Returns the number of blocks changed. The same blocks either way.
    /// `tables` keeps the CPU's search tables from one pass over a tensor
    /// to the next, and to the next tensor of the same input.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn refine_pass(
        &self,
        r: &mut gptq::Refinement<'_>,
        tables: &mut gptq::GroupTables,
        pool: &rayon::ThreadPool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<usize> {
        Ok(match self {
            SeedSearch::Cpu(s, pool) => pool.install(|| {
                r.pass_below(&mut gptq::cpu_group_search_below_in(s, tables), progress)
            })?,
            #[cfg(feature = "cuda")]
            SeedSearch::Cuda(g) => {
                let mut search =
                    |m: &seedlm::search::Metric, blocks: &[f32]| g.search_weighted(m, true, blocks);
                pool.install(|| r.pass(&mut search, progress))?
            }
        })
    }

    /// The searcher of this device's configuration (tables on the host).
    pub fn searcher(&self) -> &Searcher {
        match self {
            SeedSearch::Cpu(s, _) => s,
            #[cfg(feature = "cuda")]
            SeedSearch::Cuda(g) => g.searcher(),
        }
    }

    /// The data-free search with neighbour rounding (`--neighbours`) on a
    /// GPU: the weighted search under the identity metric, as the CPU does.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn search_neighbours(
        &self,
        weights: &[f32],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Found>> {
        match self {
            SeedSearch::Cpu(..) => {
                anyhow::bail!("internal: the CPU's neighbour search goes through search_with")
            }
            #[cfg(feature = "cuda")]
            SeedSearch::Cuda(g) => {
                let cfg = *g.config();
                let m = seedlm::search::Metric::identity(&cfg);
                let mut out = Vec::with_capacity(weights.len() / cfg.c);
                for chunk in weights.chunks(cfg.c * g.tuning().chunk) {
                    out.extend(g.search_weighted(&m, true, chunk)?);
                    progress(chunk.len() / cfg.c);
                }
                Ok(out)
            }
        }
    }

    /// The CPU search and its thread pool, or `None` for another device.
    pub fn cpu(&self) -> Option<(&Searcher, &rayon::ThreadPool)> {
        match self {
            SeedSearch::Cpu(s, pool) => Some((s, pool)),
            #[cfg(feature = "cuda")]
            SeedSearch::Cuda(_) => None,
        }
    }

    /// What runs the search, for messages: "16 threads" or the GPU's name.
    pub fn describe(&self) -> String {
        match self {
            SeedSearch::Cpu(_, pool) => format!("{} threads", pool.current_num_threads()),
            #[cfg(feature = "cuda")]
            SeedSearch::Cuda(g) => format!("CUDA: {}", g.device_name()),
        }
    }
}

/// `bench-search --device cuda`: N(0,1) blocks on the GPU for both paper
/// configurations, with where the time went.
#[cfg(feature = "cuda")]
pub fn bench(blocks: usize, tunings: &[seedlm::search::gpu::Tuning]) -> Result<()> {
    use anyhow::Context;
    use seedlm::search::bench::gaussian_weights;
    use seedlm::search::gpu::GpuSearcher;
    use std::time::Instant;

    let mut t = super::Table::new(&[
        "config",
        "B",
        "top-k",
        "unroll",
        "blocks",
        "blocks/s",
        "params/s",
        "rel err",
        "upload s",
        "scan s",
        "fit s",
        "rescan s",
        "rescanned",
    ]);
    let mut device = String::new();
    for cfg in [Config::BITS4, Config::BITS3] {
        let w = gaussian_weights(blocks * cfg.c, 0x0005_EED1);
        for &tuning in tunings {
            let g = GpuSearcher::new(cfg, 0, tuning)
                .with_context(|| format!("failed to set up the GPU search of {cfg}"))?;
            device = g.device_name().to_string();
            // Warm-up: first launches, caches.
            g.search_all(&w[..(blocks.min(65_536)) * cfg.c], &|_| {})?;
            let before = g.stats();
            let start = Instant::now();
            let found = g.search_all(&w, &|_| {})?;
            let secs = start.elapsed().as_secs_f64();
            let st = g.stats();
            let err: f64 = found.iter().map(|f| f.err).sum();
            let norm: f64 = w.iter().map(|&x| x as f64 * x as f64).sum();
            let rate = blocks as f64 / secs;
            t.row(vec![
                cfg.to_string(),
                tuning.blocks_per_thread.to_string(),
                tuning.top_k.to_string(),
                tuning.scan_unroll.to_string(),
                blocks.to_string(),
                format!("{rate:.0}"),
                format!("{:.0}", rate * cfg.c as f64),
                format!("{:.4}", (err / norm).sqrt()),
                format!("{:.3}", st.upload_s - before.upload_s),
                format!("{:.3}", st.scan_s - before.scan_s),
                format!("{:.3}", st.fit_s - before.fit_s),
                format!("{:.3}", st.rescan_s - before.rescan_s),
                format!(
                    "{:.2}%",
                    100.0 * (st.rescanned - before.rescanned) as f64 / blocks as f64
                ),
            ]);
        }
    }
    println!("device: {device}");
    print!("{}", t.render());
    Ok(())
}
