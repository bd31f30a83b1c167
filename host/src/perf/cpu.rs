//! CPU mat-vec kernels for `seedlm bench`: f32, f16 and SeedLM decoded on
//! the fly, all `y = W x` with `W (rows, cols)` row-major, rows split over
//! the rayon pool; and a STREAM-like memory bandwidth probe.
//!
//! The SeedLM kernel reads each block word from the dense packed stream of
//! [`seedlm::pack`], gets the seed's centred basis from a [`BasisTable`]
//! or by stepping the LFSR ([`Basis`]), rebuilds the block's integer weights
//! `r_i = Σ_j u_ij q_j` exactly, and accumulates `Σ_i r_i x_i · 2^e` in f32;
//! one division by `2^(K-1) - 1` per row gives the weights of
//! [`seedlm::Block::decode`].

use crate::linear::dot;
use half::f16;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use seedlm::basis::BasisTable;
use seedlm::block::centred_basis;
use seedlm::config::{MAX_C, MAX_P};
use seedlm::pack::{pack_blocks, packed_len, unpack_word};
use seedlm::sample::random_block;
use seedlm::{Block, Config, Lfsr};
use std::time::Instant;

/// Rows per rayon task.
const ROWS_PER_TASK: usize = 16;

/// `y = W x` for f32 weights; `w.len() == y.len() * x.len()`.
pub fn matvec_f32(w: &[f32], x: &[f32], y: &mut [f32]) {
    let cols = x.len();
    y.par_iter_mut()
        .zip(w.par_chunks(cols))
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(yr, row)| *yr = dot(row, x));
}

/// `y = W x` for f16 weights (converted to f32 in chunks of 256, with F16C
/// where the CPU has it); `w.len() == y.len() * x.len()`.
pub fn matvec_f16(w: &[f16], x: &[f32], y: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    let cols = x.len();
    y.par_iter_mut()
        .zip(w.par_chunks(cols))
        .with_min_len(ROWS_PER_TASK)
        .for_each_init(
            || [0f32; 256],
            |buf, (yr, row)| {
                let mut acc = 0f32;
                for (wc, xc) in row.chunks(256).zip(x.chunks(256)) {
                    let b = &mut buf[..wc.len()];
                    wc.convert_to_f32_slice(b);
                    acc += dot(b, xc);
                }
                *yr = acc;
            },
        );
}

/// A SeedLM weight matrix as the kernel reads it: each row's
/// `ceil(cols / C)` blocks, all rows in one dense packed stream.
pub struct SeedMatrix {
    cfg: Config,
    rows: usize,
    cols: usize,
    /// Packed block words, then 8 zero bytes so that every word can be read
    /// with one unaligned 64-bit load.
    packed: Vec<u8>,
}

impl SeedMatrix {
    /// Packs `blocks` (`rows * ceil(cols / C)` of them, row-major).
    pub fn new(cfg: &Config, rows: usize, cols: usize, blocks: &[Block]) -> Result<Self, String> {
        let want = rows * cols.div_ceil(cfg.c);
        if blocks.len() != want {
            return Err(format!(
                "{} blocks for a {rows}x{cols} matrix of {cfg}, need {want}",
                blocks.len()
            ));
        }
        if cfg.bits_per_block() + 7 > 64 {
            return Err(format!("{cfg}: block words wider than 57 bits"));
        }
        let mut packed = pack_blocks(cfg, blocks);
        packed.extend_from_slice(&[0; 8]);
        Ok(SeedMatrix {
            cfg: *cfg,
            rows,
            cols,
            packed,
        })
    }

    /// Random blocks (seeds, exponents in -8..=7, mantissas) from `seed`.
    pub fn random(cfg: &Config, rows: usize, cols: usize, seed: u64) -> Self {
        let blocks = random_blocks(cfg, rows * cols.div_ceil(cfg.c), seed);
        Self::new(cfg, rows, cols, &blocks).expect("random blocks fit the shape")
    }

    /// Bytes of packed weights (what the kernel streams).
    pub fn bytes(&self) -> usize {
        packed_len(&self.cfg, self.rows * self.cols.div_ceil(self.cfg.c))
    }

