//! Known-answer self-test of a device: small layers whose accumulators are
//! known by construction, computed here without the golden model.
//!
//! Each block's weights are `r_i = Σ_j u_ij q_j` with `u_ij` the state
//! `i·P + j + 1` steps after the seed minus `2^(K-1)`; the expected values
//! take those states from [`Lfsr::jump`] (the GF(2) jump-ahead matrices),
//! a different path from the step-by-step expansion that the golden model,
//! the basis table and the RTL's expander tests use, and sum
//! `r_i · x_i · 2^(e+8)` in `i128`. Activations are given as integers
//! (scale 1), so there is no rounding anywhere: any difference is a fault.
//!
//! The cases: a ragged layer (rows not a multiple of the lanes, columns not
//! a multiple of `C`) against a zero vector, one-hot vectors and a dense
//! vector; and a layer at the extremes (every mantissa -8, exponent 7,
//! activations ±32767) whose sums need the accumulator's full width.

use super::engine::Engine;
use super::error::Result;
use seedlm::config::MAX_P;
use seedlm::fixed::{BlockMatrix, QuantizedActs, ACT_MAX, EXP_BIAS};
use seedlm::{Block, Config, Lfsr};

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// What the case checks.
    pub name: String,
    /// Layer shape, rows × columns.
    pub shape: (usize, usize),
    /// Vectors run.
    pub vectors: usize,
    /// Accumulators that differ from the known answer.
    pub mismatches: usize,
    /// The first mismatch: `(vector, row, got, want)`.
    pub first: Option<(usize, usize, i128, i128)>,
}

/// A deterministic block of the test layers (every field range covered).
fn case_block(cfg: &Config, row: usize, b: usize) -> Block {
    let mut q = [0i8; MAX_P];
    for (j, qj) in q.iter_mut().enumerate().take(cfg.p) {
        *qj = ((row * 5 + b * 3 + j * 7) % 16) as i8 - 8;
    }
    Block {
        seed: 1 + ((row * 7919 + b * 104_729) % ((1 << cfg.k) - 1)) as u32,
        exp: ((row + 2 * b) % 16) as i8 - 8,
        q,
    }
}

/// The known answer: `Σ_b (Σ_i r_i x_i) · 2^(e+8)` per row, with the LFSR
/// states taken by jump-ahead.
fn known_acc(cfg: &Config, blocks: &[Block], rows: usize, x: &[i16]) -> Vec<i128> {
    let lfsr = Lfsr::new(cfg.k);
    let bpr = blocks.len() / rows;
    (0..rows)
        .map(|row| {
            let mut acc = 0i128;
            for b in 0..bpr {
                let blk = &blocks[row * bpr + b];
                let mut d = 0i128;
                for i in 0..cfg.c {
                    let xi = *x.get(b * cfg.c + i).unwrap_or(&0) as i128;
                    let r: i128 = (0..cfg.p)
                        .map(|j| {
                            let v = lfsr.jump(blk.seed, (i * cfg.p + j + 1) as u64);
                            (v as i128 - cfg.half() as i128) * blk.q[j] as i128
                        })
                        .sum();
                    d += r * xi;
                }
                acc += d << (blk.exp as i32 + EXP_BIAS);
            }
            acc
        })
        .collect()
}

/// Runs one layer against vectors and compares with the known answers.
fn run_case(
    engine: &mut Engine,
    name: &str,
    rows: usize,
    cols: usize,
    blocks: &[Block],
    xs: Vec<Vec<i16>>,
) -> Result<CaseResult> {
    let cfg = engine.info().cfg;
    let m = BlockMatrix {
        cfg,
        rows,
        cols,
        blocks,
    };
    let layer = engine.load_layer(&m)?;
    let qs: Vec<QuantizedActs> = xs
        .into_iter()
        .map(|x| QuantizedActs { x, scale: 1.0 })
        .collect();
    let got = engine.matvec_acc_batch(&layer, &qs);
    engine.unload(layer)?;
    let got = got?;
    let mut res = CaseResult {
        name: name.into(),
        shape: (rows, cols),
        vectors: qs.len(),
        mismatches: 0,
        first: None,
    };
    for (v, (q, acc)) in qs.iter().zip(&got).enumerate() {
        let want = known_acc(&cfg, blocks, rows, &q.x);
        for (row, (&g, &w)) in acc.iter().zip(&want).enumerate() {
            if g != w {
                res.mismatches += 1;
                res.first.get_or_insert((v, row, g, w));
            }
        }
    }
    Ok(res)
}

/// Runs every case on the engine's device.
pub fn run(engine: &mut Engine) -> Result<Vec<CaseResult>> {
    let (cfg, lanes) = (engine.info().cfg, engine.info().lanes);
    let mut out = Vec::new();

    // Ragged: 2 full tiles and one row more; last column block 1 short.
    let (rows, cols) = (2 * lanes + 1, 3 * cfg.c - 1);
    let bpr = cols.div_ceil(cfg.c);
    let blocks: Vec<Block> = (0..rows * bpr)
        .map(|k| case_block(&cfg, k / bpr, k % bpr))
        .collect();
    let mut xs = vec![vec![0i16; cols]];
    for k in [0, cfg.c, cols - 1] {
        let mut x = vec![0i16; cols];
        x[k] = ACT_MAX as i16;
        xs.push(x);
    }
    xs.push(
        (0..cols)
            .map(|i| ((i * 9973) % 65_535) as i16 / 2 - (i % 3) as i16)
            .collect(),
    );
    out.push(run_case(
        engine,
        "ragged layer: zero, one-hot and dense vectors",
        rows,
        cols,
        &blocks,
        xs,
    )?);

    // Extremes: the largest |term| in every block, same and mixed signs.
    let (rows, bpr) = (lanes + 2, 64);
    let cols = bpr * cfg.c;
    let blocks: Vec<Block> = (0..rows * bpr)
        .map(|k| Block {
            seed: 1 + k as u32 % 5,
            exp: 7,
            q: [-8; MAX_P],
        })
        .collect();
    let full = ACT_MAX as i16;
    let xs = vec![
        vec![full; cols],
        vec![-full; cols],
        (0..cols)
            .map(|i| if i % 2 == 0 { full } else { -full })
            .collect(),
    ];
    out.push(run_case(
        engine,
        "extremes: mantissas -8, exponent 7, activations +-32767",
        rows,
        cols,
        &blocks,
        xs,
    )?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_known_acc_agrees_with_golden_model() {
        // The two computations share no code below `Lfsr`; they must agree.
        for cfg in [Config::BITS4, Config::BITS3] {
            let (rows, cols) = (5, 2 * cfg.c + 3);
            let bpr = cols.div_ceil(cfg.c);
            let blocks: Vec<Block> = (0..rows * bpr)
                .map(|k| case_block(&cfg, k / bpr, k % bpr))
                .collect();
            let x = QuantizedActs {
                x: (0..cols).map(|i| (i as i16 * 611) % 32767 - 9000).collect(),
                scale: 1.0,
            };
            let m = BlockMatrix {
                cfg,
                rows,
                cols,
                blocks: &blocks,
            };
            assert_eq!(
                known_acc(&cfg, &blocks, rows, &x.x),
                m.matvec_acc(&x).unwrap()
            );
        }
    }
}
