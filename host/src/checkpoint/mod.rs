//! Checkpoint readers: the tensor list of a model file and each tensor's
//! values as f32.
//!
//! Two formats, one interface ([`Checkpoint`]):
//! - HF safetensors ([`safetensors`]): one `.safetensors` file, or a
//!   directory of shards (every `*.safetensors` in it); F32, F16 and BF16.
//! - GGUF v2/v3 ([`gguf`]): F32, F16, BF16, and Q8_0, Q4_0, Q4_1
//!   dequantized to f32.
//!
//! Shapes are row-major (`[rows, cols]` for a matrix) in both formats; GGUF's
//! innermost-first dimensions are reversed on reading. Files are
//! memory-mapped; every offset and length is checked against the file before
//! it is used. Errors name the file, the tensor and the byte offset at fault.

pub mod gguf;
pub mod safetensors;

use std::fs::File;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use memmap2::Mmap;

use crate::error::{Error, Result};

/// Element type of a tensor as stored in the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    BF16,
    /// GGML Q8_0: 34 bytes per 32 weights (f16 `d`, 32 × i8 `q`), `w = d·q`.
    Q8_0,
    /// GGML Q4_0: 18 bytes per 32 weights (f16 `d`, 16 bytes of nibbles),
    /// `w = d·(q - 8)`.
    Q4_0,
    /// GGML Q4_1: 20 bytes per 32 weights (f16 `d`, f16 `m`, 16 bytes of
    /// nibbles), `w = d·q + m`.
    Q4_1,
    /// Any other type, named as the file names it; listed but not loadable.
    Other(String),
}

/// Weights per block of the GGML quantized types.
pub const QK: usize = 32;

