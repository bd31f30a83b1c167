//! Block configuration `(C, P, K)`.

use crate::error::{Error, Result};
use crate::lfsr;

/// Largest supported number of coefficients per block.
pub const MAX_P: usize = 8;
/// Largest supported block length.
pub const MAX_C: usize = 32;
/// Bits of the shared exponent.
pub const EXP_BITS: u32 = 4;
/// Bits of each coefficient mantissa.
pub const COEF_BITS: u32 = 4;
/// Smallest exponent (two's complement, 4 bits).
pub const EXP_MIN: i8 = -8;
/// Largest exponent.
pub const EXP_MAX: i8 = 7;
/// Smallest mantissa (two's complement, 4 bits).
pub const Q_MIN: i8 = -8;
/// Largest mantissa.
pub const Q_MAX: i8 = 7;

/// One SeedLM block configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Block length: weights per block.
    pub c: usize,
    /// Coefficients per block (columns of `U(s)`).
    pub p: usize,
    /// LFSR width in bits; seeds are `1..2^k`.
    pub k: u32,
}

impl Config {
    /// The paper's 4-bit configuration: C = 8, P = 3, K = 16 (32 bits per block).
    pub const BITS4: Config = Config { c: 8, p: 3, k: 16 };
    /// The paper's 3-bit configuration: C = 12, P = 4, K = 16 (36 bits per block).
    pub const BITS3: Config = Config { c: 12, p: 4, k: 16 };

    /// The default configuration for a target of 4 or 3 bits per weight.
    pub fn for_bits(bits: u32) -> Result<Config> {
        match bits {
            4 => Ok(Self::BITS4),
            3 => Ok(Self::BITS3),
            _ => Err(Error::InvalidConfig(format!(
                "--bits {bits}: supported are 4 (C=8, P=3) and 3 (C=12, P=4)"
            ))),
        }
    }

    /// Builds and validates a configuration.
    pub fn new(c: usize, p: usize, k: u32) -> Result<Config> {
        let cfg = Config { c, p, k };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that the configuration is supported: `1 <= P <= C <= 32`,
    /// `P <= 8`, a known maximal-length LFSR for `K`, and a block word of at
    /// most 64 bits.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidConfig(format!("{self:?}: {why}")));
        if self.p == 0 || self.p > MAX_P {
            return bad(format!("P must be in 1..={MAX_P}"));
        }
        if self.c < self.p || self.c > MAX_C {
            return bad(format!("C must be in P..={MAX_C}"));
        }
        if lfsr::taps(self.k).is_none() {
            return bad(format!("K must be in {}..={}", lfsr::K_MIN, lfsr::K_MAX));
        }
        if self.bits_per_block() > 64 {
            return bad("block word exceeds 64 bits".into());
        }
        Ok(())
    }

    /// Bits of one packed block word: `K + 4 + 4·P`.
    pub fn bits_per_block(&self) -> u32 {
        self.k + EXP_BITS + COEF_BITS * self.p as u32
    }

    /// Bits per weight `M = (K + 4 + 4P) / C`.
    pub fn bits_per_weight(&self) -> f64 {
        self.bits_per_block() as f64 / self.c as f64
    }

    /// Number of seeds, `2^K - 1` (every nonzero state).
    pub fn num_seeds(&self) -> u32 {
        (1u32 << self.k) - 1
    }

    /// `2^(K-1)`: the offset that centres an LFSR state, `u = v - 2^(K-1)`.
    pub fn half(&self) -> i32 {
        1i32 << (self.k - 1)
    }

    /// `2^(K-1) - 1`: the scale that maps centred states onto `[-1, 1]`.
    pub fn unit(&self) -> f64 {
        ((1u32 << (self.k - 1)) - 1) as f64
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "C={},P={},K={}", self.c, self.p, self.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_config_bits_per_weight_exact() {
        assert_eq!(Config::BITS4.bits_per_block(), 32);
        assert_eq!(Config::BITS4.bits_per_weight(), 4.0);
        assert_eq!(Config::BITS3.bits_per_block(), 36);
        assert_eq!(Config::BITS3.bits_per_weight(), 3.0);
    }

    #[test]
    fn test_config_validation() {
        assert!(Config::BITS4.validate().is_ok());
        assert!(Config::BITS3.validate().is_ok());
        assert!(Config::new(8, 0, 16).is_err());
        assert!(Config::new(2, 3, 16).is_err());
        assert!(Config::new(8, 3, 25).is_err());
        assert!(Config::new(8, 3, 2).is_err());
        assert!(Config::for_bits(5).is_err());
    }
}
