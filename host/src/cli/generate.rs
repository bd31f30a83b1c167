//! `seedlm generate`: run a Llama model on a prompt and stream the tokens,
//! its linear layers on the chosen backend; ends with time to first token,
//! tokens/s and bytes of weights read per token.
//!
//! With no `--model` it runs the default model, [`DEFAULT_MODEL`] (the
//! SmolLM2-135M GGUF compressed at 4 bits), on the emulated device; if that
//! file is missing it is compressed from [`DEFAULT_CHECKPOINT`] first.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use seedlm_host::llama::backend::{Backend, LayerFactory};
use seedlm_host::llama::load::{load, load_meta};
use seedlm_host::llama::Sampler;

use super::fmt_bytes;

/// The model `generate` runs when given none.
pub const DEFAULT_MODEL: &str = "testdata/smollm2-135m-4bit.seedlm";
/// The checkpoint the default model is compressed from.
pub const DEFAULT_CHECKPOINT: &str = "testdata/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Arguments of `seedlm generate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model: a .seedlm file, a GGUF file or an HF directory
    /// [default: testdata/smollm2-135m-4bit.seedlm, made if missing].
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Where config and tokenizer come from when the model has none (a
    /// .seedlm file without metadata): the GGUF file or HF directory it was
    /// compressed from.
    #[arg(long, value_name = "CHECKPOINT")]
    pub base: Option<PathBuf>,
    /// Backend of the linear layers: dense (f32), cpu (SeedLM float decode),
    /// golden (device numerics, no protocol), emu | verilator | vfio:<pci-addr>
    /// (the device through its driver), rtn4 | rtn3 (RTN baselines).
    #[arg(long, default_value = "emu")]
    pub backend: Backend,
    /// Backend of the output head (dense by default, like embeddings and
    /// norms).
    #[arg(long, default_value = "dense")]
    pub head_backend: Backend,
    /// The prompt.
    #[arg(
        long,
        default_value = "Alice was beginning to get very tired of sitting by her sister on the bank, and"
    )]
    pub prompt: String,
    /// Tokens to generate.
    #[arg(short = 'n', long, default_value_t = 64)]
    pub tokens: usize,
    /// Sampling temperature (0: greedy; 0 or more).
    #[arg(long, default_value_t = 0.0, value_parser = temperature)]
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens up to this mass (more
    /// than 0, at most 1).
    #[arg(long, default_value_t = 0.9, value_parser = top_p)]
    pub top_p: f32,
    /// RNG seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wrap the prompt in the chat template (ChatML: <|im_start|>user ...).
    #[arg(long)]
    pub chat: bool,
}

/// `--temperature`: a finite number, 0 or more.
fn temperature(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("{s:?} is not a temperature (a number, 0 or more)")),
    }
}

/// `--top-p`: a probability mass in (0, 1].
fn top_p(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!("{s:?} is not a probability mass in (0, 1]")),
    }
}

/// Makes the default model if it is missing: compresses
/// [`DEFAULT_CHECKPOINT`] into it (progress bar, atomic write, resumable).
fn ensure_default_model() -> Result<()> {
    let out = Path::new(DEFAULT_MODEL);
    if out.exists() {
        return Ok(());
    }
    let ck = Path::new(DEFAULT_CHECKPOINT);
    if !ck.exists() {
        bail!(
            "the default model {DEFAULT_MODEL} is missing and so is {DEFAULT_CHECKPOINT} to make it from: \
             run scripts/fetch-model.sh (from the repository root), or pass --model"
        );
    }
    eprintln!(
        "{DEFAULT_MODEL} is missing: compressing {DEFAULT_CHECKPOINT} into it (4 bits; once)"
    );
    super::compress::run(&super::compress::Args {
        input: ck.into(),
        output: out.into(),
        bits: 4,
        include: None,
        exclude: None,
        threads: 0,
        device: Default::default(),
        compress_embeddings: false,
        force: false,
        calib: None,
        calib_tokens: seedlm_host::calib::DEFAULT_TOKENS,
        calib_ctx: seedlm_host::calib::DEFAULT_CTX,
        calib_compare: None,
        refine: super::compress::DEFAULT_REFINE,
        damp: seedlm::gptq::DAMP,
        neighbours: false,
    })
}

/// The prompt as the model sees it.
pub fn format_prompt(prompt: &str, chat: bool) -> String {
    if chat {
        format!("<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
    } else {
        prompt.to_string()
    }
}

/// Runs `seedlm generate`.
pub fn run(args: &Args) -> Result<()> {
    let model = match &args.model {
        Some(m) => m.clone(),
        None => {
            ensure_default_model()?;
            PathBuf::from(DEFAULT_MODEL)
        }
    };
    // The default model made by an older `compress` has no metadata: its
    // source checkpoint has it.
    let base = match (&args.base, &args.model) {
        (Some(b), _) => Some(b.clone()),
        (None, None) if load_meta(&model).is_err() => Some(PathBuf::from(DEFAULT_CHECKPOINT)),
        _ => None,
    };
    let t0 = Instant::now();
    let layers = LayerFactory::new(args.backend.clone());
    let head = LayerFactory::new(args.head_backend.clone());
    let (m, tok) = load(&model, base.as_deref(), &layers, &head)
        .with_context(|| format!("failed to load {}", model.display()))?;
    let per_token = m.weights.bytes_per_token();
    eprintln!(
        "{}: {} layers, dim {}, vocab {}; linear layers on {}, head on {}; loaded in {:.1} s",
        model.display(),
        m.cfg.n_layers,
        m.cfg.dim,
        m.cfg.vocab_size,
        args.backend,
        args.head_backend,
        t0.elapsed().as_secs_f64()
    );
    let ids = tok.encode(&format_prompt(&args.prompt, args.chat))?;
    if ids.is_empty() {
        bail!("the prompt is empty");
    }
    let context = m.cfg.max_seq_len;
    if ids.len() > context {
        bail!(
            "the prompt is {} tokens, more than the model's context of {context}",
            ids.len()
        );
    }
    let mut sampler = Sampler::new(args.temperature, args.top_p, args.seed);
    let mut st = m.new_state();
    let mut out = std::io::stdout().lock();
    write!(out, "{}", args.prompt)?;
    out.flush()?;
    let start = Instant::now();
    let mut logits = m.forward(&mut st, &ids, false)?;
    let mut first = None;
    let mut stream = tok.stream();
    let mut generated = 0;
    for _ in 0..args.tokens {
        let next = sampler.sample(&logits);
        generated += 1;
        if first.is_none() {
            first = Some(start.elapsed());
        }
        if m.cfg.eos_token_ids.contains(&next) {
            break;
        }
        if let Some(text) = stream.push(next)? {
            write!(out, "{text}")?;
            out.flush()?;
        }
        if generated == args.tokens {
            break;
        }
        if ids.len() + generated > context {
            eprintln!(
                "stopped after {generated} tokens: the model's context of {context} tokens is full"
            );
            break;
        }
        logits = m.forward(&mut st, &[next], false)?;
    }
    writeln!(out)?;
    let total = start.elapsed().as_secs_f64();
    let ttft = first.map_or(total, |d| d.as_secs_f64());
    let rate = if generated > 1 {
        (generated - 1) as f64 / (total - ttft).max(1e-9)
    } else {
        0.0
    };
    eprintln!(
        "prompt {} tokens, generated {generated}; time to first token {ttft:.2} s; {rate:.2} tokens/s; \
         weights read per token {} ({})",
        ids.len(),
        fmt_bytes(per_token as u64),
        args.backend
    );
    Ok(())
}
