//! `.seedlm` container: round trips, atomic writes, and rejection of
//! truncated, corrupted and hostile files.

use seedlm::sample::random_blocks;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use seedlm::container::{
    RawDtype, SeedFile, TensorKind, Writer, ALIGN, MAGIC, MAX_EXP_OFFSET, VERSION, VERSION_MIN,
};
use seedlm::{Block, Config, Error};

/// Expected content of one tensor of the sample file.
enum Want {
    Seed(Vec<Block>),
    Raw(RawDtype, Vec<u8>, Vec<f32>),
    Blob(Vec<u8>),
}

/// (name, shape, orig dtype, kind, content) of every sample tensor.
type Sample = Vec<(String, Vec<usize>, String, TensorKind, Want)>;

/// A small file with ragged seed tensors of both configurations and raw
/// tensors of every dtype.
fn sample() -> Sample {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut out: Sample = Vec::new();
    // (rows, cols) views: 3 × 20 (20 = 2.5 blocks of 8), 5 × 30 (2.5 blocks
    // of 12; 15 blocks of 36 bits leave 4 unused bits in the last byte).
    for (name, shape, cfg) in [
        ("blk.0.attn_q.weight", vec![3, 20], Config::BITS4),
        ("blk.0.ffn_up.weight", vec![1, 5, 30], Config::BITS3),
    ] {
        let n = shape[..shape.len() - 1].iter().product::<usize>()
            * shape[shape.len() - 1].div_ceil(cfg.c);
        let blocks = random_blocks(&cfg, n, &mut rng);
        out.push((
            name.into(),
            shape,
            "bf16".into(),
            TensorKind::Seed(cfg),
            Want::Seed(blocks),
        ));
    }
    let vals: Vec<f32> = (0..7).map(|_| rng.gen_range(-3.0f32..3.0)).collect();
    let bytes = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    out.push((
        "output_norm.weight".into(),
        vec![7],
        "f32".into(),
        TensorKind::Raw(RawDtype::F32),
        Want::Raw(RawDtype::F32, bytes, vals),
    ));
    let h: Vec<half::f16> = (0..6)
        .map(|_| half::f16::from_f32(rng.gen_range(-3.0f32..3.0)))
        .collect();
    let bytes = h.iter().flat_map(|v| v.to_le_bytes()).collect();
    let vals = h.iter().map(|v| v.to_f32()).collect();
    out.push((
        "token_embd.weight".into(),
        vec![2, 3],
        "q8_0".into(),
        TensorKind::Raw(RawDtype::F16),
        Want::Raw(RawDtype::F16, bytes, vals),
    ));
    let b: Vec<half::bf16> = (0..3)
        .map(|_| half::bf16::from_f32(rng.gen_range(-3.0f32..3.0)))
        .collect();
    let bytes = b.iter().flat_map(|v| v.to_le_bytes()).collect();
    let vals = b.iter().map(|v| v.to_f32()).collect();
    out.push((
        "norm.bias".into(),
        vec![3],
        "bf16".into(),
        TensorKind::Raw(RawDtype::BF16),
        Want::Raw(RawDtype::BF16, bytes, vals),
    ));
    let blob = br#"{"model_type": "llama"}"#.to_vec();
    out.push((
        "meta/config.json".into(),
        vec![blob.len()],
        "u8".into(),
        TensorKind::Raw(RawDtype::U8),
        Want::Blob(blob),
    ));
    out
}

/// Writes `sample` to `path`.
fn write_sample(path: &Path, sample: &Sample) {
    let mut w = Writer::create(path).unwrap();
    for (name, shape, od, kind, want) in sample {
        match (kind, want) {
            (TensorKind::Seed(cfg), Want::Seed(blocks)) => {
                w.add_seed(name, shape, od, *cfg, blocks).unwrap()
            }
            (TensorKind::Raw(d), Want::Raw(_, bytes, _) | Want::Blob(bytes)) => {
                w.add_raw(name, shape, od, *d, bytes).unwrap()
            }
            _ => unreachable!(),
        }
    }
    w.finish().unwrap();
}

