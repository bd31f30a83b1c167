//! `seedlm eval ppl`: perplexity on a text corpus of the dense model, RTN
//! 4/3-bit (group 128, symmetric and asymmetric) baselines made from it,
//! GPTQ 4/3-bit g128 (asymmetric grid) calibrated on `--calib` (the same
//! calibration as `compress --calib`), and SeedLM `.seedlm` files of it, as
//! one table; then how many greedy tokens each agrees with dense on.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use seedlm_host::llama::backend::{Backend, LayerFactory};
use seedlm_host::llama::eval::perplexity;
use seedlm_host::llama::load::load;
use seedlm_host::llama::sampler::argmax;
use seedlm_host::llama::{Model, Tokenizer};

use super::{fmt_bytes, Table};

/// Arguments of `seedlm eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Perplexity table: dense, RTN 4/3-bit, and each --seedlm file.
    Ppl(PplArgs),
}

/// Arguments of `seedlm eval ppl`.
#[derive(clap::Args, Debug)]
pub struct PplArgs {
    /// The dense checkpoint (GGUF file or HF directory); RTN baselines are
    /// made from it, and it gives config and tokenizer to .seedlm files
    /// without them.
    #[arg(long, value_name = "CHECKPOINT")]
    pub model: PathBuf,
    /// A .seedlm file compressed from --model (repeat for 4-bit, 3-bit, ...).
    #[arg(long, value_name = "FILE.seedlm")]
    pub seedlm: Vec<PathBuf>,
    /// Backend for the .seedlm files: cpu (float decode on the fly), dense
    /// (the same float decode done once at load: same numbers up to f32
    /// summation order, much faster here), golden or emu.
    #[arg(long, default_value = "cpu")]
    pub seedlm_backend: Backend,
    /// Also score the dense model with its output head on this backend
    /// (e.g. f16), next to the f32 head: the perplexity cost of the option.
    #[arg(long, value_name = "BACKEND")]
    pub head_backend: Option<Backend>,
    /// Text file (UTF-8); CRLF becomes LF, a Project Gutenberg header is skipped.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Start the text at the first occurrence of this string (e.g. "CHAPTER I").
    #[arg(long)]
    pub from: Option<String>,
    /// Tokens of the text to score (from the start).
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: usize,
    /// Window length in tokens.
    #[arg(long, default_value_t = 1024)]
    pub ctx: usize,
    /// Window step in tokens (each window scores only its new tokens).
    #[arg(long, default_value_t = 512)]
    pub stride: usize,
    /// Greedy tokens generated per model for the agreement check (0: skip).
    #[arg(long, default_value_t = 32)]
    pub agree: usize,
    /// Prompt length for the agreement check, in tokens from the text (at
    /// least 1).
    #[arg(long, default_value_t = 32, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub agree_prompt: usize,
    /// Skip the RTN baselines.
    #[arg(long)]
    pub no_rtn: bool,
    /// Calibration text for the GPTQ-4 g128 baseline (the text the
    /// `compress --calib` files were calibrated on; never the scored text).
    #[arg(long, value_name = "TEXT")]
    pub calib: Option<PathBuf>,
    /// Calibration tokens (as `compress --calib-tokens`).
    #[arg(long, default_value_t = seedlm_host::calib::DEFAULT_TOKENS, value_name = "N")]
    pub calib_tokens: usize,
    /// Calibration window (as `compress --calib-ctx`).
    #[arg(long, default_value_t = seedlm_host::calib::DEFAULT_CTX, value_name = "N")]
    pub calib_ctx: usize,
}

/// Replaces a linear layer's weights: `f(name, w, cols)`.
type Replace<'a> = dyn Fn(&str, &[f32], usize) -> Result<Vec<f32>> + Sync + 'a;

/// The dense model of `model` with each linear layer's weights replaced by
/// `f(name, w, cols)` (a fake-quantized baseline).
fn load_replaced(model: &Path, f: &Replace<'_>) -> Result<Model> {
    use seedlm_host::linear::{DenseLinear, Linear};
    use seedlm_host::llama::fused::Stacking;
    use seedlm_host::llama::weights::{StoredLinear, WeightFile, Weights};
    let (cfg, _) = seedlm_host::llama::load::load_meta(model)?;
    let file = WeightFile::open(model)?;
    let layer = |name: &str, stored: StoredLinear| -> seedlm_host::Result<Box<dyn Linear>> {
        let StoredLinear::Dense { rows, cols, w } = stored else {
            return Err(seedlm_host::Error::Invalid(format!(
                "layer '{name}' is not dense"
            )));
        };
        let q =
            f(name, &w, cols).map_err(|e| seedlm_host::Error::Invalid(format!("{name}: {e:#}")))?;
        Ok(Box::new(DenseLinear::new(rows, cols, q)?))
    };
    let head = |_: &str, stored: StoredLinear| -> seedlm_host::Result<Box<dyn Linear>> {
        let StoredLinear::Dense { rows, cols, w } = stored else {
            return Err(seedlm_host::Error::Invalid("the head must be dense".into()));
        };
        Ok(Box::new(DenseLinear::new(rows, cols, w)?))
    };
    let weights = Weights::load(&file, &cfg, &layer, &head, Stacking::Separate)
        .with_context(|| format!("failed to load {}", model.display()))?;
    Ok(Model::new(cfg, weights))
}

