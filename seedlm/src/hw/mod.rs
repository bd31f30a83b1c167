//! The accelerator's hardware interface, defined once for `hdl`, `sim` and
//! `host`: the CSR register map, the stream word layouts and the packing of
//! activation vectors.
//!
//! **Engine.** `N` lanes work on `N` rows at once. The host streams a matrix
//! as *tiles*: tile `t` covers rows `t·N .. t·N + N`, and for each column
//! block `b` in `0..COL_BLOCKS` one *tile word* carries the `N` blocks
//! `(row t·N + l, column block b)`, lane `l` at bits `[l·BW, (l+1)·BW)`,
//! `BW` = [`Config::bits_per_block`] and each block in the layout of
//! [`crate::pack::pack_word`]. Rows past `ROWS` in the last tile are padded
//! with [`PAD_BLOCK`] (its terms are zero) and produce no result.
//!
//! **Results.** One result word per row, [`RESULT_BITS`] wide:
//! bits `[0, 72)` the accumulator `acc` of [`crate::fixed`] (two's
//! complement, [`ACC_BITS`] bits), bits `[72, 104)` the row index.
//!
//! **Activations.** Quantized activations (see [`crate::fixed`]) are written
//! to the engine's activation memory before a run: word `b` holds
//! `x_int[b·C .. b·C + C]`, element `i` at bits `[16i, 16i+16)`, zero past
//! the last column.
//!
//! **CSR.** 32-bit registers at the byte offsets below. Writes to read-only
//! registers are ignored.
//!
//! **Shell.** [`shell`]: the accelerator top `seedlm_accel` around the
//! engine (AXI ports, the BAR0 register map, the job protocol, the
//! device-memory layouts).

pub mod shell;

use crate::block::Block;
use crate::config::{Config, MAX_P};
use crate::error::{Error, Result};
use crate::fixed::{BlockMatrix, ACC_BITS, ACT_BITS};
use crate::pack::pack_word;

/// Byte offset of CTRL (write): bit 0 [`CTRL_START`].
pub const CSR_CTRL: u32 = 0x00;
/// Byte offset of STATUS (read): [`STATUS_BUSY`], [`STATUS_DONE`], [`STATUS_ERROR`].
pub const CSR_STATUS: u32 = 0x04;
/// Byte offset of ROWS (read/write): output rows of the next run, `>= 1`.
pub const CSR_ROWS: u32 = 0x08;
/// Byte offset of COL_BLOCKS (read/write): blocks per row, `1..=act_depth`.
pub const CSR_COL_BLOCKS: u32 = 0x0C;
/// Byte offset of CYCLES_LO (read): low 32 bits of the cycles of the last
/// run, counted from START to the last result accepted.
pub const CSR_CYCLES_LO: u32 = 0x10;
/// Byte offset of CYCLES_HI (read): high 32 bits of the cycle counter.
pub const CSR_CYCLES_HI: u32 = 0x14;
/// Byte offset of ERROR (read): error flags of the last START, `ERR_*`.
pub const CSR_ERROR: u32 = 0x18;
/// Byte offset of VERSION (read): [`VERSION`].
pub const CSR_VERSION: u32 = 0x1C;
/// Byte offset of CONFIG (read): `C | P << 8 | K << 16 | lanes << 24`
/// ([`encode_config`]).
pub const CSR_CONFIG: u32 = 0x20;
/// Byte offset of ACT_DEPTH (read): activation memory words (column blocks).
pub const CSR_ACT_DEPTH: u32 = 0x24;
/// Bits of the CSR byte address.
pub const CSR_ADDR_BITS: u32 = 8;

/// CTRL bit 0: start a run with the current ROWS and COL_BLOCKS (self-clearing).
pub const CTRL_START: u32 = 1 << 0;
/// STATUS bit 0: a run is in progress.
pub const STATUS_BUSY: u32 = 1 << 0;
/// STATUS bit 1: the last run finished (cleared by START).
pub const STATUS_DONE: u32 = 1 << 1;
/// STATUS bit 2: ERROR is nonzero.
pub const STATUS_ERROR: u32 = 1 << 2;
/// ERROR bit 0: START with ROWS = 0 or COL_BLOCKS = 0; the run was refused.
pub const ERR_EMPTY: u32 = 1 << 0;
/// ERROR bit 1: START with COL_BLOCKS > ACT_DEPTH; the run was refused.
pub const ERR_ACT_DEPTH: u32 = 1 << 1;
/// ERROR bit 2: START while busy; ignored, the running job goes on.
pub const ERR_START_BUSY: u32 = 1 << 2;
/// Interface version: major in bits 31..16, minor in 15..0.
pub const VERSION: u32 = 0x0001_0000;

