//! The shell: the registers and the memory layout around the engine.
//!
//! The engine RTL ([`seedlm::hw`]) takes a block stream and an activation
//! write port, not a memory port. In front of it sits a *shell*: on a board
//! the PCIe DMA IP (XDMA/QDMA) plus a small stream mover, in `emu` and
//! `verilator` Rust code that reads device memory and feeds the engine one
//! tile word per cycle. The shell is defined here once for every backend.
//!
//! **BAR0.** The engine's CSRs ([`seedlm::hw::REGISTERS`]) at byte offsets
//! `0x000..0x100`, the shell's registers ([`SHELL_REGISTERS`]) at
//! `0x100..0x200`. All registers are 32 bits, little-endian.
//!
//! **A job.** The host writes the engine's ROWS and COL_BLOCKS, then the
//! shell's TILE_ADDR, TILE_WORDS, ACT_ADDR, RES_ADDR and BATCH, then START
//! to SHELL_CTRL. For each vector `v` in `0..BATCH` the shell
//! 1. copies COL_BLOCKS activation words from `ACT_ADDR + v·COL_BLOCKS·`
//!    [`act_stride`] into the engine's activation memory,
//! 2. starts the engine (CTRL.START) and streams TILE_WORDS tile words from
//!    TILE_ADDR, word `i` at `TILE_ADDR + i·`[`tile_stride`],
//! 3. writes every result word the engine emits, in emitted order, as a
//!    16-byte little-endian integer ([`seedlm::hw::pack_result`]) to
//!    `RES_ADDR + (v·ROWS + k)·`[`RESULT_STRIDE`].
//!
//! Then it sets SHELL_STATUS.DONE, or SHELL_STATUS.ERROR with the cause in
//! SHELL_ERROR (and stops at the first failing vector).
//!
//! **Layouts.** A tile word is [`seedlm::hw::tile_word_bits`] bits stored in
//! [`tile_stride`] bytes (rounded up to 8 bytes, the narrowest AXI data
//! width a DMA moves without byte enables); an activation word is `C`
//! little-endian `i16` (`2C` bytes, [`seedlm::hw::activation_words`]); a
//! result is 16 bytes. Device addresses are byte addresses; buffers are
//! aligned to [`BUF_ALIGN`].

use seedlm::hw;
use seedlm::Config;

/// Byte offset of the first shell register in BAR0.
pub const SHELL_BASE: u32 = 0x100;
/// SHELL_CTRL (write): bit 0 [`SHELL_START`].
pub const SHELL_CTRL: u32 = SHELL_BASE;
/// SHELL_STATUS (read): [`SHELL_BUSY`], [`SHELL_DONE`], [`SHELL_ERROR_BIT`].
pub const SHELL_STATUS: u32 = SHELL_BASE + 0x04;
/// SHELL_ERROR (read): cause of the last failed job, `SERR_*`.
pub const SHELL_ERROR: u32 = SHELL_BASE + 0x08;
/// TILE_ADDR_LO (read/write): device address of the first tile word, low word.
pub const TILE_ADDR_LO: u32 = SHELL_BASE + 0x0C;
/// TILE_ADDR_HI (read/write): high word.
pub const TILE_ADDR_HI: u32 = SHELL_BASE + 0x10;
/// TILE_WORDS (read/write): tile words per vector, `ceil(ROWS/lanes)·COL_BLOCKS`.
pub const TILE_WORDS: u32 = SHELL_BASE + 0x14;
/// ACT_ADDR_LO (read/write): device address of the activation words, low word.
pub const ACT_ADDR_LO: u32 = SHELL_BASE + 0x18;
/// ACT_ADDR_HI (read/write): high word.
pub const ACT_ADDR_HI: u32 = SHELL_BASE + 0x1C;
/// RES_ADDR_LO (read/write): device address of the result words, low word.
pub const RES_ADDR_LO: u32 = SHELL_BASE + 0x20;
/// RES_ADDR_HI (read/write): high word.
pub const RES_ADDR_HI: u32 = SHELL_BASE + 0x24;
/// BATCH (read/write): vectors per job, `>= 1`.
pub const BATCH: u32 = SHELL_BASE + 0x28;
/// MEM_SIZE_LO (read): bytes of device memory, low word.
pub const MEM_SIZE_LO: u32 = SHELL_BASE + 0x2C;
/// MEM_SIZE_HI (read): high word.
pub const MEM_SIZE_HI: u32 = SHELL_BASE + 0x30;
/// SHELL_VERSION (read): [`SHELL_VERSION_VALUE`].
pub const SHELL_VERSION: u32 = SHELL_BASE + 0x34;
/// JOB_CYCLES_LO (read): clock cycles of the last job, activation loads
/// included (0 where the backend has no clock).
pub const JOB_CYCLES_LO: u32 = SHELL_BASE + 0x38;
/// JOB_CYCLES_HI (read): high word.
pub const JOB_CYCLES_HI: u32 = SHELL_BASE + 0x3C;

