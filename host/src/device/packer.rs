//! The packer: compressed blocks to the engine's device-memory layout, and
//! back (for the software shells).
//!
//! A matrix of `rows × ceil(cols/C)` blocks becomes `ceil(rows/lanes)`
//! tiles; tile `t`, column block `b` is tile word `t·COL_BLOCKS + b`, which
//! carries the blocks of rows `t·lanes .. t·lanes + lanes` in column block
//! `b` ([`seedlm::hw::pack_tile_word`], lane `l` at bits `[l·BW, (l+1)·BW)`),
//! stored at [`tile_stride`] bytes per word.
//!
//! **Ragged shapes.**
//! - Rows not a multiple of `lanes`: the last tile is filled with
//!   [`seedlm::hw::PAD_BLOCK`] (all mantissas zero, so its terms are zero);
//!   the engine is told the true ROWS and emits no result for pad rows.
//! - Columns not a multiple of `C`: nothing to do here. The codec already
//!   stores `ceil(cols/C)` blocks per row, the last one fitted to the row's
//!   tail zero-padded to `C` weights ([`seedlm::fixed::BlockMatrix`]); its
//!   rebuilt weights past `cols` need not be zero, but the activation words
//!   are zero past the last column ([`seedlm::hw::activation_words`]), so
//!   those weights meet zeros and add exactly nothing, as in the golden
//!   model, which pads `x` the same way.

use super::error::{DeviceError, Result};
use super::shell::tile_stride;
use rayon::prelude::*;
use seedlm::fixed::BlockMatrix;
use seedlm::{hw, pack, Block, Config};

/// A matrix in device layout, ready to be written to device memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedLayer {
    /// Block configuration.
    pub cfg: Config,
    /// Lanes it was packed for.
    pub lanes: usize,
    /// Output rows (without padding).
    pub rows: usize,
    /// Input columns (without padding).
    pub cols: usize,
    /// Blocks per row, `ceil(cols/C)`.
    pub col_blocks: usize,
    /// Tile words, `ceil(rows/lanes) · col_blocks`.
    pub tile_words: usize,
    /// The tile words, [`tile_stride`] bytes each.
    pub bytes: Vec<u8>,
}

/// Packs `m` for an engine of `lanes` lanes.
pub fn pack_layer(m: &BlockMatrix<'_>, lanes: usize) -> Result<PackedLayer> {
    hw::check_lanes(lanes)?;
    let cfg = m.cfg;
    let bpr = m.blocks_per_row();
    if m.blocks.len() != m.rows * bpr {
        return Err(DeviceError::Invalid(format!(
            "{} blocks for a {}x{} matrix at C={} (need {})",
            m.blocks.len(),
            m.rows,
            m.cols,
            cfg.c,
            m.rows * bpr
        )));
    }
    let stride = tile_stride(&cfg, lanes);
    let tiles = m.rows.div_ceil(lanes);
    let mut bytes = vec![0u8; tiles * bpr * stride];
    bytes
        .par_chunks_mut(bpr * stride)
        .enumerate()
        .for_each(|(t, tile)| {
            let mut lanes_blocks = vec![hw::PAD_BLOCK; lanes];
            for (b, word) in tile.chunks_mut(stride).enumerate() {
                for (l, slot) in lanes_blocks.iter_mut().enumerate() {
                    let row = t * lanes + l;
                    *slot = if row < m.rows {
                        m.blocks[row * bpr + b]
                    } else {
                        hw::PAD_BLOCK
                    };
                }
                let w = hw::pack_tile_word(&cfg, &lanes_blocks);
                word[..w.len()].copy_from_slice(&w);
            }
        });
    Ok(PackedLayer {
        cfg,
        lanes,
        rows: m.rows,
        cols: m.cols,
        col_blocks: bpr,
        tile_words: tiles * bpr,
        bytes,
    })
}

/// Decodes one lane's block word as the hardware does: every field taken
/// as it is, a zero seed included (the LFSR then stays at state 0).
fn decode_lane(cfg: &Config, w: u64) -> Block {
    let seed = (w & ((1u64 << cfg.k) - 1)) as u32;
    // `unpack_word` only refuses seed 0; decode the other fields through it
    // with the seed bit 0 forced, then put the true seed back.
    let b = pack::unpack_word(cfg, w | 1).expect("seed is nonzero");
    Block { seed, ..b }
}

/// The blocks of rows `0..rows`, row-major, from `tile_words` tile words
/// of `col_blocks` blocks per row (what the engine reads from `bytes`).
pub fn unpack_tiles(
    cfg: &Config,
    lanes: usize,
    rows: usize,
    col_blocks: usize,
    bytes: &[u8],
) -> Vec<Block> {
    let stride = tile_stride(cfg, lanes);
    let mut blocks = vec![Block::default(); rows * col_blocks];
    blocks
        .par_chunks_mut(lanes * col_blocks)
        .enumerate()
        .for_each(|(t, out)| {
            let tile = &bytes[t * col_blocks * stride..(t + 1) * col_blocks * stride];
            for (b, word) in tile.chunks(stride).enumerate() {
                for l in 0..out.len() / col_blocks {
                    out[l * col_blocks + b] = decode_lane(cfg, pack::read_word(cfg, word, l));
                }
            }
        });
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_packer_words_equal_hw_tile_stream_and_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for cfg in [Config::BITS4, Config::BITS3] {
            for (rows, cols, lanes) in [(1, 1, 1), (5, 30, 3), (17, 61, 8), (16, 96, 16)] {
                let bpr = usize::div_ceil(cols, cfg.c);
                let blocks: Vec<Block> = (0..rows * bpr)
                    .map(|_| {
                        let mut q = [0i8; seedlm::config::MAX_P];
                        for qj in q.iter_mut().take(cfg.p) {
                            *qj = rng.gen_range(-8..=7);
                        }
                        Block {
                            seed: rng.gen_range(0..1 << cfg.k),
                            exp: rng.gen_range(-8..=7),
                            q,
                        }
                    })
                    .collect();
                let m = BlockMatrix {
                    cfg,
                    rows,
                    cols,
                    blocks: &blocks,
                };
                let p = pack_layer(&m, lanes).unwrap();
                let stream = hw::tile_stream(&m, lanes).unwrap();
                assert_eq!(p.tile_words, stream.len());
                let stride = tile_stride(&cfg, lanes);
                for (i, w) in stream.iter().enumerate() {
                    assert_eq!(&p.bytes[i * stride..i * stride + w.len()], &w[..]);
                    assert!(p.bytes[i * stride + w.len()..(i + 1) * stride]
                        .iter()
                        .all(|&b| b == 0));
                }
                let back = unpack_tiles(&cfg, lanes, rows, bpr, &p.bytes);
                assert_eq!(back, blocks, "{cfg} {rows}x{cols} lanes {lanes}");
            }
        }
    }

    #[test]
    fn test_packer_rejects_wrong_block_count() {
        let blocks = vec![hw::PAD_BLOCK; 3];
        let m = BlockMatrix {
            cfg: Config::BITS4,
            rows: 2,
            cols: 16,
            blocks: &blocks,
        };
        let err = pack_layer(&m, 8).unwrap_err();
        assert!(err.to_string().contains("3 blocks for a 2x16"), "{err}");
        assert!(pack_layer(&m, 0).is_err());
    }
}
