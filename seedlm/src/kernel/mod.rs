//! The CPU mat-vec kernel of SeedLM layers: blocks decoded on the fly from
//! one [`Cycle`], in an integer form bit-exact with [`crate::fixed`] (the
//! `emu` device and the golden backend) and a float form (the `cpu`
//! backend and `seedlm bench`).
//!
//! **Layout.** [`SeedMatrix`] keeps one word per block, row-major (row `i`'s
//! block `b` covers columns `b·C .. b·C + C`, the last one zero-padded past
//! `cols`, as [`BlockMatrix`]): bits 0..16 the block's window start in
//! [`Cycle::seq`] (the seed, mapped once at load), bits 16..20 the
//! exponent plus 8, then the `P` mantissas as 4-bit two's complement. That
//! is 32 bits at 4-bit (C = 8, P = 3: the packed block word's size) and 36
//! bits, stored in a `u64`, at 3-bit.
//!
//! **Seed 0** (the LFSR stuck at 0, a constant window outside the cycle)
//! is kept out of the loops, so that they need no test per block: its
//! block runs as start 1 with mantissas 0 (exactly zero products), and its
//! true word is kept in a short list whose products (`r_i` is the same for
//! every `i`) are added to the rows afterwards, and whose weights are
//! patched into decoded rows.
//!
//! **One block.** With `u = seq[start..start + C·P]` (the basis, row-major),
//! the integer weights are `r_i = Σ_j u[i·P + j] · q_j`, exact in `i32`
//! (`|r| <= P · 2^(K-1) · 8 < 2^22`).
//! - Integer form: each row keeps `C` lanes of `i64`,
//!   `lane_i += (r_i · x_i) << (e + 8)` with `x` the quantized activations;
//!   a lane gains at most `P · 2^(K+2) · 2^15 · 2^15 <= P · 2^48` per block, so
//!   the lanes are summed into an `i128` every [`SeedMatrix::segment`]
//!   blocks (10,922 at P = 3, 8,192 at P = 4) and can never overflow. Sums
//!   of integers in any order are equal, so the accumulator equals
//!   [`BlockMatrix::matvec_acc`] bit for bit.
//! - Float form: `lane_i += r_i · (x_i · 2^e)` in f32, and
//!   `y = Σ_i lane_i / (2^(K-1) - 1)`: the products of decoded weights and
//!   activations, summed in f32.
//!
//! [`dense`] holds the f32 and f16 dot products of the dense layers and of
//! the baselines in `seedlm bench`, dispatched the same way.
//!
//! **Instruction sets.** The loops are written once, over const `C` and `P`
//! for the two paper configurations (any other configuration takes the same
//! loops with run-time sizes), and compiled three times: for AVX-512 (F, BW,
//! VL, DQ, VNNI, VBMI), for AVX2 + FMA, and portable. [`Isa::detect`] picks the
//! widest the CPU has; a [`SeedMatrix`] can be pinned to any available one
//! ([`SeedMatrix::with_isa`]) so that tests check every path. The paper
//! configurations (K = 16) also have hand-written loops, which take their
//! place: on AVX-512 (`avx512`) and on AVX2 (`avx2`). Rows are split
//! over the rayon pool.
//!
//! This module is allowed `unsafe` for one thing only: calling the
//! `#[target_feature]` copies of the loops, which is sound once the
//! features were detected; [`Isa`] values other than `Portable` are only
//! handed out by that detection.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod dense;
mod loops;

use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::block::Block;
use crate::config::{Config, EXP_MIN};
use crate::cycle::Cycle;
use crate::error::{Error, Result};
use crate::fixed::{BlockMatrix, QuantizedActs};

/// Rows handled by one rayon task.
const ROW_TILE: usize = 16;

/// An instruction set the kernel is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 F, BW, VL, DQ, VNNI and VBMI (with AVX2, FMA, BMI2 and F16C).
    Avx512,
    /// AVX2, FMA, BMI2 and F16C.
    Avx2,
    /// Plain Rust, any CPU.
    Portable,
}

