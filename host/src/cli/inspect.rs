//! `seedlm inspect`: what a `.seedlm` file holds and what it saves.
//!
//! Bits per weight are the stored payload bits over the tensor's elements
//! (row padding of the last block included). Ratios are original bytes over
//! stored bytes: against the original dtype (f32 32, f16/bf16 16, q8_0 8.5,
//! q4_0 4.5, q4_1 5.0 bits per weight) and against f16.

use std::path::PathBuf;

use anyhow::{Context, Result};
use seedlm::container::{SeedFile, TensorKind};
use seedlm_host::checkpoint::Dtype;

use super::{fmt_bytes, fmt_shape, printable, Table};

/// Arguments of `seedlm inspect`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The .seedlm file to describe.
    #[arg(value_name = "FILE.seedlm")]
    pub file: PathBuf,
}

/// Sizes summed over a set of tensors.
#[derive(Default)]
struct Sum {
    elems: u64,
    bytes: u64,
    orig_bits: f64,
}

impl Sum {
    fn cells(&self, label: &str) -> Vec<String> {
        let mut c = vec![
            label.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ];
        c.extend(size_cells(self.elems, self.bytes, Some(self.orig_bits)));
        c
    }
}

/// bits/weight, bytes, ratio vs original (`-` when the original size is
/// unknown), ratio vs f16.
fn size_cells(elems: u64, bytes: u64, orig_bits: Option<f64>) -> Vec<String> {
    let stored_bits = bytes as f64 * 8.0;
    let ratio = |bits: Option<f64>| match bits {
        Some(bits) if bytes > 0 => format!("{:.2}x", bits / stored_bits),
        _ => "-".into(),
    };
    vec![
        format!("{:.2}", stored_bits / elems.max(1) as f64),
        fmt_bytes(bytes),
        ratio(orig_bits),
        ratio(Some(16.0 * elems as f64)),
    ]
}

/// Renders the table of `file`.
pub fn table(file: &SeedFile) -> String {
    let mut t = Table::new(&[
        "tensor",
        "shape",
        "stored as",
        "orig",
        "bits/w",
        "bytes",
        "vs orig",
        "vs f16",
    ]);
    let (mut all, mut seed) = (Sum::default(), Sum::default());
    for info in file.tensors() {
        let elems = info.numel() as u64;
        // Unknown for dtypes the checkpoint readers do not convert, such as the
        // u8 metadata blobs: those count at their stored size in the sums.
        let orig_bits = Dtype::parse(&info.orig_dtype)
            .bits_per_weight()
            .map(|b| b * elems as f64);
        let stored = match info.kind {
            TensorKind::Seed(cfg) => cfg.to_string(),
            TensorKind::Raw(d) => format!("raw {}", d.name()),
        };
        let mut cells = vec![
            printable(&info.name).into_owned(),
            fmt_shape(&info.shape),
            stored,
            info.orig_dtype.clone(),
        ];
        cells.extend(size_cells(elems, info.len, orig_bits));
        t.row(cells);
        for s in [&mut all]
            .into_iter()
            .chain(matches!(info.kind, TensorKind::Seed(_)).then_some(&mut seed))
        {
            s.elems += elems;
            s.bytes += info.len;
            s.orig_bits += orig_bits.unwrap_or(info.len as f64 * 8.0);
        }
    }
    t.rule();
    t.row(seed.cells("compressed tensors"));
    t.row(all.cells("all tensors"));
    t.render()
}

/// Runs `seedlm inspect`.
pub fn run(args: &Args) -> Result<()> {
    let file = SeedFile::open(&args.file)
        .with_context(|| format!("failed to read {}", args.file.display()))?;
    println!(
        "{} (format version {}, {} tensors)",
        args.file.display(),
        file.version(),
        file.tensors().len()
    );
    print!("{}", table(&file));
    Ok(())
}
