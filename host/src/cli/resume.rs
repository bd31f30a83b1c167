//! Resuming `compress`: the sidecar directory `OUT.partial/`, the lock that
//! keeps two runs on one output apart, and the part files of finished
//! tensors, each bound to the bytes it was searched from.
//!
//! **Lock.** `OUT.partial.lock` (a regular file beside the output) is locked
//! with `flock` before the sidecar is touched; a second run on the same
//! output fails at once, saying so. The lock goes away with the process, so
//! a killed run leaves nothing that blocks the next one.
//!
//! **Manifest.** `OUT.partial/manifest` names the sidecar format, the input
//! (canonical path) and `--bits`. A rerun with another input path or
//! `--bits` is refused, the message saying what differs; a directory
//! without a manifest that holds anything but seedlm's own files is
//! refused too, rather than mixed in or deleted.
//!
//! **Parts.** Tensor `i` is saved as `OUT.partial/NNNNN.seedlm` (written
//! atomically), a one-tensor `.seedlm` file plus a `u8` blob [`DIGEST`]: the
//! SHA-256 of the input tensor's name, dtype, shape and stored bytes. A part
//! is reused only if name, shape, config and digest all match, so a changed
//! tensor (or one of another model with the same name and shape) is
//! searched again, and an unchanged one is never redone.
//!
//! **Cleanup.** Once the output is complete, the sidecar is renamed to
//! `OUT.partial.old` and then deleted, and the lock file removed. A kill at
//! any point leaves either the whole sidecar (the next run resumes) or
//! `OUT.partial.old` (the next run deletes it), never a sidecar without its
//! manifest.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use seedlm::container::{temp_beside, RawDtype, SeedFile, TensorKind, Writer};
use seedlm::{Block, Config};
use seedlm_host::checkpoint::{Checkpoint, TensorMeta};
use sha2::{Digest as _, Sha256};

use super::output::Inputs;

/// Name of the blob holding a part's input digest (lower-case hex).
pub const DIGEST: &str = "input.sha256";
/// First line of a manifest: the sidecar format this build writes.
const FORMAT: &str = "seedlm compress sidecar 2";

/// `path` with `suffix` appended to its last component.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// The sidecar directory of output `out`: `OUT.partial`.
pub fn sidecar_dir(out: &Path) -> PathBuf {
    with_suffix(out, ".partial")
}

/// The identity of a run, as `key value` lines after the format line.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    fields: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest of compressing `input` at `bits`.
    pub fn new(input: &Path, bits: u32) -> Result<Manifest> {
        let canon = input
            .canonicalize()
            .with_context(|| format!("failed to resolve {}", input.display()))?;
        let fields = [
            ("input", canon.display().to_string()),
            ("bits", bits.to_string()),
        ];
        Ok(Manifest {
            fields: fields.map(|(k, v)| (k.to_string(), v)).into(),
        })
    }

    /// The manifest with one more field (e.g. the calibration of the run).
    pub fn with_field(mut self, key: &str, value: String) -> Manifest {
        self.fields.insert(key.to_string(), value);
        self
    }

    /// The file text.
    fn text(&self) -> String {
        let mut t = format!("{FORMAT}\n");
        for (k, v) in &self.fields {
            t += &format!("{k} {v}\n");
        }
        t
    }

    /// Parses a manifest file's text (`None` if it is not one).
    fn parse(text: &str) -> Option<(String, Manifest)> {
        let mut lines = text.lines();
        let format = lines.next()?.to_string();
        let fields = lines
            .map(|l| {
                l.split_once(' ')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect::<Option<_>>()?;
        Some((format, Manifest { fields }))
    }

    /// What differs between `found` (the sidecar's) and this run, as
    /// `key: was X, now Y` items.
    fn diff(&self, found: &Manifest) -> Vec<String> {
        let keys: std::collections::BTreeSet<&String> =
            self.fields.keys().chain(found.fields.keys()).collect();
        keys.into_iter()
            .filter_map(|k| {
                let (old, new) = (found.fields.get(k), self.fields.get(k));
                let show = |v: Option<&String>| v.map_or("(none)".to_string(), |v| v.clone());
                (old != new).then(|| format!("{k} was {}, now {}", show(old), show(new)))
            })
            .collect()
    }
}

/// Whether `name` is a file that a sidecar holds: the manifest, a part,
/// or a temporary file of either.
fn is_sidecar_file(name: &str) -> bool {
    let part = name
        .strip_suffix(".seedlm")
        .is_some_and(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()));
    name == "manifest" || part || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Fails unless `dir` holds only regular files a sidecar holds.
fn check_only_sidecar_files(dir: &Path) -> Result<()> {
    let list = || format!("failed to list {}", dir.display());
    for entry in std::fs::read_dir(dir).with_context(list)? {
        let entry = entry.with_context(list)?;
        let name = entry.file_name();
        let ours = name.to_str().is_some_and(is_sidecar_file)
            && entry.file_type().with_context(list)?.is_file();
        if !ours {
            bail!(
                "{} holds {:?}, which seedlm compress did not write: it is not a seedlm sidecar; \
                 move it away to go on",
                dir.display(),
                name
            );
        }
    }
    Ok(())
}

/// Whether `path` exists as a real directory (a symlink is not followed).
fn is_real_dir(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Ok(true),
        Ok(_) => bail!(
            "{} exists and is not a directory: seedlm compress keeps its partial work there; move it away",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("failed to check {}", path.display())),
    }
}

