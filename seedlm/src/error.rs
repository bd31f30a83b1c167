//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the codec.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration that the codec does not support.
    #[error("invalid SeedLM config: {0}")]
    InvalidConfig(String),
    /// Input that cannot be encoded (wrong length, non-finite values).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A `.seedlm` file that is malformed, truncated or corrupted.
    #[error("{path}: {what}")]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong, naming the tensor and byte offset where known.
        what: String,
    },
    /// The GPU search failed (no device, a driver or compiler error).
    #[error("GPU search: {0}")]
    Gpu(String),
    /// An I/O operation on a file failed.
    #[error("failed to {action} {path}")]
    Io {
        /// What was being done ("open", "write", ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for the codec.
pub type Result<T> = std::result::Result<T, Error>;
