//! The seed search on a CUDA GPU (feature `cuda`): the same blocks as
//! [`Searcher::search_all`], bit for bit.
//!
//! **Method.** The CPU's fast search, reshaped for thousands of threads
//! (`gpu.cu` holds the kernels and says what each does):
//! 1. `scan`: each thread takes a few blocks and walks the whole LFSR cycle,
//!    computing at every position the f32 lower bound
//!    `||w||² - ||L⁻¹ Uᵀw||²` on the normalised block (`||w||² ∈ [0.5, 2)`)
//!    and keeping the [`Tuning::top_k`] smallest bounds of each block. One
//!    position's `Uᵀw` shares all but one entry with its predecessor's, so a
//!    position costs `C` fused multiply-adds for the new entry and
//!    `P(P+1)/2 + P` for the bound. Windows with `cond(G) > COND_MAX` are
//!    bounded with an f32 orthonormal basis instead, and windows with
//!    dependent columns are always fitted (the CPU's rules and tables,
//!    [`super::fast`]).
//! 2. `fit_first`, `fit_rest`, `pick`: the exact f64 fit (the same
//!    operations as [`crate::block::fit`], rounded the same way) of each
//!    block's smallest bound sets its threshold `error + MARGIN`; every other
//!    kept position within it is fitted, one thread per fit; the best
//!    `(error, seed)` wins, ties going to the lowest seed.
//! 3. `rescan`: a block whose last kept bound is still within the threshold
//!    may have a winner the scan did not keep; one thread-block bounds all
//!    its positions again and fits each one within the threshold (rare:
//!    0.3% of N(0,1) blocks at `top_k = 16`; every seed of a block so small
//!    that every seed quantizes to zero).
//!
//! **Exactness.** As for the CPU search: the bound's f32 error is far below
//! [`MARGIN`] (checked on the device by the test `gpu_bound_error`), so
//! every seed that can win or tie is fitted, every fit rounds as the CPU's
//! does, and the minimum of `(error, seed)` is the naive search's answer.
//!
//! **Build.** The kernels are CUDA C++ compiled at run time by NVRTC through
//! `cudarc`, which loads `libcuda` and `libnvrtc` when first used: the crate
//! builds without a CUDA toolkit, and the kernel is specialised for the
//! configuration (`C`, `P`, `K` as constants) and the GPU's architecture.
#![allow(unsafe_code)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};

use super::fast::{factor, orthonormal, LINV_MAX, MARGIN};
use super::{zero_block, Found, Metric, Searcher, Weighted};
use crate::block::Block;
use crate::config::{Config, EXP_MAX, EXP_MIN, MAX_C, MAX_P};
use crate::error::{Error, Result};

/// The kernels' source.
const SOURCE: &str = include_str!("gpu.cu");

/// Threads per thread-block of `scan` and `fit_top` (`scan`'s
/// `__launch_bounds__`).
const THREADS: u32 = 128;

/// Threads per thread-block of `rescan` (`RESCAN_THREADS` in `gpu.cu`).
const RESCAN_THREADS: u32 = 256;

/// 64-bit words of one result record (`put` in `gpu.cu`).
const OUT_WORDS: usize = 2;

/// Launch parameters of the GPU search (they change speed, never results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Blocks per thread in the scan (1..=8).
    pub blocks_per_thread: u32,
    /// Smallest bounds kept per block (1..=64).
    pub top_k: u32,
    /// Blocks per launch (bounds device memory; progress is reported per
    /// launch).
    pub chunk: usize,
    /// Unrolling of the scan's position loop (1..=4).
    pub scan_unroll: u32,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            blocks_per_thread: 2,
            top_k: 16,
            chunk: 1 << 20,
            scan_unroll: 2,
        }
    }
}

/// Where the time of the searches so far went (host wall clock around each
/// step, the device synchronised after each).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Blocks searched.
    pub blocks: usize,
    /// Blocks that needed the rescan.
    pub rescanned: usize,
    /// Seconds copying weights to the device.
    pub upload_s: f64,
    /// Seconds in `scan`.
    pub scan_s: f64,
    /// Seconds in `fit_first`, `fit_rest` and `pick`, and copying the
    /// results back.
    pub fit_s: f64,
    /// Seconds in `rescan` and copying its results back.
    pub rescan_s: f64,
    /// Weighted search: seconds building each metric's tables (`wtables`).
    pub tables_s: f64,
    /// Weighted search: seconds on the host preparing blocks (`Aᵀw`, `Mw`)
    /// and decoding results, and in the host's searches of degenerate blocks.
    pub host_s: f64,
}

