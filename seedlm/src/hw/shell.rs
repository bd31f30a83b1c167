//! The accelerator top `seedlm_accel` (engine + shell) as the host and the
//! board see it: ports, the BAR0 register map, the job protocol, the error
//! flags, the device-memory layouts and the expected cycle overhead.
//! Defined once here; `hdl` emits the RTL from it, `sim` builds its AXI
//! memory model against it and `host` drives it.
//!
//! **Ports** ([`accel_ports`]). One clock `aclk`, an active-low synchronous
//! reset `aresetn`, an AXI4-Lite slave `s_axil_*` (32-bit data,
//! [`AXIL_ADDR_BITS`]-bit byte addresses) holding every register, an AXI4
//! master `m_axi_*` (Xilinx port names so that Vivado infers both
//! interfaces; [`AXI_ADDR_BITS`]-bit addresses, [`AXI_ID_BITS`]-bit IDs,
//! data width a generation parameter, [`DEFAULT_AXI_DATA_BITS`] by default)
//! and a level interrupt `irq`.
//!
//! **BAR0.** The engine's CSRs ([`super::REGISTERS`]) at byte offsets
//! `0x000..0x100`, the shell's registers ([`SHELL_REGISTERS`]) from
//! [`SHELL_BASE`]. All registers are 32 bits, little-endian. Reads of
//! offsets without a register return 0; writes to them and to read-only
//! registers are ignored (response OKAY); WSTRB is ignored (registers take
//! whole 32-bit writes). The shell starts the engine itself: host writes
//! to the engine's CTRL are ignored. The host must not write ROWS,
//! COL_BLOCKS or the job registers while SHELL_STATUS.BUSY is set.
//!
//! **A job.** The host writes the engine's ROWS and COL_BLOCKS, then
//! TILE_ADDR, TILE_WORDS, ACT_ADDR, RES_ADDR and BATCH, then START to
//! SHELL_CTRL. The shell checks the job ([`Job::flags`]); a bad job ends at
//! once with SHELL_STATUS.DONE|ERROR and the cause in SHELL_ERROR, having
//! touched no memory. Otherwise, for each vector `v` in `0..BATCH`:
//! 1. it reads COL_BLOCKS activation words from [`Job::act_at`]`(v)` into
//!    the engine's activation memory,
//! 2. it starts the engine and streams TILE_WORDS tile words from
//!    TILE_ADDR, word `i` at `TILE_ADDR + i·`[`tile_stride`],
//! 3. it writes every result word the engine emits, in emitted order, as a
//!    16-byte little-endian integer ([`super::pack_result`]) to
//!    [`Job::res_at`]`(v) + k·`[`RESULT_STRIDE`].
//!
//! Then, once every write is acknowledged, it sets SHELL_STATUS.DONE (and
//! the interrupt). An AXI error response (SLVERR/DECERR) stops the job:
//! the shell issues no new request, drains every outstanding one, resets
//! the engine (its CYCLES and ERROR read 0 afterwards; the shell writes
//! ROWS and COL_BLOCKS back) and ends with DONE|ERROR. A job never hangs the shell; after
//! any ending (or a soft reset, [`SHELL_RESET`]) the next START runs
//! normally.
//!
//! **Layouts** (device byte addresses). A tile word is
//! [`super::tile_word_bits`] bits stored in [`tile_stride`] bytes, a power
//! of two (so one AXI beat holds whole tile words or one tile word spans
//! whole beats). An activation word is `C` little-endian `i16` stored in
//! [`act_stride`] bytes (a power of two; the bytes past `2C` are ignored).
//! A result is [`RESULT_STRIDE`] bytes. TILE_ADDR, ACT_ADDR and RES_ADDR
//! are multiples of [`ADDR_ALIGN`]; vector `v`'s activations and results
//! follow those of vector `v - 1` without gaps.
//!
//! **AXI4 master.** Reads are INCR bursts of full-width beats from
//! beat-aligned addresses, at most [`MAX_BURST_BEATS`] beats, never across
//! a [`BURST_BOUNDARY`], at most [`MAX_READS_OUTSTANDING`] in flight, all
//! with ID 0; `m_axi_rready` is always 1 (room is reserved before a burst
//! is issued). Each result is one single-beat write (AWLEN 0, full-width
//! AWSIZE, beat-aligned AWADDR) whose WSTRB selects its 16 bytes; at most
//! [`MAX_WRITES_OUTSTANDING`] wait for their B response.
//!
//! **Device memory.** The shell checks every range against the device
//! memory size, a generation parameter (`gen-rtl --mem-bytes`,
//! [`DEFAULT_MEM_BYTES`]) that it reports in MEM_SIZE; memory starts at
//! device address 0.

