//! Random blocks for tests and benchmarks: every field uniform over its
//! range (seed in `1..2^K`, exponent and mantissas in `-8..=7`, mantissas
//! past `P` zero), so that they exercise the full widths of the datapath.

use rand::Rng;

use crate::block::Block;
use crate::config::{Config, EXP_MAX, EXP_MIN, MAX_P};

/// One random block of `cfg`.
pub fn random_block(cfg: &Config, rng: &mut impl Rng) -> Block {
    let mut q = [0i8; MAX_P];
    for qj in q.iter_mut().take(cfg.p) {
        *qj = rng.gen_range(-8..=7);
    }
    Block {
        seed: rng.gen_range(1..=cfg.num_seeds()),
        exp: rng.gen_range(EXP_MIN..=EXP_MAX),
        q,
    }
}

/// `n` random blocks of `cfg`.
pub fn random_blocks(cfg: &Config, n: usize, rng: &mut impl Rng) -> Vec<Block> {
    (0..n).map(|_| random_block(cfg, rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn test_random_blocks_cover_every_field_range() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for cfg in [Config::BITS4, Config::BITS3] {
            let blocks = random_blocks(&cfg, 20_000, &mut rng);
            assert!(blocks
                .iter()
                .all(|b| (1..=cfg.num_seeds()).contains(&b.seed)));
            assert!(blocks.iter().all(|b| b.q[cfg.p..].iter().all(|&q| q == 0)));
            for v in -8..=7 {
                assert!(blocks.iter().any(|b| b.exp == v));
                assert!((0..cfg.p).all(|j| blocks.iter().any(|b| b.q[j] == v)));
            }
        }
    }
}
