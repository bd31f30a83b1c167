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
//! **Seed 0.** Zero is not a state of the cycle, but the hardware accepts
//! it (the LFSR then stays at 0, every `u = -2^(K-1)`), so the sequence
//! ends with [`TAIL`] such entries after the extended cycle, and seed 0 has
//! the window start 0, which [`Cycle::index`] maps to them.
//!
//! **Range.** `u` lies in `[-2^(K-1), 2^(K-1) - 1]`: `i16` for `K <= 16`
//! ([`MAX_K`]). A window start lies in `1..=N`, a `u16`.
//!
//! **Size.** `(N + 2·TAIL) · 2` bytes, 129 KiB at K = 16 (it stays in L2),
//! plus the `2^K · 2`-byte start map, used once per block at load.
//!
//! **Bits.** The step shifts the state right and enters the new bit at the
//! top, so state `cycle[n]` is the K bits `n .. n + K` of one bit stream,
//! bit `t` being bit 0 of `cycle[t mod N]`. [`Cycle::bits`] holds that
//! stream, 8 KiB at K = 16 (it stays in L1): any window of up to
//! `64 - K - 7` states is one unaligned `u64` read (see [`Cycle::bits`]).

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
    /// `u[n] = cycle[n mod N] - 2^(K-1)` for `n < N + TAIL`, then `TAIL`
    /// times `-2^(K-1)`.
    seq: Vec<i16>,
    /// `start[s] = pos(s) + 1` for `s` in `1..2^K`; `start[0] = 0`.
    start: Vec<u16>,
    /// The bit stream (see module docs), [`BITS_PAST`] bytes past `N / 8`.
    bits: Vec<u8>,
}

/// Bytes of [`Cycle::bits`] past byte `N / 8`: a `u64` read at byte
/// `s / 8 + 4` from any window start `s <= N` stays inside.
pub const BITS_PAST: usize = 16;

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
            .chain(std::iter::repeat_n(-half as i16, TAIL))
            .collect();
        let mut start = vec![0u16; 1 << k];
        for (i, &s) in cycle.iter().enumerate() {
            start[s as usize] = (i + 1) as u16;
        }
        let mut bits = vec![0u8; n / 8 + BITS_PAST];
        for (t, byte) in (0..bits.len() * 8).map(|t| (t, t / 8)) {
            bits[byte] |= ((cycle[t % n] & 1) as u8) << (t % 8);
        }
        Ok(Cycle {
            k,
            seq,
            start,
            bits,
        })
    }

    /// LFSR width in bits.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The centred sequence, `N + 2·TAIL` entries.
    #[inline]
    pub fn seq(&self) -> &[i16] {
        &self.seq
    }

    /// The bit stream, least significant bit of each byte first: the K
    /// bits from bit `t` are state `cycle[t mod N]` (see module docs), that
    /// is `seq()[t] + 2^(K-1)` wherever both are defined. `N / 8 +`
    /// [`BITS_PAST`] bytes.
    #[inline]
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    /// The window start of `seed`: `pos(seed) + 1` in `1..=N`, or 0 for
    /// seed 0; `None` for a seed of more than K bits.
    #[inline]
    pub fn start(&self, seed: u32) -> Option<u16> {
        self.start.get(seed as usize).copied()
    }

    /// Where the window of start `s` begins in [`Cycle::seq`]: `s`, or the
    /// constant run for seed 0's start 0.
    #[inline(always)]
    pub fn index(&self, s: usize) -> usize {
        if s == 0 {
            self.seq.len() - TAIL
        } else {
            s
        }
    }

    /// The `n` centred states after `seed` (`n` at most `TAIL - 32`, the
    /// longest `C·P`); `None` for a seed of more than K bits.
    pub fn window(&self, seed: u32, n: usize) -> Option<&[i16]> {
        let s = self.index(self.start(seed)? as usize);
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
            for seed in 0..(1u32 << cfg.k) {
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
    fn test_cycle_bits_hold_every_state_of_seq() {
        for k in [16, 12, 5] {
            let cy = Cycle::new(k).unwrap();
            let n = (1usize << k) - 1;
            let bits = cy.bits();
            assert_eq!(bits.len(), n / 8 + BITS_PAST);
            let half = 1i32 << (k - 1);
            // Every state a window of the longest configuration reads, from
            // the u64 at its start's byte.
            for t in 0..(bits.len() - 8) * 8 {
                let g = u64::from_le_bytes(bits[t / 8..t / 8 + 8].try_into().unwrap());
                let state = (g >> (t % 8)) as i32 & ((1 << k) - 1);
                assert_eq!(state - half, cy.seq()[t] as i32, "K = {k}, t = {t}");
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
        assert_eq!(cy.seq().len(), 65535 + 2 * TAIL);
        // The sequence wraps: entry N is state 1 again.
        assert_eq!(cy.seq()[65535], cy.seq()[0]);
        // The last state before 1 again has its window start at N.
        assert_eq!(cy.start(Lfsr::new(16).jump(1, 65534)), Some(65535));
        assert_eq!(cy.start(0), Some(0));
        assert!(cy.window(0, 24).unwrap().iter().all(|&u| u == i16::MIN));
        assert_eq!(cy.start(1 << 16), None);
        assert!(Cycle::new(17).is_err() && Cycle::new(2).is_err());
    }
}
