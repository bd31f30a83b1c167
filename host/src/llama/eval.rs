//! Perplexity of a model over a token stream, with the sliding window of
//! HF `transformers`' perplexity guide: windows of `ctx` tokens starting
//! every `stride` tokens; each window scores only the tokens that no earlier
//! window scored, so with `stride < ctx` every scored token sees at least
//! `ctx - stride` tokens of context.

use rayon::prelude::*;

use super::forward::Model;
use crate::error::{Error, Result};

/// Summed negative log-likelihood over scored tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Nll {
    /// `Σ -ln p(token | context)`, nats.
    pub sum: f64,
    /// Tokens scored.
    pub count: usize,
}

impl Nll {
    /// `exp(mean NLL)`.
    pub fn perplexity(&self) -> f64 {
        (self.sum / self.count.max(1) as f64).exp()
    }
}

/// `-ln softmax(logits)[target]`, in f64.
pub fn token_nll(logits: &[f32], target: u32) -> f64 {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let lse = logits
        .iter()
        .map(|&l| (l as f64 - m).exp())
        .sum::<f64>()
        .ln()
        + m;
    lse - logits[target as usize] as f64
}

/// The NLL of `tokens` under `model` (see module docs); `progress(done,
/// total)` is called after each window with token counts.
pub fn perplexity(
    model: &Model,
    tokens: &[u32],
    ctx: usize,
    stride: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Nll> {
    if ctx < 2 || stride == 0 || stride > ctx || tokens.len() < 2 {
        return Err(Error::Invalid(format!(
            "perplexity needs ctx >= 2, 0 < stride <= ctx and 2 tokens or more (ctx {ctx}, stride {stride}, {} tokens)",
            tokens.len()
        )));
    }
    let vocab = model.cfg.vocab_size;
    let mut nll = Nll::default();
    let mut prev_end = 0;
    let mut begin = 0;
    loop {
        let end = (begin + ctx).min(tokens.len());
        let window = &tokens[begin..end];
        let mut st = model.new_state();
        let logits = model.forward(&mut st, window, true)?;
        // Position j predicts window[j + 1]; score targets at or after prev_end.
        let first = prev_end.max(begin + 1) - begin;
        let part: f64 = (first..window.len())
            .into_par_iter()
            .map(|t| token_nll(&logits[(t - 1) * vocab..t * vocab], window[t]))
            .sum();
        nll.sum += part;
        nll.count += window.len() - first;
        prev_end = end;
        progress(end, tokens.len());
        if end == tokens.len() {
            break;
        }
        begin += stride;
    }
    Ok(nll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_token_nll_known_values() {
        // Uniform over 4: ln 4.
        assert!((token_nll(&[1.0; 4], 2) - 4f64.ln()).abs() < 1e-12);
        // softmax([0, ln 3]) = [1/4, 3/4].
        let l = [0.0, 3f32.ln()];
        assert!((token_nll(&l, 1) - (4.0f64 / 3.0).ln()).abs() < 1e-7);
        assert!((token_nll(&l, 0) - 4f64.ln()).abs() < 1e-7);
        let n = Nll {
            sum: 2.0 * 4f64.ln(),
            count: 2,
        };
        assert!((n.perplexity() - 4.0).abs() < 1e-12);
    }
}