use super::Register;
use crate::config::Config;

/// Name of the accelerator's top module (engine + shell).
pub const ACCEL_TOP: &str = "seedlm_accel";

/// Bits of the AXI4-Lite data bus.
pub const AXIL_DATA_BITS: u32 = 32;
/// Bits of the AXI4-Lite byte address: BAR0 spans `1 << AXIL_ADDR_BITS` bytes.
pub const AXIL_ADDR_BITS: u32 = 9;
/// Bytes of BAR0 that hold registers.
pub const BAR0_BYTES: u32 = 1 << AXIL_ADDR_BITS;
/// Bits of an AXI4 master byte address.
pub const AXI_ADDR_BITS: u32 = 64;
/// Bits of the AXI4 master's IDs (every request uses ID 0, so responses
/// come back in order).
pub const AXI_ID_BITS: u32 = 1;
/// Default AXI4 master data width in bits.
pub const DEFAULT_AXI_DATA_BITS: u32 = 512;
/// Supported AXI4 master data widths in bits.
pub const AXI_DATA_BITS_SUPPORTED: [u32; 3] = [256, 512, 1024];
/// Read bursts in flight at most.
pub const MAX_READS_OUTSTANDING: u32 = 8;
/// Most beats of one read burst the shell issues (fewer where a burst
/// would cross a [`BURST_BOUNDARY`] or the segment ends):
/// `MAX_READS_OUTSTANDING · MAX_BURST_BEATS` = 256 beats cover 200 cycles
/// of read latency at one beat per cycle.
pub const MAX_BURST_BEATS: u32 = 32;
/// Beats of the activation read buffer: activation beats arrive at one per
/// cycle and leave at one word per cycle, so a vector's activations of up
/// to this many beats never hold up the tile beats behind them.
pub const ACT_BUFFER_BEATS: u32 = 64;
/// Write requests (single beats) in flight at most.
pub const MAX_WRITES_OUTSTANDING: u32 = 64;
/// Bytes a burst never crosses (the AXI4 rule).
pub const BURST_BOUNDARY: u64 = 4096;
/// Beats of the tile read buffer (prefetch); a burst is issued only when
/// its buffer has room for it, so the shell never back-pressures R
/// (`m_axi_rready` is always 1).
pub const READ_BUFFER_BEATS: u32 = 512;

/// Alignment in bytes of TILE_ADDR, ACT_ADDR and RES_ADDR (the widest
/// supported AXI beat).
pub const ADDR_ALIGN: u64 = 128;
/// Bytes of one result word in device memory.
pub const RESULT_STRIDE: usize = 16;
/// Alignment of every device buffer the host allocates (one page).
pub const BUF_ALIGN: u64 = 4096;
/// Default device memory size in bytes (the 16 GiB of HBM of an Alveo U55C).
pub const DEFAULT_MEM_BYTES: u64 = 16 << 30;
/// Largest device memory size the shell supports.
pub const MAX_MEM_BYTES: u64 = 1 << 48;
/// Largest BATCH.
pub const MAX_BATCH: u32 = 1 << 16;

/// Byte offset of the first shell register in BAR0.
pub const SHELL_BASE: u32 = 0x100;
/// SHELL_CTRL (write): [`SHELL_START`], [`SHELL_RESET`], [`SHELL_IRQ_ACK`].
pub const SHELL_CTRL: u32 = SHELL_BASE;
/// SHELL_STATUS (read): [`SHELL_BUSY`], [`SHELL_DONE`], [`SHELL_ERROR_BIT`],
/// [`SHELL_IRQ`].
pub const SHELL_STATUS: u32 = SHELL_BASE + 0x04;
/// SHELL_ERROR (read): causes of the last failed job, `SERR_*`.
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
/// BATCH (read/write): vectors per job, `1..=`[`MAX_BATCH`].
pub const BATCH: u32 = SHELL_BASE + 0x28;
/// MEM_SIZE_LO (read): bytes of device memory, low word.
pub const MEM_SIZE_LO: u32 = SHELL_BASE + 0x2C;
/// MEM_SIZE_HI (read): high word.
pub const MEM_SIZE_HI: u32 = SHELL_BASE + 0x30;
/// SHELL_VERSION (read): [`SHELL_VERSION_VALUE`].
pub const SHELL_VERSION: u32 = SHELL_BASE + 0x34;
/// JOB_CYCLES_LO (read): clock cycles of the last job, from START to DONE
/// (0 where the backend has no clock).
pub const JOB_CYCLES_LO: u32 = SHELL_BASE + 0x38;
/// JOB_CYCLES_HI (read): high word.
pub const JOB_CYCLES_HI: u32 = SHELL_BASE + 0x3C;
/// AXI_DATA_BITS (read): data width of the AXI4 master in bits (0 where
/// the backend has no AXI master).
pub const AXI_DATA_BITS_REG: u32 = SHELL_BASE + 0x40;

