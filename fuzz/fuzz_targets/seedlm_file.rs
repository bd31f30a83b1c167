//! The `.seedlm` reader: any bytes are either refused by `SeedFile::from_map`
//! or give a file every tensor of which reads back (blocks, floats, blobs).
//!
//! The first input byte is a mode: odd means "recompute every CRC-32 of the
//! rest first" (header, table, each payload the table points at), so that
//! mutations get past the checksums to the checks behind them.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use seedlm::container::{RawDtype, SeedFile, TensorKind};

/// `b[at..at + n]`, if in bounds.
fn get(b: &[u8], at: u64, n: u64) -> Option<&[u8]> {
    let s = usize::try_from(at).ok()?;
    let e = usize::try_from(at.checked_add(n)?).ok()?;
    b.get(s..e)
}

fn le(b: &[u8], at: u64, n: u64) -> Option<u64> {
    let mut v = [0u8; 8];
    v[..n as usize].copy_from_slice(get(b, at, n)?);
    Some(u64::from_le_bytes(v))
}

/// Rewrites the CRCs of a `.seedlm` image after the layout of
/// `seedlm::container` (payloads, table, header, in that order).
fn fix_crcs(b: &mut [u8]) -> Option<()> {
    let count = le(b, 12, 4)?;
    let (table_at, table_len) = (le(b, 16, 8)?, le(b, 24, 8)?);
    get(b, table_at, table_len)?;
    let mut p = table_at;
    for _ in 0..count.min(1 << 16) {
        p += 2 + le(b, p, 2)?;
        p += 1 + le(b, p, 1)?;
        p += 4;
        p += 1 + 8 * le(b, p, 1)?;
        let (off, len) = (le(b, p, 8)?, le(b, p + 8, 8)?);
        p += 16;
        let crc = crc32fast::hash(get(b, off, len)?);
        let at = usize::try_from(p).ok()?;
        b.get_mut(at..at + 4)?.copy_from_slice(&crc.to_le_bytes());
        p += 4;
    }
    let crc = crc32fast::hash(get(b, table_at, table_len)?);
    b[32..36].copy_from_slice(&crc.to_le_bytes());
    let crc = crc32fast::hash(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 && bytes.len() >= 64 {
        let _ = fix_crcs(&mut bytes);
    }
    let Ok(file) = SeedFile::from_map(Path::new("fuzz.seedlm"), seedlm_fuzz::map(&bytes)) else {
        return;
    };
    for t in file.tensors() {
        assert_eq!(file.get(&t.name), Some(t));
        match t.kind {
            TensorKind::Seed(_) => {
                let blocks = file.blocks(t).expect("a validated seed tensor unpacks");
                assert_eq!(Some(blocks.len()), t.num_blocks());
            }
            TensorKind::Raw(RawDtype::U8) => {
                file.raw_u8(t).expect("a validated blob reads");
            }
            TensorKind::Raw(_) => {
                let v = file.raw_f32(t).expect("a validated raw tensor reads");
                assert_eq!(v.len(), t.numel());
            }
        }
    }
});
