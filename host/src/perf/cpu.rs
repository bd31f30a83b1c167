//! CPU mat-vecs for `seedlm bench`, all `y = W x` with `W (rows, cols)`
//! row-major and rows split over the rayon pool: f32 and f16 (the dense
//! dot products of [`seedlm::kernel::dense`]), and SeedLM through
//! [`seedlm::kernel::SeedMatrix`], the kernel the runtime runs; plus a
//! STREAM-like memory bandwidth probe, and the sizes that keep both out of
//! the last-level cache ([`WorkingSet`]).

use half::f16;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use seedlm::kernel::dense::{dot_f16, dot_f32};
use seedlm::kernel::Isa;
use seedlm::sample::random_block;
use seedlm::{Block, Config};
use std::path::Path;
use std::time::Instant;

/// Rows per rayon task.
const ROWS_PER_TASK: usize = 16;

/// `y = W x` for f32 weights; `w.len() == y.len() * x.len()`.
pub fn matvec_f32(w: &[f32], x: &[f32], y: &mut [f32]) {
    let (cols, isa) = (x.len(), Isa::detect());
    y.par_iter_mut()
        .zip(w.par_chunks(cols))
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(yr, row)| *yr = dot_f32(isa, row, x));
}

/// `y = W x` for f16 weights, converted by the hardware where the CPU
/// can; `w.len() == y.len() * x.len()`.
pub fn matvec_f16(w: &[f16], x: &[f32], y: &mut [f32]) {
    let (cols, isa) = (x.len(), Isa::detect());
    y.par_iter_mut()
        .zip(w.par_chunks(cols))
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(yr, row)| *yr = dot_f16(isa, row, x));
}

/// `n` random blocks: seeds in `1..2^K`, exponents and mantissas uniform.
pub fn random_blocks(cfg: &Config, n: usize, seed: u64) -> Vec<Block> {
    let mut out = vec![Block::default(); n];
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (c as u64) << 20);
            for b in chunk {
                *b = random_block(cfg, &mut rng);
            }
        });
    out
}

/// `n` values uniform in `[-1, 1)` from `seed`.
pub fn random_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut out = vec![0f32; n];
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (c as u64) << 20);
            chunk.iter_mut().for_each(|v| *v = rng.gen_range(-1.0..1.0));
        });
    out
}

/// Memory bandwidth in bytes/s, best of `repeats`, over buffers of
/// `bytes` in all (pick several times the last-level cache: see
/// [`WorkingSet`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bandwidth {
    /// STREAM "copy" `b[i] = a[i]`, `a` and `b` half of the bytes each:
    /// bytes read plus bytes written per second.
    pub copy: f64,
    /// Sum of both buffers: bytes read per second.
    pub read: f64,
}

/// Measures [`Bandwidth`] on the rayon pool over two buffers of `bytes / 2`
/// each, so every pass comes back to data last touched `bytes` ago.
pub fn bandwidth(bytes: usize, repeats: usize) -> Bandwidth {
    let n = (bytes / 16).max(1 << 10);
    let a: Vec<u64> = (0..n as u64).collect();
    let mut b = vec![0u64; n];
    let chunk = n.div_ceil(rayon::current_num_threads() * 4).max(1 << 10);
    let sum = |v: &[u64]| {
        v.par_chunks(chunk)
            .map(|c| c.iter().fold(0u64, |x, &y| x.wrapping_add(y)))
            .reduce(|| 0, u64::wrapping_add)
    };
    let (mut copy, mut read) = (0f64, 0f64);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        b.par_chunks_mut(chunk)
            .zip(a.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        copy = copy.max(2.0 * 8.0 * n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s = sum(&a).wrapping_add(sum(&b));
        read = read.max(2.0 * 8.0 * n as f64 / t.elapsed().as_secs_f64());
        std::hint::black_box(s);
    }
    Bandwidth { copy, read }
}

/// The last-level cache size assumed where sysfs does not give one: a
/// large server part's (the VM this was written on reports 480 MiB).
pub const FALLBACK_LLC: u64 = 512 << 20;

/// The working set over the last-level cache: a cache that kept the best
/// possible share of data read in a cycle of `W` bytes (`LLC / W`, what
/// an optimal replacement keeps; real ones keep less) serves at most a
/// quarter of the reads at 4x.
pub const LLC_MULTIPLE: u64 = 4;

/// How many bytes `seedlm bench` cycles through so that every timed read
/// comes from memory, not from the last-level cache: the bandwidth probe's
/// buffers and each layer shape's copies of the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingSet {
    /// Bytes per cycle.
    pub bytes: u64,
    /// The last-level cache it was sized against.
    pub llc: u64,
    /// Whether `llc` came from sysfs (else [`FALLBACK_LLC`]).
    pub llc_from_sysfs: bool,
    /// Half of the available memory, where it capped `bytes` (the machine
    /// is shared: the bench must not push others into swap).
    pub capped_at: Option<u64>,
}

impl WorkingSet {
    /// [`LLC_MULTIPLE`] times `llc` (or [`FALLBACK_LLC`]), at most half of
    /// `available` memory where known.
    pub fn for_cache(llc: Option<u64>, available: Option<u64>) -> WorkingSet {
        let (cache, llc_from_sysfs) = match llc {
            Some(b) => (b, true),
            None => (FALLBACK_LLC, false),
        };
        let want = LLC_MULTIPLE * cache;
        let cap = available.map(|a| a / 2).filter(|&c| c < want);
        WorkingSet {
            bytes: cap.unwrap_or(want),
            llc: cache,
            llc_from_sysfs,
            capped_at: cap,
        }
    }

