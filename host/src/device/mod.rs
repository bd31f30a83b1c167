//! The device layer: one API for the SeedLM accelerator, whatever is behind
//! it.
//!
//! - [`Device`]: the accelerator at the level of a PCIe card: 32-bit
//!   registers in BAR0 (the engine's CSRs of [`seedlm::hw`] and the
//!   [`shell`]'s), device-memory buffers, start, wait, error status.
//! - Backends, all bit-exact with each other and with
//!   [`seedlm::fixed::BlockMatrix::matvec`]:
//!   [`emu::EmuDevice`] (the golden model, fast enough for a whole model),
//!   `verilator::VerilatorDevice` (the generated RTL, cycle-accurate, behind
//!   cargo feature `verilator`) and [`vfio::VfioDevice`] (a board over
//!   PCIe). [`open`] picks one from a string: `emu`, `verilator` or
//!   `vfio:<pci-addr>`.
//! - [`packer`]: compressed blocks to the engine's tile layout.
//! - [`Engine`]: the driver above a `Box<dyn Device>`: load a layer once,
//!   then run mat-vecs against it.
//!
//! Using it from a runtime (one [`Engine`] for every layer of a model; put
//! it in a `Mutex` to share it between layers, since a device runs one job
//! at a time):
//!
//! ```no_run
//! use seedlm_host::device::{open, Engine, OpenOptions};
//! # fn demo(m: &seedlm::fixed::BlockMatrix, x: &[f32]) -> anyhow::Result<()> {
//! let dev = open("emu", &OpenOptions::default())?;
//! let mut engine = Engine::new(dev)?;
//! let layer = engine.load_layer(m)?; // packed and written to device memory once
//! let y = engine.matvec(&layer, x)?; // == m.matvec(x), bit for bit
//! let ys = engine.matvec_batch(&layer, &[x, x])?; // one job, two vectors
//! # let _ = (y, ys); Ok(()) }
//! ```
//!
//! A runtime's `Linear::forward(&self, x, y)` is then
//! `y.copy_from_slice(&engine.lock().unwrap().matvec(&layer, x)?)`.

pub mod driver;
pub mod emu;
mod engine;
pub mod error;
pub mod memory;
pub mod packer;
pub mod selftest;
pub mod shell;
#[cfg(feature = "verilator")]
pub mod verilator;
pub mod vfio;

pub use engine::{Engine, LayerHandle};
pub use error::{shell_error_names, DeviceError, JobFailure, Result};

use seedlm::Config;

/// A buffer in device memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevBuf {
    /// Device (bus) address of byte 0, [`shell::BUF_ALIGN`]-aligned.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
}

/// What a device reports about itself (engine CSRs and shell registers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Backend and where it is (`emu`, `verilator`, `vfio 0000:01:00.0`).
    pub backend: String,
    /// Block configuration of the engine (CONFIG).
    pub cfg: Config,
    /// Lanes of the engine (CONFIG).
    pub lanes: usize,
    /// Engine interface version (VERSION), major << 16 | minor.
    pub version: u32,
    /// Shell interface version (SHELL_VERSION).
    pub shell_version: u32,
    /// Activation memory depth in column blocks (ACT_DEPTH).
    pub act_depth: u32,
    /// Device memory in bytes (MEM_SIZE).
    pub mem_size: u64,
    /// Data width of the shell's AXI4 master in bits (AXI_DATA_BITS; 0
    /// where there is none, as in `emu`).
    pub axi_data_bits: u32,
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |x: u32| format!("{}.{}", x >> 16, x & 0xFFFF);
        writeln!(f, "backend        {}", self.backend)?;
        writeln!(
            f,
            "config         {} ({} bits/weight, {}-bit block words)",
            self.cfg,
            self.cfg.bits_per_weight(),
            self.cfg.bits_per_block()
        )?;
        writeln!(f, "lanes          {}", self.lanes)?;
        writeln!(f, "engine version {}", v(self.version))?;
        writeln!(f, "shell version  {}", v(self.shell_version))?;
        writeln!(
            f,
            "act depth      {} column blocks ({} columns)",
            self.act_depth,
            self.act_depth as usize * self.cfg.c
        )?;
        writeln!(f, "memory         {} bytes", self.mem_size)?;
        match self.axi_data_bits {
            0 => write!(f, "AXI master     none (software shell)"),
            bits => write!(f, "AXI master     {bits} bits"),
        }
    }
}

