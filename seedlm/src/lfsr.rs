//! Fibonacci LFSR that grows the pseudo-random basis of every block.
//!
//! Step rule (K bits, state `s`): `b = parity(s & taps); s = (s >> 1) | (b << (K-1))`.
//! For K = 16 the taps are bits {0, 1, 3, 12} (x^16 + x^12 + x^3 + x + 1), as
//! in the paper. For the other supported widths the taps are the first
//! maximal-length set in lexicographic order among two-tap sets `{0, a}`, then
//! four-tap sets `{0, a, b, c}`; that rule also yields {0, 1, 3, 12} for K = 16
//! and {0, 1} for the paper's K = 3 example. Every table entry is checked for
//! period `2^K - 1` by a test.

/// Smallest supported LFSR width.
pub const K_MIN: u32 = 3;
/// Largest supported LFSR width.
pub const K_MAX: u32 = 24;

/// Tap positions (bit indices) per width `K_MIN..=K_MAX`.
const TAPS: [&[u32]; (K_MAX - K_MIN + 1) as usize] = [
    &[0, 1],        // 3
    &[0, 1],        // 4
    &[0, 2],        // 5
    &[0, 1],        // 6
    &[0, 1],        // 7
    &[0, 1, 2, 7],  // 8
    &[0, 4],        // 9
    &[0, 3],        // 10
    &[0, 2],        // 11
    &[0, 1, 2, 8],  // 12
    &[0, 1, 2, 5],  // 13
    &[0, 1, 2, 12], // 14
    &[0, 1],        // 15
    &[0, 1, 3, 12], // 16
    &[0, 3],        // 17
    &[0, 7],        // 18
    &[0, 1, 2, 5],  // 19
    &[0, 3],        // 20
    &[0, 2],        // 21
    &[0, 1],        // 22
    &[0, 5],        // 23
    &[0, 1, 2, 7],  // 24
];

/// Tap mask for width `k` (bit `i` set when bit `i` is tapped), or `None` if
/// `k` is unsupported.
pub fn taps(k: u32) -> Option<u32> {
    if !(K_MIN..=K_MAX).contains(&k) {
        return None;
    }
    Some(
        TAPS[(k - K_MIN) as usize]
            .iter()
            .fold(0, |m, &t| m | 1 << t),
    )
}

/// A K-bit Fibonacci LFSR (the stepping rule; states are plain `u32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lfsr {
    k: u32,
    taps: u32,
}

impl Lfsr {
    /// The LFSR of width `k` with the project's taps. Panics if `k` is
    /// unsupported (callers validate their [`crate::Config`] first).
    pub fn new(k: u32) -> Lfsr {
        let taps = taps(k).unwrap_or_else(|| panic!("unsupported LFSR width {k}"));
        Lfsr { k, taps }
    }

    /// An LFSR with explicit taps (used for the paper's worked example).
    pub fn with_taps(k: u32, taps: u32) -> Lfsr {
        assert!((1..=31).contains(&k) && taps >> k == 0 && taps & 1 == 1);
        Lfsr { k, taps }
    }

    /// Width in bits.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// Tap mask.
    pub fn tap_mask(&self) -> u32 {
        self.taps
    }

    /// Period of a maximal-length LFSR of this width, `2^K - 1`.
    pub fn period(&self) -> u32 {
        (1u32 << self.k) - 1
    }

    /// One step.
    #[inline]
    pub fn step(&self, s: u32) -> u32 {
        let b = (s & self.taps).count_ones() & 1;
        (s >> 1) | (b << (self.k - 1))
    }

    /// The `n` states that follow `seed` (the seed itself excluded): the
    /// row-major contents of `V(seed)` when `n = C·P`.
    pub fn states_after(&self, seed: u32, out: &mut [u32]) {
        let mut s = seed;
        for v in out.iter_mut() {
            s = self.step(s);
            *v = s;
        }
    }

    /// The full cycle starting at state 1: `cycle[i]` is the state after `i`
    /// steps from 1. Length `2^K - 1`.
    pub fn cycle(&self) -> Vec<u32> {
        let n = self.period() as usize;
        let mut out = Vec::with_capacity(n);
        let mut s = 1u32;
        for _ in 0..n {
            out.push(s);
            s = self.step(s);
        }
        out
    }

