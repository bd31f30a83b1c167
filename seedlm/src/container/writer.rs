//! Streaming, atomic writer of `.seedlm` files.
//!
//! The file is built in a temporary file beside the target (same directory,
//! so the final rename cannot cross filesystems): a placeholder header,
//! then each payload as it is added, then the table; `finish` rewrites the
//! header, fsyncs, renames over the target and fsyncs the directory. Until
//! then the target is untouched; dropping the writer deletes the temporary
//! file. Memory use is one tensor's payload plus the table.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use byteorder::{WriteBytesExt, LE};
use tempfile::NamedTempFile;

use super::{
    align_up, check_dtype_name, check_name, check_shape, payload_len, RawDtype, TensorInfo,
    TensorKind, HEADER_LEN, KIND_RAW, KIND_SEED, MAGIC, MAX_EXP_OFFSET, RESERVED_LEN, VERSION,
    VERSION_MIN,
};
use crate::block::Block;
use crate::config::{Config, EXP_MAX, EXP_MIN, Q_MAX, Q_MIN};
use crate::error::{Error, Result};
use crate::pack;

/// Streaming writer; nothing appears at the target path until
/// [`Writer::finish`] succeeds.
#[derive(Debug)]
pub struct Writer {
    /// Target path.
    path: PathBuf,
    /// The temporary file being built (deleted on drop).
    out: BufWriter<NamedTempFile>,
    /// Bytes written to `out` so far.
    pos: u64,
    /// Entries so far, in file order.
    tensors: Vec<TensorInfo>,
    /// Names so far, to reject duplicates.
    names: HashSet<String>,
    /// Set when a write failed: `pos` no longer matches the file.
    failed: bool,
}

/// A temporary file in `path`'s directory (so that persisting it to `path`
/// is an atomic rename), named `.NAME.XXXXXX.tmp`, with the permissions a
/// plain create would give (`0o666` less the umask; `tempfile` alone makes
/// it `0o600`, which would carry over to the output).
pub fn temp_beside(path: &Path) -> std::io::Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!(
        ".{}.",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    b.tempfile_in(dir)
}