/// The sample file's bytes and the byte ranges of its payloads, by name.
fn sample_bytes(dir: &Path) -> (Vec<u8>, Vec<(String, u64, u64)>) {
    let path = dir.join("sample.seedlm");
    write_sample(&path, &sample());
    let f = SeedFile::open(&path).unwrap();
    let ranges = f
        .tensors()
        .iter()
        .map(|t| (t.name.clone(), t.offset, t.offset + t.len))
        .collect();
    (std::fs::read(&path).unwrap(), ranges)
}

/// Writes `bytes` to `dir/name` and opens it. The old file is removed first:
/// on ext4, truncating a file and rewriting it forces a flush to disk.
fn open_bytes(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, seedlm::Result<SeedFile>) {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).unwrap();
    let r = SeedFile::open(&path);
    (path, r)
}

/// The `Error::Format` message of a failed open; fails on anything else.
fn format_error(path: &Path, r: seedlm::Result<SeedFile>) -> String {
    match r {
        Err(e @ Error::Format { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "no path in: {msg}"
            );
            msg
        }
        Err(e) => panic!("expected a format error, got {e}"),
        Ok(_) => panic!("{}: corrupt file accepted", path.display()),
    }
}

/// Recomputes the table and header checksums after a deliberate edit, so
/// that the structural checks behind them are what gets tested.
fn reseal(b: &mut [u8]) {
    let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let (off, len) = (le64(16), le64(24));
    if let Some(end) = off.checked_add(len).filter(|&e| e <= b.len() as u64) {
        let crc = crc32fast::hash(&b[off as usize..end as usize]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32fast::hash(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// File offsets of one table entry's fields, found by walking the table as
/// the spec describes (independently of the reader).
struct Entry {
    name: usize,
    kind: usize,
    ndim: usize,
    dims: usize,
    offset: usize,
    len: usize,
}

fn entry(b: &[u8], index: usize) -> Entry {
    let mut at = u64::from_le_bytes(b[16..24].try_into().unwrap()) as usize;
    for _ in 0..index {
        let e = entry_at(b, at);
        at = e.len + 8 + 4;
    }
    entry_at(b, at)
}

/// The entry that starts at file offset `at`.
fn entry_at(b: &[u8], at: usize) -> Entry {
    let n = u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let d = b[at + 2 + n] as usize;
    let kind = at + 3 + n + d;
    let ndim = kind + 4;
    let dims = ndim + 1;
    let offset = dims + 8 * b[ndim] as usize;
    Entry {
        name: at,
        kind,
        ndim,
        dims,
        offset,
        len: offset + 8,
    }
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn test_container_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.seedlm");
    let sample = sample();
    write_sample(&path, &sample);
    let f = SeedFile::open(&path).unwrap();
    assert_eq!(f.path(), path);
    // No exponent offsets: version 1, as every earlier build wrote.
    assert_eq!(f.version(), VERSION_MIN);
    assert_eq!(f.tensors().len(), sample.len());
    for ((name, shape, od, kind, want), t) in sample.iter().zip(f.tensors()) {
        assert_eq!(&t.name, name);
        assert_eq!(&t.shape, shape);
        assert_eq!(&t.orig_dtype, od);
        assert_eq!(&t.kind, kind);
        assert_eq!(t.offset % ALIGN, 0);
        assert_eq!(t.len as usize, f.data(t).len());
        assert_eq!(t.crc32, crc32fast::hash(f.data(t)));
        assert_eq!(f.get(name), Some(t));
        assert_eq!(t.cols(), *shape.last().unwrap());
        assert_eq!(t.rows() * t.cols(), shape.iter().product::<usize>());
        match want {
            Want::Seed(blocks) => {
                let TensorKind::Seed(cfg) = kind else {
                    unreachable!()
                };
                assert_eq!(t.num_blocks(), Some(blocks.len()));
                assert_eq!(
                    t.len as usize,
                    (blocks.len() * cfg.bits_per_block() as usize).div_ceil(8)
                );
                assert_eq!(&f.blocks(t).unwrap(), blocks, "{name}");
                assert!(f.raw_f32(t).is_err());
            }
            Want::Raw(dtype, bytes, vals) => {
                assert_eq!(t.num_blocks(), None);
                assert_eq!(f.data(t), &bytes[..], "{name}");
                assert_eq!(&f.raw_f32(t).unwrap(), vals, "{name} as {}", dtype.name());
                assert!(f.blocks(t).is_err());
                assert!(f.raw_u8(t).is_err());
            }
            Want::Blob(bytes) => {
                assert_eq!(f.raw_u8(t).unwrap(), &bytes[..], "{name}");
                assert!(f.raw_f32(t).is_err());
                assert!(f.blocks(t).is_err());
            }
        }
    }
    assert!(f.get("missing").is_none());
    // 3 rows of ceil(20 / 8) = 3 blocks of 32 bits.
    assert_eq!(f.get("blk.0.attn_q.weight").unwrap().len, 3 * 3 * 4);
}

/// The finished file gets the permissions of a plain create (umask applied),
/// not the `0o600` of a temporary file.
#[cfg(unix)]
#[test]
fn test_container_output_has_plain_create_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.seedlm");
    write_sample(&path, &sample());
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), mode(&plain));
}

#[test]
fn test_container_layout_matches_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.seedlm");
    let mut w = Writer::create(&path).unwrap();
    w.add_raw(
        "x",
        &[2],
        "f32",
        RawDtype::F32,
        &[0, 0, 128, 63, 0, 0, 0, 64],
    )
    .unwrap();
    w.finish().unwrap();
    let b = std::fs::read(&path).unwrap();
    assert_eq!(b[..8], MAGIC);
    assert_eq!(b[8..12], 1u32.to_le_bytes());
    assert_eq!(b[12..16], 1u32.to_le_bytes());
    assert_eq!(
        b[16..24],
        128u64.to_le_bytes(),
        "table at the next multiple of 64"
    );
    let table_len = 2 + 1 + 1 + 3 + 1 + 3 + 1 + 8 + 8 + 8 + 4;
    assert_eq!(b[24..32], (table_len as u64).to_le_bytes());
    assert_eq!(b[32..36], crc32fast::hash(&b[128..]).to_le_bytes());
    assert!(b[36..60].iter().all(|&x| x == 0));
    assert_eq!(b[60..64], crc32fast::hash(&b[..60]).to_le_bytes());
    assert_eq!(b[64..72], [0, 0, 128, 63, 0, 0, 0, 64]);
    assert!(b[72..128].iter().all(|&x| x == 0));
    let mut e = vec![1, 0, b'x', 3, b'f', b'3', b'2', 2, 0, 0, 0, 1];
    e.extend(2u64.to_le_bytes());
    e.extend(64u64.to_le_bytes());
    e.extend(8u64.to_le_bytes());
    e.extend(crc32fast::hash(&b[64..72]).to_le_bytes());
    assert_eq!(b[128..], e[..]);
    assert_eq!(b.len(), 128 + table_len);
    let f = SeedFile::open(&path).unwrap();
    assert_eq!(f.raw_f32(&f.tensors()[0]).unwrap(), [1.0, 2.0]);
}