/// Deletes `dir` (renamed away from the sidecar path earlier) if it holds
/// only sidecar files.
fn remove_old(dir: &Path) -> Result<()> {
    if is_real_dir(dir)? {
        check_only_sidecar_files(dir)?;
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("failed to remove {}", dir.display()))?;
    }
    Ok(())
}

/// Takes the lock of the run on output `out` (see the module docs).
fn lock(path: &Path) -> Result<File> {
    for _ in 0..3 {
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_file() {
                bail!(
                    "{} exists and is not a regular file: seedlm compress locks it; move it away",
                    path.display()
                );
            }
        }
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("failed to open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "another seedlm compress is writing the same output (it holds {}); \
                 wait for it to finish, or stop it",
                path.display()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("failed to lock {}", path.display()))
            }
        }
        // The run that held the lock may have removed the file just before
        // we locked it: the lock counts only on the file at `path`.
        let held = file.metadata().context("failed to stat the lock file")?;
        if let Ok(now) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt;
            if (now.dev(), now.ino()) == (held.dev(), held.ino()) {
                return Ok(file);
            }
        }
    }
    bail!("failed to lock {}: it keeps being replaced", path.display())
}

/// SHA-256 of tensor `t` of `ck` as stored: name, dtype, shape, bytes.
pub fn digest(ck: &Checkpoint, t: &TensorMeta) -> Result<String> {
    let mut h = Sha256::new();
    h.update(t.name.as_bytes());
    h.update([0]);
    h.update(t.dtype.name().as_bytes());
    h.update([0]);
    for d in &t.shape {
        h.update((*d as u64).to_le_bytes());
    }
    h.update(ck.bytes(&t.name)?.1);
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What the sidecar holds for one tensor.
pub enum Saved {
    /// No part file.
    Missing,
    /// A part that does not belong to this tensor, and why.
    Stale(String),
    /// The blocks of a part that does, and the tensor's exponent offset.
    Blocks(Vec<Block>, i16),
}

/// An open, locked sidecar.
pub struct Sidecar {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Held until the sidecar is finished or dropped.
    _lock: File,
    /// Input digests computed so far, by tensor index.
    digests: Vec<Option<String>>,
}

impl Sidecar {
    /// Locks the run on `out`, deletes a sidecar left renamed by an
    /// interrupted cleanup, and opens `OUT.partial/` (created if missing)
    /// after checking that it belongs to this run; `tensors` is the number
    /// of tensors of the input. None of these paths may be an input.
    pub fn open(
        out: &Path,
        inputs: &Inputs,
        manifest: &Manifest,
        tensors: usize,
    ) -> Result<Sidecar> {
        let dir = sidecar_dir(out);
        let lock_path = with_suffix(&dir, ".lock");
        for p in [&dir, &lock_path, &with_suffix(&dir, ".old")] {
            inputs.check_apart(p)?;
        }
        let lock = lock(&lock_path)?;
        remove_old(&with_suffix(&dir, ".old"))?;
        let path = dir.join("manifest");
        let fresh = if is_real_dir(&dir)? {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let Some((format, found)) = Manifest::parse(&text) else {
                        bail!(
                            "{} is not a seedlm sidecar manifest; move {} away to go on",
                            path.display(),
                            dir.display()
                        );
                    };
                    if format != FORMAT {
                        bail!(
                            "{} holds the partial work of another seedlm version ({format:?}); \
                             remove it to start over",
                            dir.display()
                        );
                    }
                    let diff = manifest.diff(&found);
                    if !diff.is_empty() {
                        bail!(
                            "{} holds the partial work of a different run ({}); remove it to start \
                             over, or rerun with the original input and --bits",
                            dir.display(),
                            diff.join("; ")
                        );
                    }
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    check_only_sidecar_files(&dir)?;
                    true
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("failed to read {}", path.display()))
                }
            }
        } else {
            std::fs::create_dir(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            true
        };
        if fresh {
            let mut tmp = temp_beside(&path)
                .with_context(|| format!("failed to create a file in {}", dir.display()))?;
            tmp.write_all(manifest.text().as_bytes())
                .and_then(|_| tmp.as_file().sync_all())
                .with_context(|| format!("failed to write {}", path.display()))?;
            tmp.persist(&path)
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        Ok(Sidecar {
            dir,
            lock_path,
            _lock: lock,
            digests: vec![None; tensors],
        })
    }

    /// The sidecar directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The part file of tensor number `i` of the checkpoint.
    fn part_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{i:05}.seedlm"))
    }

    /// The digest of tensor `i` of `ck` (computed once).
    fn digest(&mut self, ck: &Checkpoint, i: usize) -> Result<String> {
        if let Some(d) = &self.digests[i] {
            return Ok(d.clone());
        }
        let d = digest(ck, &ck.tensors()[i])?;
        self.digests[i] = Some(d.clone());
        Ok(d)
    }

    /// What the sidecar holds for tensor `i` of `ck`, to be stored with `cfg`.
    pub fn load(&mut self, ck: &Checkpoint, i: usize, cfg: Config) -> Result<Saved> {
        let path = self.part_path(i);
        if !path.exists() {
            return Ok(Saved::Missing);
        }
        let t = &ck.tensors()[i];
        let file = match SeedFile::open(&path) {
            Ok(f) => f,
            Err(e) => return Ok(Saved::Stale(format!("{e:#}"))),
        };
        let stale = |why: &str| Ok(Saved::Stale(format!("{}: {why}", path.display())));
        let Some(info) = file.get(&t.name) else {
            return stale(&format!("holds no tensor '{}'", t.name));
        };
        if info.kind != TensorKind::Seed(cfg) || info.shape != t.shape {
            return stale("saved with another shape or config");
        }
        let saved = file
            .get(DIGEST)
            .and_then(|d| file.raw_u8(d).ok())
            .map(<[u8]>::to_vec);
        if saved.as_deref() != Some(self.digest(ck, i)?.as_bytes()) {
            return stale("saved from other input bytes (its digest differs)");
        }
        Ok(Saved::Blocks(file.blocks(info)?, info.exp_offset))
    }

    /// Saves the blocks of tensor `i` of `ck`, searched with `cfg` after
    /// scaling by `2^-exp_offset`.
    pub fn save(
        &mut self,
        ck: &Checkpoint,
        i: usize,
        cfg: Config,
        exp_offset: i16,
        blocks: &[Block],
    ) -> Result<()> {
        let t = &ck.tensors()[i];
        let digest = self.digest(ck, i)?;
        let path = self.part_path(i);
        let mut wr = Writer::create(&path)?;
        wr.add_seed_scaled(&t.name, &t.shape, t.dtype.name(), cfg, exp_offset, blocks)?;
        wr.add_raw(
            DIGEST,
            &[digest.len()],
            "u8",
            RawDtype::U8,
            digest.as_bytes(),
        )?;
        wr.finish()
            .with_context(|| format!("failed to save tensor '{}' to {}", t.name, path.display()))?;
        Ok(())
    }

    /// Deletes the sidecar once the output is complete: renamed to
    /// `OUT.partial.old`, then removed, then the lock file.
    pub fn finish(self) -> Result<()> {
        let old = with_suffix(&self.dir, ".old");
        remove_old(&old)?;
        std::fs::rename(&self.dir, &old).with_context(|| {
            format!(
                "failed to rename {} to {}",
                self.dir.display(),
                old.display()
            )
        })?;
        remove_old(&old)?;
        std::fs::remove_file(&self.lock_path)
            .with_context(|| format!("failed to remove {}", self.lock_path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_manifest_diff_names_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let a = Manifest::new(dir.path(), 4).unwrap();
        let b = Manifest::new(dir.path(), 3).unwrap();
        assert_eq!(a.diff(&a), Vec::<String>::new());
        assert_eq!(b.diff(&a), ["bits was 4, now 3"]);
        let (format, back) = Manifest::parse(&a.text()).unwrap();
        assert_eq!((format.as_str(), &back), (FORMAT, &a));
        // A key that only one side has.
        let mut c = a.clone();
        c.fields.remove("bits");
        assert_eq!(a.diff(&c), ["bits was (none), now 4"]);
    }

    #[test]
    fn test_sidecar_file_names() {
        for ok in ["manifest", "00012.seedlm", ".00012.seedlm.a1B2c3.tmp"] {
            assert!(is_sidecar_file(ok), "{ok}");
        }
        for other in ["notes.txt", "1.seedlm", "000123.seedlm", "manifest.bak"] {
            assert!(!is_sidecar_file(other), "{other}");
        }
    }
}
