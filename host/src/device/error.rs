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
    /// A job that the device ended with an error (SHELL_STATUS.ERROR); the
    /// same flags on every backend for the same job.
    #[error("{device}: job failed: {failure}")]
    Job {
        /// Backend and location ([`super::Device::name`]).
        device: String,
        /// What the device reported.
        failure: JobFailure,
    },
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

/// The error registers of a failed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobFailure {
    /// SHELL_ERROR: `SERR_*` flags of [`seedlm::hw::shell`].
    pub shell: u32,
    /// The engine's ERROR: `ERR_*` flags of [`seedlm::hw`].
    pub engine: u32,
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SHELL_ERROR {:#x} ({}), engine ERROR {:#x}",
            self.shell,
            shell_error_names(self.shell),
            self.engine
        )
    }
}

/// Names of the SHELL_ERROR flags that are set, from
/// [`seedlm::hw::shell::SHELL_ERROR_FLAGS`] (`none` for 0; unknown bits as
/// hex).
pub fn shell_error_names(flags: u32) -> String {
    use seedlm::hw::shell::SHELL_ERROR_FLAGS;
    let mut set: Vec<String> = SHELL_ERROR_FLAGS
        .iter()
        .filter(|(bit, _, _)| flags & bit != 0)
        .map(|&(_, name, what)| format!("{name}: {what}"))
        .collect();
    let known = SHELL_ERROR_FLAGS.iter().fold(0, |a, f| a | f.0);
    if flags & !known != 0 {
        set.push(format!("unknown bits {:#x}", flags & !known));
    }
    if set.is_empty() {
        "none".into()
    } else {
        set.join(", ")
    }
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

    #[test]
    fn test_device_error_names_shell_flags() {
        use seedlm::hw::shell::{SERR_ENGINE, SERR_RANGE, SERR_READ_RESP};
        assert_eq!(shell_error_names(0), "none");
        assert_eq!(
            shell_error_names(SERR_RANGE | SERR_ENGINE),
            "RANGE: address out of device memory, ENGINE: engine refused the run"
        );
        assert_eq!(
            shell_error_names(SERR_READ_RESP | 1 << 30),
            "READ_RESP: AXI read error response, unknown bits 0x40000000"
        );
        let e = DeviceError::Job {
            device: "emu".into(),
            failure: JobFailure {
                shell: SERR_ENGINE,
                engine: seedlm::hw::ERR_EMPTY,
            },
        };
        assert_eq!(
            e.to_string(),
            "emu: job failed: SHELL_ERROR 0x4 (ENGINE: engine refused the run), engine ERROR 0x1"
        );
    }
}
