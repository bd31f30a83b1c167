//! Subcommands of the `seedlm` tool, one file each, and what they share:
//! the thread pool, decoding a stored tensor, and plain-text tables.

pub mod bench;
pub mod bench_search;
pub mod checks;
pub mod compress;
pub mod compression_error;
pub mod decompress;
pub mod demo;
pub mod device;
pub mod eval;
pub mod generate;
pub mod gpu;
pub mod inspect;
pub mod output;
pub mod resume;

use anyhow::{Context, Result};
use seedlm::container::{SeedFile, TensorInfo, TensorKind};

/// Most worker threads a `--threads` option takes: far above any machine
/// this runs on, far below what makes the OS refuse or the process crawl
/// (100,000 threads hung it).
pub const MAX_THREADS: usize = 1024;

/// The value parser of every `--threads`: 0 (one per core) to
/// [`MAX_THREADS`]; clap's error names the range.
pub fn threads_arg() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(0..=MAX_THREADS as u64)
}

/// A rayon pool of `threads` threads (0: one per core), at most
/// [`MAX_THREADS`].
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    anyhow::ensure!(
        threads <= MAX_THREADS,
        "{threads} threads is more than the {MAX_THREADS} seedlm runs"
    );
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .with_context(|| format!("failed to start a pool of {threads} threads"))
}

/// Whether `name` is a token embedding (`*embed*`, `token_embd*`): kept raw
/// by `compress` unless asked otherwise.
pub fn is_embedding(name: &str) -> bool {
    name.contains("embed") || name.starts_with("token_embd")
}

/// The values of tensor `t` of `file` as f32, row-major, shape `t.shape`.
///
/// Seed tensors: the weights of [`seedlm::Block::decode`], by
/// [`seedlm::kernel::SeedMatrix::decode`] (the zero padding of each row's
/// last block dropped), times `2^exp_offset`. Raw tensors: converted exactly.
pub fn decode_tensor(file: &SeedFile, t: &TensorInfo) -> Result<Vec<f32>> {
    let cfg = match t.kind {
        TensorKind::Raw(_) => return Ok(file.raw_f32(t)?),
        TensorKind::Seed(cfg) => cfg,
    };
    let blocks = file.blocks(t)?;
    let m = seedlm::kernel::SeedMatrix::new(&seedlm::fixed::BlockMatrix {
        cfg,
        rows: t.rows(),
        cols: t.cols(),
        blocks: &blocks,
    })
    .with_context(|| format!("tensor '{}'", printable(&t.name)))?;
    let mut out = m.decode();
    seedlm::magnitude::scale_up(&mut out, t.exp_offset);
    Ok(out)
}

/// A plain-text table: the first column left-aligned, the others right.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Appends a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Appends a separator line.
    pub fn rule(&mut self) {
        self.rows.push(Vec::new());
    }

    /// Renders the table with a rule under the headers.
    pub fn render(&self) -> String {
        let n = self.rows[0].len();
        let width: Vec<usize> = (0..n)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let total = width.iter().sum::<usize>() + 2 * (n - 1);
        let mut out = String::new();
        for (k, r) in self.rows.iter().enumerate() {
            if r.is_empty() {
                out.push_str(&"-".repeat(total));
            } else {
                let cells: Vec<String> = r
                    .iter()
                    .zip(&width)
                    .enumerate()
                    .map(|(i, (c, &w))| {
                        if i == 0 {
                            format!("{c:<w$}")
                        } else {
                            format!("{c:>w$}")
                        }
                    })
                    .collect();
                out.push_str(cells.join("  ").trim_end());
            }
            out.push('\n');
            if k == 0 {
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        out
    }
}

/// A name from a file, fit to print: control characters escaped (`\n`,
/// `\u{1b}`), so that a hostile tensor name cannot move the cursor or
/// fake lines of output.
pub fn printable(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.chars().any(char::is_control) {
        return name.into();
    }
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A shape as `768x3072`.
pub fn fmt_shape(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// A byte count in binary units (`512 B`, `1.50 KiB`, `3.20 MiB`, ...).
pub fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_table_render_aligns_columns() {
        let mut t = Table::new(&["tensor", "bits"]);
        t.row(vec!["a.weight".into(), "4.00".into()]);
        t.rule();
        t.row(vec!["total".into(), "12.50".into()]);
        assert_eq!(
            t.render(),
            "tensor     bits\n---------------\na.weight   4.00\n---------------\ntotal     12.50\n"
        );
    }

    #[test]
    fn test_formatting_helpers() {
        assert_eq!(fmt_shape(&[576, 1536]), "576x1536");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(3 << 19), "1.50 MiB");
        assert!(is_embedding("model.embed_tokens.weight"));
        assert!(is_embedding("token_embd.weight"));
        assert!(!is_embedding("blk.0.attn_q.weight"));
        assert_eq!(printable("a.weight"), "a.weight");
        assert_eq!(printable("a\n\u{1b}[2Jb\tc"), "a\\n\\u{1b}[2Jb\\tc");
    }
}
