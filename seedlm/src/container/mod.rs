//! The `.seedlm` container: compressed (seed) tensors and raw tensors in one
//! versioned, little-endian, memory-mappable file.
//!
//! # Layout
//!
//! ```text
//! [0, 64)                          header
//! [64, table_offset)               payloads, in table order
//! [table_offset, table_offset+L)   tensor table (L = table length); end of file
//! ```
//!
//! The table follows the payloads so that [`Writer`] streams every payload
//! straight into place (bounded memory, no second copy) and writes the table
//! and the header last.
//!
//! Every byte of a valid file is either covered by a CRC-32 (header, table,
//! payloads) or required to be zero (reserved fields, padding), and every
//! position is fixed by the rules below, so any truncation, extension or
//! flipped bit is rejected by [`SeedFile::open`].
//!
//! ## Header (64 bytes at offset 0)
//!
//! | offset | type     | field                                                 |
//! |--------|----------|-------------------------------------------------------|
//! | 0      | `[u8;8]` | magic `b"SEEDLM\0\x1a"`                               |
//! | 8      | `u32`    | version, `1` or `2` (see below)                       |
//! | 12     | `u32`    | tensor count                                          |
//! | 16     | `u64`    | table offset: a multiple of 64, at least 64           |
//! | 24     | `u64`    | table length L in bytes; offset + L = file length     |
//! | 32     | `u32`    | CRC-32 of the table bytes                             |
//! | 36     | `[u8;24]`| reserved, zero                                        |
//! | 60     | `u32`    | CRC-32 of header bytes `[0, 60)`                      |
//!
//! ## Tensor table entry (one per tensor, packed back to back, no padding)
//!
//! | size (bytes) | type      | field                                          |
//! |--------------|-----------|------------------------------------------------|
//! | 2            | `u16`     | name length N, at least 1                      |
//! | N            | UTF-8     | name, unique in the file                       |
//! | 1            | `u8`      | original dtype length D, `1..=16`              |
//! | D            | ASCII     | original dtype (`"bf16"`, `"q4_1"`, ...), graphic characters |
//! | 1            | `u8`      | kind: `1` = seed blocks, `2` = raw             |
//! | 3            | `[u8;3]`  | seed: `C, P, K` (a valid [`Config`]); raw: dtype code (`0` f32, `1` f16, `2` bf16, `3` u8), `0`, `0` |
//! | 2            | `i16`     | version 2, seed entries only: exponent offset `o`, `|o| <=` [`MAX_EXP_OFFSET`] |
//! | 1            | `u8`      | ndim, `1..=8`                                  |
//! | 8·ndim       | `[u64]`   | dims, outermost first, each at least 1, product fits `usize` |
//! | 8            | `u64`     | payload offset                                 |
//! | 8            | `u64`     | payload length                                 |
//! | 4            | `u32`     | CRC-32 of the payload                          |
//!
//! **Versions.** Version 2 adds the exponent offset of seed tensors: the
//! tensor's weights are its decoded blocks times `2^o` (see
//! [`crate::magnitude`]). Version-1 files have no such field and mean `o = 0`.
//! The writer writes version 1 when every offset is 0 (so such files are
//! byte-identical to earlier builds' and readable by them), version 2
//! otherwise; the reader takes both.
//!
//! An entry is at least [`MIN_ENTRY_LEN`] bytes, so the tensor count is at
//! most `L / 38`; the table must end exactly after the last entry.
//!
//! ## Payloads
//!
//! Payload `i` starts at the first multiple of 64 at or after the end of
//! payload `i-1` (the first one at 64); the table starts at the first multiple
//! of 64 after the last payload. Gaps are zero. Lengths follow from the entry:
//!
//! - **Raw**: `product(dims)` little-endian elements of the dtype
//!   (4 bytes for f32, 2 for f16 and bf16, 1 for u8), row-major. `u8`
//!   tensors are byte blobs (e.g. a model's `meta/config.json`), not weights.
//! - **Seed**: the tensor is viewed as `rows × cols`, `cols` the last dim and
//!   `rows` the product of the others. Each row is cut into
//!   `ceil(cols / C)` blocks of `C` weights, the last one zero-padded, giving
//!   `rows · ceil(cols / C)` blocks in row-major order. They are stored as
//!   one stream of [`crate::pack::pack_blocks`]: exactly
//!   `ceil(n · (K + 4 + 4P) / 8)` bytes, unused high bits of the last byte
//!   zero, every seed nonzero.
//!
//! All integers are little-endian; CRC-32 is the IEEE polynomial
//! (`crc32fast`).

