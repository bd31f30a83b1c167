//! Backend `verilator`: the generated accelerator `seedlm_accel` (engine +
//! RTL shell), simulated cycle by cycle ([`seedlm_sim::Accel`]), behind
//! the [`Device`] trait.
//!
//! A register access is an AXI4-Lite transaction on the simulated top
//! (each costs a few clock cycles, so polling advances simulated time);
//! device memory is the harness's AXI4 memory model, which the shell's
//! AXI4 master reads and writes. The host's copies into and out of device
//! memory go beside the bus, as a PCIe DMA engine's would. Nothing of the
//! job protocol is here: the driver ([`super::driver`]) speaks it to the
//! RTL exactly as to a board.
//!
//! Memory latency and backpressure are [`MemTiming`] ([`VerilatorDevice::with_timing`]);
//! every AXI rule the shell breaks fails the next register access.

use super::error::{DeviceError, Result};
use super::memory::{check_in_buf, Fault, Heap};
use super::{DevBuf, Device, OpenOptions};
use seedlm_sim::axi::{self, MemTiming};
use seedlm_sim::Accel;
use seedlm_sim::Kind;

/// The simulated accelerator.
pub struct VerilatorDevice {
    accel: Accel,
    heap: Heap,
    /// Violations already reported.
    reported: usize,
}

impl VerilatorDevice {
    /// The simulated accelerator of `opts.cfg` with `opts.lanes` lanes (one
    /// of the variants `seedlm-sim` compiled) and `opts.mem_size` bytes of
    /// memory behind an ideal bus ([`MemTiming::default`]).
    pub fn new(opts: &OpenOptions) -> Result<VerilatorDevice> {
        Self::with_timing(opts, MemTiming::default())
    }

    /// [`VerilatorDevice::new`] with the memory's latency and backpressure.
    pub fn with_timing(opts: &OpenOptions, timing: MemTiming) -> Result<VerilatorDevice> {
        Self::of_kind(Kind::Seedlm(opts.cfg), opts.lanes, opts.mem_size, timing)
    }

    /// The accelerator of any datapath (the FP16 baseline too).
    pub fn of_kind(
        kind: Kind,
        lanes: usize,
        mem_size: u64,
        timing: MemTiming,
    ) -> Result<VerilatorDevice> {
        let accel =
            Accel::new(kind, lanes, mem_size, timing).map_err(|e| DeviceError::Backend {
                spec: "verilator".into(),
                why: e.to_string(),
            })?;
        let size = accel.mem().size();
        Ok(VerilatorDevice {
            accel,
            heap: Heap::new(0, size),
            reported: 0,
        })
    }

    /// Makes the memory answer SLVERR to the shell's accesses of `fault`'s
    /// range.
    pub fn inject(&mut self, fault: Fault) {
        self.accel.mem_mut().inject(axi::Fault {
            addr: fault.addr,
            len: fault.len,
            resp: axi::RESP_SLVERR,
            reads: fault.reads,
        });
    }

    /// Removes every injected fault.
    pub fn clear_faults(&mut self) {
        self.accel.mem_mut().clear_faults();
    }

    /// The simulation: clock, memory model, statistics.
    pub fn accel(&mut self) -> &mut Accel {
        &mut self.accel
    }

    /// Fails if the shell broke an AXI rule since the last check.
    fn check_protocol(&mut self) -> Result<()> {
        let v = self.accel.violations();
        if v.len() > self.reported {
            self.reported = v.len();
            return Err(DeviceError::Hardware(format!(
                "verilator: the shell broke the AXI4 protocol: {}",
                v.join("; ")
            )));
        }
        Ok(())
    }

    fn bus(e: seedlm_sim::Error) -> DeviceError {
        DeviceError::Hardware(format!("verilator: {e}"))
    }
}

impl Device for VerilatorDevice {
    fn name(&self) -> String {
        "verilator".into()
    }

    fn read_csr(&mut self, off: u32) -> Result<u32> {
        let v = self.accel.read(off).map_err(Self::bus)?;
        self.check_protocol()?;
        Ok(v)
    }

    fn write_csr(&mut self, off: u32, v: u32) -> Result<()> {
        self.accel.write(off, v).map_err(Self::bus)?;
        self.check_protocol()
    }

    fn alloc(&mut self, len: usize) -> Result<DevBuf> {
        self.heap.alloc(len)
    }

    fn free(&mut self, buf: DevBuf) -> Result<()> {
        self.heap.free(buf)
    }

    fn write(&mut self, buf: &DevBuf, offset: u64, data: &[u8]) -> Result<()> {
        let at = check_in_buf(buf, offset, data.len())? as usize;
        self.accel.mem_mut().bytes_mut()[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn read(&mut self, buf: &DevBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        let at = check_in_buf(buf, offset, out.len())? as usize;
        out.copy_from_slice(&self.accel.mem().bytes()[at..at + out.len()]);
        Ok(())
    }

    fn reset(&mut self) -> Result<()> {
        self.accel.reset();
        Ok(())
    }
}