    /// Block word `i`: one unaligned little-endian load and a shift.
    #[inline]
    fn word(&self, i: usize) -> u64 {
        let bits = self.cfg.bits_per_block() as usize;
        let bit = i * bits;
        let at = bit / 8;
        let raw = u64::from_le_bytes(self.packed[at..at + 8].try_into().expect("8 bytes"));
        (raw >> (bit % 8)) & (u64::MAX >> (64 - bits))
    }

    /// `y = W x`, decoding every block on the fly with `basis` (which must
    /// be for this matrix's configuration); fails on a block with seed 0,
    /// naming it.
    pub fn matvec(&self, basis: &Basis<'_>, x: &[f32], y: &mut [f32]) -> Result<(), String> {
        let cfg = self.cfg;
        let basis_ok = match basis {
            Basis::Table(t) => t.config() == &cfg,
            Basis::Lfsr(l) => l.k() == cfg.k,
        };
        if !basis_ok || x.len() != self.cols || y.len() != self.rows {
            return Err(format!(
                "matvec of a {}x{} {cfg} matrix with {}, x of {}, y of {}",
                self.rows,
                self.cols,
                basis.describe(),
                x.len(),
                y.len()
            ));
        }
        let bpr = self.cols.div_ceil(cfg.c);
        // x padded with zeros to whole blocks.
        let mut xp = x.to_vec();
        xp.resize(bpr * cfg.c, 0.0);
        let unit = cfg.unit() as f32;
        let pow2: Vec<f32> = (-8..=7).map(|e| (e as f32).exp2()).collect();
        y.par_iter_mut()
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .try_for_each(|(row, yr)| {
                let mut acc = 0f32;
                let mut r = [0i32; MAX_C];
                let r = &mut r[..cfg.c];
                for (k, xs) in xp.chunks_exact(cfg.c).enumerate() {
                    let i = row * bpr + k;
                    let b = unpack_word(&cfg, self.word(i))
                        .map_err(|e| format!("row {row}, block {k}: {e}"))?;
                    basis.rebuild(&cfg, &b, r);
                    let d: f32 = r.iter().zip(xs).map(|(&ri, &xi)| ri as f32 * xi).sum();
                    acc += d * pow2[(b.exp + 8) as usize];
                }
                *yr = acc / unit;
                Ok(())
            })
    }
}

/// Where the SeedLM kernel gets a block's centred basis `u = V(s) - 2^(K-1)`.
pub enum Basis<'a> {
    /// Looked up in a precomputed table (3 MiB for 4-bit, 6 MiB for 3-bit:
    /// one cache miss per block once the table leaves the cache).
    Table(&'a BasisTable),
    /// Regrown by stepping the LFSR `C·P` times per block (what the
    /// hardware does, in parallel; serial and compute-bound on a CPU).
    Lfsr(Lfsr),
}

impl Basis<'_> {
    /// The integer weights `r_i = Σ_j u_ij q_j` of block `b`.
    #[inline]
    fn rebuild(&self, cfg: &Config, b: &Block, r: &mut [i32]) {
        match self {
            Basis::Table(t) => t.rebuild(b, r),
            Basis::Lfsr(l) => {
                let mut u = [0i32; MAX_C * MAX_P];
                let u = &mut u[..cfg.c * cfg.p];
                centred_basis(cfg, l, b.seed, u);
                for (ri, urow) in r.iter_mut().zip(u.chunks_exact(cfg.p)) {
                    *ri = urow
                        .iter()
                        .zip(&b.q[..cfg.p])
                        .map(|(&u, &q)| u * q as i32)
                        .sum();
                }
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Basis::Table(t) => format!("a basis table of {}", t.config()),
            Basis::Lfsr(l) => format!("a {}-bit LFSR", l.k()),
        }
    }
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

/// Memory bandwidth in bytes/s, best of `repeats`, over buffers of `bytes`
/// (pick several times the last-level cache).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bandwidth {
    /// STREAM "copy" `b[i] = a[i]`: bytes read plus bytes written per second.
    pub copy: f64,
    /// Sum of a buffer: bytes read per second.
    pub read: f64,
}