mod reader;
mod writer;

pub use reader::SeedFile;
pub use writer::{temp_beside, Writer};

use crate::config::Config;
pub use crate::magnitude::MAX_EXP_OFFSET;

/// File magic, bytes 0..8.
pub const MAGIC: [u8; 8] = *b"SEEDLM\0\x1a";
/// The newest format version, which this build writes when a seed tensor has
/// a nonzero exponent offset.
pub const VERSION: u32 = 2;
/// The oldest format version this build reads (and writes when every offset
/// is zero).
pub const VERSION_MIN: u32 = 1;
/// Header length in bytes; the first payload starts here.
pub const HEADER_LEN: usize = 64;
/// Alignment of every payload and of the table, in bytes.
pub const ALIGN: u64 = 64;
/// Most dimensions a tensor may have.
pub const MAX_NDIM: usize = 8;
/// Longest tensor name in bytes.
pub const MAX_NAME_LEN: usize = u16::MAX as usize;
/// Longest original-dtype string in bytes.
pub const MAX_DTYPE_LEN: usize = 16;
/// Smallest possible table entry: 1-byte name, 1-byte dtype, one dim.
pub const MIN_ENTRY_LEN: usize = 2 + 1 + 1 + 1 + 1 + 3 + 1 + 8 + 8 + 8 + 4;

/// Bytes of the reserved field in the header.
const RESERVED_LEN: usize = 24;
/// Offset of the header checksum.
const HEADER_CRC_AT: usize = 60;
const _: () = assert!(8 + 4 + 4 + 8 + 8 + 4 + RESERVED_LEN == HEADER_CRC_AT);
const _: () = assert!(HEADER_CRC_AT + 4 == HEADER_LEN);
const _: () = assert!(HEADER_LEN as u64 & (ALIGN - 1) == 0 && ALIGN.is_power_of_two());

/// Kind code of a seed-block tensor.
const KIND_SEED: u8 = 1;
/// Kind code of a raw tensor.
const KIND_RAW: u8 = 2;

/// Storage dtype of a raw (uncompressed) tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawDtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16 (the top 16 bits of an f32).
    BF16,
    /// Raw bytes: a blob such as a model's config file, not numbers.
    U8,
}

impl RawDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            RawDtype::F32 => 4,
            RawDtype::F16 | RawDtype::BF16 => 2,
            RawDtype::U8 => 1,
        }
    }

    /// Lower-case name: `"f32"`, `"f16"`, `"bf16"` or `"u8"`.
    pub fn name(self) -> &'static str {
        match self {
            RawDtype::F32 => "f32",
            RawDtype::F16 => "f16",
            RawDtype::BF16 => "bf16",
            RawDtype::U8 => "u8",
        }
    }

    /// Code stored in the table.
    fn code(self) -> u8 {
        match self {
            RawDtype::F32 => 0,
            RawDtype::F16 => 1,
            RawDtype::BF16 => 2,
            RawDtype::U8 => 3,
        }
    }

    /// Inverse of [`RawDtype::code`].
    fn from_code(code: u8) -> Option<RawDtype> {
        match code {
            0 => Some(RawDtype::F32),
            1 => Some(RawDtype::F16),
            2 => Some(RawDtype::BF16),
            3 => Some(RawDtype::U8),
            _ => None,
        }
    }
}

