//! GGUF checkpoints (llama.cpp's format), versions 2 and 3.
//!
//! **Why a reader of our own.** `candle-core`'s `quantized::gguf_file` reads
//! GGUF and dequantizes every GGML type, but it pulls in 156 crates (gemm,
//! the tensor library, ...): a clean build of `candle-core` 0.11 alone took
//! 12 min of CPU (21 min wall) on this 2-core machine, about four times the
//! whole `seedlm-host` build, only to read a container whose header is a few
//! hundred bytes. It also copies each tensor out of the file, and its errors
//! name neither the file, the tensor nor the offset. The format is small and
//! stable, and the three block types we need are a few lines each
//! (`super::decode_f32`), so it is read here, by hand,
//! field by field, from a memory map:
//!
//! ```text
//! u32 magic "GGUF" | u32 version (2, 3) | u64 n_tensors | u64 n_kv
//! n_kv × { string key | u32 type | value }          (metadata)
//! n_tensors × { string name | u32 n_dims | u64 dims[n_dims] (innermost first)
//!               | u32 ggml_type | u64 offset (from the data section) }
//! padding to `general.alignment` (default 32) | data section
//! string = u64 length + UTF-8 bytes; all little-endian
//! ```
//!
//! Every count and length is checked against the bytes that remain before
//! anything is allocated, every tensor's extent against the data section, so
//! a truncated or hostile file gives an error naming the file, the tensor and
//! the byte offset, never a panic or a huge allocation. Metadata arrays stay
//! in the map ([`Array`]), so metadata costs memory per key, not per element.
//! Tensor names are unique.

use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::{Dtype, TensorMeta};
use crate::error::{Error, Result};

/// The first four bytes of every GGUF file.
pub const MAGIC: &[u8; 4] = b"GGUF";

/// Alignment of the data section and of tensor offsets unless the file sets
/// `general.alignment`.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// A metadata value. Arrays are not copied out of the file: an [`Array`]
/// is the element type, count and byte range of its elements, read through
/// [`GgufFile::array`] (a tokenizer's 50K-entry lists would otherwise cost
/// 32 bytes of `Value` per element; a 20 MB array of `u8` took 1.3 GB).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7.
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 9: elements of one type, validated but left in the file.
    Array(Array),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

/// Type id of a string value.
const TYPE_STRING: u32 = 8;
/// Type id of an array value.
const TYPE_ARRAY: u32 = 9;

/// An array value: where its elements are in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Array {
    /// Element type id (any type but an array).
    pub elem_type: u32,
    /// Number of elements.
    pub len: usize,
    /// Byte range of the elements in the file.
    range: std::ops::Range<usize>,
}

impl Value {
    /// The value as an unsigned integer, if it is one of the integer types
    /// and not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// Byte size of a fixed-size value of type `ty` (`None` for strings,
/// arrays and unknown types).
fn fixed_size(ty: u32) -> Option<usize> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// The elements of an [`Array`], decoded one at a time.
pub struct ArrayItems<'a> {
    cursor: Cursor<'a>,
    elem_type: u32,
    left: usize,
}

impl Iterator for ArrayItems<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated when the file was opened.
        self.cursor.value(self.elem_type, 1).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<'a> ArrayItems<'a> {
    /// The next element if the array holds strings, borrowed from the file.
    pub fn next_str(&mut self) -> Option<&'a str> {
        if self.left == 0 || self.elem_type != TYPE_STRING {
            return None;
        }
        self.left -= 1;
        self.cursor.str("metadata string").ok()
    }
}

/// The GGML type id of each dtype this reader knows.
fn ggml_dtype(id: u32) -> Dtype {
    match id {
        0 => Dtype::F32,
        1 => Dtype::F16,
        2 => Dtype::Q4_0,
        3 => Dtype::Q4_1,
        8 => Dtype::Q8_0,
        30 => Dtype::BF16,
        other => Dtype::Other(format!("ggml type {other}")),
    }
}