/// The GPU search for one configuration: compiled kernels and the tables
/// on the device.
pub struct GpuSearcher {
    cpu: Searcher,
    tuning: Tuning,
    name: String,
    stream: Arc<CudaStream>,
    _module: Arc<CudaModule>,
    scan: CudaFunction,
    fit_first: CudaFunction,
    fit_rest: CudaFunction,
    pick: CudaFunction,
    rescan: CudaFunction,
    /// `centred[m] / unit` as f32 (the extended cycle).
    u: CudaSlice<f32>,
    /// Per position: `u[p + (i+1)P]` for `i < C`, then `L⁻¹` (zero for
    /// windows not bounded this way), padded to a multiple of 4 floats.
    rec: CudaSlice<f32>,
    /// The extended centred cycle (exact fits, seeds).
    centred: CudaSlice<i32>,
    /// `centred[m] / unit` in f64 (exact fits).
    ud: CudaSlice<f64>,
    /// `2^e / unit` for `e` in `EXP_MIN..=EXP_MAX` (exact fits).
    sc: CudaSlice<f64>,
    ill_pos: CudaSlice<u32>,
    ill_q: CudaSlice<f32>,
    n_ill: u32,
    dep_pos: CudaSlice<u32>,
    n_dep: u32,
    stats: Mutex<Stats>,
    /// Device buffers of the last launch, reused while large enough.
    buffers: Mutex<Option<Buffers>>,
    /// The weighted search's kernels and buffers, made on first use.
    weighted: Mutex<Option<WeightedKernels>>,
}

/// Device buffers for one launch of up to `blocks` blocks.
struct Buffers {
    blocks: usize,
    w: CudaSlice<f32>,
    top_b: CudaSlice<f32>,
    top_p: CudaSlice<u32>,
    cand: CudaSlice<u64>,
    thr: CudaSlice<f64>,
    out: CudaSlice<u64>,
}

/// A device error with what was being done.
fn gpu_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::Gpu(format!("{what}: {e}"))
}

/// Words of one position's record in `rec`: `C + P(P+1)/2`, padded to 4.
fn rec_len(cfg: &Config) -> usize {
    (cfg.c + cfg.p * (cfg.p + 1) / 2).div_ceil(4) * 4
}

/// The scan tables of `cpu`'s configuration: (`u`, `rec`, ill positions, their
/// f32 orthonormal bases, positions with dependent columns).
#[allow(clippy::type_complexity)]
fn tables(cpu: &Searcher) -> (Vec<f32>, Vec<f32>, Vec<u32>, Vec<f32>, Vec<u32>) {
    let cfg = cpu.config();
    let (c, p) = (cfg.c, cfg.p);
    let n = cfg.num_seeds() as usize;
    let unit = cfg.unit();
    let centred = &cpu.centred;
    let u: Vec<f32> = centred.iter().map(|&x| (x as f64 / unit) as f32).collect();
    let width = rec_len(cfg);
    let mut rec = vec![0f32; n * width];
    let (mut ill_pos, mut ill_q, mut dep) = (Vec::new(), Vec::new(), Vec::new());
    let mut cols = [[0f64; MAX_C]; MAX_P];
    for (pos, r) in rec.chunks_exact_mut(width).enumerate() {
        for (i, x) in r.iter_mut().take(c).enumerate() {
            *x = u[pos + (i + 1) * p];
        }
        for (j, col) in cols.iter_mut().enumerate().take(p) {
            for (i, x) in col.iter_mut().enumerate().take(c) {
                *x = centred[pos + 1 + i * p + j] as f64 / unit;
            }
        }
        if let Some(l) = factor(&cols, c, p) {
            let mut at = c;
            for (j, row) in l.iter().enumerate().take(p) {
                for &x in &row[..=j] {
                    r[at] = x as f32;
                    at += 1;
                }
            }
            continue;
        }
        match orthonormal(&cols, c, p) {
            Some(q) => {
                ill_pos.push(pos as u32);
                ill_q.extend(q.iter().map(|&x| x as f32));
            }
            None => dep.push(pos as u32),
        }
    }
    (u, rec, ill_pos, ill_q, dep)
}

/// The NVRTC defines of the kernels for `cfg`: plain, or weighted (with
/// neighbour rounding or not) when `weighted` is given.
fn defines(cfg: &Config, top_k: u32, tuning: &Tuning, weighted: Option<bool>) -> Vec<String> {
    let defines = [
        ("SL_C", cfg.c.to_string()),
        ("SL_P", cfg.p.to_string()),
        ("SL_N", format!("{}u", cfg.num_seeds())),
        ("SL_HALF", cfg.half().to_string()),
        ("SL_UNIT", format!("{:?}", cfg.unit())),
        ("SL_MARGIN", format!("{MARGIN:?}")),
        ("SL_B", tuning.blocks_per_thread.to_string()),
        ("SL_TOPK", top_k.to_string()),
        ("SL_UNROLL", tuning.scan_unroll.to_string()),
        ("SL_WEIGHTED", u8::from(weighted.is_some()).to_string()),
        ("SL_NEIGH", u8::from(weighted == Some(true)).to_string()),
    ];
    defines.iter().map(|(k, v)| format!("-D{k}={v}")).collect()
}

/// Compiles the kernels with `defines` for `ctx`'s GPU and loads them.
fn compile(ctx: &Arc<CudaContext>, defines: &[String]) -> Result<Arc<CudaModule>> {
    let loaded = |lib: &'static str| {
        move |_| Error::Gpu(format!("failed to load {lib} (is LD_LIBRARY_PATH set?)"))
    };
    let (major, minor) = ctx
        .compute_capability()
        .map_err(gpu_err("failed to read the compute capability"))?;
    let mut options = defines.to_vec();
    options.push(format!("--gpu-architecture=sm_{major}{minor}"));
    let ptx = std::panic::catch_unwind(|| {
        compile_ptx_with_opts(
            SOURCE,
            CompileOptions {
                options,
                ..Default::default()
            },
        )
    })
    .map_err(loaded("libnvrtc"))?
    .map_err(|e| Error::Gpu(format!("NVRTC failed to compile the search kernels: {e}")))?;
    ctx.load_module(ptx)
        .map_err(gpu_err("failed to load the search kernels"))
}