/// Largest lane count of an engine.
pub const MAX_LANES: usize = 64;
/// Default activation memory address bits (4096 column blocks).
pub const DEFAULT_ACT_ADDR_BITS: u32 = 12;
/// Bits of the row index in a result word.
pub const RESULT_ROW_BITS: u32 = 32;
/// Bits of a result word: accumulator, then row index.
pub const RESULT_BITS: u32 = ACC_BITS + RESULT_ROW_BITS;

/// One CSR register, for manifests and drivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register {
    /// Name as in the docs (`CTRL`, `STATUS`, ...).
    pub name: &'static str,
    /// Byte offset into the CSR space.
    pub offset: u32,
    /// Whether the host may write it.
    pub writable: bool,
    /// One line on what it holds.
    pub doc: &'static str,
}

/// Every CSR register, in offset order.
pub const REGISTERS: [Register; 10] = [
    Register {
        name: "CTRL",
        offset: CSR_CTRL,
        writable: true,
        doc: "bit 0 START (self-clearing)",
    },
    Register {
        name: "STATUS",
        offset: CSR_STATUS,
        writable: false,
        doc: "bit 0 BUSY, bit 1 DONE, bit 2 ERROR",
    },
    Register {
        name: "ROWS",
        offset: CSR_ROWS,
        writable: true,
        doc: "output rows of the next run",
    },
    Register {
        name: "COL_BLOCKS",
        offset: CSR_COL_BLOCKS,
        writable: true,
        doc: "blocks per row",
    },
    Register {
        name: "CYCLES_LO",
        offset: CSR_CYCLES_LO,
        writable: false,
        doc: "cycles of the last run, low word",
    },
    Register {
        name: "CYCLES_HI",
        offset: CSR_CYCLES_HI,
        writable: false,
        doc: "cycles of the last run, high word",
    },
    Register {
        name: "ERROR",
        offset: CSR_ERROR,
        writable: false,
        doc: "bit 0 EMPTY, bit 1 ACT_DEPTH, bit 2 START_BUSY",
    },
    Register {
        name: "VERSION",
        offset: CSR_VERSION,
        writable: false,
        doc: "major << 16 | minor",
    },
    Register {
        name: "CONFIG",
        offset: CSR_CONFIG,
        writable: false,
        doc: "C | P << 8 | K << 16 | lanes << 24",
    },
    Register {
        name: "ACT_DEPTH",
        offset: CSR_ACT_DEPTH,
        writable: false,
        doc: "activation memory words",
    },
];

/// The CONFIG register value of an engine.
pub fn encode_config(cfg: &Config, lanes: usize) -> u32 {
    cfg.c as u32 | (cfg.p as u32) << 8 | cfg.k << 16 | (lanes as u32) << 24
}

/// Decodes CONFIG into the block configuration and lane count.
pub fn decode_config(v: u32) -> Result<(Config, usize)> {
    let cfg = Config::new(
        (v & 0xFF) as usize,
        (v >> 8 & 0xFF) as usize,
        v >> 16 & 0xFF,
    )?;
    Ok((cfg, (v >> 24) as usize))
}

/// Checks a lane count against `1..=`[`MAX_LANES`].
pub fn check_lanes(lanes: usize) -> Result<()> {
    if (1..=MAX_LANES).contains(&lanes) {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "lanes {lanes}: supported are 1..={MAX_LANES}"
        )))
    }
}

/// The block that pads the last tile: seed 1, all mantissas zero.
pub const PAD_BLOCK: Block = Block {
    seed: 1,
    exp: 0,
    q: [0; MAX_P],
};

/// Bits of one tile word, `lanes · (K + 4 + 4P)`.
pub fn tile_word_bits(cfg: &Config, lanes: usize) -> u32 {
    lanes as u32 * cfg.bits_per_block()
}

/// Bits of one activation memory word, `C · 16`.
pub fn act_word_bits(cfg: &Config) -> u32 {
    cfg.c as u32 * ACT_BITS
}

/// Bytes of a little-endian bit string of `bits` bits.
pub fn word_bytes(bits: u32) -> usize {
    bits.div_ceil(8) as usize
}