/// A bounds-checked little-endian cursor over the header.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn fail<T>(&self, what: String) -> Result<T> {
        Err(Error::Format {
            path: self.path.into(),
            what,
        })
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        match self.buf.len().checked_sub(self.pos) {
            Some(left) if left >= n => {
                let s = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => self.fail(format!(
                "truncated at byte offset {} reading {what} ({n} bytes, file is {} bytes)",
                self.pos,
                self.buf.len()
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items each at least `min_size` bytes long, checked against
    /// the bytes left so that no bogus count drives an allocation.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize> {
        let at = self.pos;
        let n = self.u64(what)?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_size as u64) > left {
            return self.fail(format!(
                "{what} {n} at byte offset {at} exceeds the {left} bytes left in the file"
            ));
        }
        Ok(n as usize)
    }

    /// A string, borrowed from the file.
    fn str(&mut self, what: &str) -> Result<&'a str> {
        let at = self.pos;
        let n = self.count(1, what)?;
        let b = self.take(n, what)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s),
            Err(_) => self.fail(format!("{what} at byte offset {at} is not UTF-8")),
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        self.str(what).map(str::to_string)
    }

    /// A value of type `ty`; arrays (not nested) are walked and validated
    /// without copying their elements.
    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        const W: &str = "metadata value";
        Ok(match ty {
            0 => Value::U8(self.take(1, W)?[0]),
            1 => Value::I8(self.take(1, W)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(W)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(W)?)),
            4 => Value::U32(self.u32(W)?),
            5 => Value::I32(self.u32(W)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(W)?)),
            7 => Value::Bool(self.take(1, W)?[0] != 0),
            TYPE_STRING => Value::String(self.string("metadata string")?),
            TYPE_ARRAY if depth == 0 => {
                let at = self.pos;
                let elem_type = self.u32("array type")?;
                if elem_type == TYPE_ARRAY {
                    return self.fail(format!("nested array at byte offset {at}"));
                }
                let size = fixed_size(elem_type);
                let len = self.count(size.unwrap_or(8), "array length")?;
                let start = self.pos;
                match size {
                    Some(s) => {
                        self.take(len * s, "array")?;
                    }
                    None if elem_type == TYPE_STRING => {
                        for _ in 0..len {
                            self.str("metadata string")?;
                        }
                    }
                    None => {
                        return self.fail(format!(
                            "unknown array element type {elem_type} at byte offset {at}"
                        ))
                    }
                }
                Value::Array(Array {
                    elem_type,
                    len,
                    range: start..self.pos,
                })
            }
            10 => Value::U64(self.u64(W)?),
            11 => Value::I64(self.u64(W)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(W)?)),
            other => {
                return self.fail(format!(
                    "unknown metadata value type {other} before byte offset {}",
                    self.pos
                ))
            }
        })
    }
}

/// Where a tensor's bytes are in the file (absolute), if its dtype is known.
#[derive(Clone, Copy)]
struct Extent {
    start: usize,
    end: usize,
}

/// An opened GGUF file.
pub struct GgufFile {
    path: PathBuf,
    map: Mmap,
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorMeta>,
    extents: Vec<Option<Extent>>,
}

impl GgufFile {
    /// Opens and validates a GGUF file.
    pub fn open(path: &Path) -> Result<GgufFile> {
        Self::from_map(path, super::map_file(path)?)
    }

