//! `seedlm compress`: checkpoint in, `.seedlm` out, resumable per tensor.
//!
//! **What is compressed.** A tensor is searched into seed blocks when it is
//! 2-D, is not a token embedding (`*embed*`, `token_embd*`; see
//! `--compress-embeddings`), matches `--include` (if given) and does not
//! match `--exclude`. The output head (`lm_head`, `output.weight`) is a
//! linear layer and is compressed. Everything else is stored raw: f32, f16
//! and bf16 exactly as they were; GGUF block-quantized tensors (Q8_0, Q4_0,
//! Q4_1) dequantized to f16 (within half an f16 ulp of the dequantized
//! value, far below their own quantization step; f32 would double their
//! size for nothing). Every tensor keeps its original dtype name.
//!
//! **Layout.** A `rows × cols` tensor is cut into `rows · ceil(cols / C)`
//! blocks, row-major, the last block of each row zero-padded: the layout of
//! `seedlm::container`.
//!
//! **Resuming.** Each searched tensor is saved (atomically, as a one-tensor
//! `.seedlm` file) in the sidecar directory `OUT.partial/`, next to a
//! manifest naming the input (path, and size and mtime of each of its
//! files) and the bit width. A rerun with the same input and `--bits`
//! reuses every finished tensor; a sidecar from a different run is refused
//! rather than mixed in. The output is written through a temporary file
//! renamed into place, so an interrupted run never leaves a half-written
//! `OUT`; the sidecar is removed once `OUT` is complete.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use half::f16;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use regex::Regex;
use seedlm::container::{RawDtype, TensorKind, Writer};
use seedlm::gptq::{self, Feedback, GroupTables};
use seedlm::magnitude;
use seedlm::search::{Found, Metric, Searcher, Weighted};
use seedlm::{Block, Config};
use seedlm_host::calib::Calibration;
use seedlm_host::checkpoint::{Checkpoint, Dtype, TensorMeta};
use seedlm_host::llama::load;
use std::collections::HashMap;

use super::gpu::{SearchDevice, SeedSearch};
use super::output::{self, Inputs};
use super::resume::{Manifest, Saved, Sidecar};
use super::{checks, fmt_bytes, is_embedding, printable};