/// GPTQ-4 g128 (asymmetric grid) of every linear layer of `model`,
/// calibrated on `text` as `compress --calib` does.
fn load_gptq(model: &Path, a: &PplArgs, text: &Path, bits: u32) -> Result<Model> {
    use seedlm::gptq::{gptq_rtn, Feedback, DAMP};
    let raw = std::fs::read_to_string(text)
        .with_context(|| format!("failed to read {}", text.display()))?;
    let (cfg, tok) = seedlm_host::llama::load::load_meta(model)?;
    let mut tokens = tok.encode(&body_text(&raw, None)?)?;
    tokens.truncate(a.calib_tokens);
    let cal = seedlm_host::calib::Calibration::collect(model, &cfg, &tokens, a.calib_ctx, &|_| {})?;
    eprintln!(
        "GPTQ-{bits}: calibrated on {} tokens of {}",
        tokens.len(),
        text.display()
    );
    let cache = std::sync::Mutex::new(std::collections::HashMap::new());
    load_replaced(model, &|name, w, cols| {
        let m = cal
            .get(name)
            .with_context(|| format!("layer '{name}' was not calibrated"))?;
        let key = std::sync::Arc::as_ptr(m) as usize;
        // The factor is computed outside the lock: Feedback::new runs rayon
        // tasks, and a thread waiting on them may pick up another layer's
        // load (Weights::load runs layers in parallel), which would then wait
        // for the lock this thread holds: a deadlock.
        let cached = cache.lock().expect("cache lock").get(&key).cloned();
        let fb = match cached {
            Some(f) => f,
            None => {
                let f = std::sync::Arc::new(Feedback::new(&m.h(), m.dim(), DAMP)?);
                let mut c = cache.lock().expect("cache lock");
                std::sync::Arc::clone(c.entry(key).or_insert(f))
            }
        };
        Ok(gptq_rtn(&fb, w, cols, bits)?)
    })
}

/// The body of a text: CRLF normalized, a Project Gutenberg header skipped,
/// then everything from `from` if given.
pub fn body_text(text: &str, from: Option<&str>) -> Result<String> {
    let mut t = text.replace("\r\n", "\n");
    if let Some(i) = t.find("*** START OF") {
        let after = t[i..].find('\n').map_or(t.len(), |j| i + j + 1);
        t = t[after..].to_string();
    }
    if let Some(f) = from {
        match t.find(f) {
            Some(i) => t = t[i..].to_string(),
            None => bail!("the text does not contain {f:?}"),
        }
    }
    Ok(t.trim_start().to_string())
}

/// `n` greedy tokens after `prompt`.
fn greedy(m: &Model, prompt: &[u32], n: usize) -> Result<Vec<u32>> {
    let mut st = m.new_state();
    let mut logits = m.forward(&mut st, prompt, false)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = argmax(&logits);
        out.push(t);
        if i + 1 < n {
            logits = m.forward(&mut st, &[t], false)?;
        }
    }
    Ok(out)
}

/// One row of the table.
struct Row {
    name: String,
    bits: String,
    ppl: f64,
    per_token: usize,
    agree: Option<(usize, usize)>,
    secs: f64,
}

fn evaluate(
    name: String,
    bits: String,
    m: &Model,
    tokens: &[u32],
    args: &PplArgs,
    reference: Option<&[u32]>,
) -> Result<(Row, Vec<u32>)> {
    let start = Instant::now();
    let bar = ProgressBar::new(tokens.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{wide_bar}] {pos}/{len} tokens {elapsed}")
            .context("bad progress template")?,
    );
    bar.set_message(name.clone());
    let nll = perplexity(m, tokens, args.ctx, args.stride, |done, _| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("perplexity of {name}"))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let gen = if args.agree > 0 {
        let p = &tokens[..args.agree_prompt.min(tokens.len())];
        greedy(m, p, args.agree)?
    } else {
        Vec::new()
    };
    let agree = reference.map(|r| {
        let prefix = r.iter().zip(&gen).take_while(|(a, b)| a == b).count();
        (prefix, r.iter().zip(&gen).filter(|(a, b)| a == b).count())
    });
    eprintln!("{name}: perplexity {:.3} ({secs:.1} s)", nll.perplexity());
    Ok((
        Row {
            name,
            bits,
            ppl: nll.perplexity(),
            per_token: m.weights.bytes_per_token(),
            agree,
            secs,
        },
        gen,
    ))
}