impl Writer {
    /// Starts a file that [`Writer::finish`] will move to `path`.
    pub fn create(path: &Path) -> Result<Writer> {
        if path.file_name().is_none() {
            return Err(Error::InvalidInput(format!(
                "{}: not a file path",
                path.display()
            )));
        }
        let tmp =
            temp_beside(path).map_err(|e| io_error("create a temporary file for", path, e))?;
        let mut w = Writer {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, tmp),
            pos: 0,
            tensors: Vec::new(),
            names: HashSet::new(),
            failed: false,
        };
        // Placeholder; `finish` writes the real header here.
        w.write(&[0; HEADER_LEN])?;
        Ok(w)
    }

    /// Adds a seed tensor of `shape` (original dtype `orig_dtype`).
    ///
    /// `blocks` holds `rows · ceil(cols / C)` blocks in row-major order,
    /// `cols` being the last dim and `rows` the product of the others; each
    /// row is cut into blocks of `C` weights, its last block zero-padded.
    /// Every block must be valid for `cfg` (seed in `1..2^K`, exponent and
    /// the first `P` mantissas in `-8..=7`, the other mantissas zero).
    pub fn add_seed(
        &mut self,
        name: &str,
        shape: &[usize],
        orig_dtype: &str,
        cfg: Config,
        blocks: &[Block],
    ) -> Result<()> {
        self.add_seed_scaled(name, shape, orig_dtype, cfg, 0, blocks)
    }

    /// [`Writer::add_seed`] for a tensor whose weights are the decoded blocks
    /// times `2^exp_offset` (`|exp_offset| <=` [`MAX_EXP_OFFSET`]); a nonzero
    /// offset makes the file version 2.
    pub fn add_seed_scaled(
        &mut self,
        name: &str,
        shape: &[usize],
        orig_dtype: &str,
        cfg: Config,
        exp_offset: i16,
        blocks: &[Block],
    ) -> Result<()> {
        let bad = |why: String| Error::InvalidInput(format!("tensor '{name}': {why}"));
        cfg.validate().map_err(|e| bad(e.to_string()))?;
        if exp_offset.unsigned_abs() > MAX_EXP_OFFSET as u16 {
            return Err(bad(format!(
                "exponent offset {exp_offset} is outside ±{MAX_EXP_OFFSET}"
            )));
        }
        let kind = TensorKind::Seed(cfg);
        let len = self.check(name, shape, orig_dtype, kind)?;
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let want = rows * shape[shape.len() - 1].div_ceil(cfg.c);
        if blocks.len() != want {
            return Err(bad(format!(
                "{} blocks given, shape {shape:?} with C = {} needs {want}",
                blocks.len(),
                cfg.c
            )));
        }
        if let Some((i, b)) = blocks
            .iter()
            .enumerate()
            .find(|(_, b)| !block_is_valid(&cfg, b))
        {
            return Err(bad(format!("block {i} is not valid for {cfg}: {b:?}")));
        }
        let payload = pack::pack_blocks(&cfg, blocks);
        debug_assert_eq!(payload.len() as u64, len);
        self.append(name, shape, orig_dtype, kind, &payload)?;
        self.tensors.last_mut().expect("just appended").exp_offset = exp_offset;
        Ok(())
    }

    /// Adds a raw tensor: `bytes` holds `product(shape)` little-endian
    /// elements of `dtype`, row-major.
    pub fn add_raw(
        &mut self,
        name: &str,
        shape: &[usize],
        orig_dtype: &str,
        dtype: RawDtype,
        bytes: &[u8],
    ) -> Result<()> {
        let kind = TensorKind::Raw(dtype);
        let len = self.check(name, shape, orig_dtype, kind)?;
        if bytes.len() as u64 != len {
            return Err(Error::InvalidInput(format!(
                "tensor '{name}': {} bytes given, shape {shape:?} of {} needs {len}",
                bytes.len(),
                dtype.name()
            )));
        }
        self.append(name, shape, orig_dtype, kind, bytes)
    }

    /// Writes the table and header, fsyncs, and renames the file onto the
    /// target path (replacing any file there), then fsyncs the directory.
    pub fn finish(mut self) -> Result<()> {
        if self.failed {
            return Err(Error::InvalidInput(format!(
                "{}: not written, an earlier write failed",
                self.path.display()
            )));
        }
        self.pad()?;
        let table_offset = self.pos;
        let version = if self.tensors.iter().all(|t| t.exp_offset == 0) {
            VERSION_MIN
        } else {
            VERSION
        };
        let mut table = Vec::new();
        for t in &self.tensors {
            encode_entry(t, version, &mut table).map_err(|e| io_error("encode", &self.path, e))?;
        }
        self.write(&table)?;
        let count = u32::try_from(self.tensors.len()).map_err(|_| {
            Error::InvalidInput(format!("{} tensors: too many", self.tensors.len()))
        })?;
        let header = encode_header(version, count, table_offset, &table)
            .map_err(|e| io_error("encode", &self.path, e))?;
        let path = self.path;
        let mut tmp = self
            .out
            .into_inner()
            .map_err(|e| io_error("write", &path, e.into_error()))?;
        tmp.seek(SeekFrom::Start(0))
            .and_then(|_| tmp.write_all(&header))
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| io_error("write", &path, e))?;
        tmp.persist(&path)
            .map_err(|e| io_error("rename into place", &path, e.error))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync the directory of", &path, e))
    }

    /// Validates an entry before anything is written; returns the payload
    /// length its shape and kind imply.
    fn check(
        &self,
        name: &str,
        shape: &[usize],
        orig_dtype: &str,
        kind: TensorKind,
    ) -> Result<u64> {
        let bad = |why: String| Error::InvalidInput(format!("tensor '{name}': {why}"));
        if self.failed {
            return Err(bad("an earlier write failed".into()));
        }
        check_name(name).map_err(bad)?;
        if self.names.contains(name) {
            return Err(bad("duplicate tensor name".into()));
        }
        check_dtype_name(orig_dtype.as_bytes()).map_err(|w| bad(format!("original dtype: {w}")))?;
        check_shape(shape).map_err(|w| bad(format!("shape {shape:?}: {w}")))?;
        payload_len(shape, kind)
            .ok_or_else(|| bad(format!("shape {shape:?}: payload size overflows")))
    }

    /// Pads to the next payload boundary, writes `payload` and records it.
    fn append(
        &mut self,
        name: &str,
        shape: &[usize],
        orig_dtype: &str,
        kind: TensorKind,
        payload: &[u8],
    ) -> Result<()> {
        self.pad()?;
        let offset = self.pos;
        self.write(payload)?;
        self.tensors.push(TensorInfo {
            name: name.to_owned(),
            shape: shape.to_vec(),
            orig_dtype: orig_dtype.to_owned(),
            kind,
            offset,
            len: payload.len() as u64,
            crc32: crc32fast::hash(payload),
            exp_offset: 0,
        });
        self.names.insert(name.to_owned());
        Ok(())
    }

    /// Writes zeros up to the next multiple of [`super::ALIGN`].
    fn pad(&mut self) -> Result<()> {
        let gap = align_up(self.pos).map_or(0, |a| a - self.pos) as usize;
        self.write(&[0; super::ALIGN as usize][..gap])
    }

    /// Writes bytes, tracking the position; a failure poisons the writer.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if let Err(e) = self.out.write_all(bytes) {
            self.failed = true;
            return Err(io_error("write", &self.path, e));
        }
        self.pos += bytes.len() as u64;
        Ok(())
    }
}