/// SHELL_CTRL bit 0: run the job described by the registers.
pub const SHELL_START: u32 = 1 << 0;
/// SHELL_CTRL bit 1: soft reset. Stops the running job (no new requests;
/// outstanding ones are drained), resets the engine, clears SHELL_STATUS
/// and SHELL_ERROR. The job registers keep their values.
pub const SHELL_RESET: u32 = 1 << 1;
/// SHELL_CTRL bit 2: clear the interrupt ([`SHELL_IRQ`]).
pub const SHELL_IRQ_ACK: u32 = 1 << 2;
/// SHELL_STATUS bit 0: a job is running.
pub const SHELL_BUSY: u32 = 1 << 0;
/// SHELL_STATUS bit 1: the last job ended (cleared by START).
pub const SHELL_DONE: u32 = 1 << 1;
/// SHELL_STATUS bit 2: the last job failed; SHELL_ERROR says why.
pub const SHELL_ERROR_BIT: u32 = 1 << 2;
/// SHELL_STATUS bit 3: the interrupt is pending: set when a job ends,
/// cleared by START or [`SHELL_IRQ_ACK`]. The `irq` port follows it.
pub const SHELL_IRQ: u32 = 1 << 3;

/// SHELL_ERROR bit 0: a tile, activation or result range lies outside
/// device memory.
pub const SERR_RANGE: u32 = 1 << 0;
/// SHELL_ERROR bit 1: TILE_WORDS is 0 or does not equal
/// `ceil(ROWS/lanes)·COL_BLOCKS`, or BATCH is 0 or above [`MAX_BATCH`].
pub const SERR_LENGTH: u32 = 1 << 1;
/// SHELL_ERROR bit 2: the engine refused the run (ROWS or COL_BLOCKS 0,
/// COL_BLOCKS above ACT_DEPTH; the engine's ERROR says which).
pub const SERR_ENGINE: u32 = 1 << 2;
/// SHELL_ERROR bit 3: the engine did not finish in its cycle budget
/// (software shells only; the RTL shell cannot time out).
pub const SERR_TIMEOUT: u32 = 1 << 3;
/// SHELL_ERROR bit 4: TILE_ADDR, ACT_ADDR or RES_ADDR is not a multiple
/// of [`ADDR_ALIGN`].
pub const SERR_ALIGN: u32 = 1 << 4;
/// SHELL_ERROR bit 5: START while a job was running; the running job went
/// on and ends with this flag set.
pub const SERR_START_BUSY: u32 = 1 << 5;
/// SHELL_ERROR bit 6: a read response was SLVERR or DECERR.
pub const SERR_READ_RESP: u32 = 1 << 6;
/// SHELL_ERROR bit 7: a write response was SLVERR or DECERR.
pub const SERR_WRITE_RESP: u32 = 1 << 7;
/// Every SHELL_ERROR flag: `(bit, name, meaning)`.
pub const SHELL_ERROR_FLAGS: [(u32, &str, &str); 8] = [
    (SERR_RANGE, "RANGE", "address out of device memory"),
    (SERR_LENGTH, "LENGTH", "TILE_WORDS/BATCH inconsistent"),
    (SERR_ENGINE, "ENGINE", "engine refused the run"),
    (SERR_TIMEOUT, "TIMEOUT", "engine timeout"),
    (SERR_ALIGN, "ALIGN", "misaligned buffer address"),
    (SERR_START_BUSY, "START_BUSY", "START while busy"),
    (SERR_READ_RESP, "READ_RESP", "AXI read error response"),
    (SERR_WRITE_RESP, "WRITE_RESP", "AXI write error response"),
];
/// Shell interface version: major in bits 31..16, minor in 15..0.
pub const SHELL_VERSION_VALUE: u32 = 0x0002_0000;

