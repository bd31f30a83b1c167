//! `seedlm decompress`: a `.seedlm` file back to safetensors, so that any
//! other tool can evaluate the result.
//!
//! Seed tensors are decoded with `Block::decode` (f32), raw tensors converted
//! exactly, then every value is stored in `--dtype` (f32 keeps the decode
//! bit for bit; a raw tensor whose dtype already matches is copied as is).
//! Tensors are decoded one at a time while the file is written, so memory
//! holds one tensor, not the model. The output goes to a temporary file in
//! the target directory that is renamed into place when complete.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use half::{bf16, f16};
use seedlm::container::{temp_beside, RawDtype, SeedFile, TensorInfo, TensorKind};

use super::decode_tensor;
use super::output::{self, Inputs};

/// Element type of the written safetensors file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutDtype {
    /// 32-bit float: exactly the decoded values.
    F32,
    /// 16-bit float (round to nearest even).
    F16,
    /// bfloat16 (round to nearest even).
    Bf16,
}

/// Arguments of `seedlm decompress`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The .seedlm file to decode.
    #[arg(value_name = "FILE.seedlm")]
    pub file: PathBuf,
    /// Output .safetensors file (written atomically).
    #[arg(short, long, value_name = "OUT.safetensors")]
    pub output: PathBuf,
    /// Element type of every output tensor.
    #[arg(long, value_enum, default_value_t = OutDtype::F32)]
    pub dtype: OutDtype,
    /// Replace OUTPUT if it exists (only ever a regular file that is not
    /// the input).
    #[arg(long)]
    pub force: bool,
}

/// One tensor, decoded when the serializer asks for its bytes.
struct Lazy<'a> {
    file: &'a SeedFile,
    info: &'a TensorInfo,
    dtype: OutDtype,
}

impl OutDtype {
    /// Lower-case name, as on the command line.
    fn name(self) -> &'static str {
        match self {
            OutDtype::F32 => "f32",
            OutDtype::F16 => "f16",
            OutDtype::Bf16 => "bf16",
        }
    }
}

impl Lazy<'_> {
    fn encode(&self) -> Result<Vec<u8>> {
        let same = matches!(
            (self.info.kind, self.dtype),
            (TensorKind::Raw(RawDtype::F32), OutDtype::F32)
                | (TensorKind::Raw(RawDtype::F16), OutDtype::F16)
                | (TensorKind::Raw(RawDtype::BF16), OutDtype::Bf16)
        );
        if same {
            return Ok(self.file.data(self.info).to_vec());
        }
        let v = decode_tensor(self.file, self.info)?;
        Ok(match self.dtype {
            OutDtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            OutDtype::F16 => v
                .iter()
                .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                .collect(),
            OutDtype::Bf16 => v
                .iter()
                .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
                .collect(),
        })
    }
}

impl safetensors::View for Lazy<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        match self.dtype {
            OutDtype::F32 => safetensors::Dtype::F32,
            OutDtype::F16 => safetensors::Dtype::F16,
            OutDtype::Bf16 => safetensors::Dtype::BF16,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.info.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        // `write` decoded every tensor once before serializing, and the file
        // is immutable, so decoding cannot fail here.
        Cow::Owned(self.encode().expect("tensor decoded successfully before"))
    }

    fn data_len(&self) -> usize {
        self.info.numel() * if self.dtype == OutDtype::F32 { 4 } else { 2 }
    }
}

/// Decodes every tensor of `file` into the safetensors file `out`, which
/// may replace an existing regular file only if `force` (see
/// [`output::check`]).
pub fn write(file: &SeedFile, out: &Path, dtype: OutDtype, force: bool) -> Result<()> {
    let inputs = Inputs::new(&[file.path()]);
    output::check(out, &inputs, force)?;
    // Validate first, so that the lazy views cannot fail while serializing.
    for info in file.tensors() {
        if let TensorKind::Seed(_) = info.kind {
            file.blocks(info)?;
        }
    }
    // Byte blobs (`u8`, e.g. `meta/config.json`) are not tensors: they go
    // into the safetensors header metadata as text.
    let is_blob = |info: &TensorInfo| info.kind == TensorKind::Raw(RawDtype::U8);
    let mut metadata = std::collections::HashMap::new();
    for info in file.tensors().iter().filter(|i| is_blob(i)) {
        let text = String::from_utf8(file.raw_u8(info)?.to_vec())
            .with_context(|| format!("blob '{}' is not UTF-8", info.name))?;
        metadata.insert(info.name.clone(), text);
    }
    let views = file
        .tensors()
        .iter()
        .filter(|i| !is_blob(i))
        .map(|info| (info.name.clone(), Lazy { file, info, dtype }));
    let tmp = temp_beside(out)
        .with_context(|| format!("failed to create a temporary file for {}", out.display()))?;
    let metadata = (!metadata.is_empty()).then_some(metadata);
    safetensors::serialize_to_file(views, metadata, tmp.path())
        .with_context(|| format!("failed to write {}", tmp.path().display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("failed to sync {}", tmp.path().display()))?;
    output::check(out, &inputs, force)?;
    tmp.persist(out)
        .with_context(|| format!("failed to rename the output into {}", out.display()))?;
    Ok(())
}

/// Runs `seedlm decompress`.
pub fn run(args: &Args) -> Result<()> {
    let file = SeedFile::open(&args.file)
        .with_context(|| format!("failed to read {}", args.file.display()))?;
    write(&file, &args.output, args.dtype, args.force).with_context(|| {
        format!(
            "failed to decompress {} into {}",
            args.file.display(),
            args.output.display()
        )
    })?;
    println!(
        "wrote {}: {} tensors as {}",
        args.output.display(),
        file.tensors().len(),
        args.dtype.name()
    );
    Ok(())
}