/// SHELL_CTRL bit 0: run the job described by the registers.
pub const SHELL_START: u32 = 1 << 0;
/// SHELL_STATUS bit 0: a job is running.
pub const SHELL_BUSY: u32 = 1 << 0;
/// SHELL_STATUS bit 1: the last job finished (cleared by START).
pub const SHELL_DONE: u32 = 1 << 1;
/// SHELL_STATUS bit 2: the last job failed; SHELL_ERROR says why.
pub const SHELL_ERROR_BIT: u32 = 1 << 2;
/// SHELL_ERROR bit 0: a tile, activation or result address range lies
/// outside device memory.
pub const SERR_RANGE: u32 = 1 << 0;
/// SHELL_ERROR bit 1: TILE_WORDS does not match ROWS, COL_BLOCKS and lanes,
/// or BATCH is 0.
pub const SERR_LENGTH: u32 = 1 << 1;
/// SHELL_ERROR bit 2: the engine refused the run (engine ERROR is nonzero).
pub const SERR_ENGINE: u32 = 1 << 2;
/// SHELL_ERROR bit 3: the engine did not finish in its cycle budget.
pub const SERR_TIMEOUT: u32 = 1 << 3;
/// Shell interface version: major in bits 31..16, minor in 15..0.
pub const SHELL_VERSION_VALUE: u32 = 0x0001_0000;

/// Bytes of one result word in device memory.
pub const RESULT_STRIDE: usize = 16;
/// Alignment of every device buffer in bytes (one page).
pub const BUF_ALIGN: u64 = 4096;

/// Every shell register: `(name, byte offset, host-writable)`.
pub const SHELL_REGISTERS: [(&str, u32, bool); 16] = [
    ("SHELL_CTRL", SHELL_CTRL, true),
    ("SHELL_STATUS", SHELL_STATUS, false),
    ("SHELL_ERROR", SHELL_ERROR, false),
    ("TILE_ADDR_LO", TILE_ADDR_LO, true),
    ("TILE_ADDR_HI", TILE_ADDR_HI, true),
    ("TILE_WORDS", TILE_WORDS, true),
    ("ACT_ADDR_LO", ACT_ADDR_LO, true),
    ("ACT_ADDR_HI", ACT_ADDR_HI, true),
    ("RES_ADDR_LO", RES_ADDR_LO, true),
    ("RES_ADDR_HI", RES_ADDR_HI, true),
    ("BATCH", BATCH, true),
    ("MEM_SIZE_LO", MEM_SIZE_LO, false),
    ("MEM_SIZE_HI", MEM_SIZE_HI, false),
    ("SHELL_VERSION", SHELL_VERSION, false),
    ("JOB_CYCLES_LO", JOB_CYCLES_LO, false),
    ("JOB_CYCLES_HI", JOB_CYCLES_HI, false),
];

/// Bytes one tile word occupies in device memory (see module docs).
pub fn tile_stride(cfg: &Config, lanes: usize) -> usize {
    hw::word_bytes(hw::tile_word_bits(cfg, lanes)).next_multiple_of(8)
}

/// Bytes of one activation word, `2C`.
pub fn act_stride(cfg: &Config) -> usize {
    hw::word_bytes(hw::act_word_bits(cfg))
}