    /// The one-step transition as a GF(2) matrix: `m[i]` is the mask of state
    /// bits whose XOR gives bit `i` of the next state.
    pub fn step_matrix(&self) -> Vec<u32> {
        let mut m: Vec<u32> = (0..self.k)
            .map(|i| if i + 1 < self.k { 1 << (i + 1) } else { 0 })
            .collect();
        m[(self.k - 1) as usize] = self.taps;
        m
    }

    /// The `n`-step transition as a GF(2) matrix (same layout as
    /// [`Lfsr::step_matrix`]): bit `i` of the state `n` steps after `s` is
    /// `parity(s & m[i])`. This is the jump-ahead XOR network that the
    /// hardware expander instantiates for each of the C·P positions.
    pub fn jump_matrix(&self, mut n: u64) -> Vec<u32> {
        let mut result: Vec<u32> = (0..self.k).map(|i| 1 << i).collect();
        let mut base = self.step_matrix();
        while n > 0 {
            if n & 1 == 1 {
                result = compose(&base, &result);
            }
            base = compose(&base, &base);
            n >>= 1;
        }
        result
    }

    /// The state `n` steps after `s`, by jump-ahead (O(K^2 log n)).
    pub fn jump(&self, s: u32, n: u64) -> u32 {
        apply(&self.jump_matrix(n), s)
    }
}

/// Applies a GF(2) matrix (rows as masks) to a state.
pub fn apply(m: &[u32], s: u32) -> u32 {
    m.iter().enumerate().fold(0, |acc, (i, &row)| {
        acc | (((row & s).count_ones() & 1) << i)
    })
}

/// `a ∘ b`: first `b`, then `a`.
fn compose(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter()
        .map(|&row| {
            (0..b.len())
                .filter(|&j| row >> j & 1 == 1)
                .fold(0, |acc, j| acc ^ b[j])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period_from_one(l: &Lfsr) -> u64 {
        let mut s = l.step(1);
        let mut n = 1u64;
        while s != 1 {
            s = l.step(s);
            n += 1;
            assert!(
                n <= 1 << l.k(),
                "state 1 is not on a cycle of length <= 2^K"
            );
        }
        n
    }

    #[test]
    fn test_lfsr_k16_period_is_65535() {
        assert_eq!(period_from_one(&Lfsr::new(16)), 65535);
        assert_eq!(taps(16), Some(0b1_0000_0000_1011));
    }

    #[test]
    fn test_lfsr_every_supported_width_is_maximal() {
        for k in K_MIN..=K_MAX {
            let l = Lfsr::new(k);
            assert_eq!(period_from_one(&l), (1u64 << k) - 1, "K = {k}");
        }
    }

    #[test]
    fn test_lfsr_paper_worked_example() {
        // SeedLM paper: K = 3, taps {0, 1}, C = 4, P = 2, seed 4.
        let l = Lfsr::with_taps(3, 0b011);
        let mut v = [0u32; 8];
        l.states_after(4, &mut v);
        assert_eq!(v, [2, 5, 6, 7, 3, 1, 4, 2]);
    }

    #[test]
    fn test_lfsr_jump_equals_stepping() {
        for k in [3, 8, 16, 24] {
            let l = Lfsr::new(k);
            let mut s = 0xACE1 & l.period();
            for n in [0u64, 1, 2, 7, 23, 1000, 65534, 65535, 1 << 20] {
                let mut t = s;
                for _ in 0..n {
                    t = l.step(t);
                }
                assert_eq!(l.jump(s, n), t, "K={k} n={n}");
            }
            s = l.step(s);
            assert_ne!(s, 0);
        }
    }

    #[test]
    fn test_lfsr_cycle_visits_every_nonzero_state() {
        let l = Lfsr::new(12);
        let mut c = l.cycle();
        c.sort_unstable();
        assert_eq!(c, (1..4096).collect::<Vec<u32>>());
    }
}