impl GpuSearcher {
    /// Compiles the kernels for `cfg` (one of the paper's configurations,
    /// [`Config::BITS4`] or [`Config::BITS3`]) on GPU `ordinal` and uploads
    /// the tables.
    pub fn new(cfg: Config, ordinal: usize, tuning: Tuning) -> Result<GpuSearcher> {
        if !(1..=8).contains(&tuning.blocks_per_thread)
            || !(2..=64).contains(&tuning.top_k)
            || !(1..=4).contains(&tuning.scan_unroll)
            || tuning.chunk == 0
        {
            return Err(Error::InvalidConfig(format!("GPU tuning {tuning:?}")));
        }
        // The f32 bound's error is checked against MARGIN (on the device) for
        // these two only.
        if cfg != Config::BITS4 && cfg != Config::BITS3 {
            return Err(Error::InvalidConfig(format!(
                "{cfg}: the GPU search supports {} and {}",
                Config::BITS4,
                Config::BITS3
            )));
        }
        let cpu = Searcher::new(cfg)?;
        // cudarc panics when it cannot load libcuda or libnvrtc.
        let loaded = |lib: &'static str| {
            move |_| Error::Gpu(format!("failed to load {lib} (is LD_LIBRARY_PATH set?)"))
        };
        let ctx = std::panic::catch_unwind(|| CudaContext::new(ordinal))
            .map_err(loaded("libcuda"))?
            .map_err(gpu_err("failed to open the CUDA device"))?;
        let name = ctx
            .name()
            .map_err(gpu_err("failed to read the device name"))?;
        let defines = defines(&cfg, tuning.top_k, &tuning, None);
        let module = compile(&ctx, &defines)?;
        let load = |f: &str| {
            module
                .load_function(f)
                .map_err(|e| Error::Gpu(format!("kernel {f}: {e}")))
        };
        let (scan, fit_first) = (load("scan")?, load("fit_first")?);
        let (fit_rest, pick, rescan) = (load("fit_rest")?, load("pick")?, load("rescan")?);
        let stream = ctx.default_stream();
        let (u, rec, ill_pos, ill_q, dep) = tables(&cpu);
        let up = gpu_err("failed to upload the search tables");
        // A zero-length slice cannot be allocated: pad the lists to one entry.
        let nonempty = |v: &[u32]| if v.is_empty() { vec![0] } else { v.to_vec() };
        let unit = cfg.unit();
        let ud: Vec<f64> = cpu.centred.iter().map(|&x| x as f64 / unit).collect();
        let sc: Vec<f64> = (EXP_MIN..=EXP_MAX)
            .map(|e| 2f64.powi(e as i32) / unit)
            .collect();
        Ok(GpuSearcher {
            tuning,
            name,
            u: stream.clone_htod(&u).map_err(&up)?,
            rec: stream.clone_htod(&rec).map_err(&up)?,
            centred: stream.clone_htod(&cpu.centred).map_err(&up)?,
            ud: stream.clone_htod(&ud).map_err(&up)?,
            sc: stream.clone_htod(&sc).map_err(&up)?,
            n_ill: ill_pos.len() as u32,
            ill_pos: stream.clone_htod(&nonempty(&ill_pos)).map_err(&up)?,
            ill_q: stream
                .clone_htod(&if ill_q.is_empty() { vec![0f32] } else { ill_q })
                .map_err(&up)?,
            n_dep: dep.len() as u32,
            dep_pos: stream.clone_htod(&nonempty(&dep)).map_err(&up)?,
            stream,
            _module: module,
            scan,
            fit_first,
            fit_rest,
            pick,
            rescan,
            cpu,
            stats: Mutex::new(Stats::default()),
            buffers: Mutex::new(None),
            weighted: Mutex::new(None),
        })
    }

    /// The configuration searched.
    pub fn config(&self) -> &Config {
        self.cpu.config()
    }

    /// The CPU search of the same configuration (its tables, its LFSR).
    pub fn searcher(&self) -> &Searcher {
        &self.cpu
    }

    /// The GPU's name.
    pub fn device_name(&self) -> &str {
        &self.name
    }

    /// The launch parameters.
    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// Positions bounded with an orthonormal basis, and positions always
    /// fitted.
    pub fn special_positions(&self) -> (u32, u32) {
        (self.n_ill, self.n_dep)
    }

    /// Where the time went in the searches so far.
    pub fn stats(&self) -> Stats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Searches every block of `weights` (length a multiple of `C`, finite),
    /// [`Tuning::chunk`] blocks per launch; the same result as
    /// [`Searcher::search_all`]. `progress` is called with the number of
    /// blocks finished since its last call.
    pub fn search_all(&self, weights: &[f32], progress: &dyn Fn(usize)) -> Result<Vec<Found>> {
        self.cpu.check_weights(weights)?;
        let c = self.config().c;
        let mut found = Vec::with_capacity(weights.len() / c);
        for chunk in weights.chunks(c * self.tuning.chunk) {
            found.extend(self.search_chunk(chunk, None)?);
            progress(chunk.len() / c);
        }
        Ok(found)
    }

    /// Every position's f32 bound (normalised units) for each block of
    /// `weights`, `2^K - 1` per block, as the scan computes them (windows
    /// with dependent columns hold `||w||²`). For tests: the output has
    /// `blocks · 2^K` entries.
    pub fn bounds(&self, weights: &[f32]) -> Result<Vec<f32>> {
        self.cpu.check_weights(weights)?;
        let n = self.config().num_seeds() as usize;
        let blocks = weights.len() / self.config().c;
        let mut all = self
            .stream
            .alloc_zeros::<f32>(blocks.max(1) * n)
            .map_err(gpu_err("failed to allocate the bound dump"))?;
        self.search_chunk(weights, Some(&mut all))?;
        let mut v = self
            .stream
            .clone_dtoh(&all)
            .map_err(gpu_err("failed to copy the bounds back"))?;
        v.truncate(blocks * n);
        Ok(v)
    }

    /// One launch of each kernel over `w` (at most `Tuning::chunk` blocks).
    fn search_chunk(&self, w: &[f32], dump: Option<&mut CudaSlice<f32>>) -> Result<Vec<Found>> {
        let cfg = *self.config();
        let nb = w.len() / cfg.c;
        if nb == 0 {
            return Ok(Vec::new());
        }
        let s = &self.stream;
        let sync = |what: &str| s.synchronize().map_err(gpu_err(what));
        let nb32 = u32::try_from(nb)
            .map_err(|_| Error::InvalidInput(format!("{nb} blocks in one launch")))?;
        let k = self.tuning.top_k as usize;
        let alloc = gpu_err("failed to allocate device memory");
        let mut guard = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|b| b.blocks < nb) {
            *guard = None;
            let n = nb.max(self.tuning.chunk.min(1 << 16));
            *guard = Some(Buffers {
                blocks: n,
                w: s.alloc_zeros::<f32>(n * cfg.c).map_err(&alloc)?,
                top_b: s.alloc_zeros::<f32>(n * k).map_err(&alloc)?,
                top_p: s.alloc_zeros::<u32>(n * k).map_err(&alloc)?,
                cand: s.alloc_zeros::<u64>(n * k * OUT_WORDS).map_err(&alloc)?,
                thr: s.alloc_zeros::<f64>(n).map_err(&alloc)?,
                out: s.alloc_zeros::<u64>(n * OUT_WORDS).map_err(&alloc)?,
            });
        }
        let Some(bufs) = guard.as_mut() else {
            unreachable!("allocated above")
        };
        let t0 = Instant::now();
        s.memcpy_htod(w, &mut bufs.w)
            .map_err(gpu_err("failed to copy weights to the device"))?;
        sync("failed to copy weights to the device")?;
        let t1 = Instant::now();

        let launch = |grid: u32, block: u32| LaunchConfig {
            grid_dim: (grid, 1, 1),
            block_dim: (block, 1, 1),
            shared_mem_bytes: 0,
        };
        let null = 0u64;
        let per_block = THREADS * self.tuning.blocks_per_thread;
        let mut b = s.launch_builder(&self.scan);
        b.arg(&bufs.w)
            .arg(&nb32)
            .arg(&self.u)
            .arg(&self.rec)
            .arg(&self.ill_pos)
            .arg(&self.ill_q)
            .arg(&self.n_ill)
            .arg(&mut bufs.top_b)
            .arg(&mut bufs.top_p);
        match dump {
            Some(d) => b.arg(d),
            None => b.arg(&null),
        };
        // SAFETY: the arguments match `scan`'s parameters in gpu.cu in number,
        // order and type; every buffer holds what the kernel indexes: `w`
        // nb·C weights, `u` the extended cycle (2^K - 1 + C·P + 1 entries),
        // `rec` 2^K - 1 records, `ill_q` n_ill bases of C·P, `top_b`/`top_p`
        // nb·top_k entries, the dump (when given) nb·(2^K - 1) entries.
        unsafe { b.launch(launch(nb32.div_ceil(per_block), THREADS)) }
            .map_err(gpu_err("failed to launch scan"))?;
        sync("scan failed")?;
        let t2 = Instant::now();

        let mut b = s.launch_builder(&self.fit_first);
        b.arg(&bufs.w)
            .arg(&nb32)
            .arg(&self.centred)
            .arg(&self.ud)
            .arg(&self.sc)
            .arg(&bufs.top_p)
            .arg(&self.dep_pos)
            .arg(&self.n_dep)
            .arg(&mut bufs.cand)
            .arg(&mut bufs.thr);
        // SAFETY: as for scan; `centred`/`ud` hold the extended cycle, `sc`
        // 16 scales, `dep_pos` n_dep positions, `cand` nb·top_k records of
        // OUT_WORDS words, `thr` nb entries.
        unsafe { b.launch(launch(nb32.div_ceil(THREADS), THREADS)) }
            .map_err(gpu_err("failed to launch fit_first"))?;
        let rest = nb * (k - 1);
        let rest32 = u32::try_from(rest.div_ceil(THREADS as usize))
            .map_err(|_| Error::InvalidInput(format!("{nb} blocks in one launch")))?;
        let mut b = s.launch_builder(&self.fit_rest);
        b.arg(&bufs.w)
            .arg(&nb32)
            .arg(&self.centred)
            .arg(&self.ud)
            .arg(&self.sc)
            .arg(&bufs.top_b)
            .arg(&bufs.top_p)
            .arg(&bufs.thr)
            .arg(&mut bufs.cand);
        // SAFETY: as for fit_first; one thread per (block, slot 1..top_k).
        unsafe { b.launch(launch(rest32, THREADS)) }
            .map_err(gpu_err("failed to launch fit_rest"))?;
        let mut b = s.launch_builder(&self.pick);
        b.arg(&bufs.w)
            .arg(&nb32)
            .arg(&bufs.top_b)
            .arg(&bufs.cand)
            .arg(&mut bufs.out);
        // SAFETY: as for fit_first; `out` holds nb records.
        unsafe { b.launch(launch(nb32.div_ceil(THREADS), THREADS)) }
            .map_err(gpu_err("failed to launch pick"))?;
        let mut words = vec![0u64; nb * OUT_WORDS];
        s.memcpy_dtoh(&bufs.out.slice(..nb * OUT_WORDS), &mut words)
            .map_err(gpu_err("fitting failed"))?;
        sync("fitting failed")?;
        let t3 = Instant::now();

        let flagged: Vec<u32> = (0..nb32)
            .filter(|&i| words[i as usize * OUT_WORDS + 1] >> 63 != 0)
            .collect();
        if !flagged.is_empty() {
            let which = s.clone_htod(&flagged).map_err(&alloc)?;
            let mut res = s
                .alloc_zeros::<u64>(flagged.len() * OUT_WORDS)
                .map_err(&alloc)?;
            let mut b = s.launch_builder(&self.rescan);
            b.arg(&bufs.w)
                .arg(&which)
                .arg(&self.u)
                .arg(&self.rec)
                .arg(&self.centred)
                .arg(&self.ud)
                .arg(&self.sc)
                .arg(&self.ill_pos)
                .arg(&self.ill_q)
                .arg(&self.n_ill)
                .arg(&bufs.out)
                .arg(&mut res);
            // SAFETY: as for scan and fit_first; `which` holds one block
            // index below nb per thread-block launched, `res` one record per
            // thread-block.
            unsafe { b.launch(launch(flagged.len() as u32, RESCAN_THREADS)) }
                .map_err(gpu_err("failed to launch rescan"))?;
            let res = s.clone_dtoh(&res).map_err(gpu_err("rescan failed"))?;
            for (&i, r) in flagged.iter().zip(res.chunks_exact(OUT_WORDS)) {
                words[i as usize * OUT_WORDS..][..OUT_WORDS].copy_from_slice(r);
            }
        }
        let t4 = Instant::now();
        {
            let mut st = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            st.blocks += nb;
            st.rescanned += flagged.len();
            st.upload_s += (t1 - t0).as_secs_f64();
            st.scan_s += (t2 - t1).as_secs_f64();
            st.fit_s += (t3 - t2).as_secs_f64();
            st.rescan_s += (t4 - t3).as_secs_f64();
        }
        Ok(words
            .chunks_exact(OUT_WORDS)
            .map(|r| decode(&cfg, r))
            .collect())
    }
}

