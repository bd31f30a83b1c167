//! The engine: `N` MAC lanes on `N` rows at once, a block stream in, a row
//! result stream out, an activation memory and the CSR block.
//!
//! Stream order and word layouts are those of [`seedlm::hw`]. A beat of the
//! block stream is accepted when `blk_valid && blk_ready`; its `N` block
//! words are registered (stage 0) while the activation memory reads the
//! column block's slice, which every lane shares. Stage 1 registers the
//! words again while the slice passes the memory's output register
//! ([`ActMem`]), so the RAM's clock-to-output never shares a cycle with the
//! route to the lanes (on the ECP5 that path alone held the engine to
//! 95 MHz). When the lanes finish a
//! tile (the row's last block leaves the accumulators), the `N`
//! accumulators are captured into a bank that shifts one row per accepted
//! result beat (no `N`-way multiplexer); rows past ROWS are dropped.
//!
//! A tile's last word is accepted only while the bank is empty and no other
//! last word is in flight, so nothing is ever dropped; with
//! `COL_BLOCKS >= N + latency` this never stalls (one tile word per cycle).
//!
//! The FP16 baseline ([`SeedlmEngine::new_fp16`]) is the same engine with
//! [`Fp16Lane`]s in place of [`MacLane`]s: the stream, bank, activation
//! memory and CSR logic are shared; only the lanes differ.

use super::act_mem::ActMem;
use super::csr::Csr;
use super::fp16_lane::{fp16_lane_latency, Fp16Lane, FP16_WORD_BITS};
use super::mac_lane::{lane_latency, MacLane};
use super::pipe::Pipe;
use super::widths::AW;
use rust_hdl::prelude::*;
use seedlm::fixed_fp16::fp16_encode_config;
use seedlm::{hw, Config};

/// Activation memory address bits ([`hw::DEFAULT_ACT_ADDR_BITS`]).
pub const ACT_ADDR_BITS: usize = hw::DEFAULT_ACT_ADDR_BITS as usize;

/// Register stages in front of the lanes: stage 0 (the accepted word, the
/// memory's read register) and stage 1 (the memory's output register).
pub const INPUT_STAGES: usize = 2;

/// Cycles from accepting a tile's last word to its first result on the
/// output port: the input stages, the lane pipeline, the bank capture.
pub fn engine_latency(cfg: &Config) -> usize {
    INPUT_STAGES + lane_latency(cfg) + 1
}

/// [`engine_latency`] of the FP16 baseline engine.
pub fn fp16_engine_latency() -> usize {
    INPUT_STAGES + fp16_lane_latency() + 1
}

