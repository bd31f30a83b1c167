//! The kernel's loops, written once and compiled per instruction set.
//!
//! Each body takes the block shape as const generics `CC`, `PP` (the paper
//! configurations, so that the compiler unrolls and vectorizes the block
//! loops) or `0, 0` (any other configuration: the sizes come from
//! [`Shape`] at run time). Arrays are [`MAX_C`] long; only the first `C`
//! entries are used.

use super::Isa;
use crate::config::{MAX_C, MAX_P};
use crate::cycle::TAIL;

/// Sizes of one matrix, as the loops need them.
pub(super) struct Shape {
    /// Weights per block.
    pub c: usize,
    /// Mantissas per block.
    pub p: usize,
    /// Blocks per row.
    pub bpr: usize,
    /// `2^(K-1) - 1`.
    pub unit: f64,
    /// Blocks per `i64` segment of the integer form.
    pub segment: usize,
}

/// A block word, 32 or 64 bits.
pub(super) trait Word: Copy + Send + Sync + Into<u64> {}
impl Word for u32 {}
impl Word for u64 {}

/// `2^(e - 8)` for the stored exponent field `e` in `0..16`.
pub(super) const POW2: [f32; 16] = {
    let mut t = [0f32; 16];
    let mut e = 0;
    while e < 16 {
        t[e] = f32::from_bits(((127 + e - 8) as u32) << 23);
        e += 1;
    }
    t
};

/// Blocks whose float products go to separate accumulators (hides the
/// latency of the multiply-add chain).
const UNROLL: usize = 4;

/// `C` and `P`: the const ones when given, else the run-time ones.
#[inline(always)]
fn dims<const CC: usize, const PP: usize>(sh: &Shape) -> (usize, usize) {
    if CC > 0 {
        (CC, PP)
    } else {
        (sh.c, sh.p)
    }
}

/// Rebuilds one block: `r_i = Σ_j u[i·P + j] · q_j` for `i < C`, with `u`
/// the window at the word's start; returns the exponent field `e + 8`.
#[inline(always)]
pub(super) fn rebuild(c: usize, p: usize, seq: &[i16], w: u64, r: &mut [i32; MAX_C]) -> u32 {
    // Start 0 is seed 0's constant window at the end (`Cycle::index`).
    let s = match (w & 0xffff) as usize {
        0 => seq.len() - TAIL,
        s => s,
    };
    let win = &seq[s..s + c * p];
    let mut q = [0i32; MAX_P];
    for (j, qj) in q.iter_mut().enumerate().take(p) {
        *qj = ((w >> (20 + 4 * j)) as i32) << 28 >> 28;
    }
    for (i, ri) in r.iter_mut().enumerate().take(c) {
        let mut a = 0i32;
        for j in 0..p {
            a += win[i * p + j] as i32 * q[j];
        }
        *ri = a;
    }
    ((w >> 16) & 15) as u32
}

/// Decodes one row's blocks into `out` (`bpr · C` weights): `r_i · 2^e /
/// unit`, in f64 and rounded once, as [`crate::Block::decode`].
pub(super) fn decode_row<W: Word>(sh: &Shape, seq: &[i16], words: &[W], out: &mut [f32]) {
    let mut r = [0i32; MAX_C];
    for (&w, o) in words.iter().zip(out.chunks_exact_mut(sh.c)) {
        let e = rebuild(sh.c, sh.p, seq, w.into(), &mut r);
        let scale = POW2[e as usize] as f64 / sh.unit;
        for (oi, &ri) in o.iter_mut().zip(&r) {
            *oi = (ri as f64 * scale) as f32;
        }
    }
}

/// One block of the float form: `acc_i += r_i · (x_i · 2^e)`.
#[inline(always)]
fn f32_step<const FMA: bool>(
    c: usize,
    p: usize,
    seq: &[i16],
    acc: &mut [f32; MAX_C],
    w: u64,
    xb: &[f32],
) {
    let mut r = [0i32; MAX_C];
    let e = rebuild(c, p, seq, w, &mut r);
    let sc = POW2[e as usize];
    for i in 0..c {
        let xs = xb[i] * sc;
        acc[i] = if FMA {
            (r[i] as f32).mul_add(xs, acc[i])
        } else {
            acc[i] + r[i] as f32 * xs
        };
    }
}