/// Arguments of `seedlm compress`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Input checkpoint: a .safetensors file, a directory of .safetensors
    /// shards, or a .gguf file.
    pub input: PathBuf,
    /// Output .seedlm file (written to a temporary file, then renamed into
    /// place). Finished tensors are kept in OUTPUT.partial/ until it is done.
    #[arg(short, long, value_name = "OUT.seedlm")]
    pub output: PathBuf,
    /// Bits per weight: 4 (C=8, P=3, K=16) or 3 (C=12, P=4, K=16).
    #[arg(long, value_parser = clap::value_parser!(u32).range(3..=4))]
    pub bits: u32,
    /// Compress only 2-D tensors whose name matches this regex (others
    /// are stored raw).
    #[arg(long, value_name = "REGEX")]
    pub include: Option<Regex>,
    /// Store tensors whose name matches this regex raw, uncompressed.
    #[arg(long, value_name = "REGEX")]
    pub exclude: Option<Regex>,
    /// Where the seed search runs: cpu, or cuda (the first GPU; a build
    /// with the `cuda` feature). Both write the same bytes.
    #[arg(long, value_enum, default_value_t)]
    pub device: SearchDevice,
    /// Search threads (0: one per core; at most 1024).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = super::threads_arg())]
    pub threads: usize,
    /// Also compress token embeddings (*embed*, token_embd*), which are
    /// stored raw by default.
    #[arg(long)]
    pub compress_embeddings: bool,
    /// Replace OUTPUT if it exists (only ever a regular file that is not an
    /// input).
    #[arg(long)]
    pub force: bool,
    /// Calibrate on this text (UTF-8; a Project Gutenberg header is
    /// skipped): the dense model runs over it, and each linear layer's
    /// blocks minimise its output error (weighted exact search, GPTQ error
    /// feedback, neighbour rounding). Without it every block is the
    /// data-free search's.
    #[arg(long, value_name = "TEXT")]
    pub calib: Option<PathBuf>,
    /// Tokens of the calibration text used (from its start).
    #[arg(long, default_value_t = seedlm_host::calib::DEFAULT_TOKENS, value_name = "N", requires = "calib",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub calib_tokens: usize,
    /// Calibration window in tokens (each window runs from an empty cache).
    #[arg(long, default_value_t = seedlm_host::calib::DEFAULT_CTX, value_name = "N", requires = "calib",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub calib_ctx: usize,
    /// With --calib: refinement passes after the GPTQ pass. Each pass
    /// re-searches every column group of a layer with all other groups
    /// fixed (block coordinate descent on the GPTQ objective) and keeps a
    /// new block only where it lowers the layer's output error; a pass
    /// costs about as much as the GPTQ pass. 0: the GPTQ blocks alone.
    #[arg(long, default_value_t = DEFAULT_REFINE, value_name = "N", requires = "calib")]
    pub refine: usize,
    /// With --calib: dampening of each second moment H, as a fraction of
    /// its mean diagonal added to the diagonal (GPTQ's λ).
    #[arg(long, default_value_t = gptq::DAMP, value_name = "F", requires = "calib",
          value_parser = damp_arg)]
    pub damp: f64,
    /// With --calib: also report each layer's output error of the blocks
    /// this (data-free) .seedlm file holds for it, before/after.
    #[arg(long, value_name = "FILE.seedlm", requires = "calib")]
    pub calib_compare: Option<PathBuf>,
    /// Data-free mode: also score each coefficient vector's 3^P neighbours
    /// (each coefficient -1, 0, +1) in every fit (slower; always on with
    /// --calib).
    #[arg(long)]
    pub neighbours: bool,
}

/// Refinement passes by default (`--refine`): on SmolLM2 block 10 the
/// first pass lowers the objective by 6-11%, the second by 2-3.5% more, at
/// about one GPTQ pass each (README, "Calibrated compression").
pub const DEFAULT_REFINE: usize = 2;

/// Parses `--damp`: a finite fraction, at least 0.
fn damp_arg(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("'{s}' is not a finite number >= 0")),
    }
}

/// What happens to one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    /// Searched into seed blocks.
    Seed,
    /// Stored uncompressed in this dtype.
    Raw(RawDtype),
}

impl Args {
    /// The plan for tensor `t`.
    fn plan(&self, t: &TensorMeta) -> Plan {
        let selected = t.shape.len() == 2
            && (self.compress_embeddings || !is_embedding(&t.name))
            && self.include.as_ref().is_none_or(|r| r.is_match(&t.name))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(&t.name));
        match (&t.dtype, selected) {
            (_, true) => Plan::Seed,
            (Dtype::F32, false) => Plan::Raw(RawDtype::F32),
            (Dtype::BF16, false) => Plan::Raw(RawDtype::BF16),
            (_, false) => Plan::Raw(RawDtype::F16),
        }
    }
}

/// `rows × cols` weights padded with zeros to `rows × ceil(cols / c)·c`.
fn pad_rows(w: Vec<f32>, cols: usize, c: usize) -> Vec<f32> {
    let padded = cols.div_ceil(c) * c;
    if padded == cols {
        return w;
    }
    let mut out = Vec::with_capacity(w.len() / cols * padded);
    for row in w.chunks(cols) {
        out.extend_from_slice(row);
        out.resize(out.len() + padded - cols, 0.0);
    }
    out
}

/// A tensor whose relative error is more than this many times RTN's (same
/// bits, group 128) gets a warning.
const WARN_RATIO: f64 = 2.0;

