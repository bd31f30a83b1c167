//! `seedlm error`: how far each compressed tensor is from the original, next
//! to the round-to-nearest baseline at 4 and 3 bits (one f16 absmax scale per
//! group of 128 along a row, `seedlm::rtn`) on the same tensor.
//!
//! Per tensor: relative Frobenius error `||W - Ŵ|| / ||W||` and SQNR in dB.
//! The total row averages each column over the tensors weighted by their
//! element counts, leaving out values that are undefined (the SQNR of an
//! all-zero tensor, shown as `-`) or infinite (an exact copy). Tensors are
//! evaluated in parallel.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use regex::Regex;
use seedlm::container::{SeedFile, TensorInfo, TensorKind};
use seedlm::rtn::{self, ErrorStats};
use seedlm_host::checkpoint::Checkpoint;

use super::{decode_tensor, fmt_shape, printable, thread_pool, Table};

/// Arguments of `seedlm error`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The original checkpoint the file was compressed from (.safetensors
    /// file or directory, or .gguf).
    pub input: PathBuf,
    /// The compressed .seedlm file.
    #[arg(value_name = "FILE.seedlm")]
    pub file: PathBuf,
    /// Only tensors whose name matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub tensor: Option<Regex>,
    /// Threads (0: one per core; at most 1024).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = super::threads_arg())]
    pub threads: usize,
}

/// The errors of one tensor: SeedLM, RTN 4-bit, RTN 3-bit.
struct Row {
    seed: ErrorStats,
    rtn4: ErrorStats,
    rtn3: ErrorStats,
    bits: f64,
}

/// Measures one compressed tensor against the checkpoint.
fn measure(ck: &Checkpoint, file: &SeedFile, info: &TensorInfo) -> Result<Row> {
    let orig = ck.get(&info.name)?;
    if orig.shape != info.shape {
        bail!(
            "tensor '{}' is {:?} in {} but {:?} in {}",
            info.name,
            orig.shape,
            ck.path().display(),
            info.shape,
            file.path().display()
        );
    }
    let w = ck.load_f32(&info.name)?;
    let w_hat = decode_tensor(file, info)?;
    let cols = info.cols();
    Ok(Row {
        seed: ErrorStats::measure(&w, &w_hat)?,
        rtn4: ErrorStats::measure(&w, &rtn::quantize_dequantize(&w, cols, 4)?)?,
        rtn3: ErrorStats::measure(&w, &rtn::quantize_dequantize(&w, cols, 3)?)?,
        bits: info.len as f64 * 8.0 / info.numel() as f64,
    })
}

/// Renders the comparison of every compressed tensor of `file` matching
/// `filter` against checkpoint `ck`.
pub fn table(ck: &Checkpoint, file: &SeedFile, filter: Option<&Regex>) -> Result<String> {
    let infos: Vec<&TensorInfo> = file
        .tensors()
        .iter()
        .filter(|t| matches!(t.kind, TensorKind::Seed(_)))
        .filter(|t| filter.is_none_or(|r| r.is_match(&t.name)))
        .collect();
    if infos.is_empty() {
        bail!(
            "{} has no compressed tensor to compare{}",
            file.path().display(),
            match filter {
                Some(r) => format!(" matching '{r}'"),
                None => String::new(),
            }
        );
    }
    let rows = infos
        .par_iter()
        .map(|info| {
            measure(ck, file, info)
                .with_context(|| format!("failed to measure tensor '{}'", info.name))
        })
        .collect::<Result<Vec<Row>>>()?;

    let (b4, b3) = (rtn::bits_per_weight(4), rtn::bits_per_weight(3));
    let mut t = Table::new(&[
        "tensor",
        "shape",
        "seedlm b/w",
        "rel err",
        "SQNR dB",
        &format!("rtn4 ({b4}) err"),
        "SQNR dB",
        &format!("rtn3 ({b3}) err"),
        "SQNR dB",
    ]);
    let stats = |r: &Row| [r.seed, r.rtn4, r.rtn3];
    // Per column: the values of each row, then their average weighted by
    // element count over the rows where the value is finite (the SQNR of
    // an all-zero tensor is undefined, of an exact copy infinite).
    let cell = |v: f64, digits: usize| {
        if v.is_nan() {
            "-".to_string()
        } else {
            format!("{v:.digits$}")
        }
    };
    let mut sum = [(0f64, 0f64); 7];
    for (info, r) in infos.iter().zip(&rows) {
        let mut values = vec![r.bits];
        for s in stats(r) {
            values.extend([s.rel_error(), s.sqnr_db()]);
        }
        let mut cells = vec![printable(&info.name).into_owned(), fmt_shape(&info.shape)];
        let n = info.numel() as f64;
        for (k, &v) in values.iter().enumerate() {
            cells.push(cell(v, if k % 2 == 0 { 2 } else { 4 }));
            if v.is_finite() {
                sum[k].0 += v * n;
                sum[k].1 += n;
            }
        }
        t.row(cells);
    }
    t.rule();
    let mut cells = vec![format!("total ({} tensors)", rows.len()), String::new()];
    for (k, &(total, count)) in sum.iter().enumerate() {
        cells.push(cell(total / count, if k % 2 == 0 { 2 } else { 4 }));
    }
    t.row(cells);
    Ok(t.render())
}

/// Runs `seedlm error`.
pub fn run(args: &Args) -> Result<()> {
    let ck = Checkpoint::open(&args.input)
        .with_context(|| format!("failed to open checkpoint {}", args.input.display()))?;
    let file = SeedFile::open(&args.file)
        .with_context(|| format!("failed to read {}", args.file.display()))?;
    let pool = thread_pool(args.threads)?;
    let out = pool.install(|| table(&ck, &file, args.tensor.as_ref()))?;
    print!("{out}");
    Ok(())
}