    /// Parses an already mapped file.
    pub fn from_map(path: &Path, map: Mmap) -> Result<GgufFile> {
        let mut c = Cursor {
            buf: &map,
            pos: 0,
            path,
        };
        if c.take(4, "magic")? != MAGIC {
            return c.fail("not a GGUF file (bad magic)".into());
        }
        let version = c.u32("version")?;
        if !(2..=3).contains(&version) {
            return c.fail(format!(
                "GGUF version {version} is not supported (2 and 3 are)"
            ));
        }
        // A tensor info is at least 8 + 4 + 4 + 8 bytes, a key-value 8 + 4 + 1.
        let n_tensors = c.count(24, "tensor count")?;
        let n_kv = c.count(13, "metadata count")?;
        let mut metadata = Vec::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let ty = c.u32("metadata type")?;
            let value = c.value(ty, 0)?;
            metadata.push((key, value));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => return c.fail(format!("general.alignment {v:?} is not a power of two")),
            },
        };
        let mut tensors = Vec::with_capacity(n_tensors);
        let mut offsets = Vec::with_capacity(n_tensors);
        let mut seen = std::collections::HashMap::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let at = c.pos;
            let name = c.string("tensor name")?;
            // Tensors are looked up by name: a second one could never be read.
            if let Some(first) = seen.insert(name.clone(), at) {
                return c.fail(format!(
                    "tensor '{name}' at byte offset {at} has the name of the tensor at byte offset {first}"
                ));
            }
            let n_dims = c.u32("tensor dimension count")?;
            if n_dims > 4 {
                return c.fail(format!(
                    "tensor '{name}' at byte offset {at}: {n_dims} dimensions (at most 4)"
                ));
            }
            let mut shape = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                let d = c.u64("tensor dimension")?;
                shape.push(usize::try_from(d).unwrap_or(usize::MAX));
            }
            shape.reverse(); // GGUF stores innermost first; we report row-major.
            let dtype = ggml_dtype(c.u32("tensor type")?);
            let offset = c.u64("tensor offset")?;
            if offset % alignment != 0 {
                return c.fail(format!(
                    "tensor '{name}' at byte offset {at}: data offset {offset} is not a multiple of the alignment {alignment}"
                ));
            }
            tensors.push(TensorMeta { name, shape, dtype });
            offsets.push(offset);
        }
        let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
        let file_len = map.len() as u64;
        let mut extents = Vec::with_capacity(n_tensors);
        for (t, &offset) in tensors.iter().zip(&offsets) {
            let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let cols = t.shape.last().copied().unwrap_or(1);
            let len = match (&t.dtype, numel) {
                (Dtype::Other(_), _) => {
                    extents.push(None);
                    continue;
                }
                (d, Some(n)) if !d.is_quantized() || cols.is_multiple_of(super::QK) => {
                    d.byte_len(n)
                }
                _ => None,
            };
            let start = data_start.checked_add(offset);
            let end = match (start, len) {
                (Some(s), Some(l)) => s.checked_add(l as u64),
                _ => None,
            };
            match (start, end) {
                (Some(s), Some(e)) if e <= file_len => {
                    extents.push(Some(Extent { start: s as usize, end: e as usize }))
                }
                _ => {
                    return Err(Error::Format {
                        path: path.into(),
                        what: format!(
                            "tensor '{}' ({} {:?}) at data offset {offset} (byte offset {}) does not fit in the file of {file_len} bytes{}",
                            t.name,
                            t.dtype,
                            t.shape,
                            data_start.saturating_add(offset),
                            if t.dtype.is_quantized() && !cols.is_multiple_of(super::QK) {
                                format!(", or its rows of {cols} are not a multiple of {}", super::QK)
                            } else {
                                String::new()
                            }
                        ),
                    })
                }
            }
        }
        Ok(GgufFile {
            path: path.into(),
            map,
            version,
            metadata,
            tensors,
            extents,
        })
    }

    /// The file opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Metadata key-value pairs, in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The metadata value for `key`.
    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The elements of array `a`, a value of this file's metadata.
    pub fn array(&self, a: &Array) -> ArrayItems<'_> {
        ArrayItems {
            cursor: Cursor {
                buf: self.map.get(a.range.clone()).unwrap_or_default(),
                pos: 0,
                path: &self.path,
            },
            elem_type: a.elem_type,
            left: a.len,
        }
    }

    /// The strings of array metadata `key`; an error naming the key if it
    /// is missing or not an array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<&str>> {
        match self.meta(key) {
            Some(Value::Array(a)) if a.elem_type == TYPE_STRING => {
                let mut items = self.array(a);
                Ok(std::iter::from_fn(|| items.next_str()).collect())
            }
            _ => Err(Error::Format {
                path: self.path.clone(),
                what: format!("GGUF metadata '{key}' is missing or not an array of strings"),
            }),
        }
    }

    /// Every tensor, in file order, shapes row-major.
    pub fn tensors(&self) -> &[TensorMeta] {
        &self.tensors
    }

    /// The stored bytes of tensor `name`.
    pub fn bytes(&self, name: &str) -> Result<&[u8]> {
        let i = self
            .tensors
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| Error::NoTensor {
                path: self.path.clone(),
                tensor: name.into(),
            })?;
        match self.extents[i] {
            Some(e) => Ok(&self.map[e.start..e.end]),
            None => Err(Error::UnsupportedDtype {
                path: self.path.clone(),
                tensor: name.into(),
                dtype: self.tensors[i].dtype.to_string(),
                supported: "F32, F16, BF16, Q8_0, Q4_0, Q4_1",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Checkpoint;
    use super::*;

    /// A minimal GGUF v3 writer for tests: (name, innermost-first dims,
    /// ggml type, data bytes).
    fn gguf(meta: &[(&str, u32, Vec<u8>)], tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
        let s = |v: &mut Vec<u8>, t: &str| {
            v.extend((t.len() as u64).to_le_bytes());
            v.extend(t.as_bytes());
        };
        let mut v = b"GGUF".to_vec();
        v.extend(3u32.to_le_bytes());
        v.extend((tensors.len() as u64).to_le_bytes());
        v.extend((meta.len() as u64).to_le_bytes());
        for (k, ty, val) in meta {
            s(&mut v, k);
            v.extend(ty.to_le_bytes());
            v.extend(val);
        }
        let mut off = 0u64;
        for (name, dims, ty, data) in tensors {
            s(&mut v, name);
            v.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                v.extend(d.to_le_bytes());
            }
            v.extend(ty.to_le_bytes());
            v.extend(off.to_le_bytes());
            off += (data.len() as u64).div_ceil(32) * 32;
        }
        v.resize(v.len().div_ceil(32) * 32, 0);
        for (_, _, _, data) in tensors {
            v.extend(data);
            v.resize(v.len().div_ceil(32) * 32, 0);
        }
        v
    }

    fn open(bytes: &[u8]) -> (tempfile::TempDir, Result<Checkpoint>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        std::fs::write(&p, bytes).unwrap();
        let r = Checkpoint::open(&p);
        (dir, r)
    }

    #[test]
    fn test_gguf_metadata_shapes_and_f32() {
        let data: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let mut arr = 8u32.to_le_bytes().to_vec();
        arr.extend(2u64.to_le_bytes());
        for t in ["a", "bc"] {
            arr.extend((t.len() as u64).to_le_bytes());
            arr.extend(t.as_bytes());
        }
        let bytes = gguf(
            &[
                ("llama.block_count", 4, 30u32.to_le_bytes().to_vec()),
                ("tok", 9, arr),
            ],
            &[
                ("w", vec![3, 2], 0, data),
                ("k", vec![256], 14, vec![0; 144]),
            ],
        );
        let (_d, ck) = open(&bytes);
        let ck = ck.unwrap();
        let Checkpoint::Gguf(g) = &ck else {
            panic!("not gguf")
        };
        assert_eq!(g.version(), 3);
        assert_eq!(g.meta("llama.block_count"), Some(&Value::U32(30)));
        assert_eq!(g.strings("tok").unwrap(), ["a", "bc"]);
        assert!(g.strings("llama.block_count").is_err());
        let w = ck.get("w").unwrap();
        assert_eq!(w.shape, vec![2, 3]); // innermost-first [3, 2] -> rows 2, cols 3
        assert_eq!(ck.load_f32("w").unwrap(), vec![0., 1., 2., 3., 4., 5.]);
        let e = ck.load_f32("k").unwrap_err().to_string();
        assert!(
            e.contains("m.gguf") && e.contains("'k'") && e.contains("ggml type 14"),
            "{e}"
        );
    }

    #[test]
    fn test_gguf_arrays_stay_in_the_file() {
        // 1M u8 elements: one `Array` of a few words, elements read lazily.
        let mut big = 0u32.to_le_bytes().to_vec();
        big.extend(1_000_000u64.to_le_bytes());
        big.extend((0..1_000_000u32).map(|i| i as u8));
        let mut ints = 5u32.to_le_bytes().to_vec();
        ints.extend(3u64.to_le_bytes());
        for v in [-1i32, 7, 9] {
            ints.extend(v.to_le_bytes());
        }
        let bytes = gguf(&[("big", 9, big), ("ints", 9, ints)], &[]);
        let (_d, ck) = open(&bytes);
        let Checkpoint::Gguf(g) = ck.unwrap() else {
            panic!("not gguf")
        };
        let Some(Value::Array(a)) = g.meta("big") else {
            panic!("not an array")
        };
        assert_eq!((a.elem_type, a.len), (0, 1_000_000));
        assert_eq!(g.array(a).nth(258), Some(Value::U8(2)));
        let Some(Value::Array(a)) = g.meta("ints") else {
            panic!("not an array")
        };
        let v: Vec<Value> = g.array(a).collect();
        assert_eq!(v, [Value::I32(-1), Value::I32(7), Value::I32(9)]);
        // A nested array and an array of unknown type are refused.
        let mut nested = 9u32.to_le_bytes().to_vec();
        nested.extend(0u64.to_le_bytes());
        let (_d, r) = open(&gguf(&[("n", 9, nested)], &[]));
        assert!(r.err().unwrap().to_string().contains("nested array"));
        let mut unknown = 13u32.to_le_bytes().to_vec();
        unknown.extend(1u64.to_le_bytes());
        unknown.extend([0; 8]);
        let (_d, r) = open(&gguf(&[("u", 9, unknown)], &[]));
        assert!(r
            .err()
            .unwrap()
            .to_string()
            .contains("unknown array element type 13"));
    }

    #[test]
    fn test_gguf_rejects_truncated_and_hostile_files() {
        let data: Vec<u8> = (0..64).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let bytes = gguf(&[], &[("w", vec![64], 0, data)]);
        // Truncated data: the tensor no longer fits.
        let (_d, r) = open(&bytes[..bytes.len() - 1]);
        let e = r.err().unwrap().to_string();
        assert!(
            e.contains("m.gguf") && e.contains("'w'") && e.contains("byte offset"),
            "{e}"
        );
        // Truncated header.
        let (_d, r) = open(&bytes[..40]);
        let e = r.err().unwrap().to_string();
        assert!(e.contains("truncated at byte offset"), "{e}");
        // A bogus tensor count is refused before allocating.
        let mut hostile = bytes.clone();
        hostile[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let (_d, r) = open(&hostile);
        assert!(r.err().unwrap().to_string().contains("tensor count"));
        // Two tensors of one name (found by fuzzing: lookups by name gave
        // the first one's bytes for the second).
        let data: Vec<u8> = (0..64).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let twice = gguf(
            &[],
            &[("w", vec![64], 0, data.clone()), ("w", vec![], 0, data)],
        );
        let (_d, r) = open(&twice);
        let e = r.err().unwrap().to_string();
        assert!(
            e.contains("tensor 'w'") && e.contains("has the name of"),
            "{e}"
        );
        // Version 1 is refused.
        let mut v1 = bytes.clone();
        v1[4..8].copy_from_slice(&1u32.to_le_bytes());
        let (_d, r) = open(&v1);
        assert!(r.err().unwrap().to_string().contains("version 1"));
    }
}