/// ORs `value` (`bits <= 64`) into a little-endian bit string at bit `at`.
/// Bits of `value` at or above `bits` are dropped.
fn put_bits(out: &mut [u8], at: usize, bits: u32, value: u64) {
    let kept = if bits >= 64 {
        value
    } else {
        value & ((1u64 << bits) - 1)
    };
    // At most 64 + 7 bits from the first byte touched.
    let shifted = (kept as u128) << (at % 8);
    let bytes = (at % 8 + bits as usize).div_ceil(8);
    for (i, o) in out[at / 8..at / 8 + bytes].iter_mut().enumerate() {
        *o |= (shifted >> (8 * i)) as u8;
    }
}

/// Packs the `lanes` blocks of one tile word (lane `l` = `blocks[l]`), as
/// a little-endian byte string of [`tile_word_bits`] bits.
pub fn pack_tile_word(cfg: &Config, blocks: &[Block]) -> Vec<u8> {
    let bw = cfg.bits_per_block();
    let mut out = vec![0u8; word_bytes(tile_word_bits(cfg, blocks.len()))];
    for (l, b) in blocks.iter().enumerate() {
        put_bits(&mut out, l * bw as usize, bw, pack_word(cfg, b));
    }
    out
}

/// The whole block stream of a matrix for an engine of `lanes` lanes, in
/// stream order (tiles, then column blocks; see module docs).
pub fn tile_stream(m: &BlockMatrix<'_>, lanes: usize) -> Result<Vec<Vec<u8>>> {
    check_lanes(lanes)?;
    let bpr = m.blocks_per_row();
    if m.blocks.len() != m.rows * bpr {
        return Err(Error::InvalidInput(format!(
            "{} blocks for {} rows of {bpr} blocks",
            m.blocks.len(),
            m.rows
        )));
    }
    let mut words = Vec::with_capacity(m.rows.div_ceil(lanes) * bpr);
    let mut tile = vec![PAD_BLOCK; lanes];
    for t in 0..m.rows.div_ceil(lanes) {
        for b in 0..bpr {
            for (l, slot) in tile.iter_mut().enumerate() {
                let row = t * lanes + l;
                *slot = if row < m.rows {
                    m.blocks[row * bpr + b]
                } else {
                    PAD_BLOCK
                };
            }
            words.push(pack_tile_word(&m.cfg, &tile));
        }
    }
    Ok(words)
}

/// The activation memory words for quantized activations `x` (one per
/// column block, `ceil(len / C)` of them; see module docs).
pub fn activation_words(cfg: &Config, x: &[i16]) -> Vec<Vec<u8>> {
    let bytes = word_bytes(act_word_bits(cfg));
    let mut flat = vec![0u8; x.len().div_ceil(cfg.c) * bytes];
    write_activation_words(cfg, x, bytes, &mut flat);
    flat.chunks(bytes).map(<[u8]>::to_vec).collect()
}

