//! Host side of seedlm-fpga: everything between model files and the
//! accelerator, and the library of the `seedlm` CLI.
//!
//! - [`calib`]: input second moments of every linear layer (`compress --calib`).
//! - [`checkpoint`]: HF safetensors and GGUF readers (tensors as f32).
//! - [`device`]: the `Device` trait (BAR0 registers, device memory, DMA
//!   shell), the packer, and the backends `emu`, `verilator` and `vfio`.
//! - [`linear`]: one trait for a linear layer: dense f32, RTN, SeedLM on the
//!   CPU, or on a device.
//! - [`llama`]: the Llama runtime (config, tokenizer, weights, forward pass,
//!   sampling, perplexity).
//! - [`perf`]: the CPU kernels `seedlm bench` times and the board model.
//! - [`error`]: the crate's error type.

pub mod calib;
pub mod checkpoint;
pub mod device;
pub mod error;
pub mod linear;
pub mod llama;
pub mod perf;

pub use error::{Error, Result};
