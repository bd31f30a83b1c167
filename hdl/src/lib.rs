//! The SeedLM accelerator in rust-hdl: blocks ([`blocks`]), the emitted
//! engine module and its manifest ([`top`]), and the accelerator top
//! `seedlm_accel`, the engine behind its AXI shell ([`shell`]).
//!
//! Widths that must be bit vectors and depend on the configuration (the
//! block word, `BW`, and the activation slice, `XW = 16·C`) are const
//! generics, instantiated for the two paper configurations; every count
//! (`C`, `P`, lanes) is a `Vec` length fixed at construction, so any lane
//! count 1..=64 needs no new code. Numerics come from [`seedlm::fixed`],
//! register offsets and word layouts from [`seedlm::hw`].

pub mod blocks;
pub mod shell;
pub mod top;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is valid for the codec but has no RTL.
    #[error("unsupported by the RTL: {0}")]
    Unsupported(String),
    /// The configuration or lane count is invalid.
    #[error("invalid engine parameters")]
    Config(#[from] seedlm::Error),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