/// What a tensor entry holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TensorKind {
    /// SeedLM blocks of this configuration, packed.
    Seed(Config),
    /// Uncompressed elements of this dtype.
    Raw(RawDtype),
}

/// One entry of the tensor table.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Tensor name, unique in the file.
    pub name: String,
    /// Dimensions, outermost first; each at least 1.
    pub shape: Vec<usize>,
    /// Dtype of the original tensor (`"bf16"`, `"f16"`, `"f32"`, `"q4_1"`,
    /// `"q8_0"`, ...); ASCII, 1 to 16 bytes.
    pub orig_dtype: String,
    /// Seed blocks or raw elements.
    pub kind: TensorKind,
    /// Byte offset of the payload in the file.
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u64,
    /// CRC-32 of the payload.
    pub crc32: u32,
    /// Seed tensors: the weights are the decoded blocks times
    /// `2^exp_offset` (0 in version-1 files). Always 0 for raw tensors.
    pub exp_offset: i16,
}

impl TensorInfo {
    /// Number of elements, the product of the dims.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Rows of the 2-D view: the product of all dims but the last (1 for 1-D).
    pub fn rows(&self) -> usize {
        self.shape.iter().rev().skip(1).product()
    }

    /// Columns of the 2-D view: the last dim.
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Blocks of a seed tensor, `rows · ceil(cols / C)`; `None` for raw.
    pub fn num_blocks(&self) -> Option<usize> {
        match self.kind {
            TensorKind::Seed(cfg) => Some(self.rows() * self.cols().div_ceil(cfg.c)),
            TensorKind::Raw(_) => None,
        }
    }
}

/// Checks a tensor name (1 to [`MAX_NAME_LEN`] bytes).
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "name must be 1..={MAX_NAME_LEN} bytes, got {}",
            name.len()
        ));
    }
    Ok(())
}

/// Checks an original-dtype string: 1 to 16 graphic ASCII characters.
fn check_dtype_name(s: &[u8]) -> std::result::Result<(), String> {
    if s.is_empty() || s.len() > MAX_DTYPE_LEN {
        return Err(format!(
            "must be 1..={MAX_DTYPE_LEN} bytes, got {}",
            s.len()
        ));
    }
    if !s.iter().all(u8::is_ascii_graphic) {
        return Err(format!(
            "{:?} is not graphic ASCII",
            String::from_utf8_lossy(s)
        ));
    }
    Ok(())
}

/// Checks a shape: `1..=8` dims, each at least 1, product fits `usize`.
pub fn check_shape(shape: &[usize]) -> std::result::Result<(), String> {
    if shape.is_empty() || shape.len() > MAX_NDIM {
        return Err(format!(
            "must have 1..={MAX_NDIM} dims, has {}",
            shape.len()
        ));
    }
    if shape.contains(&0) {
        return Err("every dim must be at least 1".into());
    }
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .map(|_| ())
        .ok_or_else(|| "product of dims overflows usize".into())
}

/// Payload length implied by a checked shape and a valid kind, or `None` on
/// overflow (see the module docs).
fn payload_len(shape: &[usize], kind: TensorKind) -> Option<u64> {
    let numel = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))?;
    match kind {
        TensorKind::Raw(dtype) => numel.checked_mul(dtype.size() as u64),
        TensorKind::Seed(cfg) => {
            let cols = *shape.last()? as u64;
            let blocks = (numel / cols).checked_mul(cols.div_ceil(cfg.c as u64))?;
            Some(blocks.checked_mul(cfg.bits_per_block() as u64)?.div_ceil(8))
        }
    }
}

/// `x` rounded up to a multiple of [`ALIGN`], or `None` on overflow.
fn align_up(x: u64) -> Option<u64> {
    Some(x.checked_add(ALIGN - 1)? / ALIGN * ALIGN)
}