#[test]
fn test_container_empty_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.seedlm");
    Writer::create(&path).unwrap().finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 64);
    assert!(SeedFile::open(&path).unwrap().tensors().is_empty());
}

#[test]
fn test_container_writer_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.seedlm");
    let mut w = Writer::create(&path).unwrap();
    let cfg = Config::BITS4;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let blocks = random_blocks(&cfg, 6, &mut rng);
    w.add_seed("a", &[2, 20], "bf16", cfg, &blocks).unwrap();
    let err = w
        .add_seed("a", &[2, 20], "bf16", cfg, &blocks)
        .unwrap_err()
        .to_string();
    assert!(err.contains("duplicate"), "{err}");
    assert!(w.add_raw("a", &[1], "f32", RawDtype::F32, &[0; 4]).is_err());
    assert!(
        w.add_seed("b", &[2, 25], "bf16", cfg, &blocks).is_err(),
        "block count"
    );
    assert!(w
        .add_seed("b", &[2, 20], "bf16", Config { c: 8, p: 3, k: 99 }, &blocks)
        .is_err());
    let mut zero = blocks.clone();
    zero[4].seed = 0;
    let err = w
        .add_seed("b", &[2, 20], "bf16", cfg, &zero)
        .unwrap_err()
        .to_string();
    assert!(err.contains("block 4"), "{err}");
    let mut wide = blocks.clone();
    wide[1].q[cfg.p] = 1;
    assert!(
        w.add_seed("b", &[2, 20], "bf16", cfg, &wide).is_err(),
        "unused mantissa"
    );
    assert!(
        w.add_raw("b", &[3], "f32", RawDtype::F32, &[0; 8]).is_err(),
        "byte count"
    );
    assert!(
        w.add_raw("b", &[], "f32", RawDtype::F32, &[0; 4]).is_err(),
        "0-D"
    );
    assert!(
        w.add_raw("b", &[1, 0], "f32", RawDtype::F32, &[]).is_err(),
        "zero dim"
    );
    assert!(
        w.add_raw("b", &[1; 9], "f32", RawDtype::F32, &[0; 4])
            .is_err(),
        "9 dims"
    );
    assert!(
        w.add_raw("b", &[usize::MAX, 2], "f32", RawDtype::F32, &[])
            .is_err(),
        "overflow"
    );
    assert!(
        w.add_raw("", &[1], "f32", RawDtype::F32, &[0; 4]).is_err(),
        "empty name"
    );
    assert!(
        w.add_raw("b", &[1], "", RawDtype::F32, &[0; 4]).is_err(),
        "empty dtype"
    );
    assert!(
        w.add_raw("b", &[1], "float 32", RawDtype::F32, &[0; 4])
            .is_err(),
        "space"
    );
    assert!(
        w.add_raw("b", &[1], "a_very_long_dtype", RawDtype::F32, &[0; 4])
            .is_err(),
        "17 bytes"
    );
    // Rejected calls leave the writer usable.
    w.add_raw("b", &[1], "f32", RawDtype::F32, &[0; 4]).unwrap();
    w.finish().unwrap();
    let f = SeedFile::open(&path).unwrap();
    assert_eq!(
        f.tensors()
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn test_container_truncation_at_every_length_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = sample_bytes(dir.path());
    for n in 0..bytes.len() {
        let (path, r) = open_bytes(dir.path(), "cut.seedlm", &bytes[..n]);
        format_error(&path, r);
    }
    // Extension too.
    let mut longer = bytes.clone();
    longer.push(0);
    let (path, r) = open_bytes(dir.path(), "long.seedlm", &longer);
    format_error(&path, r);
}