/// `blocks` decoded (rows of `cols`, padded).
fn decode_all(blocks: &[Block], cfg: Config) -> Vec<f32> {
    let lfsr = seedlm::Lfsr::new(cfg.k);
    let mut out = vec![0f32; blocks.len() * cfg.c];
    for (o, b) in out.chunks_mut(cfg.c).zip(blocks) {
        b.decode(&cfg, &lfsr, o);
    }
    out
}

/// A warning when the blocks' relative error on the (padded, scaled)
/// weights `w`, rows of `cols`, is more than [`WARN_RATIO`] times RTN's at
/// `bits`.
fn quality_warning(
    w: &[f32],
    cols: usize,
    blocks: &[Block],
    cfg: Config,
    bits: u32,
) -> Result<Option<String>> {
    let signal: f64 = w.iter().map(|&x| (x as f64).powi(2)).sum();
    if signal == 0.0 {
        return Ok(None);
    }
    let what = decode_all(blocks, cfg);
    let noise: f64 = w
        .iter()
        .zip(&what)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    let seed = (noise / signal).sqrt();
    let rtn = seedlm::rtn::quantize_dequantize(w, cols, bits)?;
    let rtn = (w
        .iter()
        .zip(&rtn)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        / signal)
        .sqrt();
    Ok((seed > WARN_RATIO * rtn).then(|| {
        format!("relative error {seed:.3} is more than {WARN_RATIO}x RTN-{bits} g128's {rtn:.3}")
    }))
}

/// Searches every block of `w` with the weighted search `wt` (the
/// data-free mode with neighbour rounding: the identity metric).
fn search_with(
    s: &Searcher,
    wt: &Weighted,
    w: &[f32],
    progress: &(dyn Fn(usize) + Sync),
) -> seedlm::Result<Vec<Found>> {
    use rayon::prelude::*;
    let c = s.config().c;
    Ok(w.par_chunks(c * 8)
        .flat_map_iter(|chunk| {
            let blocks: Vec<&[f32]> = chunk.chunks(c).collect();
            let mut out = vec![
                Found {
                    block: Block::default(),
                    err: 0.0
                };
                blocks.len()
            ];
            wt.search_batch(s, &blocks, &mut out);
            progress(out.len());
            out
        })
        .collect())
}

/// Runs the dense model over the calibration text and reports what it
/// collected.
fn calibrate(args: &Args, text: &std::path::Path) -> Result<Calibration> {
    let start = Instant::now();
    let raw = std::fs::read_to_string(text)
        .with_context(|| format!("failed to read {}", text.display()))?;
    let body = super::eval::body_text(&raw, None)?;
    let (lcfg, tok) = load::load_meta(&args.input)
        .with_context(|| format!("calibration needs a model: {}", args.input.display()))?;
    let mut tokens = tok.encode(&body)?;
    tokens.truncate(args.calib_tokens);
    if tokens.len() < args.calib_tokens {
        eprintln!(
            "warning: {} has only {} tokens (--calib-tokens {})",
            text.display(),
            tokens.len(),
            args.calib_tokens
        );
    }
    let n = tokens.len();
    eprintln!(
        "calibrating on {}: {n} tokens in windows of {}",
        text.display(),
        args.calib_ctx
    );
    let cal = Calibration::collect(&args.input, &lcfg, &tokens, args.calib_ctx, &|done| {
        eprintln!("calibration: {done}/{n} tokens")
    })
    .with_context(|| format!("failed to calibrate on {}", text.display()))?;
    eprintln!(
        "calibration: {} layer inputs, second moments {} (f64), {:.1} s",
        cal.len(),
        fmt_bytes(cal.bytes() as u64),
        start.elapsed().as_secs_f64()
    );
    Ok(cal)
}

/// The feedback factor of each calibrated layer input, computed once per
/// input (layers sharing an input share it) together with its `H`.
struct FeedbackCache {
    /// Dampening (`--damp`).
    damp: f64,
    done: HashMap<usize, CalibratedInput>,
}

/// A layer input's feedback factor and second moment.
type CalibratedInput = std::sync::Arc<(Feedback, Vec<f64>)>;

