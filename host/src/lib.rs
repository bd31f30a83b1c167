//! Host side of seedlm-fpga: checkpoint readers (HF safetensors and GGUF)
//! that feed the `seedlm` CLI.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod checkpoint;
pub mod device;
pub mod error;
pub mod linear;
pub mod llama;
pub mod perf;

pub use error::{Error, Result};
