//! Writes a small f32 .safetensors checkpoint of a few real layers, for the
//! GPU checks on the device machine (scripts/gpu/device-run.sh), which
//! cannot take the whole model along.
//!
//! `cargo run --release -p seedlm-host --example gpu_fixture -- IN OUT REGEX`
//! keeps the tensors of IN whose name matches REGEX.

use std::collections::HashMap;

use anyhow::{Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use seedlm_host::checkpoint::Checkpoint;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 4, "usage: gpu_fixture IN OUT REGEX");
    let ck = Checkpoint::open(args[1].as_ref()).context("failed to open the checkpoint")?;
    let keep = regex::Regex::new(&args[3])?;
    let mut data = Vec::new();
    for t in ck.tensors().iter().filter(|t| keep.is_match(&t.name)) {
        let v = ck.load_f32(&t.name)?;
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        println!("{} {:?}", t.name, t.shape);
        data.push((t.name.clone(), t.shape.clone(), bytes));
    }
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<_>>()?;
    safetensors::serialize_to_file(views, None::<HashMap<String, String>>, args[2].as_ref())?;
    Ok(())
}