/// Writes the [`activation_words`] of `x` into `out`, word `i` at byte
/// `i · stride` (`stride` at least a word's bytes; the bytes between words
/// are left as they are), without a vector per word.
pub fn write_activation_words(cfg: &Config, x: &[i16], stride: usize, out: &mut [u8]) {
    let bytes = word_bytes(act_word_bits(cfg));
    assert!(
        stride >= bytes,
        "activation stride {stride} < word of {bytes} bytes"
    );
    for (w, chunk) in out.chunks_mut(stride).zip(x.chunks(cfg.c)) {
        let w = &mut w[..bytes];
        w.fill(0);
        for (b, v) in w.chunks_exact_mut(2).zip(chunk) {
            b.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// Packs one result word: `acc` (must fit [`ACC_BITS`] signed) and `row`.
pub fn pack_result(row: u32, acc: i128) -> u128 {
    (acc as u128 & ((1u128 << ACC_BITS) - 1)) | (row as u128) << ACC_BITS
}

/// Unpacks a result word into `(row, acc)`, sign-extending the accumulator.
pub fn unpack_result(word: u128) -> (u32, i128) {
    let shift = 128 - ACC_BITS;
    let acc = ((word << shift) as i128) >> shift;
    ((word >> ACC_BITS) as u32, acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::unpack_word;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_put_bits_sets_exactly_the_fields_bits() {
        // Against setting one bit at a time, onto random bytes.
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..2000 {
            let (at, bits) = (rng.gen_range(0..200), rng.gen_range(1..=64u32));
            let value: u64 = rng.gen();
            let start: Vec<u8> = (0..34).map(|_| rng.gen()).collect();
            let mut want = start.clone();
            for k in 0..bits as usize {
                if value >> k & 1 == 1 {
                    want[(at + k) / 8] |= 1 << ((at + k) % 8);
                }
            }
            let mut got = start;
            put_bits(&mut got, at, bits, value);
            assert_eq!(got, want, "{bits} bits at {at}, value {value:#x}");
        }
    }

    #[test]
    fn test_hw_register_map_is_ordered_and_word_aligned() {
        for w in REGISTERS.windows(2) {
            assert_eq!(
                w[1].offset,
                w[0].offset + 4,
                "{} -> {}",
                w[0].name,
                w[1].name
            );
        }
        assert!(REGISTERS.iter().all(|r| r.offset < 1 << CSR_ADDR_BITS));
    }

    #[test]
    fn test_hw_config_round_trip() {
        for (cfg, lanes) in [(Config::BITS4, 8), (Config::BITS3, 64), (Config::BITS4, 1)] {
            assert_eq!(
                decode_config(encode_config(&cfg, lanes)).unwrap(),
                (cfg, lanes)
            );
        }
        assert!(check_lanes(0).is_err() && check_lanes(65).is_err());
    }

    #[test]
    fn test_hw_result_round_trip() {
        let max = (1i128 << (ACC_BITS - 1)) - 1;
        for (row, acc) in [
            (0u32, 0i128),
            (7, -1),
            (u32::MAX, max),
            (3, -max - 1),
            (12, 123_456_789),
        ] {
            let w = pack_result(row, acc);
            assert!(w >> RESULT_BITS == 0);
            assert_eq!(unpack_result(w), (row, acc));
        }
    }

    #[test]
    fn test_hw_tile_stream_order_and_padding() {
        let cfg = Config::BITS3;
        let (rows, cols, lanes) = (5, 30, 3); // 3 blocks per row, 2 tiles
        let blocks: Vec<Block> = (0..15)
            .map(|i| Block {
                seed: 100 + i,
                exp: (i % 16) as i8 - 8,
                q: [1, -2, 3, -4, 0, 0, 0, 0],
            })
            .collect();
        let m = BlockMatrix {
            cfg,
            rows,
            cols,
            blocks: &blocks,
        };
        let words = tile_stream(&m, lanes).unwrap();
        assert_eq!(words.len(), 2 * 3);
        let bw = cfg.bits_per_block() as usize;
        for (w, word) in words.iter().enumerate() {
            assert_eq!(word.len(), word_bytes(tile_word_bits(&cfg, lanes)));
            let (t, b) = (w / 3, w % 3);
            for l in 0..lanes {
                let raw = crate::pack::read_word(&cfg, word, l);
                assert_eq!(raw >> bw, 0);
                let row = t * lanes + l;
                let want = if row < rows {
                    blocks[row * 3 + b]
                } else {
                    PAD_BLOCK
                };
                assert_eq!(unpack_word(&cfg, raw).unwrap(), want);
            }
        }
    }

    /// The words written at the device's stride are `activation_words`,
    /// the last one zero-padded, the bytes between words untouched.
    #[test]
    fn test_write_activation_words_at_the_device_stride() {
        let cfg = Config::BITS3;
        let x: Vec<i16> = (0..30).map(|i| i * 1000 - 15000).collect();
        let words = activation_words(&cfg, &x);
        let stride = shell::act_stride(&cfg);
        assert!(stride > words[0].len());
        let mut out = vec![0xAAu8; words.len() * stride];
        write_activation_words(&cfg, &x, stride, &mut out);
        for (w, got) in words.iter().zip(out.chunks(stride)) {
            assert_eq!(&got[..w.len()], &w[..]);
            assert!(got[w.len()..].iter().all(|&b| b == 0xAA));
        }
    }

    #[test]
    fn test_hw_activation_words_pad_with_zero() {
        let words = activation_words(&Config::BITS4, &[1, -1, 2, 3, 4, 5, 6, 7, -32767]);
        assert_eq!(words.len(), 2);
        assert_eq!(&words[0][..4], &[1, 0, 0xFF, 0xFF]);
        assert_eq!(&words[1][..2], &(-32767i16).to_le_bytes());
        assert!(words[1][2..].iter().all(|&b| b == 0));
    }
}
