//! CSR block: the register map of [`seedlm::hw`] behind a simple
//! AXI4-Lite-style register port.
//!
//! Port protocol (one register per beat, no wait states): a write is
//! `we` with `addr` (byte offset) and `wdata`, taking effect at the clock
//! edge; a read is `re` with `addr`, answered by `rvalid` and `rdata` one
//! cycle later. Offsets and bit positions are constants taken from
//! [`seedlm::hw`], emitted as Verilog `localparam`s.

use super::pipe::Pipe;
use rust_hdl::prelude::*;
use seedlm::hw;

/// Registers of the engine, read and written through the CSR port.
#[derive(LogicBlock)]
pub struct Csr {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset, active high.
    pub reset: Signal<In, Bit>,
    /// Byte offset of the register.
    pub addr: Signal<In, Bits<8>>,
    /// Write data.
    pub wdata: Signal<In, Bits<32>>,
    /// Write strobe.
    pub we: Signal<In, Bit>,
    /// Read strobe.
    pub re: Signal<In, Bit>,
    /// Read data, valid with `rvalid`.
    pub rdata: Signal<Out, Bits<32>>,
    /// `rdata` answers the read of the previous cycle.
    pub rvalid: Signal<Out, Bit>,
    /// ROWS.
    pub rows: Signal<Out, Bits<32>>,
    /// COL_BLOCKS.
    pub col_blocks: Signal<Out, Bits<32>>,
    /// One-cycle pulse: START was written.
    pub start: Signal<Out, Bit>,
    /// Engine busy.
    pub busy: Signal<In, Bit>,
    /// Engine done.
    pub done: Signal<In, Bit>,
    /// Error flags.
    pub error: Signal<In, Bits<32>>,
    /// Cycle counter.
    pub cycles: Signal<In, Bits<64>>,
    rows_r: Pipe<Bits<32>>,
    cols_r: Pipe<Bits<32>>,
    start_r: Pipe<Bit>,
    rdata_r: Pipe<Bits<32>>,
    rvalid_r: Pipe<Bit>,
    status: Signal<Local, Bits<32>>,
    a_ctrl: Constant<Bits<8>>,
    a_status: Constant<Bits<8>>,
    a_rows: Constant<Bits<8>>,
    a_cols: Constant<Bits<8>>,
    a_cyc_lo: Constant<Bits<8>>,
    a_cyc_hi: Constant<Bits<8>>,
    a_error: Constant<Bits<8>>,
    a_version: Constant<Bits<8>>,
    a_config: Constant<Bits<8>>,
    a_depth: Constant<Bits<8>>,
    ctrl_start: Constant<Bits<32>>,
    st_busy: Constant<Bits<32>>,
    st_done: Constant<Bits<32>>,
    st_error: Constant<Bits<32>>,
    version: Constant<Bits<32>>,
    config_word: Constant<Bits<32>>,
    depth: Constant<Bits<32>>,
}

impl Csr {
    /// The CSR block; `config` is the CONFIG register value
    /// ([`hw::encode_config`]) and `act_depth` the activation memory words.
    pub fn new(config: u32, act_depth: u32) -> Self {
        let a = |off: u32| Constant::new((off as u64).into());
        let c = |v: u32| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            addr: Default::default(),
            wdata: Default::default(),
            we: Default::default(),
            re: Default::default(),
            rdata: Default::default(),
            rvalid: Default::default(),
            rows: Default::default(),
            col_blocks: Default::default(),
            start: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            error: Default::default(),
            cycles: Default::default(),
            rows_r: Pipe::new(1),
            cols_r: Pipe::new(1),
            start_r: Pipe::new(1),
            rdata_r: Pipe::new(1),
            rvalid_r: Pipe::new(1),
            status: Default::default(),
            a_ctrl: a(hw::CSR_CTRL),
            a_status: a(hw::CSR_STATUS),
            a_rows: a(hw::CSR_ROWS),
            a_cols: a(hw::CSR_COL_BLOCKS),
            a_cyc_lo: a(hw::CSR_CYCLES_LO),
            a_cyc_hi: a(hw::CSR_CYCLES_HI),
            a_error: a(hw::CSR_ERROR),
            a_version: a(hw::CSR_VERSION),
            a_config: a(hw::CSR_CONFIG),
            a_depth: a(hw::CSR_ACT_DEPTH),
            ctrl_start: c(hw::CTRL_START),
            st_busy: c(hw::STATUS_BUSY),
            st_done: c(hw::STATUS_DONE),
            st_error: c(hw::STATUS_ERROR),
            version: c(hw::VERSION),
            config_word: c(config),
            depth: c(act_depth),
        }
    }
}