/// Bounds kept per block and segment by the weighted scan.
const WEIGHTED_TOP_K: u32 = 8;

/// Scan threads the weighted search aims for: a column group's few thousand
/// blocks are each scanned in up to [`MAX_SEGMENTS`] segments of the cycle.
const WEIGHTED_THREADS: usize = 1 << 17;

/// Most segments per block in the weighted scan.
const MAX_SEGMENTS: usize = 128;

/// The weighted search's compiled kernels, per-metric tables and buffers.
struct WeightedKernels {
    neighbours: bool,
    _module: Arc<CudaModule>,
    tables: CudaFunction,
    scan: CudaFunction,
    fit_first: CudaFunction,
    fit_rest: CudaFunction,
    pick: CudaFunction,
    rescan: CudaFunction,
    /// The scan records of the current metric (as `GpuSearcher::rec`).
    rec: CudaSlice<f32>,
    /// Ill windows (room for every position) and their f32 bases.
    ill_pos: CudaSlice<u32>,
    ill_q: CudaSlice<f32>,
    /// Windows with dependent columns.
    dep_pos: CudaSlice<u32>,
    /// Number of ill and of dependent windows.
    counts: CudaSlice<u32>,
    /// The metric factor `A`, row-major.
    a: CudaSlice<f64>,
    bufs: Option<WeightedBuffers>,
}