impl Dtype {
    /// Short lower-case name: `"f32"`, `"bf16"`, `"q4_1"`, ...
    pub fn name(&self) -> &str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::BF16 => "bf16",
            Dtype::Q8_0 => "q8_0",
            Dtype::Q4_0 => "q4_0",
            Dtype::Q4_1 => "q4_1",
            Dtype::Other(s) => s,
        }
    }

    /// The dtype called `name` (the inverse of [`Dtype::name`]; unknown
    /// names give [`Dtype::Other`]).
    pub fn parse(name: &str) -> Dtype {
        match name {
            "f32" => Dtype::F32,
            "f16" => Dtype::F16,
            "bf16" => Dtype::BF16,
            "q8_0" => Dtype::Q8_0,
            "q4_0" => Dtype::Q4_0,
            "q4_1" => Dtype::Q4_1,
            other => Dtype::Other(other.into()),
        }
    }

    /// Storage cost in bits per weight (scales included), if known.
    pub fn bits_per_weight(&self) -> Option<f64> {
        match self {
            Dtype::F32 => Some(32.0),
            Dtype::F16 | Dtype::BF16 => Some(16.0),
            Dtype::Q8_0 => Some(8.5),
            Dtype::Q4_0 => Some(4.5),
            Dtype::Q4_1 => Some(5.0),
            Dtype::Other(_) => None,
        }
    }

    /// Whether the type is a GGML block-quantized type.
    pub fn is_quantized(&self) -> bool {
        matches!(self, Dtype::Q8_0 | Dtype::Q4_0 | Dtype::Q4_1)
    }

    /// Bytes that `n` elements occupy, or `None` for an unknown type or an
    /// `n` that is not a whole number of quantization blocks.
    pub fn byte_len(&self, n: usize) -> Option<usize> {
        let block_bytes = match self {
            Dtype::F32 => return n.checked_mul(4),
            Dtype::F16 | Dtype::BF16 => return n.checked_mul(2),
            Dtype::Q8_0 => 34,
            Dtype::Q4_0 => 18,
            Dtype::Q4_1 => 20,
            Dtype::Other(_) => return None,
        };
        n.is_multiple_of(QK).then(|| n / QK * block_bytes)
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorMeta {
    /// Name as stored in the file.
    pub name: String,
    /// Row-major shape (`[rows, cols]` for a matrix).
    pub shape: Vec<usize>,
    /// Element type as stored.
    pub dtype: Dtype,
}

impl TensorMeta {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// An opened checkpoint of either format.
pub enum Checkpoint {
    /// HF safetensors (one file or a directory of shards).
    SafeTensors(safetensors::SafeTensorsCheckpoint),
    /// A GGUF file.
    Gguf(gguf::GgufFile),
}

impl Checkpoint {
    /// Opens `path`: a directory is read as safetensors shards, a file as
    /// GGUF or safetensors after [`sniff`]ing its first bytes.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            return Ok(Checkpoint::SafeTensors(
                safetensors::SafeTensorsCheckpoint::open(path)?,
            ));
        }
        Checkpoint::from_map(path, map_file(path)?)
    }

    /// Reads an already mapped file (`path` names it in errors): GGUF,
    /// safetensors, or an error saying what the file looks like.
    pub fn from_map(path: &Path, map: Mmap) -> Result<Checkpoint> {
        match sniff(path, &map) {
            Format::Gguf => Ok(Checkpoint::Gguf(gguf::GgufFile::from_map(path, map)?)),
            Format::SafeTensors => Ok(Checkpoint::SafeTensors(
                safetensors::SafeTensorsCheckpoint::from_maps(
                    path,
                    vec![(path.to_path_buf(), map)],
                )?,
            )),
            Format::Unknown(what) => Err(Error::Format {
                path: path.into(),
                what: format!(
                    "not a checkpoint seedlm reads (GGUF starts with \"GGUF\", safetensors with an \
                     8-byte header length and '{{'): {what}"
                ),
            }),
        }
    }

    /// The path the checkpoint was opened from.
    pub fn path(&self) -> &Path {
        match self {
            Checkpoint::SafeTensors(c) => c.path(),
            Checkpoint::Gguf(g) => g.path(),
        }
    }

    /// Short name of the format: `"safetensors"` or `"gguf"`.
    pub fn format(&self) -> &'static str {
        match self {
            Checkpoint::SafeTensors(_) => "safetensors",
            Checkpoint::Gguf(_) => "gguf",
        }
    }

    /// Every tensor, in file order (shards in file-name order).
    pub fn tensors(&self) -> &[TensorMeta] {
        match self {
            Checkpoint::SafeTensors(c) => c.tensors(),
            Checkpoint::Gguf(g) => g.tensors(),
        }
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Result<&TensorMeta> {
        self.tensors()
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::NoTensor {
                path: self.path().into(),
                tensor: name.into(),
            })
    }

    /// The file holding tensor `name`: the shard of a directory, else the
    /// file opened.
    pub fn file_of(&self, name: &str) -> &Path {
        match self {
            Checkpoint::SafeTensors(c) => c.file_of(name),
            Checkpoint::Gguf(g) => g.path(),
        }
    }

    /// The stored bytes of tensor `name` (little-endian, in its own dtype)
    /// and the file that holds them.
    pub fn bytes(&self, name: &str) -> Result<(&Path, &[u8])> {
        match self {
            Checkpoint::SafeTensors(c) => c.bytes(name),
            Checkpoint::Gguf(g) => g.bytes(name).map(|b| (g.path(), b)),
        }
    }

    /// The values of tensor `name` as f32, row-major (quantized types
    /// dequantized).
    pub fn load_f32(&self, name: &str) -> Result<Vec<f32>> {
        let meta = self.get(name)?;
        let (file, bytes) = self.bytes(name)?;
        decode_f32(&meta.dtype, bytes, meta.numel()).map_err(|what| Error::Format {
            path: file.into(),
            what: format!("tensor '{name}': {what}"),
        })
    }
}

/// A checkpoint format, told from a file's first bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Format {
    /// Starts with [`gguf::MAGIC`].
    Gguf,
    /// An 8-byte little-endian header length, then a JSON object.
    SafeTensors,
    /// Neither; what the file looks like instead.
    Unknown(String),
}