fn load_with(model: &Path, base: Option<&Path>, backend: Backend) -> Result<(Model, Tokenizer)> {
    load(
        model,
        base,
        &LayerFactory::new(backend),
        &LayerFactory::new(Backend::Dense),
    )
    .with_context(|| format!("failed to load {}", model.display()))
}

/// Runs `seedlm eval`.
pub fn run(args: &Args) -> Result<()> {
    let Command::Ppl(a) = &args.command;
    let text = std::fs::read_to_string(&a.data)
        .with_context(|| format!("failed to read {}", a.data.display()))?;
    let body = body_text(&text, a.from.as_deref())?;
    let (dense, tok) = load_with(&a.model, None, Backend::Dense)?;
    let mut tokens = tok.encode(&body)?;
    tokens.truncate(a.max_tokens);
    if tokens.len() < 2 {
        bail!("{}: fewer than 2 tokens of text", a.data.display());
    }
    eprintln!(
        "{}: {} tokens scored, ctx {}, stride {}",
        a.data.display(),
        tokens.len(),
        a.ctx,
        a.stride
    );
    let mut rows = Vec::new();
    let (row, reference) = evaluate("dense".into(), "f32".into(), &dense, &tokens, a, None)?;
    rows.push(row);
    drop(dense);
    let r = (a.agree > 0).then_some(&reference[..]);
    if let Some(h) = &a.head_backend {
        let layers = LayerFactory::new(Backend::Dense);
        let (m, _) = load(&a.model, None, &layers, &LayerFactory::new(h.clone()))
            .with_context(|| format!("failed to load {}", a.model.display()))?;
        rows.push(evaluate(format!("dense, {h} head"), "f32".into(), &m, &tokens, a, r)?.0);
    }
    if !a.no_rtn {
        for bits in [4, 3] {
            let (m, _) = load_with(&a.model, None, Backend::Rtn(bits))?;
            let bpw = seedlm::rtn::bits_per_weight(bits);
            rows.push(
                evaluate(
                    format!("RTN {bits}-bit g128"),
                    format!("{bpw:.3}"),
                    &m,
                    &tokens,
                    a,
                    r,
                )?
                .0,
            );
            let m = load_replaced(&a.model, &|_, w, cols| {
                Ok(seedlm::rtn::quantize_dequantize_asym(w, cols, bits)?)
            })?;
            let bpw = seedlm::rtn::bits_per_weight_asym(bits);
            rows.push(
                evaluate(
                    format!("RTN {bits}-bit g128 asym"),
                    format!("{bpw:.3}"),
                    &m,
                    &tokens,
                    a,
                    r,
                )?
                .0,
            );
        }
    }
    if let Some(text) = &a.calib {
        for bits in [4, 3] {
            let m = load_gptq(&a.model, a, text, bits)?;
            let bpw = seedlm::rtn::bits_per_weight_asym(bits);
            rows.push(
                evaluate(
                    format!("GPTQ {bits}-bit g128 asym (calib {})", text.display()),
                    format!("{bpw:.3}"),
                    &m,
                    &tokens,
                    a,
                    r,
                )?
                .0,
            );
        }
    }
    for f in &a.seedlm {
        let (m, _) = load_with(f, Some(&a.model), a.seedlm_backend.clone())?;
        let name = format!("SeedLM {} ({})", f.display(), a.seedlm_backend);
        let sf = seedlm::container::SeedFile::open(f)?;
        let bpw = sf
            .tensors()
            .iter()
            .find_map(|t| match t.kind {
                seedlm::container::TensorKind::Seed(c) => {
                    Some(format!("{:.3}", c.bits_per_weight()))
                }
                _ => None,
            })
            .unwrap_or_else(|| "-".into());
        rows.push(evaluate(name, bpw, &m, &tokens, a, r)?.0);
    }
    let mut t = Table::new(&[
        "model",
        "bits/weight",
        "perplexity",
        "weights/token",
        "greedy agree",
        "time",
    ]);
    for row in &rows {
        t.row(vec![
            row.name.clone(),
            row.bits.clone(),
            format!("{:.3}", row.ppl),
            fmt_bytes(row.per_token as u64),
            match row.agree {
                None if a.agree > 0 => "reference".into(),
                None => "-".into(),
                Some((prefix, same)) => format!("{prefix} first, {same}/{}", a.agree),
            },
            format!("{:.1} s", row.secs),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_body_text_skips_headers() {
        let t = "Title\r\n*** START OF THE BOOK ***\r\n\r\n  CHAPTER I\r\nText\r\n";
        assert_eq!(body_text(t, None).unwrap(), "CHAPTER I\nText\n");
        assert_eq!(
            body_text("a\r\nCHAPTER I\r\nb", Some("CHAPTER I")).unwrap(),
            "CHAPTER I\nb"
        );
        assert!(body_text("abc", Some("CHAPTER")).is_err());
    }
}
