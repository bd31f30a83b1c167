//! Bit packing of block words.
//!
//! A block word is `K + 4 + 4·P` bits, least-significant bit first:
//!
//! | bits                      | field                                   |
//! |---------------------------|-----------------------------------------|
//! | `[0, K)`                  | seed, unsigned                          |
//! | `[K, K+4)`                | exponent, 4-bit two's complement        |
//! | `[K+4+4j, K+8+4j)`        | mantissa `q_j`, 4-bit two's complement  |
//!
//! For the 4-bit configuration that is exactly one `u32`:
//! `seed | exp << 16 | q0 << 20 | q1 << 24 | q2 << 28`.
//!
//! A block stream stores block `i` at bit offset `i · (K + 4 + 4P)` of a
//! little-endian bit string (bit `b` is bit `b % 8` of byte `b / 8`), so the
//! stored size is exactly `ceil(n · bits / 8)` bytes: 4.0 or 3.0 bits per
//! weight with no padding between blocks.

use crate::block::Block;
use crate::config::{Config, MAX_P};
use crate::error::{Error, Result};

/// Packs one block into its word (see module docs for the bit order).
pub fn pack_word(cfg: &Config, b: &Block) -> u64 {
    let mut w = b.seed as u64 & low_mask(cfg.k);
    w |= ((b.exp as u64) & 0xF) << cfg.k;
    for j in 0..cfg.p {
        w |= ((b.q[j] as u64) & 0xF) << (cfg.k + 4 + 4 * j as u32);
    }
    w
}

/// Sign-extends a 4-bit field.
fn nibble(x: u64) -> i8 {
    (((x & 0xF) as i8) << 4) >> 4
}

/// Unpacks one block word. Fails on a zero seed (not a valid LFSR state).
pub fn unpack_word(cfg: &Config, w: u64) -> Result<Block> {
    let seed = (w & low_mask(cfg.k)) as u32;
    if seed == 0 {
        return Err(Error::InvalidInput("block word has seed 0".into()));
    }
    let mut q = [0i8; MAX_P];
    for (j, qj) in q.iter_mut().enumerate().take(cfg.p) {
        *qj = nibble(w >> (cfg.k + 4 + 4 * j as u32));
    }
    Ok(Block {
        seed,
        exp: nibble(w >> cfg.k),
        q,
    })
}

/// Bytes needed for `n` packed blocks.
pub fn packed_len(cfg: &Config, n: usize) -> usize {
    (n * cfg.bits_per_block() as usize).div_ceil(8)
}

/// Packs blocks into a dense little-endian bit stream.
pub fn pack_blocks(cfg: &Config, blocks: &[Block]) -> Vec<u8> {
    let bits = cfg.bits_per_block() as usize;
    let mut out = vec![0u8; packed_len(cfg, blocks.len()) + 8];
    for (i, b) in blocks.iter().enumerate() {
        let word = pack_word(cfg, b);
        let bit = i * bits;
        let (byte, shift) = (bit / 8, bit % 8);
        // A word of at most 64 bits shifted by at most 7 spans at most 9 bytes.
        let wide = (word as u128) << shift;
        for k in 0..(bits + shift).div_ceil(8) {
            out[byte + k] |= (wide >> (8 * k)) as u8;
        }
    }
    out.truncate(packed_len(cfg, blocks.len()));
    out
}

/// Reads block word `i` from a packed stream (the caller checks the length).
pub fn read_word(cfg: &Config, bytes: &[u8], i: usize) -> u64 {
    let bits = cfg.bits_per_block() as usize;
    let bit = i * bits;
    let (byte, shift) = (bit / 8, bit % 8);
    let mut wide = 0u128;
    for k in 0..(bits + shift).div_ceil(8) {
        wide |= (bytes[byte + k] as u128) << (8 * k);
    }
    ((wide >> shift) as u64) & low_mask(bits as u32)
}

/// The lowest `bits` bits set (`bits <= 64`).
fn low_mask(bits: u32) -> u64 {
    u64::MAX >> (64 - bits)
}

/// Unpacks `n` blocks from a packed stream, validating its length and every
/// seed. The error names the index of the first bad block.
pub fn unpack_blocks(cfg: &Config, bytes: &[u8], n: usize) -> Result<Vec<Block>> {
    let need = packed_len(cfg, n);
    if bytes.len() != need {
        return Err(Error::InvalidInput(format!(
            "packed block stream is {} bytes, {n} blocks of {} bits need {need}",
            bytes.len(),
            cfg.bits_per_block()
        )));
    }
    (0..n)
        .map(|i| {
            unpack_word(cfg, read_word(cfg, bytes, i))
                .map_err(|e| Error::InvalidInput(format!("block {i}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::random_blocks;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn test_pack_word_known_answer_4bit() {
        let b = Block {
            seed: 0xBEEF,
            exp: -1,
            q: [1, -2, 7, 0, 0, 0, 0, 0],
        };
        assert_eq!(pack_word(&Config::BITS4, &b), 0x7E1F_BEEF);
        assert_eq!(unpack_word(&Config::BITS4, 0x7E1F_BEEF).unwrap(), b);
    }

    #[test]
    fn test_pack_round_trip_all_configs() {
        for cfg in [
            Config::BITS4,
            Config::BITS3,
            Config::new(16, 8, 24).unwrap(),
            Config::new(4, 2, 3).unwrap(),
        ] {
            let blocks = random_blocks(&cfg, 1001, &mut StdRng::seed_from_u64(cfg.k as u64));
            let bytes = pack_blocks(&cfg, &blocks);
            assert_eq!(
                bytes.len(),
                (1001 * cfg.bits_per_block() as usize).div_ceil(8)
            );
            assert_eq!(unpack_blocks(&cfg, &bytes, 1001).unwrap(), blocks, "{cfg}");
        }
    }

    #[test]
    fn test_unpack_rejects_wrong_length_and_zero_seed() {
        let cfg = Config::BITS3;
        let blocks = random_blocks(&cfg, 10, &mut StdRng::seed_from_u64(3));
        let bytes = pack_blocks(&cfg, &blocks);
        assert!(unpack_blocks(&cfg, &bytes[..bytes.len() - 1], 10).is_err());
        let zeros = vec![0u8; packed_len(&cfg, 2)];
        let err = unpack_blocks(&cfg, &zeros, 2).unwrap_err().to_string();
        assert!(err.contains("block 0"), "{err}");
    }
}
