//! The shell: the registers and the memory layout around the engine.
//!
//! Everything the shell *is* (register map, job protocol, error flags,
//! layouts, [`Job`] and its checks) is defined once in [`seedlm::hw::shell`]
//! and re-exported here; this module adds [`ShellRegs`], the register
//! semantics of the software shell of `emu` (`verilator` and `vfio` talk
//! to the RTL shell).

use seedlm::hw;
pub use seedlm::hw::shell::*;

/// The shell's registers as the software shell of `emu` keeps them: one
/// implementation of their semantics (see [`seedlm::hw::shell`]). A job
/// that START accepts waits in [`ShellRegs::take_pending`] until the
/// backend runs it (`emu` runs it at the next register read), so a second
/// START before then finds the shell busy, as on the RTL.
#[derive(Clone, Debug, Default)]
pub struct ShellRegs {
    /// The job being described.
    pub job: Job,
    /// SHELL_STATUS without [`SHELL_IRQ`].
    pub status: u32,
    /// SHELL_ERROR.
    pub error: u32,
    /// Cycles of the last job.
    pub job_cycles: u64,
    /// The interrupt is pending ([`SHELL_IRQ`]).
    pub irq: bool,
    /// The started job and the flags it collected while running.
    pending: Option<(Job, u32)>,
}

impl ShellRegs {
    /// Applies a host write to a writable register (engine ROWS and
    /// COL_BLOCKS are shadowed too). SHELL_CTRL: RESET clears status,
    /// error, the interrupt and the started job (then START in the same
    /// write starts anew); IRQ_ACK clears the interrupt; START takes a
    /// snapshot of the job, or while one runs adds [`SERR_START_BUSY`] to it.
    pub fn write(&mut self, off: u32, v: u32) {
        let j = &mut self.job;
        let set_lo = |x: &mut u64| *x = (*x & !0xFFFF_FFFF) | v as u64;
        let set_hi = |x: &mut u64| *x = (*x & 0xFFFF_FFFF) | (v as u64) << 32;
        match off {
            hw::CSR_ROWS => j.rows = v,
            hw::CSR_COL_BLOCKS => j.col_blocks = v,
            TILE_ADDR_LO => set_lo(&mut j.tile_addr),
            TILE_ADDR_HI => set_hi(&mut j.tile_addr),
            TILE_WORDS => j.tile_words = v,
            ACT_ADDR_LO => set_lo(&mut j.act_addr),
            ACT_ADDR_HI => set_hi(&mut j.act_addr),
            RES_ADDR_LO => set_lo(&mut j.res_addr),
            RES_ADDR_HI => set_hi(&mut j.res_addr),
            BATCH => j.batch = v,
            SHELL_CTRL => {
                if v & SHELL_RESET != 0 {
                    self.soft_reset();
                }
                if v & SHELL_IRQ_ACK != 0 {
                    self.irq = false;
                }
                if v & SHELL_START != 0 {
                    match &mut self.pending {
                        Some((_, flags)) => *flags |= SERR_START_BUSY,
                        None => {
                            self.pending = Some((self.job, 0));
                            self.status = SHELL_BUSY;
                            self.error = 0;
                            self.irq = false;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The started job and the flags it collected, for the backend to run
    /// (then [`ShellRegs::finish`]).
    pub fn take_pending(&mut self) -> Option<(Job, u32)> {
        self.pending.take()
    }

    /// Soft reset: no job, SHELL_STATUS and SHELL_ERROR cleared; the job
    /// registers keep their values.
    pub fn soft_reset(&mut self) {
        self.pending = None;
        self.status = 0;
        self.error = 0;
        self.irq = false;
    }

    /// Reads a shell register (`None` for offsets outside the shell).
    pub fn read(&self, off: u32, mem_size: u64) -> Option<u32> {
        let j = &self.job;
        Some(match off {
            SHELL_CTRL => 0,
            SHELL_STATUS => self.status | if self.irq { SHELL_IRQ } else { 0 },
            SHELL_ERROR => self.error,
            TILE_ADDR_LO => j.tile_addr as u32,
            TILE_ADDR_HI => (j.tile_addr >> 32) as u32,
            TILE_WORDS => j.tile_words,
            ACT_ADDR_LO => j.act_addr as u32,
            ACT_ADDR_HI => (j.act_addr >> 32) as u32,
            RES_ADDR_LO => j.res_addr as u32,
            RES_ADDR_HI => (j.res_addr >> 32) as u32,
            BATCH => j.batch,
            MEM_SIZE_LO => mem_size as u32,
            MEM_SIZE_HI => (mem_size >> 32) as u32,
            SHELL_VERSION => SHELL_VERSION_VALUE,
            JOB_CYCLES_LO => self.job_cycles as u32,
            JOB_CYCLES_HI => (self.job_cycles >> 32) as u32,
            AXI_DATA_BITS_REG => 0,
            _ => return None,
        })
    }

    /// Records the end of a job: DONE, or DONE|ERROR with `error` flags;
    /// raises the interrupt.
    pub fn finish(&mut self, error: u32, cycles: u64) {
        self.error = error;
        self.job_cycles = cycles;
        self.irq = true;
        self.status = if error == 0 {
            SHELL_DONE
        } else {
            SHELL_DONE | SHELL_ERROR_BIT
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_shell_regs_round_trip_and_start() {
        let mut r = ShellRegs::default();
        for reg in SHELL_REGISTERS {
            if reg.writable && reg.offset != SHELL_CTRL {
                r.write(reg.offset, 0x1234_5678 ^ reg.offset);
                assert_eq!(r.read(reg.offset, 0), Some(0x1234_5678 ^ reg.offset));
            }
        }
        assert_eq!(r.read(MEM_SIZE_HI, 5 << 32), Some(5));
        assert_eq!(r.read(0x200, 0), None);
        r.write(SHELL_CTRL, 0);
        assert!(r.take_pending().is_none());
        r.write(SHELL_CTRL, SHELL_START);
        assert_eq!(r.read(SHELL_STATUS, 0), Some(SHELL_BUSY));
        r.write(SHELL_CTRL, SHELL_START);
        let (job, flags) = r.take_pending().unwrap();
        assert_eq!((job, flags), (r.job, SERR_START_BUSY));
        r.finish(flags, 7);
        let status = SHELL_DONE | SHELL_ERROR_BIT | SHELL_IRQ;
        assert_eq!(r.read(SHELL_STATUS, 0), Some(status));
        r.write(SHELL_CTRL, SHELL_IRQ_ACK);
        assert_eq!(r.read(SHELL_STATUS, 0), Some(status & !SHELL_IRQ));
        r.write(SHELL_CTRL, SHELL_START);
        r.write(SHELL_CTRL, SHELL_RESET);
        assert!(r.take_pending().is_none());
        assert_eq!(r.read(SHELL_STATUS, 0), Some(0));
        assert_eq!(r.read(SHELL_ERROR, 0), Some(0));
        assert_eq!(r.read(TILE_WORDS, 0), Some(0x1234_5678 ^ TILE_WORDS));
    }
}