impl Isa {
    /// Every instruction set this CPU runs, widest first.
    pub fn available() -> Vec<Isa> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            let has = |f: &[bool]| f.iter().all(|&b| b);
            let avx2 = has(&[
                is_x86_feature_detected!("avx2"),
                is_x86_feature_detected!("fma"),
                is_x86_feature_detected!("bmi2"),
                is_x86_feature_detected!("f16c"),
            ]);
            let avx512 = avx2
                && has(&[
                    is_x86_feature_detected!("avx512f"),
                    is_x86_feature_detected!("avx512bw"),
                    is_x86_feature_detected!("avx512vl"),
                    is_x86_feature_detected!("avx512dq"),
                    is_x86_feature_detected!("avx512vnni"),
                    is_x86_feature_detected!("avx512vbmi"),
                ]);
            if avx512 {
                out.push(Isa::Avx512);
            }
            if avx2 {
                out.push(Isa::Avx2);
            }
        }
        out.push(Isa::Portable);
        out
    }

    /// The widest instruction set this CPU runs (detected once).
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| Isa::available()[0])
    }

    /// Name as printed by `seedlm bench`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }
}

/// The shared cycle of width `k` (built once per process and width).
pub fn shared_cycle(k: u32) -> Result<Arc<Cycle>> {
    static CYCLES: Mutex<Vec<Arc<Cycle>>> = Mutex::new(Vec::new());
    let mut all = CYCLES.lock().expect("cycle cache poisoned");
    if let Some(c) = all.iter().find(|c| c.k() == k) {
        return Ok(c.clone());
    }
    let c = Arc::new(Cycle::new(k)?);
    all.push(c.clone());
    Ok(c)
}

/// Block words: `u32` when `16 + 4 + 4P <= 32`, else `u64`.
#[derive(Clone, Debug)]
enum Words {
    W32(Vec<u32>),
    W64(Vec<u64>),
}

