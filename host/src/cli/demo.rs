//! `seedlm demo`: the whole pipeline on a small built-in model, no download.
//!
//! Builds a deterministic Llama-shaped checkpoint (one decoder layer,
//! hidden 128, FFN 384, 4 query heads and 1 KV head of 32, vocab 256;
//! N(0, 0.02) weights, norms near 1, bf16 like HF checkpoints: 188K
//! weights in seven linear layers, 23,552 blocks at 4 bits), then runs
//! compress → inspect → error → decompress, and checks that every
//! decompressed value equals `Block::decode` of its stored block and that
//! raw tensors came back unchanged.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use half::bf16;
use seedlm::container::{temp_beside, SeedFile, TensorKind};
use seedlm::search::bench::gaussian_weights;
use seedlm::Lfsr;
use seedlm_host::checkpoint::Checkpoint;

use super::output::{self, Inputs};
use super::{compress, compression_error, decompress, inspect};

/// Arguments of `seedlm demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Bits per weight: 4 or 3.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(3..=4))]
    pub bits: u32,
    /// Search threads (0: one per core; at most 1024).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = super::threads_arg())]
    pub threads: usize,
    /// Keep the files in this directory (created if missing) instead of a
    /// temporary one that is removed at the end.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Hidden size of the demo model.
const DIM: usize = 128;
/// FFN size.
const FFN: usize = 384;
/// Key/value width: one KV head of 32.
const KV: usize = 32;
/// Vocabulary.
const VOCAB: usize = 256;

/// The demo model's tensors: name, shape, values.
fn model() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let l = "model.layers.0";
    let shapes: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![VOCAB, DIM]),
        (format!("{l}.input_layernorm.weight"), vec![DIM]),
        (format!("{l}.self_attn.q_proj.weight"), vec![DIM, DIM]),
        (format!("{l}.self_attn.k_proj.weight"), vec![KV, DIM]),
        (format!("{l}.self_attn.v_proj.weight"), vec![KV, DIM]),
        (format!("{l}.self_attn.o_proj.weight"), vec![DIM, DIM]),
        (format!("{l}.post_attention_layernorm.weight"), vec![DIM]),
        (format!("{l}.mlp.gate_proj.weight"), vec![FFN, DIM]),
        (format!("{l}.mlp.up_proj.weight"), vec![FFN, DIM]),
        (format!("{l}.mlp.down_proj.weight"), vec![DIM, FFN]),
        ("model.norm.weight".into(), vec![DIM]),
    ];
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let n = shape.iter().product();
            let base = if shape.len() == 1 { 1.0 } else { 0.0 };
            let v = gaussian_weights(n, 1000 + i as u64)
                .iter()
                .map(|x| base + 0.02 * x)
                .collect();
            (name, shape, v)
        })
        .collect()
}

/// Writes the demo model as bf16 safetensors.
fn write_model(path: &Path) -> Result<()> {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = model()
        .into_iter()
        .map(|(n, s, v)| {
            (
                n,
                s,
                v.iter()
                    .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
                    .collect(),
            )
        })
        .collect();
    let views = tensors
        .iter()
        .map(|(n, s, b)| {
            Ok((
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, s.clone(), b)?,
            ))
        })
        .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()?;
    // Through a temporary file renamed into place: a symlink at `path` is
    // replaced, never followed.
    let tmp = temp_beside(path)
        .with_context(|| format!("failed to create a temporary file for {}", path.display()))?;
    safetensors::serialize_to_file(views, None, tmp.path())
        .with_context(|| format!("failed to write {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("failed to rename the model into {}", path.display()))?;
    Ok(())
}

/// Checks the decompressed file against the stored blocks and raw tensors.
fn check(file: &SeedFile, decompressed: &Path, original: &Checkpoint) -> Result<usize> {
    let out = Checkpoint::open(decompressed)?;
    let mut checked = 0;
    for info in file.tensors() {
        let got = out.load_f32(&info.name)?;
        match info.kind {
            TensorKind::Raw(_) => {
                ensure!(
                    got == original.load_f32(&info.name)?,
                    "raw tensor '{}' changed",
                    info.name
                );
            }
            TensorKind::Seed(cfg) => {
                let lfsr = Lfsr::new(cfg.k);
                let cols = info.cols();
                let per_row = cols.div_ceil(cfg.c);
                let mut buf = vec![0f32; cfg.c];
                for (i, b) in file.blocks(info)?.iter().enumerate() {
                    b.decode(&cfg, &lfsr, &mut buf);
                    let (row, col) = (i / per_row, i % per_row * cfg.c);
                    let n = cfg.c.min(cols - col);
                    let at = row * cols + col;
                    if got[at..at + n]
                        .iter()
                        .zip(&buf)
                        .any(|(a, b)| a.to_bits() != b.to_bits())
                    {
                        bail!(
                            "tensor '{}': block {i} decompressed differs from Block::decode",
                            info.name
                        );
                    }
                }
            }
        }
        checked += 1;
    }
    Ok(checked)
}

/// Runs `seedlm demo`.
pub fn run(args: &Args) -> Result<()> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("failed to create {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().context("failed to create a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let input = dir.join("demo-model.safetensors");
    let output = dir.join("demo-model.seedlm");
    let restored = dir.join("demo-model.decompressed.safetensors");
    // The demo's own files are replaced on a rerun, but only if they are
    // regular files (a symlink or anything else there is refused).
    for p in [&input, &output, &restored] {
        output::check(p, &Inputs::new::<&Path>(&[]), true)?;
    }
    write_model(&input)?;
    println!(
        "== built a synthetic Llama-shaped layer set: {}",
        input.display()
    );

    println!("\n== seedlm compress --bits {}", args.bits);
    compress::run(&compress::Args {
        input: input.clone(),
        output: output.clone(),
        bits: args.bits,
        include: None,
        exclude: None,
        threads: args.threads,
        device: Default::default(),
        compress_embeddings: false,
        force: true,
        calib: None,
        calib_tokens: seedlm_host::calib::DEFAULT_TOKENS,
        calib_ctx: seedlm_host::calib::DEFAULT_CTX,
        calib_compare: None,
        refine: super::compress::DEFAULT_REFINE,
        damp: seedlm::gptq::DAMP,
        neighbours: false,
    })?;

    println!("\n== seedlm inspect");
    inspect::run(&inspect::Args {
        file: output.clone(),
    })?;

    println!("\n== seedlm error");
    compression_error::run(&compression_error::Args {
        input: input.clone(),
        file: output.clone(),
        tensor: None,
        threads: args.threads,
    })?;

    println!("\n== seedlm decompress");
    decompress::run(&decompress::Args {
        file: output.clone(),
        output: restored.clone(),
        dtype: decompress::OutDtype::F32,
        force: true,
    })?;
    let file = SeedFile::open(&output)?;
    let n = check(&file, &restored, &Checkpoint::open(&input)?)?;
    println!(
        "checked {n} tensors: compressed ones equal Block::decode bit for bit, raw ones unchanged"
    );
    if args.dir.is_some() {
        println!("files kept in {}", dir.display());
    }
    Ok(())
}