/// Float form over a tile of rows: `y[k]` for the rows of `words`.
#[inline(always)]
fn f32_body<const CC: usize, const PP: usize, const FMA: bool, W: Word>(
    sh: &Shape,
    seq: &[i16],
    words: &[W],
    x: &[f32],
    y: &mut [f32],
) {
    let (c, p) = dims::<CC, PP>(sh);
    for (yr, ws) in y.iter_mut().zip(words.chunks_exact(sh.bpr)) {
        let mut acc = [[0f32; MAX_C]; UNROLL];
        let whole = ws.chunks_exact(UNROLL);
        let rest = whole.remainder();
        for (wu, xu) in whole.zip(x.chunks_exact(UNROLL * c)) {
            for u in 0..UNROLL {
                f32_step::<FMA>(
                    c,
                    p,
                    seq,
                    &mut acc[u],
                    wu[u].into(),
                    &xu[u * c..(u + 1) * c],
                );
            }
        }
        let done = sh.bpr - rest.len();
        for (k, &w) in rest.iter().enumerate() {
            f32_step::<FMA>(
                c,
                p,
                seq,
                &mut acc[k],
                w.into(),
                &x[(done + k) * c..(done + k + 1) * c],
            );
        }
        let sum: f32 = (0..c)
            .map(|i| (acc[0][i] + acc[1][i]) + (acc[2][i] + acc[3][i]))
            .sum();
        *yr = (sum as f64 / sh.unit) as f32;
    }
}

/// Integer form over a tile of rows: `out[k · n + v]` is row `k`'s
/// accumulator for vector `v` (`x` holds `n` vectors of `bpr · C`).
/// `FMA` is unused (integer arithmetic).
#[inline(always)]
fn acc_body<const CC: usize, const PP: usize, const FMA: bool, W: Word>(
    sh: &Shape,
    seq: &[i16],
    words: &[W],
    x: &[i16],
    n: usize,
    out: &mut [i128],
) {
    let (c, p) = dims::<CC, PP>(sh);
    let xlen = sh.bpr * c;
    let mut lanes = vec![[0i64; MAX_C]; n];
    let mut r = [0i32; MAX_C];
    for (o, ws) in out.chunks_exact_mut(n).zip(words.chunks_exact(sh.bpr)) {
        o.fill(0);
        for (s, seg) in ws.chunks(sh.segment).enumerate() {
            lanes.iter_mut().for_each(|l| *l = [0; MAX_C]);
            for (k, &w) in seg.iter().enumerate() {
                let b = s * sh.segment + k;
                let e = rebuild(c, p, seq, w.into(), &mut r);
                for (v, l) in lanes.iter_mut().enumerate() {
                    let xb = &x[v * xlen + b * c..v * xlen + (b + 1) * c];
                    for i in 0..c {
                        l[i] += (r[i] as i64 * xb[i] as i64) << e;
                    }
                }
            }
            for (ov, l) in o.iter_mut().zip(&lanes) {
                *ov += l[..c].iter().map(|&a| a as i128).sum::<i128>();
            }
        }
    }
}

/// Instantiates one body for the paper shapes and the generic one, and
/// dispatches on the instruction set.
macro_rules! dispatch {
    ($name:ident, $avx512:ident, $avx2:ident, $body:ident,
     ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2")]
        fn $avx512<const CC: usize, const PP: usize, W: Word>(sh: &Shape, seq: &[i16], words: &[W], $($arg: $ty),*) {
            $body::<CC, PP, true, W>(sh, seq, words, $($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma,bmi2")]
        fn $avx2<const CC: usize, const PP: usize, W: Word>(sh: &Shape, seq: &[i16], words: &[W], $($arg: $ty),*) {
            $body::<CC, PP, true, W>(sh, seq, words, $($arg),*)
        }

        /// Runs the body for `isa` (see the module docs of the kernel).
        pub(super) fn $name<W: Word>(isa: Isa, sh: &Shape, seq: &[i16], words: &[W], $($arg: $ty),*) {
            fn one<const CC: usize, const PP: usize, W: Word>(isa: Isa, sh: &Shape, seq: &[i16], words: &[W], $($arg: $ty),*) {
                match isa {
                    // SAFETY: `Isa::Avx512` is only handed out after
                    // `Isa::available` detected every feature enabled on
                    // the function.
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => unsafe { $avx512::<CC, PP, W>(sh, seq, words, $($arg),*) },
                    // SAFETY: as above, for AVX2, FMA and BMI2.
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => unsafe { $avx2::<CC, PP, W>(sh, seq, words, $($arg),*) },
                    _ => $body::<CC, PP, false, W>(sh, seq, words, $($arg),*),
                }
            }
            match (sh.c, sh.p) {
                (8, 3) => one::<8, 3, W>(isa, sh, seq, words, $($arg),*),
                (12, 4) => one::<12, 4, W>(isa, sh, seq, words, $($arg),*),
                _ => one::<0, 0, W>(isa, sh, seq, words, $($arg),*),
            }
        }
    };
}

dispatch!(rows_f32, f32_avx512, f32_avx2, f32_body, (x: &[f32], y: &mut [f32]));
dispatch!(rows_acc, acc_avx512, acc_avx2, acc_body, (x: &[i16], n: usize, out: &mut [i128]));