/// The words of a configuration with its own x86 loops.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Special<'a> {
    /// 4-bit on AVX-512.
    B4(&'a [u32]),
    /// 3-bit on AVX-512.
    B3(&'a [u64]),
    /// 4-bit on AVX2.
    B4Avx2(&'a [u32]),
    /// 3-bit on AVX2.
    B3Avx2(&'a [u64]),
}

/// A SeedLM weight matrix in the kernel's layout (see module docs), with
/// the cycle its words point into.
#[derive(Clone, Debug)]
pub struct SeedMatrix {
    cfg: Config,
    rows: usize,
    cols: usize,
    cycle: Arc<Cycle>,
    words: Words,
    /// The seed-0 blocks: index (`row · bpr + b`) and true word (start 0);
    /// their words in `words` have start 1 and mantissas 0.
    zeros: Vec<(usize, u64)>,
    /// The lowest and highest exponent field (`e + 8`) of the words.
    exps: (usize, usize),
    isa: Isa,
}

/// The word of one block (see module docs); `start` from the cycle.
fn word(cfg: &Config, start: u16, b: &Block) -> u64 {
    let mut w = start as u64 | ((b.exp - EXP_MIN) as u64) << 16;
    for j in 0..cfg.p {
        w |= ((b.q[j] as u64) & 15) << (20 + 4 * j);
    }
    w
}

/// The word run in place of seed-0 word `z`: start 1, mantissas 0 (so
/// `r = 0`), the same exponent.
fn stand_in(z: u64) -> u64 {
    (z & 0xf_0000) | 1
}

/// A seed-0 block's integer weight (all `C` are equal: the window is
/// constant) and exponent field, from its true word.
fn zero_weight(sh: &loops::Shape, seq: &[i16], z: u64) -> (i64, u32) {
    let mut r = [0i32; crate::config::MAX_C];
    let e = loops::rebuild(sh.c, sh.p, seq, z, &mut r);
    (r[0] as i64, e)
}

impl SeedMatrix {
    /// The kernel's form of `m`: each seed mapped to its window start.
    /// Fails on a shape that does not match the blocks, a configuration
    /// with `K > 16`, or a seed wider than K bits (naming the block). Seed
    /// 0 is run as the hardware runs it (see [`crate::cycle`]).
    pub fn new(m: &BlockMatrix<'_>) -> Result<SeedMatrix> {
        let cfg = m.cfg;
        cfg.validate()?;
        let bpr = m.blocks_per_row();
        if m.rows.checked_mul(bpr) != Some(m.blocks.len()) {
            return Err(Error::InvalidInput(format!(
                "{} blocks for a {}x{} matrix at C={} (need {})",
                m.blocks.len(),
                m.rows,
                m.cols,
                cfg.c,
                m.rows.saturating_mul(bpr)
            )));
        }
        let cycle = shared_cycle(cfg.k)?;
        let one = |(i, b): (usize, &Block)| -> Result<u64> {
            let start = cycle.start(b.seed).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "row {}, block {}: seed {} is wider than {} bits",
                    i / bpr.max(1),
                    i % bpr.max(1),
                    b.seed,
                    cfg.k
                ))
            })?;
            Ok(word(&cfg, start, b))
        };
        let mut words = if 20 + 4 * cfg.p <= 32 {
            Words::W32(
                m.blocks
                    .par_iter()
                    .enumerate()
                    .map(|ib| one(ib).map(|w| w as u32))
                    .collect::<Result<_>>()?,
            )
        } else {
            Words::W64(
                m.blocks
                    .par_iter()
                    .enumerate()
                    .map(one)
                    .collect::<Result<_>>()?,
            )
        };
        let mut zeros = Vec::new();
        for (i, b) in m.blocks.iter().enumerate() {
            if cycle.start(b.seed) == Some(0) {
                zeros.push((i, word(&cfg, 0, b)));
            }
        }
        match &mut words {
            Words::W32(w) => zeros.iter().for_each(|&(i, z)| w[i] = stand_in(z) as u32),
            Words::W64(w) => zeros.iter().for_each(|&(i, z)| w[i] = stand_in(z)),
        }
        let span = |words: &mut dyn Iterator<Item = u64>| {
            words.fold((15, 0), |(lo, hi), w| {
                let f = (w >> 16) as usize & 15;
                (lo.min(f), hi.max(f))
            })
        };
        let exps = match &words {
            Words::W32(w) => span(&mut w.iter().map(|&w| w as u64)),
            Words::W64(w) => span(&mut w.iter().copied()),
        };
        Ok(SeedMatrix {
            cfg,
            rows: m.rows,
            cols: m.cols,
            cycle,
            words,
            zeros,
            exps,
            isa: Isa::detect(),
        })
    }

    /// The same matrix run with `isa`; an error if this CPU lacks it.
    pub fn with_isa(mut self, isa: Isa) -> Result<SeedMatrix> {
        if !Isa::available().contains(&isa) {
            return Err(Error::InvalidInput(format!(
                "this CPU does not run the {} kernel",
                isa.name()
            )));
        }
        self.isa = isa;
        Ok(self)
    }

    /// Block configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The instruction set the kernel runs with.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Blocks per row, `ceil(cols / C)`.
    pub fn blocks_per_row(&self) -> usize {
        self.cols.div_ceil(self.cfg.c)
    }

    /// Bytes of block words the kernel reads per mat-vec.
    pub fn bytes(&self) -> usize {
        match &self.words {
            Words::W32(w) => w.len() * 4,
            Words::W64(w) => w.len() * 8,
        }
    }

    /// Blocks after which the integer form folds its `i64` lanes into an
    /// `i128` (see module docs): `2^63 / (P · 2^(K-1+3+15+15))`.
    pub fn segment(&self) -> usize {
        ((1u128 << 63) / ((self.cfg.p as u128) << (self.cfg.k - 1 + 3 + 15 + 15))) as usize
    }

    fn args(&self) -> loops::Shape {
        loops::Shape {
            c: self.cfg.c,
            p: self.cfg.p,
            bpr: self.blocks_per_row(),
            unit: self.cfg.unit(),
            segment: self.segment(),
        }
    }

    /// The seed-0 blocks whose indices lie in `blocks`.
    fn zeros_in(&self, blocks: std::ops::Range<usize>) -> &[(usize, u64)] {
        let lo = self.zeros.partition_point(|z| z.0 < blocks.start);
        let hi = self.zeros.partition_point(|z| z.0 < blocks.end);
        &self.zeros[lo..hi]
    }

    /// Adds the seed-0 blocks' products to the float form's `y` (`xp`
    /// padded to `bpr · C`).
    fn add_zeros_f32(&self, xp: &[f32], y: &mut [f32]) {
        let (sh, seq, c) = (self.args(), self.cycle.seq(), self.cfg.c);
        for &(i, z) in &self.zeros {
            let (row, b) = (i / sh.bpr, i % sh.bpr);
            let (r, e) = zero_weight(&sh, seq, z);
            let sx: f64 = xp[b * c..(b + 1) * c].iter().map(|&v| v as f64).sum();
            let add = r as f64 * loops::POW2[e as usize] as f64 * sx / sh.unit;
            y[row] = (y[row] as f64 + add) as f32;
        }
    }

    /// Adds the seed-0 blocks' products to the integer form's
    /// `acc[row · n + v]` (`xp` holds `n` vectors of `bpr · C`): exact.
    fn add_zeros_acc(&self, xp: &[i16], n: usize, acc: &mut [i128]) {
        let (sh, seq, c) = (self.args(), self.cycle.seq(), self.cfg.c);
        for &(i, z) in &self.zeros {
            let (row, b) = (i / sh.bpr, i % sh.bpr);
            let (r, e) = zero_weight(&sh, seq, z);
            for v in 0..n {
                let x = &xp[v * sh.bpr * c + b * c..][..c];
                let sx: i128 = x.iter().map(|&a| a as i128).sum();
                acc[row * n + v] += (r as i128 * sx) << e;
            }
        }
    }

    /// Decodes rows `r0 .. r0 + out.len() / cols` into `out` (row-major,
    /// `cols` per row): the weights of [`Block::decode`], bit for bit.
    pub fn decode_rows(&self, r0: usize, out: &mut [f32]) {
        let (c, bpr, cols) = (self.cfg.c, self.blocks_per_row(), self.cols);
        assert!(out.len().is_multiple_of(cols) && r0 + out.len() / cols <= self.rows);
        let seq = self.cycle.seq();
        let sh = self.args();
        let mut buf = vec![0f32; bpr * c];
        for (k, o) in out.chunks_exact_mut(cols).enumerate() {
            let row = (r0 + k) * bpr..(r0 + k + 1) * bpr;
            match &self.words {
                Words::W32(w) => loops::decode_row(&sh, seq, &w[row.clone()], &mut buf),
                Words::W64(w) => loops::decode_row(&sh, seq, &w[row.clone()], &mut buf),
            }
            for &(i, z) in self.zeros_in(row) {
                let b = i % bpr;
                loops::decode_row(&sh, seq, &[z], &mut buf[b * c..(b + 1) * c]);
            }
            o.copy_from_slice(&buf[..cols]);
        }
    }

    /// Row `row`'s `cols` weights.
    pub fn row(&self, row: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.cols];
        self.decode_rows(row, &mut out);
        out
    }

    /// All weights, `rows × cols` row-major (rows decoded in parallel).
    pub fn decode(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        out.par_chunks_mut(ROW_TILE * self.cols)
            .enumerate()
            .for_each(|(t, o)| self.decode_rows(t * ROW_TILE, o));
        out
    }

    /// Float form: `y = W x` (`x.len() == cols`, `y.len() == rows`).
    pub fn matvec_f32(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        if x.len() != self.cols || y.len() != self.rows {
            return Err(Error::InvalidInput(format!(
                "mat-vec of a {}x{} matrix given x of {} and y of {}",
                self.rows,
                self.cols,
                x.len(),
                y.len()
            )));
        }
        let (c, bpr) = (self.cfg.c, self.blocks_per_row());
        let mut xp = x.to_vec();
        xp.resize(bpr * c, 0.0);
        let (sh, seq, isa) = (self.args(), self.cycle.seq(), self.isa);
        #[cfg(target_arch = "x86_64")]
        if let Some(special) = self.special() {
            let bits = self.cycle.bits();
            // Each x_i twice, for the pairs of dwords of `vpmaddwd`.
            let mut buf = Vec::new();
            let x2 = line_aligned(&mut buf, 2 * xp.len());
            for (o, &v) in x2.chunks_exact_mut(2).zip(&xp) {
                o.fill(v);
            }
            let x2 = &*x2;
            y.par_chunks_mut(ROW_TILE).enumerate().for_each(|(t, yt)| {
                let rows = t * ROW_TILE * bpr..(t * ROW_TILE + yt.len()) * bpr;
                match special {
                    // SAFETY: `special()` returns the AVX-512 loops only for
                    // `Isa::Avx512`, detected by `Isa::available`.
                    Special::B4(w) => unsafe { avx512::f32_83(&sh, bits, &w[rows], x2, yt) },
                    // SAFETY: as above.
                    Special::B3(w) => unsafe { avx512::f32_124(&sh, bits, &w[rows], x2, yt) },
                    // SAFETY: `special()` returns the AVX2 loops only for
                    // `Isa::Avx2`, detected by `Isa::available`.
                    Special::B4Avx2(w) => unsafe { avx2::f32_83(&sh, seq, &w[rows], x2, yt) },
                    // SAFETY: as above.
                    Special::B3Avx2(w) => unsafe { avx2::f32_124(&sh, seq, &w[rows], x2, yt) },
                }
            });
            self.add_zeros_f32(&xp, y);
            return Ok(());
        }
        y.par_chunks_mut(ROW_TILE).enumerate().for_each(|(t, yt)| {
            let rows = t * ROW_TILE * bpr..(t * ROW_TILE + yt.len()) * bpr;
            match &self.words {
                Words::W32(w) => loops::rows_f32(isa, &sh, seq, &w[rows], &xp, yt),
                Words::W64(w) => loops::rows_f32(isa, &sh, seq, &w[rows], &xp, yt),
            }
        });
        self.add_zeros_f32(&xp, y);
        Ok(())
    }

    /// The x86 loops' view of the words, for the configurations that have
    /// their own (K = 16: 16-bit states): both paper configurations, on
    /// AVX-512 and on AVX2.
    #[cfg(target_arch = "x86_64")]
    fn special(&self) -> Option<Special<'_>> {
        match (self.isa, &self.words, self.cfg.c, self.cfg.p, self.cfg.k) {
            (Isa::Avx512, Words::W32(w), 8, 3, 16) => Some(Special::B4(w)),
            (Isa::Avx512, Words::W64(w), 12, 4, 16) => Some(Special::B3(w)),
            (Isa::Avx2, Words::W32(w), 8, 3, 16) => Some(Special::B4Avx2(w)),
            (Isa::Avx2, Words::W64(w), 12, 4, 16) => Some(Special::B3Avx2(w)),
            _ => None,
        }
    }

    /// Integer form: the accumulators of [`BlockMatrix::matvec_acc`] for
    /// each vector of `xs`, bit for bit; each block is rebuilt once for all
    /// vectors. Returns one `rows`-long vector per input vector.
    pub fn matvec_acc(&self, xs: &[&QuantizedActs]) -> Result<Vec<Vec<i128>>> {
        let (c, bpr, n) = (self.cfg.c, self.blocks_per_row(), xs.len());
        let mut xp = Vec::with_capacity(n * bpr * c);
        for (v, x) in xs.iter().enumerate() {
            if x.x.len() != self.cols {
                return Err(Error::InvalidInput(format!(
                    "activation vector {v}: length {} does not match {} columns",
                    x.x.len(),
                    self.cols
                )));
            }
            xp.extend_from_slice(&x.x);
            xp.resize((v + 1) * bpr * c, 0);
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        // Row-major per vector in `acc[row · n + v]`, then transposed.
        let mut acc = vec![0i128; self.rows * n];
        let (sh, seq, isa) = (self.args(), self.cycle.seq(), self.isa);
        let tiles = acc.par_chunks_mut(ROW_TILE * n).enumerate();
        #[cfg(target_arch = "x86_64")]
        if let (1, Some(Special::B4(w))) = (n, self.special()) {
            // One 4-bit vector on AVX-512: `x_i · 2^f` for every exponent
            // field `f` of the words, one row of `bpr · 8` per field.
            let bits = self.cycle.bits();
            let (lo, hi) = self.exps;
            let mut buf = Vec::new();
            let xe = line_aligned(&mut buf, (hi + 1 - lo) * xp.len());
            for (f, row) in (lo..=hi).zip(xe.chunks_exact_mut(xp.len())) {
                for (o, &v) in row.iter_mut().zip(&xp) {
                    *o = (v as i64) << f;
                }
            }
            let xe = &*xe;
            tiles.for_each(|(t, at)| {
                let rows = t * ROW_TILE * bpr..(t * ROW_TILE + at.len()) * bpr;
                // SAFETY: `special()` returns the AVX-512 loops only for
                // `Isa::Avx512`, detected by `Isa::available`; `xe` holds
                // the rows `lo..=hi` of `self.exps`, which covers every word.
                unsafe { avx512::acc_83_one(&sh, bits, &w[rows], xe, lo, at) }
            });
            self.add_zeros_acc(&xp, n, &mut acc);
            return Ok(transpose(acc, n));
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(special) = self.special() {
            let bits = self.cycle.bits();
            // Each x_i in its own i64, for `vpmuldq`.
            let mut buf = Vec::new();
            let x64 = line_aligned(&mut buf, xp.len());
            for (o, &v) in x64.iter_mut().zip(&xp) {
                *o = v as i64;
            }
            let x64 = &*x64;
            tiles.for_each(|(t, at)| {
                let rows = t * ROW_TILE * bpr..(t * ROW_TILE + at.len() / n) * bpr;
                match special {
                    // SAFETY: `special()` returns the AVX-512 loops only for
                    // `Isa::Avx512`, detected by `Isa::available`.
                    Special::B4(w) => unsafe { avx512::acc_83(&sh, bits, &w[rows], x64, n, at) },
                    // SAFETY: as above.
                    Special::B3(w) => unsafe { avx512::acc_124(&sh, seq, &w[rows], x64, n, at) },
                    // SAFETY: `special()` returns the AVX2 loops only for
                    // `Isa::Avx2`, detected by `Isa::available`.
                    Special::B4Avx2(w) => unsafe { avx2::acc_83(&sh, seq, &w[rows], x64, n, at) },
                    // SAFETY: as above.
                    Special::B3Avx2(w) => unsafe { avx2::acc_124(&sh, seq, &w[rows], x64, n, at) },
                }
            });
            self.add_zeros_acc(&xp, n, &mut acc);
            return Ok(transpose(acc, n));
        }
        tiles.for_each(|(t, at)| {
            let rows = t * ROW_TILE * bpr..(t * ROW_TILE + at.len() / n) * bpr;
            match &self.words {
                Words::W32(w) => loops::rows_acc(isa, &sh, seq, &w[rows], &xp, n, at),
                Words::W64(w) => loops::rows_acc(isa, &sh, seq, &w[rows], &xp, n, at),
            }
        });
        self.add_zeros_acc(&xp, n, &mut acc);
        Ok(transpose(acc, n))
    }
}

/// `len` zeros in `buf` that start on a 64-byte boundary: the x86 loops
/// read the activations a block (a cache line at 4-bit) at a time, and a
/// load that straddles two lines costs two (12% of the AVX-512 float
/// loop's time on SmolLM2's layers).
fn line_aligned<T: Copy + Default>(buf: &mut Vec<T>, len: usize) -> &mut [T] {
    let spare = 64 / std::mem::size_of::<T>().max(1);
    *buf = vec![T::default(); len + spare];
    let off = buf.as_ptr().align_offset(64).min(spare);
    &mut buf[off..off + len]
}

/// `acc[row · n + v]` as one vector per `v`.
fn transpose(acc: Vec<i128>, n: usize) -> Vec<Vec<i128>> {
    if n == 1 {
        return vec![acc];
    }
    (0..n)
        .map(|v| acc.iter().skip(v).step_by(n).copied().collect())
        .collect()
}

#[cfg(test)]
mod tests;