#[test]
fn test_container_every_bit_flip_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ranges) = sample_bytes(dir.path());
    let table_at = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let (path, r) = open_bytes(dir.path(), "flip.seedlm", &b);
            let msg = format_error(&path, r);
            if let Some((name, _, _)) = ranges
                .iter()
                .find(|(_, s, e)| (*s..*e).contains(&(i as u64)))
            {
                assert!(msg.contains(&format!("'{name}'")), "byte {i}: {msg}");
                assert!(msg.contains("checksum"), "byte {i}: {msg}");
            } else if i >= table_at {
                assert!(msg.contains("table checksum"), "byte {i}: {msg}");
            }
        }
    }
}

#[test]
fn test_container_hostile_files_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ranges) = sample_bytes(dir.path());
    let t0 = Instant::now();
    let check = |label: &str, edit: &dyn Fn(&mut Vec<u8>), expect: &[&str]| {
        let mut b = bytes.clone();
        edit(&mut b);
        reseal(&mut b);
        let (path, r) = open_bytes(dir.path(), "hostile.seedlm", &b);
        let msg = format_error(&path, r);
        for e in expect {
            assert!(msg.contains(e), "{label}: {e:?} not in {msg}");
        }
    };
    check(
        "huge count",
        &|b| b[12..16].copy_from_slice(&u32::MAX.to_le_bytes()),
        &["count 4294967295", "byte 12"],
    );
    check(
        "count + 1",
        &|b| {
            let n = u32::from_le_bytes(b[12..16].try_into().unwrap());
            b[12..16].copy_from_slice(&(n + 1).to_le_bytes());
        },
        &["tensor #6", "byte"],
    );
    check(
        "count - 1",
        &|b| {
            let n = u32::from_le_bytes(b[12..16].try_into().unwrap());
            b[12..16].copy_from_slice(&(n - 1).to_le_bytes());
        },
        &["unused bytes"],
    );
    check(
        "unknown version",
        &|b| b[8..12].copy_from_slice(&3u32.to_le_bytes()),
        &["version 3"],
    );
    check("bad magic", &|b| b[0] = b'X', &["magic"]);
    check("reserved", &|b| b[40] = 1, &["reserved byte 40"]);
    check(
        "table length past EOF",
        &|b| put_u64(b, 24, u64::MAX),
        &["truncated or extended"],
    );
    check(
        "table offset past EOF",
        &|b| put_u64(b, 16, u64::MAX - 63),
        &["truncated or extended"],
    );
    check(
        "table offset unaligned",
        &|b| put_u64(b, 16, 65),
        &["byte 16"],
    );
    check(
        "huge name length",
        &|b| {
            let e = entry(b, 0);
            b[e.name..e.name + 2].copy_from_slice(&u16::MAX.to_le_bytes());
        },
        &["tensor #0", "name at byte", "needs 65535 bytes"],
    );
    check(
        "empty name",
        &|b| {
            let e = entry(b, 0);
            b[e.name..e.name + 2].copy_from_slice(&0u16.to_le_bytes());
        },
        &["tensor #0", "empty name"],
    );
    check(
        "duplicate name",
        &|b| {
            // "blk.0.attn_q.weight" and "blk.0.ffn_up.weight" have equal lengths.
            let (e0, e1) = (entry(b, 0), entry(b, 1));
            let name: Vec<u8> = b[e0.name + 2..e0.name + 2 + 19].to_vec();
            b[e1.name + 2..e1.name + 2 + 19].copy_from_slice(&name);
        },
        &["tensor #1 'blk.0.attn_q.weight'", "duplicate"],
    );
    check(
        "unknown kind",
        &|b| {
            let e = entry(b, 2);
            b[e.kind] = 7;
        },
        &["tensor #2 'output_norm.weight'", "unknown tensor kind 7"],
    );
    check(
        "unknown raw dtype",
        &|b| {
            let e = entry(b, 2);
            b[e.kind + 1] = 9;
        },
        &["'output_norm.weight'", "unknown raw dtype code 9"],
    );
    check(
        "invalid config",
        &|b| {
            let e = entry(b, 0);
            b[e.kind + 3] = 99;
        },
        &["'blk.0.attn_q.weight'", "config"],
    );
    check(
        "ndim 0",
        &|b| {
            let e = entry(b, 0);
            b[e.ndim] = 0;
        },
        &["'blk.0.attn_q.weight'", "ndim 0"],
    );
    check(
        "ndim 200",
        &|b| {
            let e = entry(b, 0);
            b[e.ndim] = 200;
        },
        &["ndim 200"],
    );
    check(
        "zero dim",
        &|b| {
            let e = entry(b, 0);
            put_u64(b, e.dims, 0);
        },
        &["'blk.0.attn_q.weight'", "dim 0 = 0"],
    );
    check(
        "dims overflow",
        &|b| {
            let e = entry(b, 0);
            put_u64(b, e.dims, 1 << 40);
            put_u64(b, e.dims + 8, 1 << 40);
        },
        &["'blk.0.attn_q.weight'", "overflows"],
    );
    check(
        "dims too big for the payload",
        &|b| {
            let e = entry(b, 1);
            put_u64(b, e.dims, 1 << 30);
        },
        &["'blk.0.ffn_up.weight'", "payload length"],
    );
    check(
        "offset past EOF",
        &|b| {
            let e = entry(b, 3);
            put_u64(b, e.offset, 1 << 62);
        },
        &["'token_embd.weight'", "past the data region"],
    );
    check(
        "offset wraps",
        &|b| {
            let e = entry(b, 3);
            put_u64(b, e.offset, u64::MAX - 3);
        },
        &["'token_embd.weight'", "past the data region"],
    );
    check(
        "overlapping payloads",
        &|b| {
            let e = entry(b, 1);
            put_u64(b, e.offset, ranges[0].1);
        },
        &["'blk.0.ffn_up.weight'", "overlaps"],
    );
    check(
        "gap between payloads",
        &|b| {
            let e = entry(b, 3);
            put_u64(b, e.offset, ranges[3].1 + 64);
        },
        &["'token_embd.weight'", "should start at byte"],
    );
    check(
        "length + 1",
        &|b| {
            let e = entry(b, 4);
            put_u64(b, e.len, ranges[4].2 - ranges[4].1 + 1);
        },
        &["'norm.bias'", "payload length"],
    );
    check(
        "nonzero padding",
        &|b| b[ranges[0].2 as usize] = 1,
        &["'blk.0.ffn_up.weight'", "padding byte"],
    );
    check(
        "zero seed",
        &|b| {
            // Block 2 of the 4-bit tensor is the u32 word at payload byte 8.
            let at = ranges[0].1 as usize + 8;
            b[at] = 0;
            b[at + 1] = 0;
            let crc = crc32fast::hash(&b[ranges[0].1 as usize..ranges[0].2 as usize]);
            let e = entry(b, 0);
            b[e.len + 8..e.len + 12].copy_from_slice(&crc.to_le_bytes());
        },
        &["'blk.0.attn_q.weight'", "block 2", "seed 0"],
    );
    check(
        "unused tail bits",
        &|b| {
            // 15 blocks of 36 bits: the high nibble of the last byte is unused.
            let last = ranges[1].2 as usize - 1;
            b[last] |= 0x80;
            let crc = crc32fast::hash(&b[ranges[1].1 as usize..ranges[1].2 as usize]);
            let e = entry(b, 1);
            b[e.len + 8..e.len + 12].copy_from_slice(&crc.to_le_bytes());
        },
        &["'blk.0.ffn_up.weight'", "unused high bits"],
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "hostile files took {:?}",
        t0.elapsed()
    );
}

