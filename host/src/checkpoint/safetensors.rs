//! HF safetensors checkpoints: one file, or a directory of shards.
//!
//! The header is parsed and validated by the `safetensors` crate
//! (`SafeTensors::read_metadata`: JSON header, contiguous in-bounds offsets,
//! sizes matching shapes, no trailing bytes); the data are read straight from
//! the memory map. A directory is read as every `*.safetensors` file in it,
//! in file-name order (the `model-0000i-of-0000n` shards of HF); a name
//! found in two shards is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::SafeTensors;

use super::{map_file, Dtype, TensorMeta};
use crate::error::{Error, Result};

/// One mapped file.
struct Shard {
    path: PathBuf,
    map: Mmap,
}

/// Where a tensor's bytes are: shard index and absolute byte range.
#[derive(Clone, Copy)]
struct Location {
    shard: usize,
    start: usize,
    end: usize,
}

/// An opened safetensors checkpoint.
pub struct SafeTensorsCheckpoint {
    path: PathBuf,
    shards: Vec<Shard>,
    tensors: Vec<TensorMeta>,
    index: HashMap<String, Location>,
}

/// Maps the crate's dtype onto ours (unsupported ones keep their name).
fn dtype(d: safetensors::Dtype) -> Dtype {
    match d {
        safetensors::Dtype::F32 => Dtype::F32,
        safetensors::Dtype::F16 => Dtype::F16,
        safetensors::Dtype::BF16 => Dtype::BF16,
        other => Dtype::Other(format!("{other:?}")),
    }
}

impl SafeTensorsCheckpoint {
    /// Opens a `.safetensors` file or a directory of them.
    pub fn open(path: &Path) -> Result<SafeTensorsCheckpoint> {
        let io = |source| Error::Io {
            action: "list",
            path: path.into(),
            source,
        };
        if !path.is_dir() {
            return Self::from_maps(path, vec![(path.into(), map_file(path)?)]);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let p = entry.map_err(io)?.path();
            if p.is_file() && p.extension().is_some_and(|e| e == "safetensors") {
                files.push(p);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(Error::Format {
                path: path.into(),
                what: "directory holds no .safetensors files".into(),
            });
        }
        let maps = files
            .into_iter()
            .map(|p| map_file(&p).map(|m| (p, m)))
            .collect::<Result<Vec<_>>>()?;
        Self::from_maps(path, maps)
    }

    /// Builds the checkpoint from already mapped files.
    pub fn from_maps(path: &Path, maps: Vec<(PathBuf, Mmap)>) -> Result<SafeTensorsCheckpoint> {
        let mut tensors = Vec::new();
        let mut index = HashMap::new();
        let mut shards = Vec::new();
        for (i, (file, map)) in maps.into_iter().enumerate() {
            let (header_len, meta) =
                SafeTensors::read_metadata(&map).map_err(|e| Error::Format {
                    path: file.clone(),
                    what: format!("not a valid safetensors file: {e}"),
                })?;
            let data_start = 8 + header_len;
            for name in meta.offset_keys() {
                let info = meta.info(&name).expect("offset_keys lists known names");
                let loc = Location {
                    shard: i,
                    start: data_start + info.data_offsets.0,
                    end: data_start + info.data_offsets.1,
                };
                if index.insert(name.clone(), loc).is_some() {
                    return Err(Error::Format {
                        path: file.clone(),
                        what: format!("tensor '{name}' appears in more than one shard"),
                    });
                }
                tensors.push(TensorMeta {
                    name,
                    shape: info.shape.clone(),
                    dtype: dtype(info.dtype),
                });
            }
            shards.push(Shard { path: file, map });
        }
        Ok(SafeTensorsCheckpoint {
            path: path.into(),
            shards,
            tensors,
            index,
        })
    }

    /// The file or directory opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor: shards in name order, tensors in data order.
    pub fn tensors(&self) -> &[TensorMeta] {
        &self.tensors
    }

    /// The shard holding `name` (the path opened if there is none).
    pub fn file_of(&self, name: &str) -> &Path {
        match self.index.get(name) {
            Some(loc) => &self.shards[loc.shard].path,
            None => &self.path,
        }
    }

    /// The stored bytes of `name` and the shard holding them.
    pub fn bytes(&self, name: &str) -> Result<(&Path, &[u8])> {
        let loc = self.index.get(name).ok_or_else(|| Error::NoTensor {
            path: self.path.clone(),
            tensor: name.into(),
        })?;
        let shard = &self.shards[loc.shard];
        // read_metadata checked that every range lies inside the file.
        Ok((&shard.path, &shard.map[loc.start..loc.end]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Checkpoint;
    use super::*;
    use safetensors::tensor::TensorView;

    fn write(path: &Path, tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) {
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize_to_file(views, None, path).unwrap();
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn test_safetensors_single_file_and_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let bf: Vec<u8> = [1.0f32, -0.5]
            .iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
            .collect();
        write(
            &p,
            &[
                (
                    "a",
                    safetensors::Dtype::F32,
                    vec![2, 3],
                    f32s(&[1., 2., 3., 4., 5., 6.]),
                ),
                ("b", safetensors::Dtype::BF16, vec![2], bf),
                ("c", safetensors::Dtype::I32, vec![1], vec![0; 4]),
            ],
        );
        let ck = Checkpoint::open(&p).unwrap();
        assert_eq!(ck.format(), "safetensors");
        let a = ck.get("a").unwrap();
        assert_eq!((a.shape.clone(), a.dtype.clone()), (vec![2, 3], Dtype::F32));
        assert_eq!(ck.load_f32("a").unwrap(), vec![1., 2., 3., 4., 5., 6.]);
        assert_eq!(ck.load_f32("b").unwrap(), vec![1.0, -0.5]);
        let e = ck.load_f32("c").unwrap_err().to_string();
        assert!(
            e.contains("m.safetensors") && e.contains("'c'") && e.contains("I32"),
            "{e}"
        );
        assert!(ck
            .load_f32("zz")
            .unwrap_err()
            .to_string()
            .contains("no tensor named 'zz'"));
    }

    #[test]
    fn test_safetensors_shards_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("model-00002-of-00002.safetensors"),
            &[("y", safetensors::Dtype::F32, vec![1], f32s(&[2.0]))],
        );
        write(
            &dir.path().join("model-00001-of-00002.safetensors"),
            &[("x", safetensors::Dtype::F32, vec![1], f32s(&[1.0]))],
        );
        std::fs::write(dir.path().join("model.safetensors.index.json"), "{}").unwrap();
        let ck = Checkpoint::open(dir.path()).unwrap();
        let names: Vec<_> = ck.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(ck.load_f32("y").unwrap(), vec![2.0]);
        write(
            &dir.path().join("z.safetensors"),
            &[("x", safetensors::Dtype::F32, vec![1], f32s(&[3.0]))],
        );
        let e = Checkpoint::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("z.safetensors") && e.contains("'x'"), "{e}");
    }

    #[test]
    fn test_safetensors_truncated_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        write(
            &p,
            &[("a", safetensors::Dtype::F32, vec![4], f32s(&[1.0; 4]))],
        );
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() - 3]).unwrap();
        let e = Checkpoint::open(&p).err().unwrap().to_string();
        assert!(
            e.contains("t.safetensors") && e.contains("not a valid safetensors"),
            "{e}"
        );
    }
}
