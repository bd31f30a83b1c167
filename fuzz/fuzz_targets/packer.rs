//! The packer and the block stream codec: any valid blocks, rows, columns
//! and lane count pack into the device layout (equal to `seedlm::hw`'s tile
//! stream) and unpack to the same blocks; any bytes given to
//! `pack::unpack_blocks` are refused or unpack to blocks that pack back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedlm::fixed::BlockMatrix;
use seedlm::{hw, pack, Block, Config};
use seedlm_host::device::packer::{pack_layer, unpack_tiles};
use seedlm_host::device::shell::tile_stride;

/// A valid block of `cfg` made from 4 bytes.
fn block(cfg: &Config, b: [u8; 4]) -> Block {
    let seeds = (1u32 << cfg.k) - 1;
    let mut q = [0i8; seedlm::config::MAX_P];
    let nib = |x: u8| (x & 0xF) as i8 - 8;
    let bits = [b[2] >> 4, b[3] & 0xF, b[3] >> 4, b[2] ^ b[3]];
    for (qj, &x) in q.iter_mut().zip(&bits).take(cfg.p) {
        *qj = nib(x);
    }
    Block {
        seed: 1 + u32::from(u16::from_le_bytes([b[0], b[1]])) % seeds,
        exp: nib(b[2]),
        q,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let cfg = if data[0] & 1 == 0 {
        Config::BITS4
    } else {
        Config::BITS3
    };
    let lanes = 1 + data[1] as usize % hw::MAX_LANES;
    let rows = 1 + data[2] as usize % 40;
    let cols = 1 + data[3] as usize % 100;
    let rest = &data[4..];

    let bpr = cols.div_ceil(cfg.c);
    let blocks: Vec<Block> = (0..rows * bpr)
        .map(|i| {
            let at = |k: usize| {
                rest.get((4 * i + k) % rest.len().max(1))
                    .copied()
                    .unwrap_or(0)
            };
            block(&cfg, [at(0), at(1), at(2), at(3) ^ i as u8])
        })
        .collect();
    let m = BlockMatrix {
        cfg,
        rows,
        cols,
        blocks: &blocks,
    };
    let p = pack_layer(&m, lanes).expect("valid blocks pack");
    let stream = hw::tile_stream(&m, lanes).expect("valid blocks stream");
    let stride = tile_stride(&cfg, lanes);
    assert_eq!(p.tile_words, stream.len());
    for (i, w) in stream.iter().enumerate() {
        assert_eq!(&p.bytes[i * stride..i * stride + w.len()], &w[..]);
    }
    assert_eq!(unpack_tiles(&cfg, lanes, rows, bpr, &p.bytes), blocks);
    let packed = pack::pack_blocks(&cfg, &blocks);
    assert_eq!(
        pack::unpack_blocks(&cfg, &packed, blocks.len()).unwrap(),
        blocks
    );

    // Arbitrary bytes as a packed stream of as many blocks as they hold.
    let bits = cfg.bits_per_block() as usize;
    let n = rest.len() * 8 / bits;
    if pack::packed_len(&cfg, n) == rest.len() {
        if let Ok(b) = pack::unpack_blocks(&cfg, rest, n) {
            // Equal up to the unused high bits of the last byte.
            let mut want = rest.to_vec();
            let tail = n * bits % 8;
            if let (Some(last), true) = (want.last_mut(), tail != 0) {
                *last &= (1u8 << tail) - 1;
            }
            assert_eq!(pack::pack_blocks(&cfg, &b), want);
        }
    }
});