/// Device buffers of weighted launches: room for `blocks` blocks and
/// `entries` kept bounds (blocks × slots).
struct WeightedBuffers {
    blocks: usize,
    entries: usize,
    pre: CudaSlice<f32>,
    zk: CudaSlice<f64>,
    top_b: CudaSlice<f32>,
    top_p: CudaSlice<u32>,
    cand: CudaSlice<u64>,
    thr: CudaSlice<f64>,
    out: CudaSlice<u64>,
}

/// A block of the weighted search prepared on the host (as fast.rs's
/// `Batch::new`): `Mw` and `Aᵀw` normalised by `2^k` (f32) and
/// `||Aᵀw||²·4^k`, then `Aᵀw` (f64, exactly the CPU's) and `k`.
fn prepare(metric: &Metric, c: usize, w64: &[f64], pre: &mut Vec<f32>, zk: &mut Vec<f64>) -> bool {
    let z = metric.at(w64);
    let v = metric.a(&z[..c]);
    let ss: f64 = z[..c].iter().map(|x| x * x).sum();
    if !ss.is_normal() {
        return false;
    }
    let k = (-0.5 * ss.log2()).round() as i32;
    let scale = 2f64.powi(k);
    pre.extend(v[..c].iter().map(|x| (x * scale) as f32));
    pre.extend(z[..c].iter().map(|x| (x * scale) as f32));
    pre.push((ss * scale * scale) as f32);
    zk.extend_from_slice(&z[..c]);
    zk.push(k as f64);
    true
}

