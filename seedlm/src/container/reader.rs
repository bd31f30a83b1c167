//! Memory-mapped, fully validated reader of `.seedlm` files.
//!
//! [`SeedFile::open`] reads the header and the table field by field in file
//! order (this code is the spec of the module docs) and checks every rule
//! before returning: lengths are bounded by the bytes that remain before any
//! allocation, arithmetic is checked, payloads must sit exactly where the
//! layout puts them, and every checksum is verified. Errors are
//! [`Error::Format`] naming the file, the tensor (index and, once read, name)
//! and the byte offset at fault.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use byteorder::{ByteOrder, LE};
use memmap2::Mmap;

use super::{
    align_up, check_dtype_name, check_shape, payload_len, RawDtype, TensorInfo, TensorKind,
    HEADER_CRC_AT, HEADER_LEN, KIND_RAW, KIND_SEED, MAGIC, MAX_EXP_OFFSET, MAX_NDIM, MIN_ENTRY_LEN,
    RESERVED_LEN, VERSION, VERSION_MIN,
};
use crate::block::Block;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pack;

/// A validated, memory-mapped `.seedlm` file.
#[derive(Debug)]
pub struct SeedFile {
    /// The path it was opened from.
    path: PathBuf,
    /// The whole file.
    map: Mmap,
    /// Format version from the header.
    version: u32,
    /// Table entries, in file order.
    tensors: Vec<TensorInfo>,
    /// Name to index into `tensors`.
    index: HashMap<String, usize>,
}

impl SeedFile {
    /// Maps `path` and validates all of it: header, table, placement,
    /// lengths and checksums of every payload, and every packed seed.
    #[allow(unsafe_code)] // the memory map, see below
    pub fn open(path: &Path) -> Result<SeedFile> {
        let io = |action, source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(|e| io("open", e))?;
        // SAFETY: `Mmap::map` is unsafe because the mapping aliases a file
        // that another process may modify or truncate while we hold it
        // (changed bytes under a `&[u8]`, or SIGBUS on truncation). We cannot
        // prevent that; what we do: everything is validated once here, and
        // every later access (`data`, `blocks`, `raw_f32`) is bounds-checked
        // against the mapping and re-checks lengths, so a concurrent change can
        // give wrong values but no out-of-bounds access. Our own writer never
        // modifies a file in place: it renames a new file over the old one,
        // which leaves existing mappings of the old file intact.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io("map", e))?;
        SeedFile::from_map(path, map)
    }