/// What the first bytes of a file say it is. Other formats that models come
/// in are named, so that the error says what to do.
pub fn sniff(path: &Path, bytes: &[u8]) -> Format {
    if bytes.starts_with(gguf::MAGIC) {
        return Format::Gguf;
    }
    if bytes.len() > 8 && bytes[8] == b'{' {
        return Format::SafeTensors;
    }
    let head = &bytes[..bytes.len().min(8)];
    let known: &[(&[u8], &str)] = &[
        (
            b"SEEDLM\0\x1a",
            "a .seedlm file (already compressed; inspect, decompress or generate read it)",
        ),
        (
            b"PK\x03\x04",
            "a zip archive (a PyTorch .bin/.pt checkpoint? convert it to safetensors)",
        ),
        (b"lmgg", "a legacy GGML file (convert it to GGUF)"),
        (b"fmgg", "a legacy GGMF file (convert it to GGUF)"),
        (b"tjgg", "a legacy GGJT file (convert it to GGUF)"),
        (b"\x1f\x8b", "gzip-compressed (unpack it first)"),
        (
            b"{",
            "a JSON text (a config or index file?), not the weights",
        ),
    ];
    if let Some((_, what)) = known.iter().find(|(m, _)| bytes.starts_with(m)) {
        return Format::Unknown(what.to_string());
    }
    if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return Format::Unknown(
            "a Python pickle (a PyTorch checkpoint? convert it to safetensors)".into(),
        );
    }
    let named_gguf = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    let start = format!(
        "its first {} bytes are {head:02x?} ({:?})",
        head.len(),
        String::from_utf8_lossy(head)
    );
    Format::Unknown(match bytes.len() {
        0 => "the file is empty".into(),
        _ if named_gguf => format!("named .gguf but without the GGUF magic: {start}"),
        _ => start,
    })
}

/// Converts `n` stored elements of `dtype` to f32. `bytes` must be exactly
/// `dtype.byte_len(n)` long.
pub fn decode_f32(dtype: &Dtype, bytes: &[u8], n: usize) -> std::result::Result<Vec<f32>, String> {
    let want = dtype
        .byte_len(n)
        .ok_or_else(|| format!("cannot decode {n} elements of dtype {dtype}"))?;
    if bytes.len() != want {
        return Err(format!(
            "{} bytes for {n} elements of {dtype}, expected {want}",
            bytes.len()
        ));
    }
    let h = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
    let out = match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(h).collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::Q8_0 => {
            let mut out = Vec::with_capacity(n);
            for blk in bytes.chunks_exact(34) {
                let d = h(blk);
                out.extend(blk[2..].iter().map(|&q| d * (q as i8) as f32));
            }
            out
        }
        Dtype::Q4_0 | Dtype::Q4_1 => {
            let (step, has_min) = if *dtype == Dtype::Q4_0 {
                (18, false)
            } else {
                (20, true)
            };
            let mut out = vec![0f32; n];
            for (blk, o) in bytes.chunks_exact(step).zip(out.chunks_exact_mut(QK)) {
                let d = h(blk);
                let (m, nib) = if has_min {
                    (h(&blk[2..]), &blk[4..])
                } else {
                    (0.0, &blk[2..])
                };
                // Low nibbles are elements 0..16, high nibbles 16..32.
                for (i, &b) in nib.iter().enumerate() {
                    let (lo, hi) = ((b & 0xF) as i32, (b >> 4) as i32);
                    if has_min {
                        o[i] = d * lo as f32 + m;
                        o[i + 16] = d * hi as f32 + m;
                    } else {
                        o[i] = d * (lo - 8) as f32;
                        o[i + 16] = d * (hi - 8) as f32;
                    }
                }
            }
            out
        }
        Dtype::Other(_) => unreachable!("byte_len is None for Other"),
    };
    Ok(out)
}