/// One job as the shell registers describe it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Job {
    /// Engine ROWS.
    pub rows: u32,
    /// Engine COL_BLOCKS.
    pub col_blocks: u32,
    /// Device address of tile word 0.
    pub tile_addr: u64,
    /// Tile words per vector.
    pub tile_words: u32,
    /// Device address of the activations of vector 0.
    pub act_addr: u64,
    /// Device address of the results of vector 0.
    pub res_addr: u64,
    /// Vectors.
    pub batch: u32,
}

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

impl Job {
    /// The byte ranges the job touches, checked against the device memory
    /// size and the engine's shape: `Err(SERR_*)` if the job is malformed.
    pub fn check(&self, cfg: &Config, lanes: usize, mem_size: u64) -> Result<(), u32> {
        let want = (self.rows as u64).div_ceil(lanes as u64) * self.col_blocks as u64;
        if self.batch == 0 || self.tile_words as u64 != want {
            return Err(SERR_LENGTH);
        }
        let b = self.batch as u64;
        let ranges = [
            (self.tile_addr, want * tile_stride(cfg, lanes) as u64),
            (
                self.act_addr,
                b * self.col_blocks as u64 * act_stride(cfg) as u64,
            ),
            (self.res_addr, b * self.rows as u64 * RESULT_STRIDE as u64),
        ];
        for (addr, len) in ranges {
            if addr.checked_add(len).is_none_or(|end| end > mem_size) {
                return Err(SERR_RANGE);
            }
        }
        Ok(())
    }

    /// Device address of the activation words of vector `v`.
    pub fn act_at(&self, cfg: &Config, v: u32) -> u64 {
        self.act_addr + v as u64 * self.col_blocks as u64 * act_stride(cfg) as u64
    }

    /// Device address of the results of vector `v`.
    pub fn res_at(&self, v: u32) -> u64 {
        self.res_addr + v as u64 * self.rows as u64 * RESULT_STRIDE as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_shell_registers_follow_engine_csrs_without_overlap() {
        let engine_end = 1u32 << hw::CSR_ADDR_BITS;
        assert_eq!(SHELL_BASE, engine_end);
        for (k, w) in SHELL_REGISTERS.iter().enumerate() {
            assert_eq!(w.1, SHELL_BASE + 4 * k as u32, "{}", w.0);
        }
    }

    #[test]
    fn test_shell_regs_round_trip_and_start() {
        let mut r = ShellRegs::default();
        for (_, off, writable) in SHELL_REGISTERS {
            if writable && off != SHELL_CTRL {
                assert!(!r.write(off, 0x1234_5678 ^ off));
                assert_eq!(r.read(off, 0), Some(0x1234_5678 ^ off));
            }
        }
        assert!(r.write(SHELL_CTRL, SHELL_START));
        assert!(!r.write(SHELL_CTRL, 0));
        assert_eq!(r.read(MEM_SIZE_HI, 5 << 32), Some(5));
        assert_eq!(r.read(0x200, 0), None);
    }

    #[test]
    fn test_shell_job_check_rejects_bad_lengths_and_ranges() {
        let cfg = Config::BITS4;
        let job = Job {
            rows: 9,
            col_blocks: 3,
            tile_addr: 0,
            tile_words: 6, // ceil(9/8) · 3
            act_addr: 4096,
            res_addr: 8192,
            batch: 2,
        };
        let need = 8192 + 2 * 9 * 16;
        assert_eq!(job.check(&cfg, 8, need), Ok(()));
        assert_eq!(job.check(&cfg, 8, need - 1), Err(SERR_RANGE));
        let j = Job {
            tile_words: 5,
            ..job
        };
        assert_eq!(j.check(&cfg, 8, need), Err(SERR_LENGTH));
        let j = Job { batch: 0, ..job };
        assert_eq!(j.check(&cfg, 8, need), Err(SERR_LENGTH));
        let j = Job {
            res_addr: u64::MAX - 8,
            ..job
        };
        assert_eq!(j.check(&cfg, 8, u64::MAX), Err(SERR_RANGE));
        assert_eq!(tile_stride(&Config::BITS3, 3), 16);
        assert_eq!(tile_stride(&cfg, 8), 32);
        assert_eq!(act_stride(&Config::BITS3), 24);
    }
}