/// The engine core with `BW`-bit block (or FP16 lane) words and
/// `XW = 16·C`-bit activation slices; the lane count is `blk_word.len()`.
#[derive(LogicBlock)]
pub struct SeedlmEngine<const BW: usize, const XW: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset, active high.
    pub reset: Signal<In, Bit>,
    /// Block words of the tile word, one per lane.
    pub blk_word: Vec<Signal<In, Bits<BW>>>,
    /// The block stream has a word.
    pub blk_valid: Signal<In, Bit>,
    /// The engine takes the word.
    pub blk_ready: Signal<Out, Bit>,
    /// Result accumulator, 72-bit two's complement.
    pub res_acc: Signal<Out, Bits<AW>>,
    /// Result row index.
    pub res_row: Signal<Out, Bits<32>>,
    /// A result is on `res_acc`/`res_row`.
    pub res_valid: Signal<Out, Bit>,
    /// The consumer takes the result.
    pub res_ready: Signal<In, Bit>,
    /// Activation memory write enable.
    pub act_we: Signal<In, Bit>,
    /// Activation memory word (column block) address.
    pub act_addr: Signal<In, Bits<ACT_ADDR_BITS>>,
    /// Activation memory word.
    pub act_data: Signal<In, Bits<XW>>,
    /// CSR byte offset.
    pub csr_addr: Signal<In, Bits<8>>,
    /// CSR write data.
    pub csr_wdata: Signal<In, Bits<32>>,
    /// CSR write strobe.
    pub csr_we: Signal<In, Bit>,
    /// CSR read strobe.
    pub csr_re: Signal<In, Bit>,
    /// CSR read data.
    pub csr_rdata: Signal<Out, Bits<32>>,
    /// CSR read data valid.
    pub csr_rvalid: Signal<Out, Bit>,
    csr: Csr,
    act: ActMem<XW, ACT_ADDR_BITS>,
    lanes: Vec<MacLane<BW, XW>>,
    fp16: Vec<Fp16Lane>,
    s0_word: Pipe<Bits<BW>>,
    s0_flags: Pipe<Bit>,
    s1_word: Pipe<Bits<BW>>,
    s1_flags: Pipe<Bit>,
    running: Pipe<Bit>,
    done: Pipe<Bit>,
    error: Pipe<Bits<32>>,
    cycles: Pipe<Bits<64>>,
    col: Pipe<Bits<32>>,
    col_left: Pipe<Bits<32>>,
    rows_left: Pipe<Bits<32>>,
    last_busy: Pipe<Bit>,
    cap_base: Pipe<Bits<32>>,
    cap_left: Pipe<Bits<32>>,
    bank: Pipe<Bits<AW>>,
    bank_count: Pipe<Bits<32>>,
    bank_row: Pipe<Bits<32>>,
    all_done: Vec<Signal<Local, Bit>>,
    last_col: Pipe<Bit>,
    more_rows: Pipe<Bit>,
    bank_nz: Pipe<Bit>,
    ready: Signal<Local, Bit>,
    n_lanes: Constant<Bits<32>>,
    zero64: Constant<Bits<64>>,
    one64: Constant<Bits<64>>,
    one32: Constant<Bits<32>>,
    depth: Constant<Bits<32>>,
    err_empty: Constant<Bits<32>>,
    err_depth: Constant<Bits<32>>,
    err_busy: Constant<Bits<32>>,
}

impl<const BW: usize, const XW: usize> SeedlmEngine<BW, XW> {
    /// An engine of `lanes` lanes for configuration `cfg`; `BW` and `XW`
    /// must match it ([`seedlm::Config::bits_per_block`], `16·C`).
    pub fn new(cfg: &Config, lanes: usize) -> Self {
        hw::check_lanes(lanes).expect("lane count");
        let mac = (0..lanes).map(|_| MacLane::new(cfg)).collect();
        Self::build(hw::encode_config(cfg, lanes), mac, vec![])
    }

    /// The FP16 baseline engine of `lanes` lanes; `BW = XW = 128`.
    pub fn new_fp16(lanes: usize) -> Self {
        hw::check_lanes(lanes).expect("lane count");
        assert!(
            BW == FP16_WORD_BITS && XW == FP16_WORD_BITS,
            "FP16 lane word width"
        );
        let fp16 = (0..lanes).map(|_| Fp16Lane::default()).collect();
        Self::build(fp16_encode_config(lanes), vec![], fp16)
    }

    /// The engine around either kind of lanes (one of the two is empty).
    fn build(config: u32, mac: Vec<MacLane<BW, XW>>, fp16: Vec<Fp16Lane>) -> Self {
        let lanes = mac.len() + fp16.len();
        let depth = 1u32 << ACT_ADDR_BITS;
        let c32 = |v: u32| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            blk_word: (0..lanes).map(|_| Default::default()).collect(),
            blk_valid: Default::default(),
            blk_ready: Default::default(),
            res_acc: Default::default(),
            res_row: Default::default(),
            res_valid: Default::default(),
            res_ready: Default::default(),
            act_we: Default::default(),
            act_addr: Default::default(),
            act_data: Default::default(),
            csr_addr: Default::default(),
            csr_wdata: Default::default(),
            csr_we: Default::default(),
            csr_re: Default::default(),
            csr_rdata: Default::default(),
            csr_rvalid: Default::default(),
            csr: Csr::new(config, depth),
            act: Default::default(),
            lanes: mac,
            fp16,
            s0_word: Pipe::new(lanes),
            s0_flags: Pipe::new(3),
            s1_word: Pipe::new(lanes),
            s1_flags: Pipe::new(3),
            running: Pipe::new(1),
            done: Pipe::new(1),
            error: Pipe::new(1),
            cycles: Pipe::new(1),
            col: Pipe::new(1),
            col_left: Pipe::new(1),
            rows_left: Pipe::new(1),
            last_busy: Pipe::new(1),
            cap_base: Pipe::new(1),
            cap_left: Pipe::new(1),
            bank: Pipe::new(lanes),
            bank_count: Pipe::new(1),
            bank_row: Pipe::new(1),
            all_done: (0..=lanes).map(|_| Default::default()).collect(),
            last_col: Pipe::new(1),
            more_rows: Pipe::new(1),
            bank_nz: Pipe::new(1),
            ready: Default::default(),
            n_lanes: c32(lanes as u32),
            zero64: Constant::new(0.into()),
            one64: Constant::new(1.into()),
            one32: c32(1),
            depth: c32(depth),
            err_empty: c32(hw::ERR_EMPTY),
            err_depth: c32(hw::ERR_ACT_DEPTH),
            err_busy: c32(hw::ERR_START_BUSY),
        }
    }
}