const fn reg(name: &'static str, offset: u32, writable: bool, doc: &'static str) -> Register {
    Register {
        name,
        offset,
        writable,
        doc,
    }
}

/// Every shell register, in offset order.
pub const SHELL_REGISTERS: [Register; 17] = [
    reg(
        "SHELL_CTRL",
        SHELL_CTRL,
        true,
        "bit 0 START, bit 1 RESET, bit 2 IRQ_ACK (self-clearing)",
    ),
    reg(
        "SHELL_STATUS",
        SHELL_STATUS,
        false,
        "bit 0 BUSY, bit 1 DONE, bit 2 ERROR, bit 3 IRQ",
    ),
    reg(
        "SHELL_ERROR",
        SHELL_ERROR,
        false,
        "SERR_* flags of the last job",
    ),
    reg(
        "TILE_ADDR_LO",
        TILE_ADDR_LO,
        true,
        "tile words address, low word",
    ),
    reg(
        "TILE_ADDR_HI",
        TILE_ADDR_HI,
        true,
        "tile words address, high word",
    ),
    reg("TILE_WORDS", TILE_WORDS, true, "tile words per vector"),
    reg(
        "ACT_ADDR_LO",
        ACT_ADDR_LO,
        true,
        "activations address, low word",
    ),
    reg(
        "ACT_ADDR_HI",
        ACT_ADDR_HI,
        true,
        "activations address, high word",
    ),
    reg(
        "RES_ADDR_LO",
        RES_ADDR_LO,
        true,
        "results address, low word",
    ),
    reg(
        "RES_ADDR_HI",
        RES_ADDR_HI,
        true,
        "results address, high word",
    ),
    reg("BATCH", BATCH, true, "vectors per job"),
    reg(
        "MEM_SIZE_LO",
        MEM_SIZE_LO,
        false,
        "device memory bytes, low word",
    ),
    reg(
        "MEM_SIZE_HI",
        MEM_SIZE_HI,
        false,
        "device memory bytes, high word",
    ),
    reg("SHELL_VERSION", SHELL_VERSION, false, "major << 16 | minor"),
    reg(
        "JOB_CYCLES_LO",
        JOB_CYCLES_LO,
        false,
        "cycles of the last job, low word",
    ),
    reg(
        "JOB_CYCLES_HI",
        JOB_CYCLES_HI,
        false,
        "cycles of the last job, high word",
    ),
    reg(
        "AXI_DATA_BITS",
        AXI_DATA_BITS_REG,
        false,
        "AXI4 master data width in bits",
    ),
];

/// Direction of a port of the top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Input.
    In,
    /// Output.
    Out,
}

/// One port of `seedlm_accel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Verilog name.
    pub name: &'static str,
    /// Direction.
    pub dir: Dir,
    /// Width in bits.
    pub width: u32,
}

/// Checks an AXI4 master data width against [`AXI_DATA_BITS_SUPPORTED`].
pub fn check_axi_data_bits(bits: u32) -> crate::Result<()> {
    if AXI_DATA_BITS_SUPPORTED.contains(&bits) {
        Ok(())
    } else {
        Err(crate::Error::InvalidConfig(format!(
            "AXI data width {bits}: supported are {AXI_DATA_BITS_SUPPORTED:?}"
        )))
    }
}

