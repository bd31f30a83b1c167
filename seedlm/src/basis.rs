//! A precomputed table of every block basis: for each seed `s` the `C·P`
//! centred LFSR states `u = v - 2^(K-1)` of `V(s)`, row-major as in
//! [`crate::block::centred_basis`], stored as `i16`.
//!
//! **Range.** A state `v` is K bits, so `u` lies in
//! `[-2^(K-1), 2^(K-1) - 1]`, which fits `i16` exactly for every `K <= 16`
//! ([`MAX_TABLE_K`]); wider LFSRs are refused by [`BasisTable::try_new`].
//!
//! **Seed 0.** Zero is not a valid seed (the LFSR stays at 0), but the table
//! holds its row anyway (`C·P` times `-2^(K-1)`, what stepping from 0
//! gives), so a lookup is one multiply and no branch.
//!
//! **Size.** `2^K · C · P · 2` bytes: 3 MiB for the 4-bit configuration
//! (C = 8, P = 3), 6 MiB for the 3-bit one (C = 12, P = 4). Building it
//! steps the LFSR once per state of the cycle, then copies each window.
//!
//! [`BasisTable::block_sum`] is the table-driven form of the golden
//! model's lane sum (steps 2–3 of [`crate::fixed`]); it is exact, so results
//! built on it equal [`crate::fixed::BlockMatrix::matvec_acc`] bit for bit.

use crate::block::Block;
use crate::config::{Config, MAX_C};
use crate::error::{Error, Result};
use crate::lfsr::Lfsr;

/// Widest LFSR whose centred states fit `i16`.
pub const MAX_TABLE_K: u32 = 16;

/// Centred bases of every seed of one configuration (see module docs).
#[derive(Clone, Debug)]
pub struct BasisTable {
    cfg: Config,
    /// `C·P` entries per seed, seed `s` at `s · C·P`, seeds `0..2^K`.
    u: Vec<i16>,
}

impl BasisTable {
    /// The table for `cfg`.
    ///
    /// # Panics
    /// If `cfg` is invalid or `K > 16`; use [`BasisTable::try_new`] for a
    /// configuration read from a file.
    pub fn new(cfg: &Config) -> BasisTable {
        Self::try_new(cfg).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The table for `cfg`, or an error if `cfg` is invalid or `K > 16`.
    pub fn try_new(cfg: &Config) -> Result<BasisTable> {
        cfg.validate()?;
        if cfg.k > MAX_TABLE_K {
            return Err(Error::InvalidConfig(format!(
                "{cfg}: basis table needs K <= {MAX_TABLE_K} (centred states as i16)"
            )));
        }
        let n = cfg.c * cfg.p;
        let lfsr = Lfsr::new(cfg.k);
        let half = cfg.half();
        // The cycle from state 1, extended by n states so that every window
        // of n states after a seed is contiguous.
        let mut cycle = lfsr.cycle();
        let period = cycle.len();
        let mut pos = vec![0usize; 1 << cfg.k];
        for (i, &s) in cycle.iter().enumerate() {
            pos[s as usize] = i;
        }
        while cycle.len() < period + n {
            let last = *cycle.last().expect("nonempty cycle");
            cycle.push(lfsr.step(last));
        }
        let mut u = vec![0i16; (1 << cfg.k) * n];
        u[..n].fill(-half as i16);
        for seed in 1..1usize << cfg.k {
            let start = pos[seed] + 1;
            for (dst, &v) in u[seed * n..(seed + 1) * n]
                .iter_mut()
                .zip(&cycle[start..start + n])
            {
                *dst = (v as i32 - half) as i16;
            }
        }
        Ok(BasisTable { cfg: *cfg, u })
    }

    /// The configuration the table was built for.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The `C·P` centred states of `seed`, row-major (`u[i·P + j]`).
    ///
    /// # Panics
    /// If `seed >= 2^K`.
    #[inline]
    pub fn u(&self, seed: u32) -> &[i16] {
        let n = self.cfg.c * self.cfg.p;
        &self.u[seed as usize * n..(seed as usize + 1) * n]
    }

    /// Rebuilt integer weights `r_i = Σ_j u_ij · q_j` of one block (step 2
    /// of [`crate::fixed`]); `out.len()` must be `C`.
    #[inline]
    pub fn rebuild(&self, b: &Block, out: &mut [i32]) {
        let p = self.cfg.p;
        let u = self.u(b.seed);
        for (ri, urow) in out.iter_mut().zip(u.chunks_exact(p)) {
            *ri = urow
                .iter()
                .zip(&b.q[..p])
                .map(|(&u, &q)| u as i32 * q as i32)
                .sum();
        }
    }

    /// The unshifted lane sum `d = Σ_i r_i · x_i` of one block against its
    /// `C` activations (step 3 of [`crate::fixed`]), exact in `i64`.
    #[inline]
    pub fn block_sum(&self, b: &Block, x: &[i16]) -> i64 {
        let mut r = [0i32; MAX_C];
        let r = &mut r[..self.cfg.c];
        self.rebuild(b, r);
        r.iter().zip(x).map(|(&r, &x)| r as i64 * x as i64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::centred_basis;
    use crate::fixed::{block_term, rebuild_block, EXP_BIAS};
    use crate::sample::random_block;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_basis_table_equals_centred_basis_for_every_seed() {
        for cfg in [Config::BITS4, Config::BITS3, Config::new(4, 2, 5).unwrap()] {
            let table = BasisTable::new(&cfg);
            let lfsr = Lfsr::new(cfg.k);
            let mut want = vec![0i32; cfg.c * cfg.p];
            for seed in 1..(1u32 << cfg.k) {
                centred_basis(&cfg, &lfsr, seed, &mut want);
                let got: Vec<i32> = table.u(seed).iter().map(|&u| u as i32).collect();
                assert_eq!(got, want, "{cfg} seed {seed}");
            }
            assert!(table.u(0).iter().all(|&u| u as i32 == -cfg.half()));
        }
    }

    #[test]
    fn test_basis_table_refuses_wide_lfsr() {
        let err = BasisTable::try_new(&Config::new(8, 3, 17).unwrap()).unwrap_err();
        assert!(err.to_string().contains("K <= 16"), "{err}");
    }

    #[test]
    fn test_basis_block_sum_equals_golden_block_term() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for cfg in [Config::BITS4, Config::BITS3] {
            let table = BasisTable::new(&cfg);
            let lfsr = Lfsr::new(cfg.k);
            for _ in 0..2000 {
                let b = random_block(&cfg, &mut rng);
                // Extreme activations often, to exercise the full width.
                let x: Vec<i16> = (0..cfg.c)
                    .map(|_| match rng.gen_range(0..4) {
                        0 => 32767,
                        1 => -32767,
                        _ => rng.gen_range(-32767..=32767),
                    })
                    .collect();
                let r = rebuild_block(&cfg, &lfsr, &b);
                let want = block_term(&r[..cfg.c], b.exp, &x);
                let got = (table.block_sum(&b, &x) as i128) << (b.exp as i32 + EXP_BIAS);
                assert_eq!(got, want, "{cfg} {b:?}");
            }
        }
    }
}