impl Logic for Csr {
    #[hdl_gen]
    fn update(&mut self) {
        self.rows_r.clock.next = self.clock.val();
        self.cols_r.clock.next = self.clock.val();
        self.start_r.clock.next = self.clock.val();
        self.rdata_r.clock.next = self.clock.val();
        self.rvalid_r.clock.next = self.clock.val();
        self.rows_r.d[0].next = self.rows_r.q[0].val();
        self.cols_r.d[0].next = self.cols_r.q[0].val();
        self.start_r.d[0].next = false;
        if self.we.val() {
            if self.addr.val() == self.a_rows.val() {
                self.rows_r.d[0].next = self.wdata.val();
            }
            if self.addr.val() == self.a_cols.val() {
                self.cols_r.d[0].next = self.wdata.val();
            }
            if self.addr.val() == self.a_ctrl.val() {
                self.start_r.d[0].next = (self.wdata.val() & self.ctrl_start.val()).any();
            }
        }
        self.status.next = 0.into();
        if self.busy.val() {
            self.status.next = self.st_busy.val();
        }
        if self.done.val() {
            self.status.next = self.st_done.val();
        }
        if self.error.val().any() {
            self.status.next = self.st_error.val();
        }
        self.rdata_r.d[0].next = 0.into();
        if self.addr.val() == self.a_status.val() {
            self.rdata_r.d[0].next = self.status.val();
        }
        if self.addr.val() == self.a_rows.val() {
            self.rdata_r.d[0].next = self.rows_r.q[0].val();
        }
        if self.addr.val() == self.a_cols.val() {
            self.rdata_r.d[0].next = self.cols_r.q[0].val();
        }
        if self.addr.val() == self.a_cyc_lo.val() {
            self.rdata_r.d[0].next = self.cycles.val().get_bits::<32>(0);
        }
        if self.addr.val() == self.a_cyc_hi.val() {
            self.rdata_r.d[0].next = self.cycles.val().get_bits::<32>(32);
        }
        if self.addr.val() == self.a_error.val() {
            self.rdata_r.d[0].next = self.error.val();
        }
        if self.addr.val() == self.a_version.val() {
            self.rdata_r.d[0].next = self.version.val();
        }
        if self.addr.val() == self.a_config.val() {
            self.rdata_r.d[0].next = self.config_word.val();
        }
        if self.addr.val() == self.a_depth.val() {
            self.rdata_r.d[0].next = self.depth.val();
        }
        self.rvalid_r.d[0].next = self.re.val();
        if self.reset.val() {
            self.rows_r.d[0].next = 0.into();
            self.cols_r.d[0].next = 0.into();
            self.start_r.d[0].next = false;
            self.rvalid_r.d[0].next = false;
        }
        self.rows.next = self.rows_r.q[0].val();
        self.col_blocks.next = self.cols_r.q[0].val();
        self.start.next = self.start_r.q[0].val();
        self.rdata.next = self.rdata_r.q[0].val();
        self.rvalid.next = self.rvalid_r.q[0].val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_csr_synthesizes() {
        let mut uut = Csr::new(0x0803_1008, 4096);
        uut.connect_all();
        yosys_validate("csr", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_csr_operation() {
        let mut uut = Csr::new(0x0803_1008, 4096);
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<Csr>| x.clock.next = !x.clock.val());
        sim.add_testbench(move |mut sim: Sim<Csr>| {
            let mut x = sim.init()?;
            x.we.next = true;
            x.addr.next = (hw::CSR_ROWS as u64).into();
            x.wdata.next = 77.into();
            wait_clock_cycle!(sim, clock, x);
            x.addr.next = (hw::CSR_COL_BLOCKS as u64).into();
            x.wdata.next = 9.into();
            wait_clock_cycle!(sim, clock, x);
            x.addr.next = (hw::CSR_CTRL as u64).into();
            x.wdata.next = (hw::CTRL_START as u64).into();
            wait_clock_cycle!(sim, clock, x);
            x.we.next = false;
            sim_assert_eq!(sim, x.start.val(), true, x);
            sim_assert_eq!(sim, x.rows.val(), 77, x);
            sim_assert_eq!(sim, x.col_blocks.val(), 9, x);
            x.busy.next = true;
            x.cycles.next = 0x1_0000_0002u64.into();
            let reads = [
                (hw::CSR_STATUS, hw::STATUS_BUSY),
                (hw::CSR_ROWS, 77),
                (hw::CSR_CYCLES_LO, 2),
                (hw::CSR_CYCLES_HI, 1),
                (hw::CSR_VERSION, hw::VERSION),
                (hw::CSR_CONFIG, 0x0803_1008),
                (hw::CSR_ACT_DEPTH, 4096),
            ];
            for (addr, want) in reads {
                x.re.next = true;
                x.addr.next = (addr as u64).into();
                wait_clock_cycle!(sim, clock, x);
                sim_assert_eq!(sim, x.start.val(), false, x);
                sim_assert_eq!(sim, x.rvalid.val(), true, x);
                sim_assert_eq!(sim, x.rdata.val(), want as u64, x);
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 10_000).unwrap();
    }
}