impl GpuSearcher {
    /// The weighted search of the calibrated mode ([`super::weighted`]):
    /// every block of `weights` (length a multiple of `C`, finite) under
    /// `metric`, the same blocks as [`Weighted::search_batch`] with the same
    /// metric and `neighbours`, bit for bit. Meant for one column group per
    /// call (the metric's tables are built on the device each call).
    pub fn search_weighted(
        &self,
        metric: &Metric,
        neighbours: bool,
        weights: &[f32],
    ) -> Result<Vec<Found>> {
        self.search_weighted_inner(metric, neighbours, weights, None)
    }

    /// Every position's f32 bound (normalised units) of the weighted scan
    /// for each block of `weights` (all nonzero and seen by the metric),
    /// `2^K - 1` per block, as [`GpuSearcher::bounds`]. For tests.
    pub fn weighted_bounds(&self, metric: &Metric, weights: &[f32]) -> Result<Vec<f32>> {
        self.cpu.check_weights(weights)?;
        let n = self.config().num_seeds() as usize;
        let blocks = weights.len() / self.config().c;
        let mut all = self
            .stream
            .alloc_zeros::<f32>(blocks.max(1) * n)
            .map_err(gpu_err("failed to allocate the bound dump"))?;
        self.search_weighted_inner(metric, false, weights, Some(&mut all))?;
        let mut v = self
            .stream
            .clone_dtoh(&all)
            .map_err(gpu_err("failed to copy the bounds back"))?;
        v.truncate(blocks * n);
        Ok(v)
    }

    fn search_weighted_inner(
        &self,
        metric: &Metric,
        neighbours: bool,
        weights: &[f32],
        mut dump: Option<&mut CudaSlice<f32>>,
    ) -> Result<Vec<Found>> {
        self.cpu.check_weights(weights)?;
        let cfg = *self.config();
        let c = cfg.c;
        let t0 = Instant::now();
        let mut found = vec![zero_block(); weights.len() / c];
        let (mut live, mut pre, mut zk) = (Vec::new(), Vec::new(), Vec::new());
        let mut host = None;
        for (i, w) in weights.chunks_exact(c).enumerate() {
            let w64 = super::to_f64(&cfg, w);
            if w64[..c].iter().all(|&x| x == 0.0) {
                continue;
            }
            if prepare(metric, c, &w64[..c], &mut pre, &mut zk) {
                live.push(i);
            } else {
                // A nonzero block the metric does not see: the CPU's
                // reference search, as the CPU's fast path does.
                let naive =
                    host.get_or_insert_with(|| Weighted::naive_only(metric.clone(), neighbours));
                found[i] = naive.search_naive(&self.cpu, w);
            }
        }
        if dump.is_some() && live.len() != found.len() {
            return Err(Error::InvalidInput(
                "the weighted bound dump needs blocks the metric sees".into(),
            ));
        }
        let mut guard = self.weighted.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|k| k.neighbours != neighbours) {
            *guard = None;
            *guard = Some(self.weighted_kernels(neighbours)?);
        }
        let Some(kern) = guard.as_mut() else {
            unreachable!("made above")
        };
        let t1 = Instant::now();
        let s = &self.stream;
        let sync = |what: &str| s.synchronize().map_err(gpu_err(what));
        let launch = |grid: usize, block: u32| -> Result<LaunchConfig> {
            let grid = u32::try_from(grid.div_ceil(block as usize))
                .map_err(|_| Error::InvalidInput(format!("{grid} threads in one launch")))?;
            Ok(LaunchConfig {
                grid_dim: (grid.max(1), 1, 1),
                block_dim: (block, 1, 1),
                shared_mem_bytes: 0,
            })
        };

        // The metric's tables.
        let up = gpu_err("failed to upload the metric");
        s.memcpy_htod(&metric.factor_rows(), &mut kern.a)
            .map_err(&up)?;
        s.memset_zeros(&mut kern.counts).map_err(&up)?;
        let n = cfg.num_seeds() as usize;
        let linv_max = LINV_MAX / metric.lmax();
        let mut b = s.launch_builder(&kern.tables);
        b.arg(&self.u)
            .arg(&self.ud)
            .arg(&kern.a)
            .arg(&linv_max)
            .arg(&mut kern.rec)
            .arg(&mut kern.ill_pos)
            .arg(&mut kern.ill_q)
            .arg(&mut kern.dep_pos)
            .arg(&mut kern.counts);
        // SAFETY: the arguments match `wtables` in gpu.cu; `u`/`ud` hold the
        // extended cycle, `a` C·C entries, `rec` 2^K - 1 records, the ill and
        // dependent lists room for every position (2^K - 1; `ill_q` C·P
        // floats each), `counts` two words.
        unsafe { b.launch(launch(n, THREADS)?) }.map_err(gpu_err("failed to launch wtables"))?;
        sync("wtables failed")?;
        let t2 = Instant::now();
        let mut st = Stats {
            host_s: (t1 - t0).as_secs_f64(),
            tables_s: (t2 - t1).as_secs_f64(),
            ..Stats::default()
        };