#[test]
fn test_container_random_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = sample_bytes(dir.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let path = dir.path().join("fuzz.seedlm");
    for iter in 0..4000 {
        let mut b = bytes.clone();
        for _ in 0..rng.gen_range(1..=8) {
            let i = rng.gen_range(0..b.len());
            b[i] = match rng.gen_range(0..4) {
                0 => rng.gen(),
                1 => 0,
                2 => 0xFF,
                _ => b[i] ^ (1 << rng.gen_range(0..8)),
            };
        }
        match rng.gen_range(0..4) {
            0 => b.truncate(rng.gen_range(0..=b.len())),
            1 => b.extend((0..rng.gen_range(1..100)).map(|_| rng.gen::<u8>())),
            _ => {}
        }
        // Half the time the checksums are repaired, so that the structural
        // checks behind them see the mutation.
        if iter % 2 == 0 && b.len() >= 64 {
            reseal(&mut b);
        }
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, &b).unwrap();
        if let Ok(f) = SeedFile::open(&path) {
            // Only a mutation that cancels out (or hits nothing) may pass;
            // every accessor must still work.
            for t in f.tensors() {
                let _ = f.data(t);
                let _ = f.blocks(t);
                let _ = f.raw_f32(t);
            }
        }
    }
}

#[test]
fn test_container_writer_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.seedlm");
    let listing = || {
        let mut v: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };

    // Dropped without finish: neither the target nor a temp file remains.
    let mut w = Writer::create(&path).unwrap();
    w.add_raw("x", &[1], "f32", RawDtype::F32, &[0; 4]).unwrap();
    assert_eq!(listing().len(), 1, "one temp file while writing");
    drop(w);
    assert!(listing().is_empty(), "{:?}", listing());

    // An existing target is untouched until finish, then replaced.
    let old = b"not a seedlm file, but someone's data".to_vec();
    std::fs::write(&path, &old).unwrap();
    let mut w = Writer::create(&path).unwrap();
    w.add_raw(
        "x",
        &[2],
        "f32",
        RawDtype::F32,
        &[0, 0, 128, 63, 0, 0, 128, 191],
    )
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), old);
    drop(w);
    assert_eq!(std::fs::read(&path).unwrap(), old);
    assert_eq!(listing(), ["model.seedlm"]);

    let mut w = Writer::create(&path).unwrap();
    w.add_raw(
        "x",
        &[2],
        "f32",
        RawDtype::F32,
        &[0, 0, 128, 63, 0, 0, 128, 191],
    )
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), old);
    w.finish().unwrap();
    assert_eq!(listing(), ["model.seedlm"]);
    let f = SeedFile::open(&path).unwrap();
    assert_eq!(f.raw_f32(&f.tensors()[0]).unwrap(), [1.0, -1.0]);

    // A path without a file name is refused.
    assert!(Writer::create(Path::new("/")).is_err());
}