/// True when `b` is a block that unpacks to itself under `cfg`.
fn block_is_valid(cfg: &Config, b: &Block) -> bool {
    let nib = |x: i8| (Q_MIN..=Q_MAX).contains(&x);
    b.seed >= 1
        && b.seed < (1 << cfg.k)
        && (EXP_MIN..=EXP_MAX).contains(&b.exp)
        && b.q[..cfg.p].iter().all(|&q| nib(q))
        && b.q[cfg.p..].iter().all(|&q| q == 0)
}

/// Appends one table entry of a file of `version` (see the module docs,
/// field by field).
fn encode_entry(t: &TensorInfo, version: u32, out: &mut Vec<u8>) -> io::Result<()> {
    out.write_u16::<LE>(t.name.len() as u16)?;
    out.write_all(t.name.as_bytes())?;
    out.write_u8(t.orig_dtype.len() as u8)?;
    out.write_all(t.orig_dtype.as_bytes())?;
    match t.kind {
        TensorKind::Seed(cfg) => {
            out.write_u8(KIND_SEED)?;
            out.write_all(&[cfg.c as u8, cfg.p as u8, cfg.k as u8])?;
            if version >= 2 {
                out.write_i16::<LE>(t.exp_offset)?;
            }
        }
        TensorKind::Raw(dtype) => {
            out.write_u8(KIND_RAW)?;
            out.write_all(&[dtype.code(), 0, 0])?;
        }
    }
    out.write_u8(t.shape.len() as u8)?;
    for &d in &t.shape {
        out.write_u64::<LE>(d as u64)?;
    }
    out.write_u64::<LE>(t.offset)?;
    out.write_u64::<LE>(t.len)?;
    out.write_u32::<LE>(t.crc32)
}

/// The 64-byte header (see the module docs, field by field).
fn encode_header(version: u32, count: u32, table_offset: u64, table: &[u8]) -> io::Result<Vec<u8>> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.write_all(&MAGIC)?;
    h.write_u32::<LE>(version)?;
    h.write_u32::<LE>(count)?;
    h.write_u64::<LE>(table_offset)?;
    h.write_u64::<LE>(table.len() as u64)?;
    h.write_u32::<LE>(crc32fast::hash(table))?;
    h.write_all(&[0; RESERVED_LEN])?;
    let crc = crc32fast::hash(&h);
    h.write_u32::<LE>(crc)?;
    Ok(h)
}

/// An [`Error::Io`] for the target `path`.
fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