/// The search tables of one calibrated input's column groups, kept while
/// the tensors compressed in a row share the input (their metrics are the
/// same; a table is only used for the metric it was built for).
struct KeptTables {
    input: CalibratedInput,
    /// The GPTQ pass's.
    gptq: GroupTables,
    /// The refinement's.
    refine: GroupTables,
}

impl FeedbackCache {
    /// The factor for tensor `name` (`cols` columns), or `None` (with a
    /// note) for a tensor the calibration did not see.
    fn get(
        &mut self,
        cal: &Calibration,
        name: &str,
        cols: usize,
        bar: &ProgressBar,
    ) -> Result<Option<CalibratedInput>> {
        let Some(m) = cal.get(name) else {
            bar.suspend(|| {
                eprintln!(
                    "note: tensor '{}' is not a calibrated layer: data-free search",
                    printable(name)
                )
            });
            return Ok(None);
        };
        if m.dim() != cols {
            bar.suspend(|| {
                eprintln!(
                    "note: tensor '{}' has {cols} padded columns, its input {}: data-free search",
                    printable(name),
                    m.dim()
                )
            });
            return Ok(None);
        }
        let key = std::sync::Arc::as_ptr(m) as usize;
        if let Some(f) = self.done.get(&key) {
            return Ok(Some(f.clone()));
        }
        let h = m.take_h();
        let fb = Feedback::new(&h, m.dim(), self.damp)
            .with_context(|| format!("tensor '{}': calibration", printable(name)))?;
        let f = std::sync::Arc::new((fb, h));
        self.done.insert(key, f.clone());
        Ok(Some(f))
    }
}

/// Relative errors of `blocks` against `w` (rows of `cols`): of the
/// weights, `||W - Ŵ|| / ||W||`, and of the layer's output on the
/// calibration inputs, `sqrt(Σ_rows eᵀHe / Σ_rows wᵀHw)`.
fn output_errors(w: &[f32], cols: usize, blocks: &[Block], cfg: Config, h: &[f64]) -> (f64, f64) {
    use rayon::prelude::*;
    let what = decode_all(blocks, cfg);
    let quad = |v: &[f64]| -> f64 {
        (0..cols)
            .map(|i| {
                v[i] * h[i * cols..(i + 1) * cols]
                    .iter()
                    .zip(v)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum()
    };
    let (ws, es, wh, eh) = w
        .par_chunks(cols)
        .zip(what.par_chunks(cols))
        .map(|(a, b)| {
            let wv: Vec<f64> = a.iter().map(|&x| x as f64).collect();
            let ev: Vec<f64> = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| x as f64 - y as f64)
                .collect();
            let ss = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
            (ss(&wv), ss(&ev), quad(&wv), quad(&ev))
        })
        .reduce(
            || (0.0, 0.0, 0.0, 0.0),
            |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3),
        );
    let rel = |n: f64, d: f64| if d > 0.0 { (n / d).sqrt() } else { 0.0 };
    (rel(es, ws), rel(eh, wh))
}

/// The stored bytes of a raw tensor in `dtype`.
fn raw_bytes(ck: &Checkpoint, t: &TensorMeta, dtype: RawDtype) -> Result<Vec<u8>> {
    let same = matches!(
        (&t.dtype, dtype),
        (Dtype::F32, RawDtype::F32) | (Dtype::F16, RawDtype::F16) | (Dtype::BF16, RawDtype::BF16)
    );
    if same {
        return Ok(ck.bytes(&t.name)?.1.to_vec());
    }
    let v = ck.load_f32(&t.name)?;
    Ok(v.iter()
        .flat_map(|&x| f16::from_f32(x).to_le_bytes())
        .collect())
}