        let chunk = self.tuning.chunk;
        for (part, idx) in live.chunks(chunk).enumerate() {
            let nb = idx.len();
            let nb32 = nb as u32;
            let groups = nb.div_ceil(self.tuning.blocks_per_thread as usize);
            let nseg = WEIGHTED_THREADS.div_ceil(groups).clamp(1, MAX_SEGMENTS);
            let nseg32 = nseg as u32;
            let slots = nseg * WEIGHTED_TOP_K as usize;
            let t3 = Instant::now();
            let alloc = gpu_err("failed to allocate device memory");
            if kern
                .bufs
                .as_ref()
                .is_none_or(|b| b.blocks < nb || b.entries < nb * slots)
            {
                kern.bufs = None;
                let blocks = nb.max(1 << 12);
                let entries = (nb * slots).max(1 << 16);
                kern.bufs = Some(WeightedBuffers {
                    blocks,
                    entries,
                    pre: s.alloc_zeros::<f32>(blocks * (2 * c + 1)).map_err(&alloc)?,
                    zk: s.alloc_zeros::<f64>(blocks * (c + 1)).map_err(&alloc)?,
                    top_b: s.alloc_zeros::<f32>(entries).map_err(&alloc)?,
                    top_p: s.alloc_zeros::<u32>(entries).map_err(&alloc)?,
                    cand: s.alloc_zeros::<u64>(entries * OUT_WORDS).map_err(&alloc)?,
                    thr: s.alloc_zeros::<f64>(blocks).map_err(&alloc)?,
                    out: s.alloc_zeros::<u64>(blocks * OUT_WORDS).map_err(&alloc)?,
                });
            }
            let Some(bufs) = kern.bufs.as_mut() else {
                unreachable!("allocated above")
            };
            let at = part * chunk;
            let copy = gpu_err("failed to copy blocks to the device");
            s.memcpy_htod(
                &pre[at * (2 * c + 1)..(at + nb) * (2 * c + 1)],
                &mut bufs.pre,
            )
            .map_err(&copy)?;
            s.memcpy_htod(&zk[at * (c + 1)..(at + nb) * (c + 1)], &mut bufs.zk)
                .map_err(&copy)?;
            sync("failed to copy blocks to the device")?;
            let t4 = Instant::now();

            let null = 0u64;
            let mut b = s.launch_builder(&kern.scan);
            b.arg(&bufs.pre)
                .arg(&nb32)
                .arg(&nseg32)
                .arg(&self.u)
                .arg(&kern.rec)
                .arg(&kern.ill_pos)
                .arg(&kern.ill_q)
                .arg(&kern.counts)
                .arg(&mut bufs.top_b)
                .arg(&mut bufs.top_p);
            match dump.as_mut() {
                Some(d) => b.arg(&mut **d),
                None => b.arg(&null),
            };
            // SAFETY: the arguments match `wscan`; `pre` holds nb records of
            // 2C + 1 floats, `top_b`/`top_p` nb·nseg·top_k entries, the dump
            // (only with every block live) nb·(2^K - 1); the tables as above.
            unsafe { b.launch(launch(groups * nseg, THREADS)?) }
                .map_err(gpu_err("failed to launch wscan"))?;
            sync("wscan failed")?;
            let t5 = Instant::now();

            let mut b = s.launch_builder(&kern.fit_first);
            b.arg(&bufs.zk)
                .arg(&nb32)
                .arg(&nseg32)
                .arg(&self.centred)
                .arg(&self.ud)
                .arg(&kern.a)
                .arg(&bufs.top_b)
                .arg(&bufs.top_p)
                .arg(&kern.dep_pos)
                .arg(&kern.counts)
                .arg(&mut bufs.cand)
                .arg(&mut bufs.thr);
            // SAFETY: the arguments match `wfit_first`; `zk` holds nb records
            // of C + 1 doubles, `cand` nb·nseg·top_k records, `thr` nb.
            unsafe { b.launch(launch(nb, THREADS)?) }
                .map_err(gpu_err("failed to launch wfit_first"))?;
            let mut b = s.launch_builder(&kern.fit_rest);
            b.arg(&bufs.zk)
                .arg(&nb32)
                .arg(&nseg32)
                .arg(&self.centred)
                .arg(&self.ud)
                .arg(&kern.a)
                .arg(&bufs.top_b)
                .arg(&bufs.top_p)
                .arg(&bufs.thr)
                .arg(&mut bufs.cand);
            // SAFETY: as for wfit_first; one thread per (block, slot).
            unsafe { b.launch(launch(nb * slots, THREADS)?) }
                .map_err(gpu_err("failed to launch wfit_rest"))?;
            let mut b = s.launch_builder(&kern.pick);
            b.arg(&bufs.zk)
                .arg(&nb32)
                .arg(&nseg32)
                .arg(&bufs.top_b)
                .arg(&bufs.cand)
                .arg(&mut bufs.out);
            // SAFETY: as for wfit_first; `out` holds nb records.
            unsafe { b.launch(launch(nb, THREADS)?) }.map_err(gpu_err("failed to launch wpick"))?;
            let mut words = vec![0u64; nb * OUT_WORDS];
            s.memcpy_dtoh(&bufs.out.slice(..nb * OUT_WORDS), &mut words)
                .map_err(gpu_err("fitting failed"))?;
            sync("fitting failed")?;
            let t6 = Instant::now();

            let flagged: Vec<u32> = (0..nb32)
                .filter(|&i| words[i as usize * OUT_WORDS + 1] >> 63 != 0)
                .collect();
            if !flagged.is_empty() {
                let which = s.clone_htod(&flagged).map_err(&alloc)?;
                let mut res = s
                    .alloc_zeros::<u64>(flagged.len() * OUT_WORDS)
                    .map_err(&alloc)?;
                let mut b = s.launch_builder(&kern.rescan);
                b.arg(&bufs.pre)
                    .arg(&bufs.zk)
                    .arg(&which)
                    .arg(&self.u)
                    .arg(&kern.rec)
                    .arg(&self.centred)
                    .arg(&self.ud)
                    .arg(&kern.a)
                    .arg(&kern.ill_pos)
                    .arg(&kern.ill_q)
                    .arg(&kern.counts)
                    .arg(&bufs.out)
                    .arg(&mut res);
                // SAFETY: as above; `which` holds one block index below nb
                // per thread-block launched, `res` one record per thread-block.
                unsafe {
                    b.launch(LaunchConfig {
                        grid_dim: (flagged.len() as u32, 1, 1),
                        block_dim: (RESCAN_THREADS, 1, 1),
                        shared_mem_bytes: 0,
                    })
                }
                .map_err(gpu_err("failed to launch wrescan"))?;
                let res = s.clone_dtoh(&res).map_err(gpu_err("wrescan failed"))?;
                for (&i, r) in flagged.iter().zip(res.chunks_exact(OUT_WORDS)) {
                    words[i as usize * OUT_WORDS..][..OUT_WORDS].copy_from_slice(r);
                }
            }
            let t7 = Instant::now();
            for (&i, r) in idx.iter().zip(words.chunks_exact(OUT_WORDS)) {
                found[i] = decode(&cfg, r);
            }
            st.blocks += nb;
            st.rescanned += flagged.len();
            st.upload_s += (t4 - t3).as_secs_f64();
            st.scan_s += (t5 - t4).as_secs_f64();
            st.fit_s += (t6 - t5).as_secs_f64();
            st.rescan_s += (t7 - t6).as_secs_f64();
            st.host_s += t7.elapsed().as_secs_f64();
        }
        let mut total = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        total.blocks += st.blocks;
        total.rescanned += st.rescanned;
        total.upload_s += st.upload_s;
        total.scan_s += st.scan_s;
        total.fit_s += st.fit_s;
        total.rescan_s += st.rescan_s;
        total.tables_s += st.tables_s;
        total.host_s += st.host_s;
        Ok(found)
    }

    /// Compiles the weighted kernels and allocates the per-metric tables.
    fn weighted_kernels(&self, neighbours: bool) -> Result<WeightedKernels> {
        let cfg = *self.config();
        let defines = defines(&cfg, WEIGHTED_TOP_K, &self.tuning, Some(neighbours));
        let module = compile(self.stream.context(), &defines)?;
        let load = |f: &str| {
            module
                .load_function(f)
                .map_err(|e| Error::Gpu(format!("kernel {f}: {e}")))
        };
        let s = &self.stream;
        let n = cfg.num_seeds() as usize;
        let alloc = gpu_err("failed to allocate the weighted search's tables");
        Ok(WeightedKernels {
            neighbours,
            tables: load("wtables")?,
            scan: load("wscan")?,
            fit_first: load("wfit_first")?,
            fit_rest: load("wfit_rest")?,
            pick: load("wpick")?,
            rescan: load("wrescan")?,
            rec: s.alloc_zeros::<f32>(n * rec_len(&cfg)).map_err(&alloc)?,
            ill_pos: s.alloc_zeros::<u32>(n).map_err(&alloc)?,
            ill_q: s.alloc_zeros::<f32>(n * cfg.c * cfg.p).map_err(&alloc)?,
            dep_pos: s.alloc_zeros::<u32>(n).map_err(&alloc)?,
            counts: s.alloc_zeros::<u32>(2).map_err(&alloc)?,
            a: s.alloc_zeros::<f64>(cfg.c * cfg.c).map_err(&alloc)?,
            bufs: None,
            _module: module,
        })
    }
}

/// One result record (`put` in gpu.cu: the error's bits; seed in bits
/// 0-23, exponent + 8 in 24-27, mantissa `j` in `28 + 4j`) as a [`Found`].
fn decode(cfg: &Config, r: &[u64]) -> Found {
    let x = r[1];
    let mut q = [0i8; MAX_P];
    for (j, qj) in q.iter_mut().enumerate().take(cfg.p) {
        // The nibble, sign-extended.
        *qj = (((x >> (28 + 4 * j)) as u8) << 4) as i8 >> 4;
    }
    Found {
        block: Block {
            seed: (x & 0xff_ffff) as u32,
            exp: ((x >> 24) & 15) as i8 + EXP_MIN,
            q,
        },
        err: f64::from_bits(r[0]),
    }
}
