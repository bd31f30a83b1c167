//! A Llama-architecture runtime on the CPU whose linear layers go through
//! [`crate::linear::Linear`] (dense, SeedLM `cpu`, or a device backend).
//!
//! - [`config`]: hyperparameters from GGUF metadata or an HF `config.json`.
//! - [`tokenizer`]: HF `tokenizers` from `tokenizer.json` or GGUF metadata.
//! - [`weights`]: tensors by name from a checkpoint or a `.seedlm` file.
//! - [`fused`]: layers that share their input run as one call (q/k/v,
//!   gate/up).
//! - [`forward`]: the forward pass with a KV cache, single token or batch.
//! - [`sampler`]: greedy and temperature/top-p sampling.
//! - [`backend`]: which [`crate::linear::Linear`] runs the layers.
//! - [`load`]: opening a model with its config and tokenizer.
//! - [`eval`]: perplexity over a token stream with a sliding window.

pub mod backend;
pub mod config;
pub mod eval;
pub mod forward;
pub mod fused;
pub mod load;
pub mod sampler;
pub mod tokenizer;
pub mod weights;

pub use config::LlamaConfig;
pub use forward::{Model, State};
pub use sampler::Sampler;
pub use tokenizer::Tokenizer;
pub use weights::{WeightFile, Weights};