/// Runs `seedlm compress`.
pub fn run(args: &Args) -> Result<()> {
    let input = args.input.display();
    let cfg = Config::for_bits(args.bits)?;
    let mut inputs = vec![args.input.clone()];
    inputs.extend(
        load::hf_meta_files(&args.input)
            .into_iter()
            .flat_map(|(c, t)| [c, t]),
    );
    let inputs = Inputs::new(&inputs);
    output::check(&args.output, &inputs, args.force)?;
    let ck = Checkpoint::open(&args.input)
        .with_context(|| format!("failed to open checkpoint {input}"))?;
    checks::tensors(&ck)?;
    let plans: Vec<Plan> = ck.tensors().iter().map(|t| args.plan(t)).collect();

    // The model's config and tokenizer, as u8 blobs, for `seedlm generate`.
    let blobs = load::meta_blobs(&ck).unwrap_or_else(|e| {
        eprintln!("warning: not storing model metadata: {e:#}");
        Vec::new()
    });
    let mut manifest = Manifest::new(&args.input, args.bits)?;
    if let Some(text) = &args.calib {
        let canon = text
            .canonicalize()
            .with_context(|| format!("failed to resolve {}", text.display()))?;
        // Refinement is named only when on: files of runs without it
        // resume as before.
        let refine = match args.refine {
            0 => String::new(),
            n => format!(" refine={n}"),
        };
        manifest = manifest.with_field(
            "calib",
            format!(
                "{} tokens={} ctx={} damp={}{refine}",
                canon.display(),
                args.calib_tokens,
                args.calib_ctx,
                args.damp
            ),
        );
    } else if args.neighbours {
        manifest = manifest.with_field("neighbours", "1".into());
    }
    let mut sidecar = Sidecar::open(&args.output, &inputs, &manifest, ck.tensors().len())?;
    let mut todo = Vec::new();
    let mut reused = 0;
    for (i, (t, plan)) in ck.tensors().iter().zip(&plans).enumerate() {
        if *plan != Plan::Seed {
            continue;
        }
        match sidecar.load(&ck, i, cfg)? {
            Saved::Blocks(..) => {
                reused += 1;
                continue;
            }
            Saved::Stale(why) => eprintln!("warning: redoing tensor '{}': {why}", t.name),
            Saved::Missing => {}
        }
        todo.push(i);
    }
    let blocks_of = |t: &TensorMeta| t.shape[0] * t.shape[1].div_ceil(cfg.c);
    let mut total: usize = todo.iter().map(|&i| blocks_of(&ck.tensors()[i])).sum();
    if reused > 0 {
        eprintln!(
            "resuming: {reused} tensor(s) already compressed in {}",
            sidecar.dir().display()
        );
    }

    let searcher = SeedSearch::new(args.device, cfg, args.threads)?;
    let cpu = searcher.cpu();
    // The calibration and the error feedback run on the CPU whatever the
    // search runs on.
    let own_pool;
    let pool = match cpu {
        Some((_, pool)) => pool,
        None => {
            own_pool = super::thread_pool(args.threads)?;
            &own_pool
        }
    };
    let calibration = match &args.calib {
        Some(text) if !todo.is_empty() => Some(pool.install(|| calibrate(args, text))?),
        _ => None,
    };
    // Tensors of one input in a row, so that they share search tables
    // (`q, k, v` lie apart in GGUF order, `attn_output` between them).
    if let Some(cal) = &calibration {
        let input = |i: usize| {
            cal.get(&ck.tensors()[i].name)
                .map(|m| std::sync::Arc::as_ptr(m) as usize)
        };
        let first: HashMap<Option<usize>, usize> = todo
            .iter()
            .rev()
            .enumerate()
            .map(|(k, &i)| (input(i), todo.len() - 1 - k))
            .collect();
        todo.sort_by_key(|&i| first[&input(i)]);
    }
    let mut feedback = FeedbackCache {
        damp: args.damp,
        done: HashMap::new(),
    };
    let compare = match &args.calib_compare {
        Some(p) => Some(
            seedlm::container::SeedFile::open(p)
                .with_context(|| format!("failed to open {}", p.display()))?,
        ),
        None => None,
    };
    let identity = match cpu {
        Some((s, _)) if args.neighbours && args.calib.is_none() => {
            Some(Weighted::new(s, Metric::identity(&cfg), true))
        }
        _ => None,
    };
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} blocks  {rate}  ETA {eta}  {msg}",
        )
        .context("bad progress template")?
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} blocks/s", s.per_sec());
        }),
    );
    // Without a terminal the bar draws nothing: log a line per tensor instead.
    let log_lines = !std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut done = 0;
    // The search tables of the last calibrated input (GPTQ pass,
    // refinement), kept while the tensors share it.
    let mut kept: Option<KeptTables> = None;
    for (k, &i) in todo.iter().enumerate() {
        let t = &ck.tensors()[i];
        bar.set_message(t.name.clone());
        let w = ck
            .load_f32(&t.name)
            .with_context(|| format!("failed to read tensor '{}' of {input}", t.name))?;
        if let Some(at) = w.iter().position(|v| !v.is_finite()) {
            let cols = t.shape[1];
            bail!(
                "{}: tensor '{}': element ({}, {}) is {}; only finite weights can be compressed",
                ck.file_of(&t.name).display(),
                printable(&t.name),
                at / cols,
                at % cols,
                w[at]
            );
        }
        let exp_offset = magnitude::exp_offset(&w);
        let w = pad_rows(magnitude::scale_down(&w, exp_offset), t.shape[1], cfg.c);
        let cols = t.shape[1].div_ceil(cfg.c) * cfg.c;
        let progress = |n: usize| bar.inc(n as u64);
        let fb = match &calibration {
            Some(cal) => feedback.get(cal, &t.name, cols, &bar)?,
            None => None,
        };
        let mut tables = fb.as_ref().map(|fb| match kept.take() {
            Some(k) if std::sync::Arc::ptr_eq(&k.input, fb) => kept.insert(k),
            _ => kept.insert(KeptTables {
                input: fb.clone(),
                gptq: GroupTables::default(),
                refine: GroupTables::default(),
            }),
        });
        let searched = Instant::now();
        let found = match (&fb, &identity, cpu) {
            (Some(fb), _, _) => {
                let gptq = &mut tables.as_mut().expect("with fb").gptq;
                searcher.search_calibrated(&fb.0, &w, cols, gptq, pool, &progress)
            }
            (None, Some(wt), Some((s, pool))) => pool
                .install(|| search_with(s, wt, &w, &progress))
                .map_err(anyhow::Error::from),
            (None, None, None) if args.neighbours && args.calib.is_none() => {
                searcher.search_neighbours(&w, &progress)
            }
            _ => searcher.search_all(&w, &progress),
        }
        .with_context(|| format!("failed to compress tensor '{}' of {input}", t.name))?;
        let mut blocks: Vec<Block> = found.iter().map(|f| f.block).collect();
        // (weights, output) errors of `blocks`, once the last refinement
        // pass has measured them.
        let mut errors = None;
        if let (Some(fb), 1..) = (&fb, args.refine) {
            let gptq_s = searched.elapsed().as_secs_f64();
            let log = |msg: String| bar.suspend(|| eprintln!("{}: {msg}", printable(&t.name)));
            bar.inc_length((blocks.len() * args.refine) as u64);
            total += blocks.len() * args.refine;
            done += blocks.len() * args.refine;
            (blocks, errors) = pool
                .install(|| {
                    let mut r =
                        gptq::Refinement::new(searcher.searcher(), &fb.0, &w, cols, blocks)?;
                    let mut errs = output_errors(&w, cols, r.blocks(), cfg, &fb.1);
                    let mut obj = r.objective();
                    log(format!(
                        "GPTQ pass: output error {:.4}, {gptq_s:.1} s",
                        errs.1
                    ));
                    let tables = &mut tables.expect("with fb").refine;
                    for pass in 1..=args.refine {
                        let began = Instant::now();
                        let changed = searcher.refine_pass(&mut r, tables, pool, &progress)?;
                        let secs = began.elapsed().as_secs_f64();
                        errs = output_errors(&w, cols, r.blocks(), cfg, &fb.1);
                        let now = r.objective();
                        log(format!(
                            "refine pass {pass}: {changed} blocks changed, objective {:+.2}%, \
                             output error {:.4}, {secs:.1} s ({:.2}x the GPTQ pass)",
                            100.0 * (now / obj - 1.0),
                            errs.1,
                            secs / gptq_s
                        ));
                        obj = now;
                    }
                    anyhow::Ok((r.into_blocks(), Some(errs)))
                })
                .with_context(|| format!("failed to refine tensor '{}' of {input}", t.name))?;
        }
        if let Some(fb) = &fb {
            let (weights, output) = match errors {
                Some(e) => e,
                None => pool.install(|| output_errors(&w, cols, &blocks, cfg, &fb.1)),
            };
            let before = match &compare {
                Some(f) => match f.get(&t.name) {
                    Some(info)
                        if info.kind == TensorKind::Seed(cfg) && info.exp_offset == exp_offset =>
                    {
                        let old = f.blocks(info)?;
                        let (bw, bo) = pool.install(|| output_errors(&w, cols, &old, cfg, &fb.1));
                        format!(", before: output {bo:.4}, weights {bw:.4}")
                    }
                    _ => String::new(),
                },
                None => String::new(),
            };
            bar.suspend(|| {
                eprintln!(
                    "{}: relative output error {output:.4} (weights: {weights:.4}){before}",
                    printable(&t.name)
                )
            });
        }
        if let Some(warning) = quality_warning(&w, cols, &blocks, cfg, args.bits)? {
            bar.suspend(|| eprintln!("warning: tensor '{}': {warning}", printable(&t.name)));
        }
        sidecar.save(&ck, i, cfg, exp_offset, &blocks)?;
        done += blocks.len();
        if log_lines {
            let rate = done as f64 / start.elapsed().as_secs_f64();
            eprintln!(
                "[{}/{}] {}: {done}/{total} blocks, {rate:.0} blocks/s, ETA {:.0} s",
                k + 1,
                todo.len(),
                t.name,
                (total - done) as f64 / rate
            );
        }
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();

    let out = args.output.display();
    let mut wr = Writer::create(&args.output).with_context(|| format!("failed to create {out}"))?;
    for (i, (t, plan)) in ck.tensors().iter().zip(&plans).enumerate() {
        let ctx = || format!("failed to write tensor '{}' to {out}", t.name);
        match *plan {
            Plan::Seed => {
                let Saved::Blocks(blocks, exp_offset) =
                    sidecar.load(&ck, i, cfg).with_context(ctx)?
                else {
                    bail!(
                        "{}: the saved blocks of tensor '{}' are gone",
                        sidecar.dir().display(),
                        t.name
                    );
                };
                wr.add_seed_scaled(&t.name, &t.shape, t.dtype.name(), cfg, exp_offset, &blocks)
                    .with_context(ctx)?;
            }
            Plan::Raw(dtype) => {
                let bytes = raw_bytes(&ck, t, dtype).with_context(ctx)?;
                wr.add_raw(&t.name, &t.shape, t.dtype.name(), dtype, &bytes)
                    .with_context(ctx)?;
            }
        }
    }
    for (name, text) in &blobs {
        wr.add_raw(name, &[text.len()], "u8", RawDtype::U8, text.as_bytes())
            .with_context(|| format!("failed to write blob '{name}' to {out}"))?;
    }
    output::check(&args.output, &inputs, args.force)?;
    wr.finish()
        .with_context(|| format!("failed to write {out}"))?;
    sidecar.finish()?;

    let seeds = plans.iter().filter(|p| **p == Plan::Seed).count();
    let size = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "wrote {out}: {} tensors ({seeds} compressed with {cfg}, {} raw), {}",
        plans.len(),
        plans.len() - seeds,
        fmt_bytes(size)
    );
    if reused > 0 {
        println!("reused {reused} compressed tensor(s) from the sidecar");
    }
    if total > 0 {
        println!(
            "searched {total} blocks in {secs:.1} s ({:.0} blocks/s, {})",
            total as f64 / secs,
            searcher.describe()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_quality_warning_compares_with_rtn() {
        let w: Vec<f32> = (0..256)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let cfg = Config::BITS4;
        let s = Searcher::new(cfg).unwrap();
        let good: Vec<Block> = s
            .search_all(&w, &|_| {})
            .unwrap()
            .iter()
            .map(|f| f.block)
            .collect();
        assert_eq!(quality_warning(&w, 128, &good, cfg, 4).unwrap(), None);
        // All-zero blocks: relative error 1, far above RTN's.
        let zero = vec![
            Block {
                seed: 1,
                ..Block::default()
            };
            32
        ];
        let msg = quality_warning(&w, 128, &zero, cfg, 4).unwrap().unwrap();
        assert!(msg.contains("RTN-4"), "{msg}");
        assert_eq!(
            quality_warning(&[0.0; 8], 8, &zero[..1], cfg, 4).unwrap(),
            None
        );
    }

    #[test]
    fn test_pad_rows_zero_pads_each_row() {
        let w = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            pad_rows(w.clone(), 3, 4),
            vec![1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 0.0]
        );
        assert_eq!(pad_rows(w.clone(), 3, 3), w);
    }

    #[test]
    fn test_plan_defaults_and_filters() {
        let t = |name: &str, shape: Vec<usize>, dtype| TensorMeta {
            name: name.into(),
            shape,
            dtype,
        };
        let mut args = Args {
            input: "x".into(),
            output: "y".into(),
            bits: 4,
            include: None,
            exclude: None,
            threads: 1,
            device: SearchDevice::Cpu,
            compress_embeddings: false,
            force: false,
            calib: None,
            calib_tokens: seedlm_host::calib::DEFAULT_TOKENS,
            calib_ctx: seedlm_host::calib::DEFAULT_CTX,
            calib_compare: None,
            refine: DEFAULT_REFINE,
            damp: gptq::DAMP,
            neighbours: false,
        };
        assert_eq!(
            args.plan(&t("l.q.weight", vec![8, 8], Dtype::BF16)),
            Plan::Seed
        );
        assert_eq!(
            args.plan(&t("lm_head.weight", vec![8, 8], Dtype::F16)),
            Plan::Seed
        );
        assert_eq!(
            args.plan(&t("l.norm", vec![8], Dtype::BF16)),
            Plan::Raw(RawDtype::BF16)
        );
        assert_eq!(
            args.plan(&t("token_embd.weight", vec![8, 8], Dtype::Q8_0)),
            Plan::Raw(RawDtype::F16)
        );
        assert_eq!(
            args.plan(&t("model.embed_tokens.weight", vec![8, 8], Dtype::F32)),
            Plan::Raw(RawDtype::F32)
        );
        args.compress_embeddings = true;
        assert_eq!(
            args.plan(&t("token_embd.weight", vec![8, 8], Dtype::Q8_0)),
            Plan::Seed
        );
        args.include = Some(Regex::new("attn").unwrap());
        args.exclude = Some(Regex::new("attn_v").unwrap());
        assert_eq!(
            args.plan(&t("blk.0.attn_q.weight", vec![8, 8], Dtype::Q4_1)),
            Plan::Seed
        );
        assert_eq!(
            args.plan(&t("blk.0.attn_v.weight", vec![8, 8], Dtype::Q4_1)),
            Plan::Raw(RawDtype::F16)
        );
        assert_eq!(
            args.plan(&t("blk.0.ffn_up.weight", vec![8, 8], Dtype::F16)),
            Plan::Raw(RawDtype::F16)
        );
    }
}
