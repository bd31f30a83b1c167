//! `seedlm bench`: the linear layers of Llama models as CPU mat-vecs, f32
//! and f16 against SeedLM 4-bit and 3-bit decoded on the fly, timed side by
//! side in one run against the machine's measured memory bandwidth; and
//! (`--model-board`) the performance model of the engine on FPGA boards.
//!
//! Weights are synthetic (uniform f32, random SeedLM blocks): the kernels'
//! speed does not depend on the values, so nothing is compressed. Each
//! distinct shape of the models' linear layers and of the calls the runtime
//! makes ([`ModelShape::calls`]: q/k/v and gate/up stacked) is timed once;
//! a model's time per token is the sum over its calls times its blocks.
//!
//! In a token every matrix is read once, from memory; a kernel called over
//! and over on the same weights would be served from the last-level cache
//! (hundreds of MiB on a server). So each shape's weights are built in as
//! many copies as make up the [`WorkingSet`] (several times the cache) and
//! every call reads the next copy: a kernel comes back to a copy only after
//! all the others were read. A step calls each kernel once, one after the
//! other, so all see the same machine state; each call is timed alone, and
//! the median of the repetitions is reported. The bandwidth probe's
//! buffers are the working set too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use half::f16;
use seedlm::container::temp_beside;
use seedlm::fixed::{quantize_activations, BlockMatrix, QuantizedActs};
use seedlm::kernel::{Isa, SeedMatrix};
use seedlm::Config;
use seedlm_host::device::{self, OpenOptions};
use seedlm_host::llama::fused::CALLS;
use seedlm_host::perf::board::{Board, Pcie};
use seedlm_host::perf::cpu::{
    bandwidth, matvec_f16, matvec_f32, median, random_blocks, random_f32, Bandwidth, WorkingSet,
};
use seedlm_host::perf::engine::{Geometry, BUS_BITS};
use seedlm_host::perf::shapes::{
    distinct_shapes, find_model, llama_models, smollm2_135m, ModelShape,
};
use seedlm_host::perf::token::{engines_for, token_time, Mode};

use super::Table;

/// Arguments of `seedlm bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Models whose layer shapes to time, comma-separated (smollm2-135m,
    /// llama2-7b, llama3-8b, llama2-13b, llama2-70b, llama3-70b; default:
    /// the five Llama models).
    #[arg(long, value_delimiter = ',', value_name = "NAME,..")]
    pub models: Vec<String>,
    /// Small shapes only (SmolLM2-135M): a run of a few seconds.
    #[arg(long)]
    pub quick: bool,
    /// Timed repetitions of each kernel (the median is reported).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub repeat: usize,
    /// MiB every timed read cycles through, so that it comes from memory
    /// and not from the last-level cache: the bandwidth probe's buffers,
    /// and per layer shape the copies of all kernels' weights, read in
    /// turn (default: 4x the last-level cache in sysfs, at most half the
    /// available memory; --quick: 64 MiB, cache-resident).
    #[arg(long, value_name = "MIB")]
    pub working_set: Option<u64>,
    /// Worker threads (0: one per core; at most 1024).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = super::threads_arg())]
    pub threads: usize,
    /// Also write the results to FILE: CSV for `.csv`, else JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also time one call per layer shape on a device backend (`emu`, or
    /// `verilator` with the feature: small shapes only), both
    /// configurations, with the engine cycles it reports next to the model's.
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Lanes of the emulated/simulated engine for `--backend`.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub lanes: usize,
    /// Print the board performance model instead of timing the CPU.
    #[arg(long)]
    pub model_board: bool,
    /// Boards of the model, comma-separated (u55c, u250).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "u55c,u250",
        value_name = "NAME,.."
    )]
    pub boards: Vec<String>,
    /// Engine clock of the model in MHz (default: the board's, 300).
    #[arg(long, value_name = "MHZ")]
    pub clock_mhz: Option<f64>,
    /// Engines side by side in the model (default: as many as the memory
    /// feeds, its bandwidth over one engine's, rounded: 24 on the U55C, 4
    /// on the U250).
    #[arg(long, value_name = "N")]
    pub engines: Option<usize>,
    /// PCIe link of the model, e.g. gen3x16 or gen4x8 (default: the board's).
    #[arg(long, value_name = "LINK")]
    pub pcie: Option<String>,
    /// The host's fixed cost of one engine call in microseconds: register
    /// writes, DMA descriptors, completion polls (default: the board's, 3).
    /// The shell's cycles are modelled apart (seedlm::hw::shell::OverheadModel).
    #[arg(long, value_name = "US")]
    pub call_us: Option<f64>,
}

