//! SeedLM codec: weight blocks stored as the seed of a K-bit LFSR plus a few
//! 4-bit coefficients (SeedLM, Shafipour et al., arXiv 2410.10714).
//!
//! A block `w` of `C` weights is approximated as `U(s) · q · 2^e`, where
//! `U(s)` is a `C × P` matrix grown from the LFSR seed `s`, `q` holds `P`
//! 4-bit two's-complement mantissas and `e` is one shared 4-bit exponent.
//!
//! Modules, one job each:
//! - [`lfsr`]: the Fibonacci LFSR (taps, stepping, jump-ahead, the full cycle).
//! - [`config`]: `Config { c, p, k }` and the two paper configurations.
//! - [`cycle`]: the LFSR's one cycle of centred states; every basis is a
//!   window of it.
//! - [`kernel`]: the CPU mat-vec kernel (integer and float forms) over
//!   [`kernel::SeedMatrix`].
//! - [`block`]: one block: the basis `U(s)`, coefficient fitting with the
//!   exponent rule, decode, exact error.
//! - [`search`]: the seed search (naive reference and the fast exact search).
//! - [`magnitude`]: the per-tensor exponent offset.
//! - [`gptq`]: error feedback for the calibrated search.
//! - [`pack`]: bit packing of block words and block streams.
//! - [`fixed`]: the fixed-point golden model of the accelerator datapath.
//! - [`fixed_fp16`]: the golden model of the FP16 baseline engine.
//! - [`hw`]: the accelerator interface: CSR map, stream and activation
//!   layouts, and [`hw::shell`], the accelerator top (AXI ports, BAR0,
//!   job protocol, device-memory layouts).
//! - [`container`]: the `.seedlm` file format.
//! - [`sample`]: random blocks for tests and benchmarks.

pub mod block;
pub mod config;
pub mod container;
pub mod cycle;
pub mod error;
pub mod fixed;
pub mod fixed_fp16;
pub mod gptq;
pub mod hw;
pub mod kernel;
pub mod lfsr;
pub mod magnitude;
pub mod pack;
pub mod rtn;
pub mod sample;
pub mod search;

pub use block::Block;
pub use config::Config;
pub use error::{Error, Result};
pub use lfsr::Lfsr;
