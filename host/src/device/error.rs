//! The device layer's error type.
//!
//! The device layer has its own enum (rather than variants of
//! [`crate::Error`]) because its failures are of a different kind: a
//! missing VFIO prerequisite, a status bit of the hardware, a timeout. Each
//! message says what is missing or which register reported what.

use std::path::PathBuf;

/// Everything that can go wrong talking to a device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// A backend specification that cannot be parsed or is not built in.
    #[error("backend '{spec}': {why}")]
    Backend {
        /// The specification as given (`emu`, `verilator`, `vfio:ADDR`).
        spec: String,
        /// What is wrong with it.
        why: String,
    },
    /// A prerequisite of VFIO that this machine lacks (device node, driver
    /// binding, IOMMU group); the message says which and how to fix it.
    #[error("vfio {addr}: {what}")]
    VfioMissing {
        /// PCI address of the device.
        addr: String,
        /// What is missing.
        what: String,
    },
    /// A VFIO call that failed.
    #[error("vfio {addr}: failed to {action}")]
    Vfio {
        /// PCI address of the device.
        addr: String,
        /// What was being done.
        action: String,
        /// The error from `vfio-ioctls`.
        #[source]
        source: vfio_ioctls::VfioError,
    },
    /// An operating-system call on a file failed.
    #[error("failed to {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An access outside a device-memory buffer or outside device memory.
    #[error("device memory: {0}")]
    Memory(String),
    /// A register value or run that the device reported as bad.
    #[error("device: {0}")]
    Hardware(String),
    /// The device did not finish in time.
    #[error("device did not finish within {0:?} (STATUS {1:#x})")]
    Timeout(std::time::Duration, u32),
    /// A layer or input that does not fit the device (names the value).
    #[error("{0}")]
    Invalid(String),
    /// An error of the codec (configuration, golden model).
    #[error(transparent)]
    Codec(#[from] seedlm::Error),
}

/// Result alias of the device layer.
pub type Result<T> = std::result::Result<T, DeviceError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn test_device_error_display_and_source() {
        let e = DeviceError::Io {
            action: "open",
            path: "/dev/vfio/vfio".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(e.to_string(), "failed to open /dev/vfio/vfio");
        assert!(e.source().is_some());
        let e = DeviceError::VfioMissing {
            addr: "0000:01:00.0".into(),
            what: "not bound to vfio-pci".into(),
        };
        assert_eq!(e.to_string(), "vfio 0000:01:00.0: not bound to vfio-pci");
        assert!(e.source().is_none());
    }
}