/// Memory-maps a whole file read-only.
#[allow(unsafe_code)]
fn map_file(path: &Path) -> Result<Mmap> {
    let io = |action| {
        move |source| Error::Io {
            action,
            path: PathBuf::from(path),
            source,
        }
    };
    let file = File::open(path).map_err(io("open"))?;
    // SAFETY: `Mmap::map` is unsafe because the mapping aliases a file that
    // another process may modify or truncate while we hold it (a shared,
    // read-only `MAP_SHARED` map: changed bytes under a `&[u8]`, or SIGBUS on
    // truncation). Nothing in this program writes a checkpoint: `seedlm`'s
    // outputs are new files renamed into place, and `output::check` refuses
    // to aim one at an input. Every read is bounds-checked against the map,
    // so a concurrent change by another process gives wrong values, not an
    // out-of-bounds access; SIGBUS on truncation is beyond what we can
    // guard against (as for every mmap-based model loader).
    unsafe { Mmap::map(&file) }.map_err(io("map"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16b(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn test_decode_float_types() {
        let b: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(decode_f32(&Dtype::F32, &b, 2).unwrap(), vec![1.5, -2.0]);
        let b: Vec<u8> = [0.25f32, 3.0].iter().flat_map(|&x| f16b(x)).collect();
        assert_eq!(decode_f32(&Dtype::F16, &b, 2).unwrap(), vec![0.25, 3.0]);
        let b: Vec<u8> = [-1.0f32]
            .iter()
            .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
            .collect();
        assert_eq!(decode_f32(&Dtype::BF16, &b, 1).unwrap(), vec![-1.0]);
        assert!(decode_f32(&Dtype::F32, &b, 1).is_err());
    }

    #[test]
    fn test_decode_quantized_known_values() {
        // Q8_0: d = 0.5, q = -16..16.
        let mut b = f16b(0.5).to_vec();
        b.extend((-16i8..16).map(|q| q as u8));
        let want: Vec<f32> = (-16..16).map(|q| q as f32 * 0.5).collect();
        assert_eq!(decode_f32(&Dtype::Q8_0, &b, 32).unwrap(), want);
        // Q4_1: d = 0.25, m = -1; byte i holds q_i (low) and q_{i+16} (high).
        let mut b = [f16b(0.25), f16b(-1.0)].concat();
        b.extend((0u8..16).map(|i| i | (15 - i) << 4));
        let want: Vec<f32> = (0..32)
            .map(|i| if i < 16 { i as f32 } else { (31 - i) as f32 } * 0.25 - 1.0)
            .collect();
        assert_eq!(decode_f32(&Dtype::Q4_1, &b, 32).unwrap(), want);
        // Q4_0: d = 2, w = d·(q - 8).
        let mut b = f16b(2.0).to_vec();
        b.extend((0u8..16).map(|i| i | (15 - i) << 4));
        let want: Vec<f32> = (0..32)
            .map(|i| 2.0 * (if i < 16 { i } else { 31 - i } - 8) as f32)
            .collect();
        assert_eq!(decode_f32(&Dtype::Q4_0, &b, 32).unwrap(), want);
        // Not a whole number of blocks.
        assert!(decode_f32(&Dtype::Q4_0, &b, 16).is_err());
    }

    #[test]
    fn test_sniff_tells_formats_apart() {
        let p = Path::new("m.bin");
        assert_eq!(sniff(p, b"GGUF\x03\0\0\0"), Format::Gguf);
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend(b"{}");
        assert_eq!(sniff(p, &st), Format::SafeTensors);
        let what = |p: &str, b: &[u8]| match sniff(Path::new(p), b) {
            Format::Unknown(w) => w,
            f => panic!("{f:?}"),
        };
        assert!(
            what("m.gguf", b"GGUX\x03\0\0\0\0").contains("named .gguf but without the GGUF magic")
        );
        assert!(what("m.gguf", b"GGUX").contains("47, 47, 55, 58"));
        assert!(what("m.pt", b"PK\x03\x04rest").contains("zip"));
        assert!(what("m.seedlm", b"SEEDLM\0\x1a....").contains(".seedlm"));
        assert!(what("m.bin", &[0x80, 2, 0x7d]).contains("pickle"));
        assert!(what("m", b"").contains("empty"));
    }

    #[test]
    fn test_dtype_sizes() {
        assert_eq!(Dtype::Q4_1.byte_len(64), Some(40));
        assert_eq!(Dtype::Q8_0.byte_len(33), None);
        assert_eq!(Dtype::BF16.byte_len(3), Some(6));
        assert_eq!(Dtype::Other("I32".into()).byte_len(3), None);
        assert_eq!(Dtype::Q4_1.bits_per_weight(), Some(5.0));
        assert_eq!(Dtype::Other("I32".into()).name(), "I32");
        for d in [
            Dtype::F32,
            Dtype::F16,
            Dtype::BF16,
            Dtype::Q8_0,
            Dtype::Q4_0,
            Dtype::Q4_1,
        ] {
            assert_eq!(Dtype::parse(d.name()), d);
        }
    }
}