impl<const BW: usize, const XW: usize> Logic for SeedlmEngine<BW, XW> {
    #[hdl_gen]
    fn update(&mut self) {
        self.csr.clock.next = self.clock.val();
        self.act.clock.next = self.clock.val();
        self.s0_word.clock.next = self.clock.val();
        self.s0_flags.clock.next = self.clock.val();
        self.s1_word.clock.next = self.clock.val();
        self.s1_flags.clock.next = self.clock.val();
        self.running.clock.next = self.clock.val();
        self.done.clock.next = self.clock.val();
        self.error.clock.next = self.clock.val();
        self.cycles.clock.next = self.clock.val();
        self.col.clock.next = self.clock.val();
        self.col_left.clock.next = self.clock.val();
        self.last_col.clock.next = self.clock.val();
        self.more_rows.clock.next = self.clock.val();
        self.bank_nz.clock.next = self.clock.val();
        self.rows_left.clock.next = self.clock.val();
        self.last_busy.clock.next = self.clock.val();
        self.cap_base.clock.next = self.clock.val();
        self.cap_left.clock.next = self.clock.val();
        self.bank.clock.next = self.clock.val();
        self.bank_count.clock.next = self.clock.val();
        self.bank_row.clock.next = self.clock.val();
        // CSR port.
        self.csr.reset.next = self.reset.val();
        self.csr.addr.next = self.csr_addr.val();
        self.csr.wdata.next = self.csr_wdata.val();
        self.csr.we.next = self.csr_we.val();
        self.csr.re.next = self.csr_re.val();
        self.csr.busy.next = self.running.q[0].val();
        self.csr.done.next = self.done.q[0].val();
        self.csr.error.next = self.error.q[0].val();
        self.csr.cycles.next = self.cycles.q[0].val();
        self.csr_rdata.next = self.csr.rdata.val();
        self.csr_rvalid.next = self.csr.rvalid.val();
        // Activation memory: written by the host, read at the column block.
        self.act.write_enable.next = self.act_we.val();
        self.act.write_address.next = self.act_addr.val();
        self.act.write_data.next = self.act_data.val();
        self.act.read_address.next = self.col.q[0].val().get_bits::<ACT_ADDR_BITS>(0);
        // Hold every register by default.
        self.running.d[0].next = self.running.q[0].val();
        self.done.d[0].next = self.done.q[0].val();
        self.error.d[0].next = self.error.q[0].val();
        self.cycles.d[0].next = self.cycles.q[0].val();
        self.col.d[0].next = self.col.q[0].val();
        self.col_left.d[0].next = self.col_left.q[0].val();
        self.last_col.d[0].next = self.last_col.q[0].val();
        self.more_rows.d[0].next = self.more_rows.q[0].val();
        self.bank_nz.d[0].next = self.bank_nz.q[0].val();
        self.rows_left.d[0].next = self.rows_left.q[0].val();
        self.last_busy.d[0].next = self.last_busy.q[0].val();
        self.cap_base.d[0].next = self.cap_base.q[0].val();
        self.cap_left.d[0].next = self.cap_left.q[0].val();
        self.bank_count.d[0].next = self.bank_count.q[0].val();
        self.bank_row.d[0].next = self.bank_row.q[0].val();
        for l in 0..self.bank.d.len() {
            self.bank.d[l].next = self.bank.q[l].val();
        }
        // Input side: accept a tile word unless it is a last one that the
        // bank could not take. `blk_ready` is two LUT levels from flag
        // registers: the counts left are down-counters, and whether each is
        // zero (`last_col`: col_left == 0, `more_rows`: rows_left != 0,
        // `bank_nz`: bank_count != 0) is registered beside it, so no add,
        // compare or wide OR lies between the registers and the port.
        self.ready.next = self.running.q[0].val() && self.more_rows.q[0].val();
        if self.last_col.q[0].val() && (self.last_busy.q[0].val() || self.bank_nz.q[0].val()) {
            self.ready.next = false;
        }
        self.blk_ready.next = self.ready.val();
        for l in 0..self.s0_word.d.len() {
            self.s0_word.d[l].next = self.blk_word[l].val();
        }
        self.s0_flags.d[0].next = self.ready.val() && self.blk_valid.val();
        self.s0_flags.d[1].next = !self.col.q[0].val().any();
        self.s0_flags.d[2].next = self.last_col.q[0].val();
        if self.ready.val() && self.blk_valid.val() {
            if self.last_col.q[0].val() {
                self.col.d[0].next = 0.into();
                self.col_left.d[0].next = self.csr.col_blocks.val() - 1;
                self.last_col.d[0].next = self.csr.col_blocks.val() == self.one32.val();
                self.rows_left.d[0].next = 0.into();
                self.more_rows.d[0].next = false;
                if self.rows_left.q[0].val() > self.n_lanes.val() {
                    self.rows_left.d[0].next = self.rows_left.q[0].val() - self.n_lanes.val();
                    self.more_rows.d[0].next = true;
                }
                self.last_busy.d[0].next = true;
            } else {
                self.col.d[0].next = self.col.q[0].val() + 1;
                self.col_left.d[0].next = self.col_left.q[0].val() - 1;
                self.last_col.d[0].next = self.col_left.q[0].val() == self.one32.val();
            }
        }
        // Stage 1: the words and flags beside the memory's output register.
        for l in 0..self.s1_word.d.len() {
            self.s1_word.d[l].next = self.s0_word.q[l].val();
        }
        for f in 0..self.s1_flags.d.len() {
            self.s1_flags.d[f].next = self.s0_flags.q[f].val();
        }
        // Lanes.
        for l in 0..self.lanes.len() {
            self.lanes[l].clock.next = self.clock.val();
            self.lanes[l].word.next = self.s1_word.q[l].val();
            self.lanes[l].x.next = self.act.read_data.val();
            self.lanes[l].valid.next = self.s1_flags.q[0].val();
            self.lanes[l].first.next = self.s1_flags.q[1].val();
            self.lanes[l].last.next = self.s1_flags.q[2].val();
        }
        for l in 0..self.fp16.len() {
            self.fp16[l].clock.next = self.clock.val();
            self.fp16[l].word.next = self.s1_word.q[l].val().get_bits::<FP16_WORD_BITS>(0);
            self.fp16[l].x.next = self.act.read_data.val().get_bits::<FP16_WORD_BITS>(0);
            self.fp16[l].valid.next = self.s1_flags.q[0].val();
            self.fp16[l].first.next = self.s1_flags.q[1].val();
            self.fp16[l].last.next = self.s1_flags.q[2].val();
        }
        // Output side: a shifting bank, one row per accepted result.
        self.res_valid.next = self.bank_nz.q[0].val();
        self.res_acc.next = self.bank.q[0].val();
        self.res_row.next = self.bank_row.q[0].val();
        if self.bank_nz.q[0].val() && self.res_ready.val() {
            for l in 0..(self.bank.d.len() - 1) {
                self.bank.d[l].next = self.bank.q[l + 1].val();
            }
            self.bank_count.d[0].next = self.bank_count.q[0].val() - 1;
            self.bank_nz.d[0].next = self.bank_count.q[0].val() != self.one32.val();
            self.bank_row.d[0].next = self.bank_row.q[0].val() + 1;
        }
        // The lanes run in lockstep; a tile is done when all say so.
        self.all_done[0].next = true;
        for l in 0..self.lanes.len() {
            self.all_done[l + 1].next = self.all_done[l].val() && self.lanes[l].done.val();
        }
        for l in 0..self.fp16.len() {
            self.all_done[l + 1].next = self.all_done[l].val() && self.fp16[l].done.val();
        }
        for n in self.bank.d.len()..(self.bank.d.len() + 1) {
            if self.all_done[n].val() {
                for l in 0..self.lanes.len() {
                    self.bank.d[l].next = self.lanes[l].acc.val();
                }
                for l in 0..self.fp16.len() {
                    self.bank.d[l].next = self.fp16[l].acc.val();
                }
                self.bank_count.d[0].next = self.n_lanes.val();
                self.bank_nz.d[0].next = self.cap_left.q[0].val().any();
                self.cap_left.d[0].next = self.cap_left.q[0].val() - self.n_lanes.val();
                if self.cap_left.q[0].val() < self.n_lanes.val() {
                    self.bank_count.d[0].next = self.cap_left.q[0].val();
                    self.cap_left.d[0].next = 0.into();
                }
                self.bank_row.d[0].next = self.cap_base.q[0].val();
                self.cap_base.d[0].next = self.cap_base.q[0].val() + self.n_lanes.val();
                self.last_busy.d[0].next = false;
            }
        }
        // Run control.
        if self.running.q[0].val() {
            self.cycles.d[0].next = self.cycles.q[0].val() + self.one64.val();
            if !self.cap_left.q[0].val().any() && !self.bank_nz.q[0].val() {
                self.running.d[0].next = false;
                self.done.d[0].next = true;
            }
        }
        if self.csr.start.val() {
            if self.running.q[0].val() {
                self.error.d[0].next = self.error.q[0].val() | self.err_busy.val();
            } else {
                self.done.d[0].next = false;
                if !self.csr.rows.val().any() || !self.csr.col_blocks.val().any() {
                    self.error.d[0].next = self.err_empty.val();
                } else if self.csr.col_blocks.val() > self.depth.val() {
                    self.error.d[0].next = self.err_depth.val();
                } else {
                    self.error.d[0].next = 0.into();
                    self.running.d[0].next = true;
                    self.cycles.d[0].next = self.zero64.val();
                    self.col.d[0].next = 0.into();
                    self.col_left.d[0].next = self.csr.col_blocks.val() - 1;
                    self.last_col.d[0].next = self.csr.col_blocks.val() == self.one32.val();
                    self.rows_left.d[0].next = self.csr.rows.val();
                    self.more_rows.d[0].next = true;
                    self.cap_base.d[0].next = 0.into();
                    self.cap_left.d[0].next = self.csr.rows.val();
                }
            }
        }
        if self.reset.val() {
            self.running.d[0].next = false;
            self.done.d[0].next = false;
            self.error.d[0].next = 0.into();
            self.cycles.d[0].next = self.zero64.val();
            self.col.d[0].next = 0.into();
            self.col_left.d[0].next = 0.into();
            self.rows_left.d[0].next = 0.into();
            self.last_col.d[0].next = false;
            self.more_rows.d[0].next = false;
            self.bank_nz.d[0].next = false;
            self.last_busy.d[0].next = false;
            self.cap_base.d[0].next = 0.into();
            self.cap_left.d[0].next = 0.into();
            self.bank_count.d[0].next = 0.into();
            self.s0_flags.d[0].next = false;
            self.s1_flags.d[0].next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_engine_synthesizes() {
        let mut uut = SeedlmEngine::<32, 128>::new(&Config::BITS4, 2);
        uut.connect_all();
        yosys_validate("seedlm_engine", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_fp16_engine_synthesizes() {
        let mut uut = SeedlmEngine::<128, 128>::new_fp16(2);
        uut.connect_all();
        yosys_validate("fp16_engine", &generate_verilog(&uut)).unwrap();
    }
}