/// The ports of `seedlm_accel` with an AXI4 master of `data_bits` bits, in
/// declaration order.
pub fn accel_ports(data_bits: u32) -> Vec<Port> {
    let i = |name, width| Port {
        name,
        dir: Dir::In,
        width,
    };
    let o = |name, width| Port {
        name,
        dir: Dir::Out,
        width,
    };
    let (a, d, id) = (AXI_ADDR_BITS, data_bits, AXI_ID_BITS);
    let la = AXIL_ADDR_BITS;
    vec![
        i("aclk", 1),
        i("aresetn", 1),
        // AXI4-Lite slave: the registers.
        i("s_axil_awaddr", la),
        i("s_axil_awprot", 3),
        i("s_axil_awvalid", 1),
        o("s_axil_awready", 1),
        i("s_axil_wdata", AXIL_DATA_BITS),
        i("s_axil_wstrb", AXIL_DATA_BITS / 8),
        i("s_axil_wvalid", 1),
        o("s_axil_wready", 1),
        o("s_axil_bresp", 2),
        o("s_axil_bvalid", 1),
        i("s_axil_bready", 1),
        i("s_axil_araddr", la),
        i("s_axil_arprot", 3),
        i("s_axil_arvalid", 1),
        o("s_axil_arready", 1),
        o("s_axil_rdata", AXIL_DATA_BITS),
        o("s_axil_rresp", 2),
        o("s_axil_rvalid", 1),
        i("s_axil_rready", 1),
        // AXI4 master: device memory.
        o("m_axi_awid", id),
        o("m_axi_awaddr", a),
        o("m_axi_awlen", 8),
        o("m_axi_awsize", 3),
        o("m_axi_awburst", 2),
        o("m_axi_awlock", 1),
        o("m_axi_awcache", 4),
        o("m_axi_awprot", 3),
        o("m_axi_awvalid", 1),
        i("m_axi_awready", 1),
        o("m_axi_wdata", d),
        o("m_axi_wstrb", d / 8),
        o("m_axi_wlast", 1),
        o("m_axi_wvalid", 1),
        i("m_axi_wready", 1),
        i("m_axi_bid", id),
        i("m_axi_bresp", 2),
        i("m_axi_bvalid", 1),
        o("m_axi_bready", 1),
        o("m_axi_arid", id),
        o("m_axi_araddr", a),
        o("m_axi_arlen", 8),
        o("m_axi_arsize", 3),
        o("m_axi_arburst", 2),
        o("m_axi_arlock", 1),
        o("m_axi_arcache", 4),
        o("m_axi_arprot", 3),
        o("m_axi_arvalid", 1),
        i("m_axi_arready", 1),
        i("m_axi_rid", id),
        i("m_axi_rdata", d),
        i("m_axi_rresp", 2),
        i("m_axi_rlast", 1),
        i("m_axi_rvalid", 1),
        o("m_axi_rready", 1),
        // Done interrupt, level ([`SHELL_IRQ`]).
        o("irq", 1),
    ]
}

/// Bytes one tile word of `bits` bits occupies in device memory: the next
/// power of two of its bytes, at least 8.
pub fn stride_for_bits(bits: u32) -> usize {
    super::word_bytes(bits).next_power_of_two().max(8)
}

/// Bytes one tile word occupies in device memory (see module docs).
pub fn tile_stride(cfg: &Config, lanes: usize) -> usize {
    stride_for_bits(super::tile_word_bits(cfg, lanes))
}

/// Bytes of one activation word in device memory: `2C` rounded up to a
/// power of two (16 for `C = 8`, 32 for `C = 12`).
pub fn act_stride(cfg: &Config) -> usize {
    stride_for_bits(super::act_word_bits(cfg))
}

