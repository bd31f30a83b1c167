//! The crate's one error type. Errors of the device layer and of the
//! `seedlm` codec are kept as they are (`#[from]`, not flattened into
//! strings), so that callers can match on them and every cause stays in the
//! `source()` chain; [`Error::context`] says where they happened.

use std::path::PathBuf;

use crate::device::error::DeviceError;

/// Everything that can go wrong in the host library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a file failed.
    #[error("failed to {action} {path}")]
    Io {
        /// What was being done ("open", "map", ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint that is malformed, truncated or corrupted.
    #[error("{path}: {what}")]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong, naming the tensor and byte offset where known.
        what: String,
    },
    /// A tensor whose element type this reader cannot convert to f32.
    #[error("{path}: tensor '{tensor}' has dtype {dtype}, which is not supported (supported: {supported})")]
    UnsupportedDtype {
        /// The file holding the tensor.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The dtype as the file names it.
        dtype: String,
        /// The dtypes this reader converts.
        supported: &'static str,
    },
    /// A tensor name that the checkpoint does not hold.
    #[error("{path}: no tensor named '{tensor}'")]
    NoTensor {
        /// The checkpoint searched.
        path: PathBuf,
        /// The missing name.
        tensor: String,
    },
    /// A model, layer or input that does not fit what the runtime expects
    /// (the message names the tensor or value at fault).
    #[error("{0}")]
    Invalid(String),
    /// The accelerator or one of its backends failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The SeedLM codec refused its input (a block, a matrix, activations).
    #[error(transparent)]
    Codec(#[from] seedlm::Error),
    /// An error and where it happened (a layer, an operation).
    #[error("{what}")]
    Context {
        /// Where: `layer 'model.layers.0.mlp.up_proj.weight'`, ...
        what: String,
        /// The error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// This error, happened in `what`.
    pub fn context(self, what: impl Into<String>) -> Error {
        Error::Context {
            what: what.into(),
            source: Box::new(self),
        }
    }
}

/// Result alias for the host library.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn test_error_display_and_source() {
        let e = Error::Io {
            action: "open",
            path: "/x/model.gguf".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(e.to_string(), "failed to open /x/model.gguf");
        assert!(e.source().is_some());
        let e = Error::UnsupportedDtype {
            path: "m.safetensors".into(),
            tensor: "w".into(),
            dtype: "I32".into(),
            supported: "F32, F16, BF16",
        };
        assert!(e
            .to_string()
            .contains("m.safetensors: tensor 'w' has dtype I32"));
        assert!(e.source().is_none());
    }

    #[test]
    fn test_device_and_codec_errors_keep_their_type_and_chain() {
        let e = Error::from(DeviceError::Invalid("bad lane count".into()));
        assert!(matches!(e, Error::Device(DeviceError::Invalid(_))));
        assert_eq!(e.to_string(), "bad lane count");
        let e = e.context("layer 'q'");
        assert_eq!(e.to_string(), "layer 'q'");
        let inner = e.source().unwrap();
        assert_eq!(inner.to_string(), "bad lane count");
        let e = Error::from(seedlm::Error::InvalidInput("3 blocks".into()));
        assert!(matches!(e, Error::Codec(seedlm::Error::InvalidInput(_))));
    }
}
