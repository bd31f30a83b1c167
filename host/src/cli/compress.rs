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

use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use half::f16;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use regex::Regex;
use seedlm::container::{temp_beside, RawDtype, SeedFile, TensorKind, Writer};
use seedlm::search::Searcher;
use seedlm::{Block, Config};
use seedlm_host::checkpoint::{Checkpoint, Dtype, TensorMeta};

use super::{fmt_bytes, is_embedding, thread_pool};

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
    /// Search threads (0: one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
    /// Also compress token embeddings (*embed*, token_embd*), which are
    /// stored raw by default.
    #[arg(long)]
    pub compress_embeddings: bool,
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

/// The sidecar directory of `out`: `OUT.partial`.
pub fn sidecar_dir(out: &Path) -> PathBuf {
    let mut s = OsString::from(out.as_os_str());
    s.push(".partial");
    PathBuf::from(s)
}

/// The manifest identifying a run: sidecar format, input path, size and
/// mtime of each input file, bits.
fn manifest(input: &Path, bits: u32) -> Result<String> {
    let canon = input
        .canonicalize()
        .with_context(|| format!("failed to resolve {}", input.display()))?;
    let mut files = vec![canon.clone()];
    if canon.is_dir() {
        let mut inner: Vec<PathBuf> = std::fs::read_dir(&canon)
            .with_context(|| format!("failed to list {}", canon.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        inner.sort();
        files = inner;
    }
    let mut m = format!(
        "seedlm compress sidecar 1\ninput {}\nbits {bits}\n",
        canon.display()
    );
    for f in files {
        let meta =
            std::fs::metadata(&f).with_context(|| format!("failed to stat {}", f.display()))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        m += &format!("file {} {} {mtime}\n", f.display(), meta.len());
    }
    Ok(m)
}

/// Opens the sidecar of a run, creating it or checking that it belongs to
/// this run, and locks it against a concurrent run on the same output. The
/// lock lasts as long as the returned file is open.
fn open_sidecar(dir: &Path, manifest: &str) -> Result<File> {
    let path = dir.join("manifest");
    if dir.exists() {
        let found = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} exists but has no readable manifest; it is not a seedlm sidecar, remove it to go on",
                dir.display()
            )
        })?;
        if found != manifest {
            let diff: Vec<&str> = manifest
                .lines()
                .filter(|l| !found.lines().any(|f| f == *l))
                .collect();
            bail!(
                "{} holds the partial work of a different run (input or --bits changed: now {}); \
                 remove it to start over, or rerun with the original input and --bits",
                dir.display(),
                diff.join("; ")
            );
        }
    } else {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let mut tmp = temp_beside(&path)
            .with_context(|| format!("failed to create a file in {}", dir.display()))?;
        tmp.write_all(manifest.as_bytes())
            .and_then(|_| tmp.as_file().sync_all())
            .with_context(|| format!("failed to write {}", path.display()))?;
        tmp.persist(&path)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    let lock = File::open(&path).with_context(|| format!("failed to open {}", path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(TryLockError::WouldBlock) => {
            bail!(
                "{} is in use by another seedlm compress run on the same output",
                dir.display()
            )
        }
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("failed to lock {}", path.display()))
        }
    }
}

/// The sidecar file of tensor number `i` of the checkpoint.
fn part_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{i:05}.seedlm"))
}