#[test]
fn test_container_open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.seedlm");
    let err = SeedFile::open(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { action: "open", .. }));
    assert!(err.to_string().contains("missing.seedlm"), "{err}");
    let (path, r) = open_bytes(dir.path(), "empty.seedlm", &[]);
    assert!(format_error(&path, r).contains("truncated"));
}

/// Writes one 2×16 seed tensor with `offset` (and a raw one) to `path`.
fn write_scaled(path: &Path, offset: i16) -> seedlm::Result<()> {
    let cfg = seedlm::Config::BITS4;
    let blocks: Vec<seedlm::Block> = (1..=4)
        .map(|s| seedlm::Block {
            seed: s * 1000,
            exp: -3,
            q: [1, -2, 3, 0, 0, 0, 0, 0],
        })
        .collect();
    let mut w = Writer::create(path)?;
    w.add_seed_scaled("a", &[2, 16], "f32", cfg, offset, &blocks)?;
    w.add_raw("b", &[1], "f32", RawDtype::F32, &1f32.to_le_bytes())?;
    w.finish()
}

#[test]
fn test_container_exponent_offset_round_trip_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    for offset in [0, 1, -100, MAX_EXP_OFFSET, -MAX_EXP_OFFSET] {
        let path = dir.path().join(format!("o{offset}.seedlm"));
        write_scaled(&path, offset).unwrap();
        let f = SeedFile::open(&path).unwrap();
        let want = if offset == 0 { VERSION_MIN } else { VERSION };
        assert_eq!(f.version(), want, "offset {offset}");
        assert_eq!(f.get("a").unwrap().exp_offset, offset);
        assert_eq!(f.get("b").unwrap().exp_offset, 0);
        assert_eq!(f.blocks(f.get("a").unwrap()).unwrap()[3].seed, 4000);
    }
    for bad in [MAX_EXP_OFFSET + 1, i16::MIN] {
        let err = write_scaled(&dir.path().join("bad.seedlm"), bad).unwrap_err();
        assert!(err.to_string().contains("exponent offset"), "{err}");
    }
    // A version-2 file whose stored offset is out of range, and a
    // version-1 file relabelled as version 2 (its entries lack the field).
    let v2 = std::fs::read(dir.path().join("o1.seedlm")).unwrap();
    let mut b = v2.clone();
    let table = u64::from_le_bytes(b[16..24].try_into().unwrap()) as usize;
    // Entry 0: name length 2 + "a" + dtype length 1 + "f32" + kind 1 + config 3.
    let at = table + 2 + 1 + 1 + 3 + 1 + 3;
    assert_eq!(i16::from_le_bytes(b[at..at + 2].try_into().unwrap()), 1);
    b[at..at + 2].copy_from_slice(&(MAX_EXP_OFFSET + 1).to_le_bytes());
    reseal(&mut b);
    let (path, r) = open_bytes(dir.path(), "range.seedlm", &b);
    let msg = format_error(&path, r);
    assert!(
        msg.contains("exponent offset 151") && msg.contains(&format!("byte {}", at)),
        "{msg}"
    );
    let mut b = std::fs::read(dir.path().join("o0.seedlm")).unwrap();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    reseal(&mut b);
    let (path, r) = open_bytes(dir.path(), "relabel.seedlm", &b);
    assert!(r.is_err(), "{}", format_error(&path, r));
}