/// Beats of `bytes` bytes from an [`ADDR_ALIGN`]-aligned address at
/// `data_bits` bits per beat.
pub fn beats(bytes: u64, data_bits: u32) -> u64 {
    bytes.div_ceil(data_bits as u64 / 8)
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

/// The engine's ERROR flags for a run of `rows` × `col_blocks` on an
/// activation memory of `act_depth` words (0: the engine accepts it).
pub fn engine_error(rows: u32, col_blocks: u32, act_depth: u32) -> u32 {
    if rows == 0 || col_blocks == 0 {
        super::ERR_EMPTY
    } else if col_blocks > act_depth {
        super::ERR_ACT_DEPTH
    } else {
        0
    }
}

impl Job {
    /// The SHELL_ERROR flags with which START ends this job at once on an
    /// engine of `lanes` lanes whose tile and activation words take
    /// `tile_stride` and `act_stride` bytes (0: the job runs). Every shell
    /// (RTL, `emu`, `verilator`) computes exactly this: the OR of
    /// [`SERR_LENGTH`], [`SERR_ALIGN`] and [`SERR_RANGE`] where they apply,
    /// and only if none does, [`SERR_ENGINE`] where [`engine_error`] is
    /// nonzero.
    pub fn flags_with(
        &self,
        tile_stride: usize,
        act_stride: usize,
        lanes: usize,
        act_depth: u32,
        mem_size: u64,
    ) -> u32 {
        let want = (self.rows as u64).div_ceil(lanes as u64) * self.col_blocks as u64;
        let mut flags = 0;
        if self.tile_words == 0
            || self.tile_words as u64 != want
            || self.batch == 0
            || self.batch > MAX_BATCH
        {
            flags |= SERR_LENGTH;
        }
        let addrs = [self.tile_addr, self.act_addr, self.res_addr];
        if addrs.iter().any(|a| a % ADDR_ALIGN != 0) {
            flags |= SERR_ALIGN;
        }
        // Products of 32-bit registers and small strides: u128 never overflows.
        let b = self.batch as u128;
        let ranges = [
            (
                self.tile_addr,
                self.tile_words as u128 * tile_stride as u128,
            ),
            (
                self.act_addr,
                b * self.col_blocks as u128 * act_stride as u128,
            ),
            (self.res_addr, b * self.rows as u128 * RESULT_STRIDE as u128),
        ];
        if ranges
            .iter()
            .any(|&(addr, len)| addr as u128 + len > mem_size as u128)
        {
            flags |= SERR_RANGE;
        }
        if flags == 0 && engine_error(self.rows, self.col_blocks, act_depth) != 0 {
            flags |= SERR_ENGINE;
        }
        flags
    }

    /// [`Job::flags_with`] for a SeedLM engine of `cfg` and `lanes`.
    pub fn flags(&self, cfg: &Config, lanes: usize, act_depth: u32, mem_size: u64) -> u32 {
        self.flags_with(
            tile_stride(cfg, lanes),
            act_stride(cfg),
            lanes,
            act_depth,
            mem_size,
        )
    }

    /// The shell-side part of [`Job::flags`] (without [`SERR_ENGINE`]):
    /// `Err(flags)` if the job is malformed.
    pub fn check(&self, cfg: &Config, lanes: usize, mem_size: u64) -> Result<(), u32> {
        match self.flags(cfg, lanes, u32::MAX, mem_size) & !SERR_ENGINE {
            0 => Ok(()),
            f => Err(f),
        }
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

/// Expected cycles of one job through the RTL shell (JOB_CYCLES), against
/// the engine-only count, for benchmarks and co-simulation checks.
///
/// The shell overlaps what it can: tile reads are issued right behind the
/// activation reads, activation words enter the engine's memory one per
/// cycle while the engine already takes the first tile's words (a tile
/// word of column `b` waits only for activation word `b`), the next
/// vector's activations load while the engine drains the last one, and
/// result writes run beside the stream. What stays serial is the first
/// read's latency, the activation beats ahead of the first tile beat on
/// R, the engine's tail, the last write's response and
/// [`SHELL_FIXED_CYCLES`]. Each further vector costs the larger of its R
/// beats (tile + activation beats: R carries one beat per cycle) and the
/// engine's cycles plus [`SHELL_RESTART_CYCLES`].
///
/// Measured with the stand-alone bench (`hdl/examples/accel_job.rs`, no
/// backpressure) before the read buffers' head register, then their skid
/// buffer ([`SHELL_FIFO_LATENCY`] 2 → 3 → 4), added a cycle each to every
/// job, 4-bit, 16 lanes, 2048x2048, 512-bit AXI (engine-only 32,796):
/// 32,909 at read/write latency 0/0, 33,108 at 200/0, 33,308 at 200/200
/// (+1.56%); 4-bit, 3 lanes, 30x800 (engine-only 1,015): 1,089 at 0/0,
/// 1,488 at 200/200, 3,536 for a batch of 3 at 200/200. The model gives 2
/// cycles less for each single vector at latencies >= 1 (6 less for the
/// batch of 3; the bench measured the same gaps before the job check
/// became sequential and the burst size registered, which added 37 cycles
/// to each job) and one cycle less again at 0 (the bench's memory answers
/// one cycle after a handshake at latency 0).
///
/// The floor of a single-vector job is therefore
/// `read latency + write latency + activation beats +`
/// [`SHELL_FIXED_CYCLES`] over the engine-only count: within 1% of 32,796
/// (328 cycles) with 200 cycles of read latency only when the write
/// response takes at most ~18 cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverheadModel {
    /// Cycles from AR handshake to the first R beat.
    pub read_latency: u64,
    /// Cycles from the last W handshake to its B response.
    pub write_latency: u64,
    /// AXI4 master data width in bits.
    pub data_bits: u32,
}

/// Steps of the job check's sequential arithmetic, one bit per cycle: the
/// bits of ROWS + lanes - 1 (below 2^33), divided by the lane count by
/// restoring division, and of BATCH, multiplied by COL_BLOCKS and ROWS by
/// shift-and-add (no multiplier and no divider in the shell, so that the
/// check is no long path on an FPGA).
pub const SHELL_CHECK_STEPS: u32 = 33;
/// Cycles of the job check (once per job, before any memory access): one
/// to load its operands, [`SHELL_CHECK_STEPS`] + 1 of shift-and-add (the
/// product ceil(ROWS / lanes) · COL_BLOCKS takes the quotient bits one
/// cycle behind the division), one to add the ranges' ends and test the
/// lengths and alignment, one to compare the ends with the memory size,
/// one to act on the flags.
pub const SHELL_CHECK_CYCLES: u64 = SHELL_CHECK_STEPS as u64 + 5;
/// Cycles from an R beat taken into one of the shell's read buffers (tile
/// or activation FIFO) to that beat at the buffer's head, valid: the
/// block-RAM write, the read issued a cycle later against a credit of the
/// skid buffer, the block RAM's read and output registers (always enabled,
/// so that no enable is combinational from the consumer's pop, and the
/// output register's fast clock-to-out instead of the ECP5 DP16KD's
/// 5.6–5.8 ns without it), then the skid buffer's head register. Both
/// buffers have it; it is on a job's serial path once
/// ([`SHELL_FIXED_CYCLES`]).
pub const SHELL_FIFO_LATENCY: u64 = 4;
/// Cycles of a job's serial path the latencies do not cover: START
/// decode, the job check ([`SHELL_CHECK_CYCLES`]), the read issuer's
/// registered burst size (a cycle after each segment set-up and each
/// AR, so the first AR waits one), a read buffer's
/// [`SHELL_FIFO_LATENCY`], the engine's START through its CSR port, the
/// feeder registers, the result write register, DONE.
pub const SHELL_FIXED_CYCLES: u64 = 6 + SHELL_FIFO_LATENCY + SHELL_CHECK_CYCLES;
/// Cycles between the engine's last result of one vector and its first
/// accepted word of the next (the engine goes idle, then START).
pub const SHELL_RESTART_CYCLES: u64 = 7;

impl OverheadModel {
    /// JOB_CYCLES of a job of `batch` vectors: `engine_cycles` is the
    /// engine-only count of one vector (`tile_words` words plus the
    /// engine's tail), `tile_bytes` and `act_bytes` the bytes the shell
    /// reads per vector (tile words and activation words at their strides).
    pub fn job_cycles(
        &self,
        engine_cycles: u64,
        tile_words: u64,
        tile_bytes: u64,
        act_bytes: u64,
        batch: u64,
    ) -> u64 {
        let tile_beats = beats(tile_bytes, self.data_bits);
        let act_beats = beats(act_bytes, self.data_bits);
        let tail = engine_cycles - tile_words;
        let first = (tile_beats + tail).max(engine_cycles);
        let next = (tile_beats + act_beats).max(engine_cycles + SHELL_RESTART_CYCLES);
        self.read_latency
            + act_beats
            + first
            + batch.saturating_sub(1) * next
            + self.write_latency
            + SHELL_FIXED_CYCLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw;

    #[test]
    fn test_shell_registers_follow_engine_csrs_without_overlap() {
        assert_eq!(SHELL_BASE, 1 << hw::CSR_ADDR_BITS);
        for (k, r) in SHELL_REGISTERS.iter().enumerate() {
            assert_eq!(r.offset, SHELL_BASE + 4 * k as u32, "{}", r.name);
            assert!(r.offset < BAR0_BYTES);
        }
        let mut bits = 0;
        for (bit, _, _) in SHELL_ERROR_FLAGS {
            assert_eq!(bit.count_ones(), 1);
            assert_eq!(bits & bit, 0);
            bits |= bit;
        }
    }

    #[test]
    fn test_shell_strides_are_powers_of_two() {
        assert_eq!(tile_stride(&Config::BITS4, 16), 64);
        assert_eq!(tile_stride(&Config::BITS3, 16), 128);
        assert_eq!(tile_stride(&Config::BITS3, 3), 16);
        assert_eq!(tile_stride(&Config::BITS4, 1), 8);
        assert_eq!(act_stride(&Config::BITS4), 16);
        assert_eq!(act_stride(&Config::BITS3), 32);
        for lanes in 1..=hw::MAX_LANES {
            for cfg in [Config::BITS3, Config::BITS4] {
                let s = tile_stride(&cfg, lanes);
                assert!(s.is_power_of_two() && s * 8 >= hw::tile_word_bits(&cfg, lanes) as usize);
            }
        }
    }

    #[test]
    fn test_shell_ports_are_unique_and_sized() {
        let ports = accel_ports(512);
        let mut names: Vec<_> = ports.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ports.len());
        let w = |n: &str| ports.iter().find(|p| p.name == n).unwrap().width;
        assert_eq!(w("m_axi_rdata"), 512);
        assert_eq!(w("m_axi_wstrb"), 64);
        assert_eq!(w("m_axi_araddr"), 64);
        assert_eq!(w("s_axil_rdata"), 32);
        assert!(check_axi_data_bits(512).is_ok() && check_axi_data_bits(64).is_err());
    }

    #[test]
    fn test_shell_job_flags() {
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
        let f = |j: &Job, mem| j.flags(&cfg, 8, 4096, mem);
        assert_eq!(f(&job, need), 0);
        assert_eq!(job.check(&cfg, 8, need), Ok(()));
        assert_eq!(f(&job, need - 1), SERR_RANGE);
        assert_eq!(job.check(&cfg, 8, need - 1), Err(SERR_RANGE));
        assert_eq!(
            f(
                &Job {
                    tile_words: 5,
                    ..job
                },
                need
            ),
            SERR_LENGTH
        );
        assert_eq!(
            f(
                &Job {
                    tile_words: 0,
                    ..job
                },
                need
            ),
            SERR_LENGTH
        );
        assert_eq!(f(&Job { batch: 0, ..job }, need), SERR_LENGTH);
        let big = Job {
            batch: MAX_BATCH + 1,
            ..job
        };
        assert_eq!(f(&big, u64::MAX), SERR_LENGTH);
        assert_eq!(
            f(
                &Job {
                    act_addr: 4100,
                    ..job
                },
                need
            ),
            SERR_ALIGN
        );
        let far = Job {
            res_addr: u64::MAX - 127,
            ..job
        };
        assert_eq!(f(&far, u64::MAX), SERR_RANGE);
        let both = Job {
            res_addr: u64::MAX - 8,
            tile_words: 1,
            ..job
        };
        assert_eq!(f(&both, u64::MAX), SERR_RANGE | SERR_ALIGN | SERR_LENGTH);
        let deep = Job {
            col_blocks: 4097,
            tile_words: 2 * 4097,
            ..job
        };
        assert_eq!(f(&deep, u64::MAX), SERR_ENGINE);
        assert_eq!(deep.check(&cfg, 8, u64::MAX), Ok(()));
        assert_eq!(engine_error(0, 1, 8), hw::ERR_EMPTY);
        assert_eq!(engine_error(1, 9, 8), hw::ERR_ACT_DEPTH);
        assert_eq!(job.act_at(&cfg, 1), 4096 + 3 * 16);
        assert_eq!(job.res_at(1), 8192 + 9 * 16);
    }

    #[test]
    fn test_shell_overhead_model_matches_measured_jobs() {
        let m = |r, w| OverheadModel {
            read_latency: r,
            write_latency: w,
            data_bits: 512,
        };
        // 2048x2048, 4-bit, 16 lanes: 32,768 words of 64 B, 256 act words of 16 B.
        let big = |r, w, b| m(r, w).job_cycles(32_796, 32_768, 32_768 * 64, 256 * 16, b);
        assert_eq!(big(200, 200, 1), 33_308);
        assert_eq!(big(200, 0, 1), 33_108);
        assert_eq!(big(200, 200, 2), 66_140);
        assert_eq!(big(200, 200, 4), 131_804);
        // 30x800, 4-bit, 3 lanes: 1,000 words of 16 B, 100 act words.
        let small = |b| m(200, 200).job_cycles(1_015, 1_000, 1_000 * 16, 100 * 16, b);
        assert_eq!(small(1), 1_488);
        assert_eq!(small(3), 3_532);
    }
}
