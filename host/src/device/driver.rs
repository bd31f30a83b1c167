//! The job protocol of [`seedlm::hw::shell`], written once for every
//! backend: each step is a sequence of 32-bit BAR0 accesses through the
//! [`Device`] trait, so `emu`, `verilator` and `vfio` differ only in how
//! one access reaches the hardware.
//!
//! A job ([`run_job`]):
//! 1. **configure**: ROWS, COL_BLOCKS, TILE_ADDR, TILE_WORDS, ACT_ADDR,
//!    RES_ADDR, BATCH;
//! 2. **start**: SHELL_CTRL.START;
//! 3. **poll** SHELL_STATUS until DONE, giving up after a timeout;
//! 4. **decode**: with SHELL_STATUS.ERROR, read SHELL_ERROR and the
//!    engine's ERROR into [`DeviceError::Job`];
//! 5. **recover** after any failure: SHELL_CTRL.RESET, then wait until the
//!    shell is idle (it drains its outstanding bus requests); if it stays
//!    busy, a hardware reset ([`Device::reset`]).
//!
//! The error registers are read before the reset clears them, so a failed
//! job returns the same [`DeviceError`] on every backend, and the device is
//! ready for the next job.

use super::error::{DeviceError, JobFailure, Result};
use super::shell::{self, Job};
use super::{Device, DeviceInfo};
use seedlm::hw;
use std::time::{Duration, Instant};

/// How long [`recover`] waits for the shell to go idle after a soft reset.
pub const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// What the device reports about itself (CONFIG, VERSION, ACT_DEPTH,
/// SHELL_VERSION, MEM_SIZE, AXI_DATA_BITS).
pub fn info(dev: &mut dyn Device) -> Result<DeviceInfo> {
    let (cfg, lanes) = hw::decode_config(dev.read_csr(hw::CSR_CONFIG)?)?;
    Ok(DeviceInfo {
        backend: dev.name(),
        cfg,
        lanes,
        version: dev.read_csr(hw::CSR_VERSION)?,
        shell_version: dev.read_csr(shell::SHELL_VERSION)?,
        act_depth: dev.read_csr(hw::CSR_ACT_DEPTH)?,
        mem_size: read64(dev, shell::MEM_SIZE_LO, shell::MEM_SIZE_HI)?,
        axi_data_bits: dev.read_csr(shell::AXI_DATA_BITS_REG)?,
    })
}

/// Reads a 64-bit value from a low and a high register.
pub fn read64(dev: &mut dyn Device, lo: u32, hi: u32) -> Result<u64> {
    Ok(dev.read_csr(lo)? as u64 | (dev.read_csr(hi)? as u64) << 32)
}

/// Step 1: writes the job's registers.
pub fn configure(dev: &mut dyn Device, job: &Job) -> Result<()> {
    let lo = |a: u64| a as u32;
    let hi = |a: u64| (a >> 32) as u32;
    for (off, v) in [
        (hw::CSR_ROWS, job.rows),
        (hw::CSR_COL_BLOCKS, job.col_blocks),
        (shell::TILE_ADDR_LO, lo(job.tile_addr)),
        (shell::TILE_ADDR_HI, hi(job.tile_addr)),
        (shell::TILE_WORDS, job.tile_words),
        (shell::ACT_ADDR_LO, lo(job.act_addr)),
        (shell::ACT_ADDR_HI, hi(job.act_addr)),
        (shell::RES_ADDR_LO, lo(job.res_addr)),
        (shell::RES_ADDR_HI, hi(job.res_addr)),
        (shell::BATCH, job.batch),
    ] {
        dev.write_csr(off, v)?;
    }
    Ok(())
}

/// Step 2: starts the job described by the registers.
pub fn start(dev: &mut dyn Device) -> Result<()> {
    dev.write_csr(shell::SHELL_CTRL, shell::SHELL_START)
}

/// Steps 3 and 4: polls SHELL_STATUS until the job ends; an ending with
/// ERROR becomes [`DeviceError::Job`], no ending within `timeout`
/// [`DeviceError::Timeout`]. Does not recover (see [`run_job`]).
pub fn wait(dev: &mut dyn Device, timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let status = dev.read_csr(shell::SHELL_STATUS)?;
        if status & shell::SHELL_DONE != 0 && status & shell::SHELL_BUSY == 0 {
            if status & shell::SHELL_ERROR_BIT == 0 {
                return Ok(());
            }
            let failure = JobFailure {
                shell: dev.read_csr(shell::SHELL_ERROR)?,
                engine: dev.read_csr(hw::CSR_ERROR)?,
            };
            return Err(DeviceError::Job {
                device: dev.name(),
                failure,
            });
        }
        if t0.elapsed() > timeout {
            return Err(DeviceError::Timeout(timeout, status));
        }
        std::thread::yield_now();
    }
}

/// Step 5: soft reset (SHELL_CTRL.RESET), then waits up to
/// [`RESET_TIMEOUT`] for the shell to go idle; a hardware reset if it
/// does not.
pub fn recover(dev: &mut dyn Device) -> Result<()> {
    dev.write_csr(shell::SHELL_CTRL, shell::SHELL_RESET)?;
    let t0 = Instant::now();
    while dev.read_csr(shell::SHELL_STATUS)? & shell::SHELL_BUSY != 0 {
        if t0.elapsed() > RESET_TIMEOUT {
            return dev.reset();
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// A whole job: configure, start, wait; after a failure, [`recover`] and
/// return the job's error (the job's, even if recovering fails too: the
/// next access then reports the device's state).
pub fn run_job(dev: &mut dyn Device, job: &Job, timeout: Duration) -> Result<()> {
    let result = configure(dev, job)
        .and_then(|()| start(dev))
        .and_then(|()| wait(dev, timeout));
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = recover(dev);
            Err(e)
        }
    }
}

/// CYCLES of the engine's last run and JOB_CYCLES of the shell's last job
/// (0 on backends without a clock).
pub fn last_cycles(dev: &mut dyn Device) -> Result<(u64, u64)> {
    Ok((
        read64(dev, hw::CSR_CYCLES_LO, hw::CSR_CYCLES_HI)?,
        read64(dev, shell::JOB_CYCLES_LO, shell::JOB_CYCLES_HI)?,
    ))
}