    /// Validates an already mapped file (as [`SeedFile::open`] does); `path`
    /// names it in errors. For callers that map the bytes themselves (an
    /// anonymous map in the fuzz targets).
    pub fn from_map(path: &Path, map: Mmap) -> Result<SeedFile> {
        let parsed = parse(&map).map_err(|what| Error::Format {
            path: path.to_path_buf(),
            what,
        })?;
        let (version, tensors, index) = parsed;
        Ok(SeedFile {
            path: path.to_path_buf(),
            map,
            version,
            tensors,
            index,
        })
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Format version from the header.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All tensor entries, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// Payload bytes of `t`, an entry of this file (an entry whose range
    /// lies outside the file gets an empty slice).
    pub fn data(&self, t: &TensorInfo) -> &[u8] {
        let start = usize::try_from(t.offset).ok();
        let end = t
            .offset
            .checked_add(t.len)
            .and_then(|e| usize::try_from(e).ok());
        start
            .zip(end)
            .and_then(|(s, e)| self.map.get(s..e))
            .unwrap_or(&[])
    }

    /// Unpacks the blocks of seed tensor `t` (layout in the module docs).
    pub fn blocks(&self, t: &TensorInfo) -> Result<Vec<Block>> {
        let (TensorKind::Seed(cfg), Some(n)) = (t.kind, t.num_blocks()) else {
            return Err(self.error(t, "is a raw tensor, not seed blocks".into()));
        };
        pack::unpack_blocks(&cfg, self.data(t), n).map_err(|e| self.error(t, e.to_string()))
    }

    /// The bytes of `u8` tensor `t` (a blob).
    pub fn raw_u8(&self, t: &TensorInfo) -> Result<&[u8]> {
        if t.kind != TensorKind::Raw(RawDtype::U8) {
            return Err(self.error(t, "is not a u8 blob".into()));
        }
        let bytes = self.data(t);
        if bytes.len() != t.numel() {
            return Err(self.error(
                t,
                format!(
                    "payload is {} bytes, shape needs {}",
                    bytes.len(),
                    t.numel()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Converts raw tensor `t` to f32 (exact for f16 and bf16); a `u8` blob
    /// is an error.
    pub fn raw_f32(&self, t: &TensorInfo) -> Result<Vec<f32>> {
        let TensorKind::Raw(dtype) = t.kind else {
            return Err(self.error(t, "is a seed tensor, not raw".into()));
        };
        if dtype == RawDtype::U8 {
            return Err(self.error(t, "is a u8 blob, not numbers".into()));
        }
        let bytes = self.data(t);
        let want = t.numel().checked_mul(dtype.size());
        if Some(bytes.len()) != want {
            return Err(self.error(
                t,
                format!("payload is {} bytes, shape needs {want:?}", bytes.len()),
            ));
        }
        Ok(match dtype {
            RawDtype::F32 => bytes.chunks_exact(4).map(LE::read_f32).collect(),
            RawDtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_bits(LE::read_u16(b)).to_f32())
                .collect(),
            RawDtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_bits(LE::read_u16(b)).to_f32())
                .collect(),
            RawDtype::U8 => unreachable!("rejected above"),
        })
    }

    /// An [`Error::Format`] about tensor `t` of this file.
    fn error(&self, t: &TensorInfo, why: String) -> Error {
        Error::Format {
            path: self.path.clone(),
            what: format!("tensor '{}' (payload at byte {}): {why}", t.name, t.offset),
        }
    }
}

/// What [`parse`] returns: version, entries, name index.
type Parsed = (u32, Vec<TensorInfo>, HashMap<String, usize>);

/// Validates the whole file; errors are messages for [`Error::Format`].
fn parse(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let file_len = bytes.len() as u64;
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "truncated: the file is {file_len} bytes, the header alone is {HEADER_LEN}"
        ));
    }

    // Header, field by field.
    let mut h = Cursor {
        bytes: &bytes[..HEADER_LEN],
        pos: 0,
        end: HEADER_LEN as u64,
    };
    let who = "header";
    let magic = h.take(MAGIC.len(), who, "magic")?;
    if magic != MAGIC {
        return Err(format!(
            "not a .seedlm file: magic at byte 0 is {magic:02x?}, expected {MAGIC:02x?}"
        ));
    }
    let version = h.u32(who, "version")?;
    if !(VERSION_MIN..=VERSION).contains(&version) {
        return Err(format!(
            "unsupported format version {version} at byte 8 (this build reads versions \
             {VERSION_MIN} to {VERSION})"
        ));
    }
    let count = h.u32(who, "tensor count")?;
    let table_offset = h.u64(who, "table offset")?;
    let table_len = h.u64(who, "table length")?;
    let table_crc = h.u32(who, "table checksum")?;
    let reserved = h.take(RESERVED_LEN, who, "reserved bytes")?;
    let header_crc = h.u32(who, "header checksum")?;
    let computed = crc32fast::hash(&bytes[..HEADER_CRC_AT]);
    if header_crc != computed {
        return Err(format!(
            "header checksum mismatch at byte {HEADER_CRC_AT}: stored {header_crc:08x}, computed {computed:08x}"
        ));
    }
    if let Some(i) = reserved.iter().position(|&b| b != 0) {
        return Err(format!("header: reserved byte {} is not zero", 36 + i));
    }
    if table_offset < HEADER_LEN as u64 || align_up(table_offset) != Some(table_offset) {
        return Err(format!(
            "header: table offset {table_offset} at byte 16 is not a multiple of {} at or after {HEADER_LEN}",
            super::ALIGN
        ));
    }
    if table_offset.checked_add(table_len) != Some(file_len) {
        return Err(format!(
            "truncated or extended: the file is {file_len} bytes, the header puts the table at byte \
             {table_offset} with length {table_len}"
        ));
    }
    // In bounds: table_offset + table_len == file_len.
    let table = &bytes[table_offset as usize..];
    let computed = crc32fast::hash(table);
    if table_crc != computed {
        return Err(format!(
            "tensor table checksum mismatch (table at bytes {table_offset}..{file_len}): stored \
             {table_crc:08x}, computed {computed:08x}"
        ));
    }
    if count as u64 > table_len / MIN_ENTRY_LEN as u64 {
        return Err(format!(
            "header: tensor count {count} at byte 12 cannot fit in a {table_len}-byte table \
             (entries are at least {MIN_ENTRY_LEN} bytes)"
        ));
    }

    // Table, entry by entry.
    let mut c = Cursor {
        bytes: table,
        pos: 0,
        end: file_len,
    };
    let base = table_offset;
    let mut tensors = Vec::with_capacity(count as usize);
    let mut index = HashMap::with_capacity(count as usize);
    for i in 0..count as usize {
        let t = parse_entry(&mut c, base, i, version)?;
        if let Some(j) = index.insert(t.name.clone(), i) {
            return Err(format!(
                "tensor #{i} '{}': duplicate name (also tensor #{j})",
                t.name
            ));
        }
        tensors.push(t);
    }
    if c.pos != table.len() {
        return Err(format!(
            "{} unused bytes at the end of the tensor table, from byte {}",
            table.len() - c.pos,
            base + c.pos as u64
        ));
    }

    // Payloads, in file order.
    let mut end = HEADER_LEN as u64;
    for (i, t) in tensors.iter().enumerate() {
        let who = format!("tensor #{i} '{}'", t.name);
        check_payload(bytes, &who, t, end, table_offset)?;
        end = t.offset + t.len;
    }
    check_padding(bytes, end, table_offset, "tensor table")?;
    Ok((version, tensors, index))
}

/// Reads one table entry of a file of `version` at `c` (field by field, as
/// in the module docs); `base` is the file offset of the table, `i` the
/// entry index.
fn parse_entry(
    c: &mut Cursor,
    base: u64,
    i: usize,
    version: u32,
) -> std::result::Result<TensorInfo, String> {
    let mut who = format!("tensor #{i}");
    let at = |c: &Cursor| base + c.pos as u64;

    let name_at = at(c);
    let name_len = c.u16(&who, "name length")? as usize;
    if name_len == 0 {
        return Err(format!("{who}: empty name at byte {name_at}"));
    }
    let name = c.take(name_len, &who, "name")?;
    let name = std::str::from_utf8(name)
        .map_err(|_| format!("{who}: name at byte {} is not UTF-8", name_at + 2))?
        .to_owned();
    who = format!("tensor #{i} '{name}'");

    let dtype_at = at(c);
    let dtype_len = c.u8(&who, "original dtype length")? as usize;
    let orig_dtype = c.take(dtype_len, &who, "original dtype")?;
    check_dtype_name(orig_dtype)
        .map_err(|w| format!("{who}: original dtype at byte {dtype_at}: {w}"))?;
    // Graphic ASCII is UTF-8.
    let orig_dtype = String::from_utf8_lossy(orig_dtype).into_owned();

    let kind_at = at(c);
    let kind = c.u8(&who, "kind")?;
    let a = c.take(3, &who, "kind parameters")?;
    let mut exp_offset = 0;
    let kind = match kind {
        KIND_SEED => {
            let cfg = Config {
                c: a[0] as usize,
                p: a[1] as usize,
                k: a[2] as u32,
            };
            cfg.validate()
                .map_err(|e| format!("{who}: config at byte {}: {e}", kind_at + 1))?;
            if version >= 2 {
                let b = c.take(2, &who, "exponent offset")?;
                exp_offset = LE::read_i16(b);
                if exp_offset.unsigned_abs() > MAX_EXP_OFFSET as u16 {
                    return Err(format!(
                        "{who}: exponent offset {exp_offset} at byte {} is outside ±{MAX_EXP_OFFSET}",
                        kind_at + 4
                    ));
                }
            }
            TensorKind::Seed(cfg)
        }
        KIND_RAW => {
            let dtype = RawDtype::from_code(a[0]).ok_or_else(|| {
                format!(
                    "{who}: unknown raw dtype code {} at byte {} (0 = f32, 1 = f16, 2 = bf16)",
                    a[0],
                    kind_at + 1
                )
            })?;
            if a[1] != 0 || a[2] != 0 {
                return Err(format!(
                    "{who}: reserved bytes at byte {} are not zero",
                    kind_at + 2
                ));
            }
            TensorKind::Raw(dtype)
        }
        k => {
            return Err(format!(
                "{who}: unknown tensor kind {k} at byte {kind_at} (1 = seed, 2 = raw)"
            ))
        }
    };

    let ndim_at = at(c);
    let ndim = c.u8(&who, "ndim")? as usize;
    if ndim == 0 || ndim > MAX_NDIM {
        return Err(format!(
            "{who}: ndim {ndim} at byte {ndim_at} is not in 1..={MAX_NDIM}"
        ));
    }
    let mut shape = Vec::with_capacity(ndim);
    for d in 0..ndim {
        let dim_at = at(c);
        let dim = c.u64(&who, "dim")?;
        let dim = usize::try_from(dim)
            .ok()
            .filter(|&x| x > 0)
            .ok_or_else(|| {
                format!("{who}: dim {d} = {dim} at byte {dim_at} is not in 1..=usize::MAX")
            })?;
        shape.push(dim);
    }
    check_shape(&shape)
        .map_err(|w| format!("{who}: shape {shape:?} at byte {}: {w}", ndim_at + 1))?;

    let offset = c.u64(&who, "payload offset")?;
    let len = c.u64(&who, "payload length")?;
    let crc32 = c.u32(&who, "payload checksum")?;
    Ok(TensorInfo {
        name,
        shape,
        orig_dtype,
        kind,
        offset,
        len,
        crc32,
        exp_offset,
    })
}

/// Checks the payload of `t`: length implied by shape and kind, placement
/// right after the previous payload (which ends at `prev_end`) at the next
/// multiple of 64, inside the data region (ending at `data_end`), zero
/// padding before it, checksum, and for seeds the packed stream.
fn check_payload(
    bytes: &[u8],
    who: &str,
    t: &TensorInfo,
    prev_end: u64,
    data_end: u64,
) -> std::result::Result<(), String> {
    let (off, len) = (t.offset, t.len);
    let want = payload_len(&t.shape, t.kind)
        .ok_or_else(|| format!("{who}: payload size of shape {:?} overflows", t.shape))?;
    if len != want {
        return Err(format!(
            "{who}: payload length {len} (payload at byte {off}) does not match the {want} bytes \
             that shape {:?} and kind {:?} imply",
            t.shape, t.kind
        ));
    }
    let stop = off.checked_add(len).filter(|&s| s <= data_end).ok_or_else(|| {
        format!("{who}: payload at byte {off} of length {len} runs past the data region, which ends at byte {data_end}")
    })?;
    if off < prev_end {
        return Err(format!(
            "{who}: payload at byte {off} overlaps the previous payload, which ends at byte {prev_end}"
        ));
    }
    let expect = align_up(prev_end).unwrap_or(u64::MAX);
    if off != expect {
        return Err(format!(
            "{who}: payload at byte {off} should start at byte {expect}, the first multiple of {} \
             after the previous payload",
            super::ALIGN
        ));
    }
    check_padding(bytes, prev_end, off, who)?;
    // In bounds: off <= stop <= data_end <= file length.
    let data = &bytes[off as usize..stop as usize];
    let computed = crc32fast::hash(data);
    if computed != t.crc32 {
        return Err(format!(
            "{who}: payload checksum mismatch (bytes {off}..{stop}): stored {:08x}, computed {computed:08x}",
            t.crc32
        ));
    }
    if let TensorKind::Seed(cfg) = t.kind {
        check_seed_stream(who, &cfg, data, off, t.num_blocks().unwrap_or(0))?;
    }
    Ok(())
}

/// Checks a packed block stream of `n` blocks at file offset `off`: unused
/// bits of the last byte zero, every seed nonzero.
fn check_seed_stream(
    who: &str,
    cfg: &Config,
    data: &[u8],
    off: u64,
    n: usize,
) -> std::result::Result<(), String> {
    let bits = cfg.bits_per_block() as usize;
    // Cannot overflow: `data.len()` was checked against this product.
    let used = (n * bits) % 8;
    if let (Some(&last), true) = (data.last(), used != 0) {
        if last >> used != 0 {
            return Err(format!(
                "{who}: unused high bits of the last payload byte (byte {}) are not zero",
                off + data.len() as u64 - 1
            ));
        }
    }
    let seed_mask = (1u32 << cfg.k) - 1;
    // A seed (K <= 24 bits at a bit shift <= 7) lies in the 4 bytes from
    // its block's first byte; fewer remain only near the end of the stream.
    let seed = |i: usize| {
        let (byte, shift) = (i * bits / 8, i * bits % 8);
        let word = match data.get(byte..byte + 4) {
            Some(w) => LE::read_u32(w),
            None => data[byte..].iter().rev().fold(0, |w, &b| w << 8 | b as u32),
        };
        (word >> shift) & seed_mask
    };
    let bad = (0..n).position(|i| seed(i) == 0);
    match bad {
        Some(i) => Err(format!(
            "{who}: block {i} (payload byte {}) has seed 0",
            off + (i * bits / 8) as u64
        )),
        None => Ok(()),
    }
}

/// Checks that bytes `[from, to)` (padding before `what`) are zero.
fn check_padding(bytes: &[u8], from: u64, to: u64, what: &str) -> std::result::Result<(), String> {
    // Callers pass from <= to <= file length.
    let gap = &bytes[from as usize..to as usize];
    match gap.iter().position(|&b| b != 0) {
        Some(p) => Err(format!(
            "{what}: padding byte {} is not zero",
            from + p as u64
        )),
        None => Ok(()),
    }
}

/// Bounds-checked little-endian reads from a byte slice; errors name the
/// entry, the field and its file offset.
struct Cursor<'a> {
    /// The bytes being read.
    bytes: &'a [u8],
    /// Read position in `bytes`.
    pos: usize,
    /// File offset where `bytes` ends, for messages.
    end: u64,
}

impl<'a> Cursor<'a> {
    /// The next `n` bytes, or an error if fewer remain.
    fn take(&mut self, n: usize, who: &str, field: &str) -> std::result::Result<&'a [u8], String> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            let at = self.end - left as u64;
            return Err(format!(
                "{who}: {field} at byte {at} needs {n} bytes, only {left} remain before byte {}",
                self.end
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// One byte.
    fn u8(&mut self, who: &str, field: &str) -> std::result::Result<u8, String> {
        Ok(self.take(1, who, field)?[0])
    }

    /// A little-endian `u16`.
    fn u16(&mut self, who: &str, field: &str) -> std::result::Result<u16, String> {
        Ok(LE::read_u16(self.take(2, who, field)?))
    }

    /// A little-endian `u32`.
    fn u32(&mut self, who: &str, field: &str) -> std::result::Result<u32, String> {
        Ok(LE::read_u32(self.take(4, who, field)?))
    }

    /// A little-endian `u64`.
    fn u64(&mut self, who: &str, field: &str) -> std::result::Result<u64, String> {
        Ok(LE::read_u64(self.take(8, who, field)?))
    }
}