/// Runs `seedlm bench`.
pub fn run(args: &Args) -> Result<()> {
    let models = chosen_models(args)?;
    if args.model_board {
        return model_board(args, &models);
    }
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    if let Some(out) = &args.out {
        // A report is rewritten on every run: no --force, but never over an
        // input or anything but a regular file.
        super::output::check(out, &super::output::Inputs::new::<&Path>(&[]), true)?;
    }
    let pool = super::thread_pool(args.threads)?;
    let report = pool.install(|| cpu_bench(args, &models))?;
    print!("{}", report.render());
    match &args.backend {
        Some(spec) => print!("{}", backend_table(spec, args.lanes, &report.shapes)?),
        None => println!("(device backends: --backend emu, or verilator with the feature)"),
    }
    if let Some(out) = &args.out {
        report
            .write(out)
            .with_context(|| format!("failed to write {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn chosen_models(args: &Args) -> Result<Vec<ModelShape>> {
    if !args.models.is_empty() {
        return args
            .models
            .iter()
            .map(|n| find_model(n).map_err(anyhow::Error::msg))
            .collect();
    }
    Ok(if args.quick {
        vec![smollm2_135m()]
    } else {
        llama_models()
    })
}

/// The kernels, in table order: SeedLM in the float form of the `cpu`
/// backend, and in the integer form of `emu` and `golden` (`int`,
/// activations quantized per call).
const KERNELS: [&str; NK] = [
    "f32",
    "f16",
    "seedlm-4bit",
    "seedlm-3bit",
    "seedlm-4bit int",
    "seedlm-3bit int",
];

/// Number of kernels.
const NK: usize = 6;

/// The working set of `--quick`: small enough to build in a moment, so the
/// weights are cache-resident and the times flattered.
const QUICK_WORKING_SET: u64 = 64 << 20;

/// Seconds a sample's steps take at least, all kernels together.
const SAMPLE_S: f64 = 0.05;

/// Median seconds and bytes moved of each kernel on one shape.
struct ShapeResult {
    rows: usize,
    cols: usize,
    /// Copies of the weights the calls rotated through.
    copies: usize,
    /// Bytes of all kernels' weights in all copies: one cycle.
    cycle_bytes: u64,
    /// Per kernel: (bytes moved per call, median seconds per call).
    kernels: [(u64, f64); NK],
}

/// Everything one CPU run measured.
struct Report {
    threads: usize,
    working_set: WorkingSet,
    bandwidth: Bandwidth,
    shapes: Vec<ShapeResult>,
    models: Vec<ModelShape>,
}

fn cpu_bench(args: &Args, models: &[ModelShape]) -> Result<Report> {
    let threads = rayon::current_num_threads();
    let mut ws = WorkingSet::detect();
    match args.working_set {
        Some(0) => bail!("--working-set must be at least 1 MiB"),
        Some(mib) => {
            ws.bytes = mib
                .checked_mul(1 << 20)
                .with_context(|| format!("--working-set {mib} MiB overflows"))?;
            ws.capped_at = None;
        }
        None if args.quick => {
            ws.bytes = QUICK_WORKING_SET;
            ws.capped_at = None;
        }
        None => {}
    }
    let probe = usize::try_from(ws.bytes).context("--working-set exceeds the address space")?;
    eprintln!(
        "measuring memory bandwidth ({} MiB of buffers)...",
        ws.bytes >> 20
    );
    let bw = bandwidth(probe, 5);
    let shapes = distinct_shapes(models);
    let mut results = Vec::new();
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        eprintln!("[{}/{}] {rows}x{cols}", i + 1, shapes.len());
        results.push(time_shape(rows, cols, args.repeat, &ws)?);
    }
    Ok(Report {
        threads,
        working_set: ws,
        bandwidth: bw,
        shapes: results,
        models: models.to_vec(),
    })
}

/// One copy of every kernel's weights for one shape; SeedLM's integer
/// forms have their own, so no kernel reads what another just read.
struct Weights {
    w32: Vec<f32>,
    w16: Vec<f16>,
    /// SeedLM 4-bit and 3-bit for the float forms, then for the integer.
    seed: [SeedMatrix; 4],
}

impl Weights {
    /// Random weights of `rows x cols` from `seed`, each kernel's its own.
    fn random(rows: usize, cols: usize, seed: u64) -> Result<Weights> {
        let seed_matrix = |cfg: Config, seed| -> Result<SeedMatrix> {
            let blocks = random_blocks(&cfg, rows * cols.div_ceil(cfg.c), seed);
            SeedMatrix::new(&BlockMatrix {
                cfg,
                rows,
                cols,
                blocks: &blocks,
            })
            .with_context(|| format!("failed to build a {rows}x{cols} SeedLM matrix"))
        };
        let w16 = random_f32(rows * cols, seed + 1)
            .iter()
            .map(|&v| f16::from_f32(v))
            .collect();
        Ok(Weights {
            w32: random_f32(rows * cols, seed),
            w16,
            seed: [
                seed_matrix(Config::BITS4, seed + 2)?,
                seed_matrix(Config::BITS3, seed + 3)?,
                seed_matrix(Config::BITS4, seed + 4)?,
                seed_matrix(Config::BITS3, seed + 5)?,
            ],
        })
    }

    /// Bytes of all kernels' weights.
    fn bytes(&self) -> u64 {
        let seed: usize = self.seed.iter().map(SeedMatrix::bytes).sum();
        (4 * self.w32.len() + 2 * self.w16.len() + seed) as u64
    }
}

/// `copies` copies of random weights of `rows x cols`, the first being
/// `first`, each from its own seeds: they differ from the first copy's in
/// bits 48 and up, which the random streams' per-chunk seeds
/// (`seed ^ chunk << 20`) never reach, so no two pages are alike for the
/// host to merge.
fn more_copies(first: Weights, rows: usize, cols: usize, copies: usize) -> Result<Vec<Weights>> {
    let base = (rows as u64) << 32 | cols as u64;
    let mut out = vec![first];
    for c in 1..copies {
        out.push(Weights::random(rows, cols, base ^ (c as u64) << 48)?);
    }
    Ok(out)
}

/// Per kernel, `repeat` samples of seconds per call. A sample runs
/// `steps` steps; a step calls every kernel once, one after the other, on
/// copy `c`, and the next step on copy `c + 1` (cyclically), so a kernel
/// comes back to a copy only after all the others were read. `call(k, c)`
/// runs kernel `k` on copy `c` and returns its seconds.
fn samples(
    copies: usize,
    repeat: usize,
    steps: usize,
    mut call: impl FnMut(usize, usize) -> Result<f64>,
) -> Result<Vec<Vec<f64>>> {
    let mut out: Vec<Vec<f64>> = (0..NK).map(|_| Vec::with_capacity(repeat)).collect();
    let mut c = 0;
    for _ in 0..repeat {
        let mut secs = [0f64; NK];
        for _ in 0..steps {
            for (k, s) in secs.iter_mut().enumerate() {
                *s += call(k, c)?;
            }
            c = (c + 1) % copies;
        }
        for (o, s) in out.iter_mut().zip(secs) {
            o.push(s / steps as f64);
        }
    }
    Ok(out)
}

/// Times the kernels on one shape, interleaved, each call on weights not
/// read since the rest of the working set was.
fn time_shape(rows: usize, cols: usize, repeat: usize, ws: &WorkingSet) -> Result<ShapeResult> {
    let seed = (rows as u64) << 32 | cols as u64;
    let first = Weights::random(rows, cols, seed)?;
    let copies = ws.copies(first.bytes());
    eprintln!(
        "  building {copies} copies of the weights ({:.1} MiB each)",
        first.bytes() as f64 / (1 << 20) as f64
    );
    let sets = more_copies(first, rows, cols, copies)?;
    let cycle_bytes = sets.iter().map(Weights::bytes).sum();
    let x = random_f32(cols, seed + 6);
    let mut y = vec![0f32; rows];
    let io = 4 * (rows + cols) as u64;
    let seed_bytes = |i: usize| sets[0].seed[i].bytes() as u64 + io;
    let bytes = [
        4 * (rows * cols) as u64 + io,
        2 * (rows * cols) as u64 + io,
        seed_bytes(0),
        seed_bytes(1),
        seed_bytes(2),
        seed_bytes(3),
    ];
    // The integer form as a device backend pays it: quantize, accumulate,
    // scale back.
    let int = |m: &SeedMatrix, y: &mut [f32]| -> Result<()> {
        let q: QuantizedActs = quantize_activations(&x)?;
        let acc = m.matvec_acc(&[&q])?;
        for (yi, &a) in y.iter_mut().zip(&acc[0]) {
            *yi = seedlm::fixed::acc_to_f32(m.config(), a, q.scale);
        }
        Ok(())
    };
    let mut call = |k: usize, c: usize| -> Result<f64> {
        let w = &sets[c];
        let t = Instant::now();
        match k {
            0 => matvec_f32(&w.w32, &x, &mut y),
            1 => matvec_f16(&w.w16, &x, &mut y),
            2 | 3 => w.seed[k - 2].matvec_f32(&x, &mut y)?,
            _ => int(&w.seed[k - 2], &mut y)?,
        }
        let secs = t.elapsed().as_secs_f64();
        std::hint::black_box(&y);
        Ok(secs)
    };
    // Warm-up on the last copy (the samples start at the first), and
    // enough steps per sample that one takes >= SAMPLE_S.
    let mut step = 0.0;
    for k in 0..NK {
        step += call(k, copies - 1)?;
    }
    let steps = ((SAMPLE_S / step.max(1e-9)).ceil() as usize).clamp(1, 10_000);
    eprintln!("  {repeat} samples of {steps} steps");
    let mut samples = samples(copies, repeat, steps, call)?;
    let mut kernels = [(0u64, 0f64); NK];
    for k in 0..NK {
        kernels[k] = (bytes[k], median(&mut samples[k]));
    }
    Ok(ShapeResult {
        rows,
        cols,
        copies,
        cycle_bytes,
        kernels,
    })
}

impl Report {
    fn shape(&self, rows: usize, cols: usize) -> &ShapeResult {
        self.shapes
            .iter()
            .find(|s| s.rows == rows && s.cols == cols)
            .expect("every layer shape was timed")
    }

    /// Per model and kernel: (bytes per token, seconds per token) of the
    /// calls of its blocks as the runtime makes them.
    fn model_totals(&self, m: &ModelShape) -> [(u64, f64); NK] {
        let mut tot = [(0u64, 0f64); NK];
        for l in m.calls() {
            let s = self.shape(l.rows, l.cols);
            for (t, &(b, secs)) in tot.iter_mut().zip(&s.kernels) {
                t.0 += m.layers as u64 * b;
                t.1 += m.layers as f64 * secs;
            }
        }
        tot
    }

    fn render(&self) -> String {
        let gbs = |b: u64, s: f64| b as f64 / s / 1e9;
        let ws = &self.working_set;
        let mib = |b: u64| b >> 20;
        let mut out = format!(
            "CPU, {} threads, {} kernels; memory bandwidth (best of 5, {} MiB of buffers): copy {:.1} GB/s, read {:.1} GB/s\n",
            self.threads,
            Isa::detect().name(),
            mib(ws.bytes),
            self.bandwidth.copy / 1e9,
            self.bandwidth.read / 1e9
        );
        out.push_str(&format!(
            "Working set {} MiB: {:.1}x the last-level cache ({} MiB, {}){}; each shape's weights in copies read in turn, one cycle at least the working set\n",
            mib(ws.bytes),
            ws.bytes as f64 / ws.llc as f64,
            mib(ws.llc),
            if ws.llc_from_sysfs {
                "sysfs"
            } else {
                "assumed: sysfs has none"
            },
            match ws.capped_at {
                Some(c) => format!(", capped at half the available memory ({} MiB)", mib(c)),
                None => String::new(),
            }
        ));
        if ws.bytes < 2 * ws.llc {
            out.push_str("WARNING: working set under twice the last-level cache: reads partly from cache, times flattered\n");
        }
        out.push('\n');
        let mut t = Table::new(&[
            "layer (rows x cols)",
            "copies",
            "kernel",
            "MB moved",
            "time us",
            "GB/s",
            "% read bw",
            "vs f16",
            "vs f32",
        ]);
        for s in &self.shapes {
            let (t32, t16) = (s.kernels[0].1, s.kernels[1].1);
            for (k, &(b, secs)) in s.kernels.iter().enumerate() {
                t.row(vec![
                    if k == 0 {
                        format!("{}x{}", s.rows, s.cols)
                    } else {
                        String::new()
                    },
                    if k == 0 {
                        s.copies.to_string()
                    } else {
                        String::new()
                    },
                    KERNELS[k].into(),
                    format!("{:.2}", b as f64 / 1e6),
                    format!("{:.1}", secs * 1e6),
                    format!("{:.2}", gbs(b, secs)),
                    format!("{:.0}", 100.0 * b as f64 / secs / self.bandwidth.read),
                    format!("{:.2}x", t16 / secs),
                    format!("{:.2}x", t32 / secs),
                ]);
            }
        }
        out.push_str(&t.render());
        let calls: Vec<&str> = CALLS.iter().map(|c| c.0).collect();
        out.push_str(&format!(
            "\nPer token (all linear layers of the model, one token, in the calls of each block as the runtime makes them: {}):\n",
            calls.join(", ")
        ));
        let mut t = Table::new(&[
            "model", "kernel", "GB/token", "ms/token", "tokens/s", "vs f16", "vs f32",
        ]);
        for m in &self.models {
            let tot = self.model_totals(m);
            for (k, &(b, secs)) in tot.iter().enumerate() {
                t.row(vec![
                    if k == 0 {
                        m.name.to_string()
                    } else {
                        String::new()
                    },
                    KERNELS[k].into(),
                    format!("{:.3}", b as f64 / 1e9),
                    format!("{:.2}", secs * 1e3),
                    format!("{:.2}", 1.0 / secs),
                    format!("{:.2}x", tot[1].1 / secs),
                    format!("{:.2}x", tot[0].1 / secs),
                ]);
            }
        }
        out.push_str(&t.render());
        out
    }

    /// Writes CSV (`.csv`) or JSON, atomically (temp file, then rename).
    fn write(&self, path: &Path) -> Result<()> {
        let csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let text = if csv { self.csv() } else { self.json() };
        let mut tmp = temp_beside(path)
            .with_context(|| format!("failed to create a temp file for {}", path.display()))?;
        tmp.write_all(text.as_bytes())?;
        tmp.persist(path)?;
        Ok(())
    }

    fn csv(&self) -> String {
        let mut s = String::from(
            "scope,name,rows,cols,kernel,bytes,seconds,gb_per_s,speedup_vs_f16,speedup_vs_f32\n",
        );
        for r in &self.shapes {
            for (k, &(b, secs)) in r.kernels.iter().enumerate() {
                s.push_str(&format!(
                    "layer,{}x{},{},{},{},{b},{secs:.9},{:.3},{:.4},{:.4}\n",
                    r.rows,
                    r.cols,
                    r.rows,
                    r.cols,
                    KERNELS[k],
                    b as f64 / secs / 1e9,
                    r.kernels[1].1 / secs,
                    r.kernels[0].1 / secs
                ));
            }
        }
        for m in &self.models {
            let tot = self.model_totals(m);
            for (k, &(b, secs)) in tot.iter().enumerate() {
                s.push_str(&format!(
                    "token,{},,,{},{b},{secs:.9},{:.3},{:.4},{:.4}\n",
                    m.name,
                    KERNELS[k],
                    b as f64 / secs / 1e9,
                    tot[1].1 / secs,
                    tot[0].1 / secs
                ));
            }
        }
        s
    }

    fn json(&self) -> String {
        let layers: Vec<_> = self
            .shapes
            .iter()
            .map(|r| {
                let k: Vec<_> = r
                    .kernels
                    .iter()
                    .enumerate()
                    .map(|(k, &(b, secs))| {
                        serde_json::json!({"kernel": KERNELS[k], "bytes": b, "seconds": secs})
                    })
                    .collect();
                serde_json::json!({
                    "rows": r.rows,
                    "cols": r.cols,
                    "copies": r.copies,
                    "cycle_bytes": r.cycle_bytes,
                    "kernels": k
                })
            })
            .collect();
        let models: Vec<_> = self
            .models
            .iter()
            .map(|m| {
                let k: Vec<_> = self
                    .model_totals(m)
                    .iter()
                    .enumerate()
                    .map(|(k, &(b, secs))| {
                        serde_json::json!({"kernel": KERNELS[k], "bytes_per_token": b, "seconds_per_token": secs})
                    })
                    .collect();
                let calls: Vec<_> = m
                    .calls()
                    .iter()
                    .map(|l| serde_json::json!({"name": l.name, "rows": l.rows, "cols": l.cols}))
                    .collect();
                serde_json::json!({"model": m.name, "layers": m.layers, "calls": calls, "kernels": k})
            })
            .collect();
        let v = serde_json::json!({
            "threads": self.threads,
            "working_set": {
                "bytes": self.working_set.bytes,
                "llc_bytes": self.working_set.llc,
                "llc_from_sysfs": self.working_set.llc_from_sysfs,
                "capped_at_bytes": self.working_set.capped_at,
            },
            "bandwidth_bytes_per_s": {"copy": self.bandwidth.copy, "read": self.bandwidth.read},
            "layers": layers,
            "per_token": models,
        });
        format!("{v:#}\n")
    }
}

/// One call per shape and configuration on a device backend: wall time and
/// the engine's CYCLES against the cycle model.
fn backend_table(spec: &str, lanes: usize, shapes: &[ShapeResult]) -> Result<String> {
    let mut t = Table::new(&[
        "layer (rows x cols)",
        "backend",
        "config",
        "time us",
        "CYCLES",
        "model cycles",
    ]);
    for s in shapes {
        for cfg in [Config::BITS4, Config::BITS3] {
            // Room for the packed layer twice over and the vectors.
            let mem_size = ((s.rows * s.cols) as u64 + (64 << 20)).next_power_of_two();
            let opts = OpenOptions {
                cfg,
                lanes,
                mem_size,
            };
            let dev =
                device::open(spec, &opts).with_context(|| format!("failed to open {spec}"))?;
            let mut eng = device::Engine::new(dev)?;
            let blocks = random_blocks(&cfg, s.rows * s.cols.div_ceil(cfg.c), 11);
            let m = BlockMatrix {
                cfg,
                rows: s.rows,
                cols: s.cols,
                blocks: &blocks,
            };
            let layer = eng.load_layer(&m).with_context(|| {
                format!("failed to load a {}x{} layer on {spec}", s.rows, s.cols)
            })?;
            let x = random_f32(s.cols, 12);
            let t0 = Instant::now();
            eng.matvec(&layer, &x)?;
            let secs = t0.elapsed().as_secs_f64();
            let (cycles, _) = eng.last_cycles()?;
            let model = Geometry::seedlm(&cfg, lanes).cycles(s.rows, s.cols);
            t.row(vec![
                format!("{}x{}", s.rows, s.cols),
                spec.into(),
                format!("{}-bit, {lanes} lanes", cfg.bits_per_weight()),
                format!("{:.1}", secs * 1e6),
                if cycles == 0 {
                    "-".into()
                } else {
                    cycles.to_string()
                },
                model.to_string(),
            ]);
        }
    }
    Ok(format!(
        "\nDevice backend (one call each; CYCLES '-': no clock):\n{}",
        t.render()
    ))
}

/// `--model-board`: the performance model's tables.
fn model_board(args: &Args, models: &[ModelShape]) -> Result<()> {
    let g4 = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
    let g3 = Geometry::seedlm_for_bus(&Config::BITS3, BUS_BITS);
    let f16 = Geometry::fp16_for_bus(BUS_BITS);
    for name in &args.boards {
        let mut b = Board::by_name(name).map_err(anyhow::Error::msg)?;
        if let Some(mhz) = args.clock_mhz {
            if !(mhz > 0.0 && mhz.is_finite()) {
                bail!("--clock-mhz must be positive, got {mhz}");
            }
            b.clock_hz = mhz * 1e6;
        }
        if let Some(p) = &args.pcie {
            b.pcie = Pcie::parse(p).map_err(anyhow::Error::msg)?;
        }
        if let Some(us) = args.call_us {
            if !(us >= 0.0 && us.is_finite()) {
                bail!("--call-us must be >= 0, got {us}");
            }
            b.call_us = us;
        }
        let e = args.engines.unwrap_or_else(|| engines_for(&b, &g4));
        if e == 0 {
            bail!("--engines must be at least 1");
        }
        println!(
            "{}: memory {:.0} GB/s, {} GiB; PCIe {} ({:.1} GB/s per direction after overhead); {:.0} MHz; {e} engines of {} bits/cycle ({:.1} GB/s of weights); {} us host cost per call; shell cycles at memory latency {}/{} (read/write)",
            b.name,
            b.mem_bytes_per_s / 1e9,
            b.mem_capacity >> 30,
            b.pcie,
            b.pcie.bytes_per_s() / 1e9,
            b.clock_hz / 1e6,
            BUS_BITS,
            e as f64 * g4.word_bytes() as f64 * b.clock_hz / 1e9,
            b.call_us,
            b.read_latency,
            b.write_latency
        );
        let mut t = Table::new(&[
            "model",
            "FP16 ms/tok",
            "4-bit ms/tok",
            "3-bit ms/tok",
            "4b speed-up",
            "3b speed-up",
            "4b resident",
            "4b streaming",
            "4b overhead",
            "4b tok/s",
        ]);
        for m in models {
            let auto = |g: &Geometry| token_time(&b, g, e, m, Mode::Auto);
            let (a16, a4, a3) = (auto(&f16), auto(&g4), auto(&g3));
            let ratio = |mode| {
                token_time(&b, &f16, e, m, mode).total_s / token_time(&b, &g4, e, m, mode).total_s
            };
            let cell = |t: &seedlm_host::perf::token::TokenTime| {
                let tag = if t.mode == Mode::Streaming {
                    " (S)"
                } else {
                    ""
                };
                format!("{:.2}{tag}", t.total_s * 1e3)
            };
            t.row(vec![
                m.name.into(),
                cell(&a16),
                cell(&a4),
                cell(&a3),
                format!("{:.2}x", a16.total_s / a4.total_s),
                format!("{:.2}x", a16.total_s / a3.total_s),
                format!("{:.2}x", ratio(Mode::Resident)),
                format!("{:.2}x", ratio(Mode::Streaming)),
                format!("{:.0}%", 100.0 * a4.overhead_s / a4.total_s),
                format!("{:.1}", 1.0 / a4.total_s),
            ]);
        }
        print!("{}", t.render());
        println!();
    }
    println!(
        "(S): weights streamed over PCIe per token (they do not fit board memory); else resident.\n\
         speed-up: FP16 / SeedLM, each in its own mode; '4b resident'/'4b streaming': both in that mode.\n\
         4b overhead: share of the 4-bit token time in host call costs, the shell's cycles around the engine's, activations in and results out.\n\
         4b tok/s: 1 / 4-bit time per token (modelled, linear layers only: 4 calls per block, q/k/v and gate/up stacked as the runtime calls them)."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_samples_come_back_to_a_copy_after_all_others() {
        let mut seen = Vec::new();
        let out = samples(3, 2, 2, |k, c| {
            seen.push((k, c));
            Ok(k as f64 + 1.0)
        })
        .unwrap();
        // Steps on copies 0, 1 | 2, 0: every kernel once per step, in order.
        let want: Vec<(usize, usize)> = [0, 1, 2, 0]
            .into_iter()
            .flat_map(|c| (0..NK).map(move |k| (k, c)))
            .collect();
        assert_eq!(seen, want);
        for (k, s) in out.iter().enumerate() {
            assert_eq!(s, &[k as f64 + 1.0; 2], "per-call mean of kernel {k}");
        }
    }

    #[test]
    fn test_copies_are_distinct_weights() {
        let (rows, cols) = (8, 24);
        let sets = more_copies(Weights::random(rows, cols, 1).unwrap(), rows, cols, 3).unwrap();
        assert_eq!(sets.len(), 3);
        // SeedLM, twice over: 4-bit 3 blocks a row of 4-byte words, 3-bit
        // 2 of 8 bytes.
        let seed_bytes = (2 * (rows * 3 * 4 + rows * 2 * 8)) as u64;
        assert_eq!(sets[0].bytes(), (6 * rows * cols) as u64 + seed_bytes);
        // No two copies, and no two kernels of a copy, read the same values.
        let mut f32s: Vec<&[f32]> = sets.iter().map(|w| &w.w32[..]).collect();
        let f16s: Vec<Vec<f32>> = sets
            .iter()
            .map(|w| w.w16.iter().map(|v| v.to_f32()).collect())
            .collect();
        f32s.extend(f16s.iter().map(|v| &v[..]));
        let seeds: Vec<Vec<f32>> = sets
            .iter()
            .flat_map(|w| w.seed.iter().map(SeedMatrix::decode))
            .collect();
        f32s.extend(seeds.iter().map(|v| &v[..]));
        for (i, a) in f32s.iter().enumerate() {
            for b in &f32s[..i] {
                assert_ne!(a, b, "weights {i} repeat an earlier copy's");
            }
        }
    }

    #[test]
    fn test_token_totals_sum_the_runtime_calls() {
        // One second and one byte per weight on every shape: a token of
        // Llama-2-7B is 32 blocks of 4 calls, not 7 layers.
        let m = find_model("llama2-7b").unwrap();
        let shapes = distinct_shapes(std::slice::from_ref(&m))
            .into_iter()
            .map(|(rows, cols)| ShapeResult {
                rows,
                cols,
                copies: 1,
                cycle_bytes: 0,
                kernels: [((rows * cols) as u64, 1.0); NK],
            })
            .collect();
        let report = Report {
            threads: 1,
            working_set: WorkingSet::for_cache(None, None),
            bandwidth: Bandwidth {
                copy: 1.0,
                read: 1.0,
            },
            shapes,
            models: vec![m.clone()],
        };
        for (bytes, secs) in report.model_totals(&m) {
            assert_eq!(bytes, m.linear_params());
            assert_eq!(secs, 32.0 * 4.0);
        }
    }
}
