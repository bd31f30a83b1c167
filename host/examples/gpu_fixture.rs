//! Writes a small f32 .safetensors checkpoint of a few real layers, for the
//! GPU checks on the device machine (scripts/gpu/device-run.sh), which
//! cannot take the whole model along.
//!
//! `cargo run --release -p seedlm-host --example gpu_fixture -- IN OUT REGEX`
//! keeps the tensors of IN whose name matches REGEX.
//!
//! With `TEXT TOKENS` after them, it also runs the calibration of the
//! calibrated mode on the first TOKENS tokens of TEXT (windows of 64) and
//! stores each kept layer's second moment `H` as the f64 tensor `h.NAME`,
//! so that the GPU's calibrated search can be checked with a real `H`.

use std::collections::HashMap;

use anyhow::{Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use seedlm_host::calib::Calibration;
use seedlm_host::checkpoint::Checkpoint;
use seedlm_host::llama::load;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 4 || args.len() == 6,
        "usage: gpu_fixture IN OUT REGEX [TEXT TOKENS]"
    );
    let ck = Checkpoint::open(args[1].as_ref()).context("failed to open the checkpoint")?;
    let keep = regex::Regex::new(&args[3])?;
    let mut data = Vec::new();
    for t in ck.tensors().iter().filter(|t| keep.is_match(&t.name)) {
        let v = ck.load_f32(&t.name)?;
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        println!("{} {:?}", t.name, t.shape);
        data.push((t.name.clone(), t.shape.clone(), bytes));
    }
    if args.len() == 6 {
        let path: &std::path::Path = args[1].as_ref();
        let (lcfg, tok) = load::load_meta(path)?;
        let text = std::fs::read_to_string(&args[4])?;
        let mut tokens = tok.encode(&text)?;
        tokens.truncate(args[5].parse()?);
        let cal = Calibration::collect(path, &lcfg, &tokens, 64, &|_| {})?;
        for t in ck.tensors().iter().filter(|t| keep.is_match(&t.name)) {
            if let Some(m) = cal.get(&t.name) {
                let bytes: Vec<u8> = m.h().iter().flat_map(|x| x.to_le_bytes()).collect();
                println!(
                    "h.{} [{d}, {d}], {} tokens",
                    t.name,
                    m.tokens(),
                    d = m.dim()
                );
                data.push((format!("h.{}", t.name), vec![m.dim(), m.dim()], bytes));
            }
        }
    }
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(n, s, b)| {
            let dtype = if n.starts_with("h.") {
                Dtype::F64
            } else {
                Dtype::F32
            };
            Ok((n.clone(), TensorView::new(dtype, s.clone(), b)?))
        })
        .collect::<Result<_>>()?;
    safetensors::serialize_to_file(views, None::<HashMap<String, String>>, args[2].as_ref())?;
    Ok(())
}