/// The blocks of tensor `t` saved in the sidecar at `path`, if that file is
/// a complete save of `t` with `cfg`.
fn saved_blocks(path: &Path, t: &TensorMeta, cfg: Config) -> Result<Vec<Block>> {
    let file = SeedFile::open(path)?;
    let info = file
        .get(&t.name)
        .with_context(|| format!("{} does not hold tensor '{}'", path.display(), t.name))?;
    if info.kind != TensorKind::Seed(cfg) || info.shape != t.shape {
        bail!(
            "{}: tensor '{}' was saved with another shape or config",
            path.display(),
            t.name
        );
    }
    Ok(file.blocks(info)?)
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
    let ck = Checkpoint::open(&args.input)
        .with_context(|| format!("failed to open checkpoint {input}"))?;
    let plans: Vec<Plan> = ck.tensors().iter().map(|t| args.plan(t)).collect();
    for t in ck.tensors() {
        if t.dtype.byte_len(t.numel()).is_none() {
            bail!(
                "{input}: tensor '{}' has dtype {}, which seedlm cannot read \
                 (supported: f32, f16, bf16; in GGUF also q8_0, q4_0, q4_1)",
                t.name,
                t.dtype
            );
        }
    }

    let sidecar = sidecar_dir(&args.output);
    let _lock = open_sidecar(&sidecar, &manifest(&args.input, args.bits)?)?;
    let mut todo = Vec::new();
    let mut reused = 0;
    for (i, (t, plan)) in ck.tensors().iter().zip(&plans).enumerate() {
        if *plan != Plan::Seed {
            continue;
        }
        let part = part_path(&sidecar, i);
        if part.exists() {
            match saved_blocks(&part, t, cfg) {
                Ok(_) => {
                    reused += 1;
                    continue;
                }
                Err(e) => eprintln!("warning: redoing tensor '{}': {e:#}", t.name),
            }
        }
        todo.push(i);
    }
    let blocks_of = |t: &TensorMeta| t.shape[0] * t.shape[1].div_ceil(cfg.c);
    let total: usize = todo.iter().map(|&i| blocks_of(&ck.tensors()[i])).sum();
    if reused > 0 {
        eprintln!(
            "resuming: {reused} tensor(s) already compressed in {}",
            sidecar.display()
        );
    }

    let pool = thread_pool(args.threads)?;
    let searcher = Searcher::new(cfg)?;
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
    for (k, &i) in todo.iter().enumerate() {
        let t = &ck.tensors()[i];
        bar.set_message(t.name.clone());
        let w = ck
            .load_f32(&t.name)
            .with_context(|| format!("failed to read tensor '{}' of {input}", t.name))?;
        let w = pad_rows(w, t.shape[1], cfg.c);
        let found = pool
            .install(|| searcher.search_all(&w, &|n| bar.inc(n as u64)))
            .with_context(|| format!("failed to compress tensor '{}' of {input}", t.name))?;
        let blocks: Vec<Block> = found.iter().map(|f| f.block).collect();
        let part = part_path(&sidecar, i);
        let mut wr = Writer::create(&part)?;
        wr.add_seed(&t.name, &t.shape, t.dtype.name(), cfg, &blocks)?;
        wr.finish()
            .with_context(|| format!("failed to save tensor '{}' to {}", t.name, part.display()))?;
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
                let blocks = saved_blocks(&part_path(&sidecar, i), t, cfg).with_context(ctx)?;
                wr.add_seed(&t.name, &t.shape, t.dtype.name(), cfg, &blocks)
                    .with_context(ctx)?;
            }
            Plan::Raw(dtype) => {
                let bytes = raw_bytes(&ck, t, dtype).with_context(ctx)?;
                wr.add_raw(&t.name, &t.shape, t.dtype.name(), dtype, &bytes)
                    .with_context(ctx)?;
            }
        }
    }
    // The model's config and tokenizer, as u8 blobs, for `seedlm generate`.
    let blobs = seedlm_host::llama::load::meta_blobs(&args.input).unwrap_or_else(|e| {
        eprintln!("warning: not storing model metadata: {e}");
        Vec::new()
    });
    for (name, text) in &blobs {
        wr.add_raw(name, &[text.len()], "u8", RawDtype::U8, text.as_bytes())
            .with_context(|| format!("failed to write blob '{name}' to {out}"))?;
    }
    wr.finish()
        .with_context(|| format!("failed to write {out}"))?;
    std::fs::remove_dir_all(&sidecar)
        .with_context(|| format!("failed to remove {}", sidecar.display()))?;

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
            "searched {total} blocks in {secs:.1} s ({:.0} blocks/s, {} threads)",
            total as f64 / secs,
            pool.current_num_threads()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            compress_embeddings: false,
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
