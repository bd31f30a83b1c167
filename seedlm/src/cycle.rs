//! The LFSR's single cycle as one sequence of centred states: every block
//! basis is a window of it.
//!
//! A maximal-length K-bit LFSR visits every nonzero state once per period
//! `N = 2^K - 1`. Number the states by their position on the cycle from
//! state 1 (`cycle[0] = 1`, `cycle[n + 1] = step(cycle[n])`, as
//! [`Lfsr::cycle`]); then the `C·P` states after seed `s` are
//! `cycle[pos(s) + 1 ..= pos(s) + C·P]` (wrapping past `N`). [`Cycle`] holds
//! the centred values `u = v - 2^(K-1)` of the cycle, extended past `N` by
//! [`TAIL`] entries so that every window of every configuration is one
//! contiguous slice, and the map seed → window start `pos(s) + 1`.
//!
//! **Range.** `u` lies in `[-2^(K-1), 2^(K-1) - 1]`: `i16` for `K <= 16`
//! ([`MAX_K`]). A window start lies in `1..=N`, a `u16`.
//!
//! **Size.** `(N + TAIL) · 2` bytes, 128.6 KiB at K = 16 (it stays in L2),
//! plus the `2^K · 2`-byte start map, used once per block at load.

use crate::error::{Error, Result};
use crate::lfsr::Lfsr;

/// Widest LFSR whose centred states fit `i16`.
pub const MAX_K: u32 = 16;

/// Entries past the period: the longest window (`C·P <= MAX_C · MAX_P` =
/// 256) plus 32 so that a kernel may read a whole 64-byte vector from any
/// window start.
pub const TAIL: usize = crate::config::MAX_C * crate::config::MAX_P + 32;

/// The centred cycle of one LFSR width (see module docs).
#[derive(Clone, Debug)]
pub struct Cycle {
    k: u32,
    /// `u[n] = cycle[n mod N] - 2^(K-1)` for `n < N + TAIL`.
    seq: Vec<i16>,
    /// `start[s] = pos(s) + 1` for `s` in `1..2^K`; `start[0] = 0`.
    start: Vec<u16>,
}

impl Cycle {
    /// The cycle of the `k`-bit LFSR, or an error if `k` is unsupported or
    /// wider than [`MAX_K`].
    pub fn new(k: u32) -> Result<Cycle> {
        if !(crate::lfsr::K_MIN..=MAX_K).contains(&k) {
            return Err(Error::InvalidConfig(format!(
                "K = {k}: the LFSR cycle table needs {} <= K <= {MAX_K} (centred states as i16)",
                crate::lfsr::K_MIN
            )));
        }
        let lfsr = Lfsr::new(k);
        let cycle = lfsr.cycle();
        let n = cycle.len();
        let half = 1i32 << (k - 1);
        let seq = (0..n + TAIL)
            .map(|i| (cycle[i % n] as i32 - half) as i16)
            .collect();
        let mut start = vec![0u16; 1 << k];
        for (i, &s) in cycle.iter().enumerate() {
            start[s as usize] = (i + 1) as u16;
        }
        Ok(Cycle { k, seq, start })
    }

    /// LFSR width in bits.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The centred sequence, `N + TAIL` entries.
    #[inline]
    pub fn seq(&self) -> &[i16] {
        &self.seq
    }

    /// Where the window of `seed` starts in [`Cycle::seq`], `pos(seed) + 1`,
    /// in `1..=N`; `None` for seed 0 or a seed of more than K bits.
    #[inline]
    pub fn start(&self, seed: u32) -> Option<u16> {
        match self.start.get(seed as usize) {
            Some(&s) if s != 0 => Some(s),
            _ => None,
        }
    }

    /// The `n` centred states after `seed` (`n <= C·P` of any configuration,
    /// at most `TAIL - 32`); `None` for an invalid seed.
    pub fn window(&self, seed: u32, n: usize) -> Option<&[i16]> {
        let s = self.start(seed)? as usize;
        self.seq.get(s..s + n.min(TAIL - 32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::centred_basis;
    use crate::config::Config;

    #[test]
    fn test_cycle_window_equals_basis_for_every_seed() {
        for cfg in [Config::BITS4, Config::BITS3, Config::new(4, 2, 5).unwrap()] {
            let cy = Cycle::new(cfg.k).unwrap();
            let lfsr = Lfsr::new(cfg.k);
            let n = cfg.c * cfg.p;
            let mut want = vec![0i32; n];
            for seed in 1..(1u32 << cfg.k) {
                centred_basis(&cfg, &lfsr, seed, &mut want);
                let got: Vec<i32> = cy
                    .window(seed, n)
                    .unwrap()
                    .iter()
                    .map(|&u| u as i32)
                    .collect();
                assert_eq!(got, want, "{cfg} seed {seed}");
            }
        }
    }

    #[test]
    fn test_cycle_known_answers() {
        let cy = Cycle::new(16).unwrap();
        // cycle[0] = 1, cycle[1] = step(1) = 1 >> 1 | parity(1 & taps) << 15.
        assert_eq!(cy.seq()[0], -32767);
        assert_eq!(cy.seq()[1], 0); // state 0x8000
        assert_eq!(cy.start(1), Some(1));
        assert_eq!(cy.start(0x8000), Some(2));
        assert_eq!(cy.seq().len(), 65535 + TAIL);
        // The sequence wraps: entry N is state 1 again.
        assert_eq!(cy.seq()[65535], cy.seq()[0]);
        // The last state before 1 again has its window start at N.
        assert_eq!(cy.start(Lfsr::new(16).jump(1, 65534)), Some(65535));
        assert_eq!(cy.start(0), None);
        assert_eq!(cy.start(1 << 16), None);
        assert!(Cycle::new(17).is_err() && Cycle::new(2).is_err());
    }
}