    /// Sized for this machine: [`llc_bytes`] and [`available_memory`].
    pub fn detect() -> WorkingSet {
        Self::for_cache(llc_bytes(), available_memory())
    }

    /// Copies of a set of `set_bytes` that make up at least `self.bytes`,
    /// at least one.
    pub fn copies(&self, set_bytes: u64) -> usize {
        self.bytes.div_ceil(set_bytes.max(1)).max(1) as usize
    }
}

/// The largest level-3 cache of CPU 0 in sysfs, in bytes, if it reports one.
pub fn llc_bytes() -> Option<u64> {
    llc_bytes_in(Path::new("/sys/devices/system/cpu/cpu0/cache"))
}

/// The largest level-3 cache among `dir/index*/{level,size}`.
fn llc_bytes_in(dir: &Path) -> Option<u64> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("index"))
        .filter(|e| read(&e.path().join("level")).is_some_and(|l| l.trim() == "3"))
        .filter_map(|e| parse_size(&read(&e.path().join("size"))?))
        .max()
}

/// A sysfs cache size: `491520K`, `32M`, `1G` or bytes.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last()? {
        (i, 'K') => (&s[..i], 1 << 10),
        (i, 'M') => (&s[..i], 1 << 20),
        (i, 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(unit)
}

/// `MemAvailable` of `/proc/meminfo` in bytes, if readable.
pub fn available_memory() -> Option<u64> {
    meminfo_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// The `MemAvailable:  N kB` line of a `/proc/meminfo` text, in bytes.
fn meminfo_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb = line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    kb.checked_mul(1024)
}

/// Median of `v` (sorted in place); 0 for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `|got - want| <= 2 (n + 2) eps Σ|w_i x_i|`: the forward error bound
    /// of an n-term f32 dot product (Higham, Thm 3.1, γ_n ≈ n·u, u =
    /// eps/2), doubled for the rounding of the weights themselves.
    fn assert_close(got: &[f32], want: &[f64], mag: &[f64], n: usize, what: &str) {
        for (k, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
            let bound = 2.0 * (n + 2) as f64 * f32::EPSILON as f64 * m + 1e-30;
            assert!(
                (g as f64 - w).abs() <= bound,
                "{what} row {k}: {g} vs {w} (bound {bound})"
            );
        }
    }

    #[test]
    fn test_float_kernels_match_f64_reference() {
        let (rows, cols) = (23, 517);
        let w = random_f32(rows * cols, 3);
        let w16: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let x = random_f32(cols, 4);
        let (mut y32, mut y16) = (vec![0f32; rows], vec![0f32; rows]);
        matvec_f32(&w, &x, &mut y32);
        matvec_f16(&w16, &x, &mut y16);
        for (got, ws) in [
            (&y32, w.clone()),
            (&y16, w16.iter().map(|v| v.to_f32()).collect()),
        ] {
            let want: Vec<f64> = ws
                .chunks(cols)
                .map(|r| r.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum())
                .collect();
            let mag: Vec<f64> = ws
                .chunks(cols)
                .map(|r| {
                    r.iter()
                        .zip(&x)
                        .map(|(a, b)| (*a as f64 * *b as f64).abs())
                        .sum()
                })
                .collect();
            assert_close(got, &want, &mag, cols, "float");
        }
    }

    #[test]
    fn test_median_and_bandwidth_probe() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
        let bw = bandwidth(1 << 20, 2);
        assert!(
            bw.copy.is_finite() && bw.copy > 0.0 && bw.read > 0.0,
            "{bw:?}"
        );
    }

    #[test]
    fn test_llc_from_sysfs_layout() {
        assert_eq!(parse_size("491520K\n"), Some(491520 << 10));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
        let dir = tempfile::tempdir().unwrap();
        for (i, level, size) in [(0, "1", "48K"), (2, "2", "2048K"), (3, "3", "491520K")] {
            let d = dir.path().join(format!("index{i}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("level"), format!("{level}\n")).unwrap();
            std::fs::write(d.join("size"), format!("{size}\n")).unwrap();
        }
        // Not a cache: ignored even with level 3.
        std::fs::create_dir(dir.path().join("uevent3")).unwrap();
        assert_eq!(llc_bytes_in(dir.path()), Some(480 << 20));
        assert_eq!(llc_bytes_in(&dir.path().join("none")), None);
        assert_eq!(
            meminfo_available("MemTotal: 100 kB\nMemAvailable:    2048 kB\n"),
            Some(2 << 20)
        );
        assert_eq!(meminfo_available("MemTotal: 100 kB\n"), None);
    }

    #[test]
    fn test_working_set_is_a_multiple_of_the_llc_capped_by_memory() {
        let ws = WorkingSet::for_cache(Some(480 << 20), Some(20 << 30));
        assert_eq!(ws.bytes, LLC_MULTIPLE * (480 << 20));
        assert!(ws.llc_from_sysfs && ws.capped_at.is_none());
        // Copies of a 125 MiB set (4096 x 4096: f32, f16, SeedLM) that
        // fill it; a set larger than the cycle is one copy.
        assert_eq!(ws.copies(125 << 20), 16);
        assert_eq!(ws.copies(4 << 30), 1);
        let ws = WorkingSet::for_cache(None, Some(2 << 30));
        assert_eq!((ws.llc, ws.llc_from_sysfs), (FALLBACK_LLC, false));
        assert_eq!((ws.bytes, ws.capped_at), (1 << 30, Some(1 << 30)));
        assert_eq!(WorkingSet::for_cache(None, None).bytes, 4 * FALLBACK_LLC);
    }
}
