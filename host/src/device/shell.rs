//! The shell: the registers and the memory layout around the engine.
//!
//! Everything the shell *is* (register map, job protocol, error flags,
//! layouts, [`Job`] and its checks) is defined once in [`seedlm::hw::shell`]
//! and re-exported here; this module adds [`ShellRegs`], the register
//! semantics of the software shells (`emu`, `verilator`).

use seedlm::hw;
pub use seedlm::hw::shell::*;

/// The writable registers that the software shells (`emu`, `verilator`)
/// keep, and their status: one implementation of the register semantics.
#[derive(Clone, Debug, Default)]
pub struct ShellRegs {
    /// The job being described.
    pub job: Job,
    /// SHELL_STATUS.
    pub status: u32,
    /// SHELL_ERROR.
    pub error: u32,
    /// Cycles of the last job.
    pub job_cycles: u64,
}

impl ShellRegs {
    /// Applies a host write to a writable register (engine ROWS and
    /// COL_BLOCKS are shadowed too). Returns whether it was SHELL_CTRL with
    /// START set, that is, whether the caller must run the job now.
    pub fn write(&mut self, off: u32, v: u32) -> bool {
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
            SHELL_CTRL => return v & SHELL_START != 0,
            _ => {}
        }
        false
    }

    /// Reads a shell register (`None` for offsets outside the shell).
    pub fn read(&self, off: u32, mem_size: u64) -> Option<u32> {
        let j = &self.job;
        Some(match off {
            SHELL_CTRL => 0,
            SHELL_STATUS => self.status,
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

    /// Records the end of a job: DONE, or ERROR with `error` flags.
    pub fn finish(&mut self, error: u32, cycles: u64) {
        self.error = error;
        self.job_cycles = cycles;
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
                assert!(!r.write(reg.offset, 0x1234_5678 ^ reg.offset));
                assert_eq!(r.read(reg.offset, 0), Some(0x1234_5678 ^ reg.offset));
            }
        }
        assert!(r.write(SHELL_CTRL, SHELL_START));
        assert!(!r.write(SHELL_CTRL, 0));
        assert_eq!(r.read(MEM_SIZE_HI, 5 << 32), Some(5));
        assert_eq!(r.read(0x200, 0), None);
    }
}