/// Measures [`Bandwidth`] on the rayon pool.
pub fn bandwidth(bytes: usize, repeats: usize) -> Bandwidth {
    let n = (bytes / 8).max(1 << 10);
    let a: Vec<u64> = (0..n as u64).collect();
    let mut b = vec![0u64; n];
    let chunk = n.div_ceil(rayon::current_num_threads() * 4).max(1 << 10);
    let (mut copy, mut read) = (0f64, 0f64);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        b.par_chunks_mut(chunk)
            .zip(a.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        copy = copy.max(2.0 * 8.0 * n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s: u64 = b
            .par_chunks(chunk)
            .map(|c| c.iter().fold(0u64, |x, &y| x.wrapping_add(y)))
            .reduce(|| 0, u64::wrapping_add);
        read = read.max(8.0 * n as f64 / t.elapsed().as_secs_f64());
        std::hint::black_box(s);
    }
    Bandwidth { copy, read }
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
    use seedlm::pack::read_word;

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
    fn test_seed_kernel_matches_decoded_weights_both_configs() {
        for (cfg, rows, cols) in [(Config::BITS4, 37usize, 203usize), (Config::BITS3, 29, 301)] {
            let table = BasisTable::new(&cfg);
            let lfsr = Lfsr::new(cfg.k);
            let bpr = cols.div_ceil(cfg.c);
            let blocks = random_blocks(&cfg, rows * bpr, 5);
            let m = SeedMatrix::new(&cfg, rows, cols, &blocks).unwrap();
            for i in [0, 1, 7, rows * bpr - 1] {
                assert_eq!(m.word(i), read_word(&cfg, &m.packed, i), "{cfg} word {i}");
            }
            let x = random_f32(cols, 9);
            let mut y = vec![0f32; rows];
            m.matvec(&Basis::Table(&table), &x, &mut y).unwrap();
            let mut y_lfsr = vec![0f32; rows];
            m.matvec(&Basis::Lfsr(Lfsr::new(cfg.k)), &x, &mut y_lfsr)
                .unwrap();
            // Same integers, same order of float operations: identical.
            assert_eq!(y, y_lfsr, "{cfg}: table and LFSR kernels");
            let (mut want, mut mag) = (vec![0f64; rows], vec![0f64; rows]);
            let mut w = vec![0f32; bpr * cfg.c];
            for r in 0..rows {
                for (b, o) in blocks[r * bpr..(r + 1) * bpr]
                    .iter()
                    .zip(w.chunks_mut(cfg.c))
                {
                    b.decode(&cfg, &lfsr, o);
                }
                for (wi, xi) in w.iter().zip(&x) {
                    want[r] += *wi as f64 * *xi as f64;
                    mag[r] += (*wi as f64 * *xi as f64).abs();
                }
            }
            assert_close(&y, &want, &mag, cols, &cfg.to_string());
            // A wrong table or shape is refused, not miscomputed.
            let other = BasisTable::new(if cfg == Config::BITS4 {
                &Config::BITS3
            } else {
                &Config::BITS4
            });
            assert!(m.matvec(&Basis::Table(&other), &x, &mut y).is_err());
            assert!(m.matvec(&Basis::Lfsr(Lfsr::new(12)), &x, &mut y).is_err());
            assert!(m.matvec(&Basis::Table(&table), &x[1..], &mut y).is_err());
        }
        // A zero seed is reported with its row and block.
        let cfg = Config::BITS4;
        let mut blocks = random_blocks(&cfg, 4 * 2, 1);
        blocks[5].seed = 0;
        let m = SeedMatrix::new(&cfg, 4, 16, &blocks).unwrap();
        let err = m
            .matvec(
                &Basis::Table(&BasisTable::new(&cfg)),
                &[0.5; 16],
                &mut [0.0; 4],
            )
            .unwrap_err();
        assert!(err.contains("row 2, block 1"), "{err}");
        assert!(SeedMatrix::new(&cfg, 4, 17, &blocks).is_err());
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
}
