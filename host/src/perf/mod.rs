//! Performance: the model of the engine on a board, and the CPU kernels
//! that `seedlm bench` times.
//!
//! - [`shapes`]: layer shapes of Llama-2/3 and SmolLM2 from their published
//!   dimensions.
//! - [`board`]: board profiles (Alveo U55C-class HBM, U250-class DDR4) and
//!   PCIe rates.
//! - [`engine`]: cycles of one engine call, calibrated against the
//!   Verilator simulation.
//! - [`token`]: time per token, resident or streamed weights, and where the
//!   time goes.
//! - [`cpu`]: the CPU mat-vec kernels (f32, f16, SeedLM decode on the fly)
//!   and a STREAM-like bandwidth probe.

pub mod board;
pub mod cpu;
pub mod engine;
pub mod shapes;
pub mod token;