/// The accelerator as the host sees it over PCIe: 32-bit registers in
/// BAR0 and device memory. This is all a backend implements; the job
/// protocol above it is [`driver`], the same for every backend. All
/// offsets are byte offsets into BAR0; buffers come from [`Device::alloc`].
pub trait Device: Send {
    /// Backend and location, for messages.
    fn name(&self) -> String;
    /// Reads a 32-bit register.
    fn read_csr(&mut self, off: u32) -> Result<u32>;
    /// Writes a 32-bit register (writes to read-only registers are ignored).
    fn write_csr(&mut self, off: u32, v: u32) -> Result<()>;
    /// Allocates a buffer of `len` bytes in device memory.
    fn alloc(&mut self, len: usize) -> Result<DevBuf>;
    /// Frees a buffer.
    fn free(&mut self, buf: DevBuf) -> Result<()>;
    /// Copies `data` into `buf` at `offset` (host to device DMA).
    fn write(&mut self, buf: &DevBuf, offset: u64, data: &[u8]) -> Result<()>;
    /// Copies `out.len()` bytes of `buf` at `offset` to `out` (device to host).
    fn read(&mut self, buf: &DevBuf, offset: u64, out: &mut [u8]) -> Result<()>;
    /// Hardware reset of engine and shell (registers cleared, device
    /// memory kept): a PCIe function reset on a board. The driver's own
    /// recovery is the soft reset of [`driver::recover`].
    fn reset(&mut self) -> Result<()>;
}

/// What the software backends are built for (a board reports its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Block configuration of the emulated engine.
    pub cfg: Config,
    /// Lanes of the emulated engine.
    pub lanes: usize,
    /// Device memory of `emu` and `verilator`, in bytes.
    pub mem_size: u64,
}

impl Default for OpenOptions {
    /// The 4-bit configuration, 8 lanes, 4 GiB (pages are only touched when
    /// written, so the size costs nothing until used).
    fn default() -> Self {
        OpenOptions {
            cfg: Config::BITS4,
            lanes: 8,
            mem_size: 4 << 30,
        }
    }
}

/// Opens a backend: `emu`, `verilator` (needs the `verilator` feature) or
/// `vfio:<pci-addr>` (e.g. `vfio:0000:01:00.0`).
pub fn open(spec: &str, opts: &OpenOptions) -> Result<Box<dyn Device>> {
    match spec.split_once(':') {
        None if spec == "emu" => Ok(Box::new(emu::EmuDevice::new(opts)?)),
        None if spec == "verilator" => open_verilator(opts),
        Some(("vfio", addr)) => Ok(Box::new(vfio::VfioDevice::open(addr)?)),
        _ => Err(DeviceError::Backend {
            spec: spec.into(),
            why: "expected emu, verilator or vfio:<pci-addr> (e.g. vfio:0000:01:00.0)".into(),
        }),
    }
}

#[cfg(feature = "verilator")]
fn open_verilator(opts: &OpenOptions) -> Result<Box<dyn Device>> {
    Ok(Box::new(verilator::VerilatorDevice::new(opts)?))
}

#[cfg(not(feature = "verilator"))]
fn open_verilator(_: &OpenOptions) -> Result<Box<dyn Device>> {
    Err(DeviceError::Backend {
        spec: "verilator".into(),
        why: "not built in: rebuild with `--features seedlm-host/verilator` (needs Verilator 5)"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_open_rejects_unknown_backends() {
        for spec in ["", "gpu", "vfio", "emu:3"] {
            let err = open(spec, &OpenOptions::default()).err().unwrap();
            assert!(err.to_string().contains("expected emu"), "{spec}: {err}");
        }
    }
}
