//! Where a subcommand may write: every output path is checked here first.
//!
//! An output only ever replaces a regular file that the user named, and only
//! with `--force`. Refused, `--force` or not:
//! - a target that exists and is not a regular file: a symlink (never
//!   followed: the rename would replace the link, and a plain write would
//!   overwrite whatever it points at), a directory, a FIFO, a socket, a
//!   device node;
//! - a target that is one of the inputs, compared by device and inode (so a
//!   hard link or another spelling of the path counts);
//! - a target inside an input directory (a shard directory, whose files the
//!   run reads).
//!
//! The outputs themselves are written to a temporary file beside the
//! target and renamed into place; [`check`] runs before any work and again
//! just before that rename, so a file that appeared meanwhile is not
//! replaced either.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// What kind of thing `m` is, for messages.
fn kind(m: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device node"
    } else {
        "not a regular file"
    }
}

/// Whether `a` and `b` are the same file (device and inode).
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The inputs of a run: the paths it reads, and for a directory every file
/// directly in it.
pub struct Inputs {
    paths: Vec<PathBuf>,
}

impl Inputs {
    /// The inputs `paths` (those that do not exist are left out: reading
    /// them fails on its own).
    pub fn new<P: AsRef<Path>>(paths: &[P]) -> Inputs {
        Inputs {
            paths: paths.iter().map(|p| p.as_ref().to_path_buf()).collect(),
        }
    }

    /// Fails if `path` is one of the inputs or lies inside an input
    /// directory (whether or not `path` exists yet).
    pub fn check_apart(&self, path: &Path) -> Result<()> {
        let target = std::fs::symlink_metadata(path).ok();
        let dir = parent_dir(path)?;
        for input in &self.paths {
            let Ok(meta) = std::fs::metadata(input) else {
                continue;
            };
            if meta.is_dir() {
                let canon = input
                    .canonicalize()
                    .with_context(|| format!("failed to resolve {}", input.display()))?;
                if dir.starts_with(&canon) {
                    bail!(
                        "{} is inside the input directory {}: write it somewhere else",
                        path.display(),
                        input.display()
                    );
                }
                for entry in std::fs::read_dir(input)
                    .with_context(|| format!("failed to list {}", input.display()))?
                {
                    let entry =
                        entry.with_context(|| format!("failed to list {}", input.display()))?;
                    if let (Some(t), Ok(m)) = (&target, entry.metadata()) {
                        if same_file(t, &m) {
                            bail!(
                                "{} is the input file {} (the same file): write it somewhere else",
                                path.display(),
                                entry.path().display()
                            );
                        }
                    }
                }
            } else if target.as_ref().is_some_and(|t| same_file(t, &meta)) {
                bail!(
                    "{} is the input {} (the same file): write it somewhere else",
                    path.display(),
                    input.display()
                );
            }
        }
        Ok(())
    }
}

/// The directory `path` would be created in, resolved.
fn parent_dir(path: &Path) -> Result<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parent
        .canonicalize()
        .with_context(|| format!("failed to resolve the directory of {}", parent.display()))
}

/// Checks that `out` may be written: it does not exist, or it is a regular
/// file and `force` is set; and it is none of `inputs` nor inside an input
/// directory (see the module docs).
pub fn check(out: &Path, inputs: &Inputs, force: bool) -> Result<()> {
    if out.file_name().is_none() {
        bail!("{}: not a file path", out.display());
    }
    match std::fs::symlink_metadata(out) {
        Ok(m) if !m.file_type().is_file() => bail!(
            "{} exists and is {}: outputs only ever replace regular files",
            out.display(),
            kind(&m)
        ),
        Ok(_) => {
            inputs.check_apart(out)?;
            if !force {
                bail!("{} exists: pass --force to replace it", out.display());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => inputs.check_apart(out)?,
        Err(e) => return Err(e).with_context(|| format!("failed to check {}", out.display())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_check_refuses_everything_but_a_new_or_forced_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let input = d.join("in.safetensors");
        std::fs::write(&input, b"x").unwrap();
        let inputs = Inputs::new(&[&input]);
        let err = |out: &Path, force| check(out, &inputs, force).unwrap_err().to_string();

        check(&d.join("new.seedlm"), &inputs, false).unwrap();
        let old = d.join("old.seedlm");
        std::fs::write(&old, b"y").unwrap();
        assert!(err(&old, false).contains("--force"));
        check(&old, &inputs, true).unwrap();

        // The input itself, by another spelling and by a hard link.
        assert!(err(&input, true).contains("the same file"));
        assert!(err(&d.join(".").join("in.safetensors"), true).contains("the same file"));
        let link = d.join("hard.safetensors");
        std::fs::hard_link(&input, &link).unwrap();
        assert!(err(&link, true).contains("the same file"));

        // Not regular files.
        let fifo = d.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(err(&fifo, true).contains("a FIFO"));
        let sym = d.join("sym.seedlm");
        std::os::unix::fs::symlink(&old, &sym).unwrap();
        assert!(err(&sym, true).contains("a symbolic link"));
        assert!(err(d, true).contains("not a file path") || err(d, true).contains("a directory"));
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(err(&sub, true).contains("a directory"));

        // Inside an input directory, existing or not.
        let shards = d.join("shards");
        std::fs::create_dir(&shards).unwrap();
        std::fs::write(shards.join("a.safetensors"), b"z").unwrap();
        let inputs = Inputs::new(&[&shards]);
        for out in [shards.join("a.safetensors"), shards.join("new.seedlm")] {
            let e = check(&out, &inputs, true).unwrap_err().to_string();
            assert!(e.contains("inside the input directory"), "{e}");
        }
        // A hard link to a shard, outside the directory.
        let outside = d.join("shard-link.seedlm");
        std::fs::hard_link(shards.join("a.safetensors"), &outside).unwrap();
        let e = check(&outside, &inputs, true).unwrap_err().to_string();
        assert!(e.contains("the same file"), "{e}");
        check(&d.join("fine.seedlm"), &inputs, false).unwrap();
    }
}
