//! The whole accelerator `seedlm_accel` (engine + shell), simulated cycle
//! by cycle: the host's side is AXI4-Lite transactions on `s_axil_*`
//! ([`Accel::read`], [`Accel::write`]), device memory is an
//! [`AxiMemory`] answering the shell's AXI4 master `m_axi_*`.
//!
//! Every clock cycle ([`Accel::tick`]) applies the memory's outputs and
//! the AXI4-Lite master's, evaluates the design, samples its outputs and
//! lets the memory see the handshakes of that edge. Port names, widths and
//! the register map come from [`seedlm::hw::shell`]; the variants compiled
//! in are listed by [`accel_variants`].
//!
//! An AXI4-Lite transaction that gets no handshake within
//! [`LITE_TIMEOUT`] cycles fails ([`Error::Bus`]) instead of hanging, and
//! so does a response other than OKAY. The memory records every AXI rule
//! the shell breaks ([`Accel::violations`]).
//!
//! Set `SEEDLM_VCD=DIR` to write a VCD trace of every model to
//! `DIR/seedlm_accel_b<bits>_l<lanes>_<n>.vcd`.

use crate::axi::{AxiMemory, MasterOut, MemTiming};
use crate::{ffi, Error, Result, TRACES};
use seedlm::hw::shell::{self as sh, Dir};
use seedlm_hdl::top::Kind;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Cycles an AXI4-Lite transaction may wait for a handshake.
pub const LITE_TIMEOUT: u64 = 10_000;
/// Cycles `aresetn` is held low by [`Accel::reset`].
pub const RESET_CYCLES: u64 = 4;

/// The accelerator variants compiled into this crate: `(kind, lanes, AXI
/// data bits)`.
pub fn accel_variants() -> Vec<(Kind, usize, u32)> {
    ffi::VARIANTS
        .iter()
        .filter(|v| v.accel)
        .map(|v| (v.kind(), v.lanes, v.data_bits))
        .collect()
}

/// A port's place in the flat tick buffers.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// First 32-bit word.
    off: usize,
    /// Width in bits.
    width: u32,
}

/// Every port of the top, resolved once.
#[derive(Clone, Copy, Debug)]
struct Ports {
    aresetn: Slot,
    l_awaddr: Slot,
    l_awvalid: Slot,
    l_awready: Slot,
    l_wdata: Slot,
    l_wstrb: Slot,
    l_wvalid: Slot,
    l_wready: Slot,
    l_bresp: Slot,
    l_bvalid: Slot,
    l_bready: Slot,
    l_araddr: Slot,
    l_arvalid: Slot,
    l_arready: Slot,
    l_rdata: Slot,
    l_rresp: Slot,
    l_rvalid: Slot,
    l_rready: Slot,
    awid: Slot,
    awaddr: Slot,
    awlen: Slot,
    awsize: Slot,
    awburst: Slot,
    awvalid: Slot,
    awready: Slot,
    wdata: Slot,
    wstrb: Slot,
    wlast: Slot,
    wvalid: Slot,
    wready: Slot,
    bid: Slot,
    bresp: Slot,
    bvalid: Slot,
    bready: Slot,
    arid: Slot,
    araddr: Slot,
    arlen: Slot,
    arsize: Slot,
    arburst: Slot,
    arvalid: Slot,
    arready: Slot,
    rid: Slot,
    rdata: Slot,
    rresp: Slot,
    rlast: Slot,
    rvalid: Slot,
    rready: Slot,
    interrupt: Slot,
}

impl Ports {
    /// Resolves every port of [`sh::accel_ports`] to its slot; returns the
    /// ports and the input and output buffer lengths in words.
    fn resolve(data_bits: u32) -> (Ports, usize, usize) {
        let mut map = HashMap::new();
        let (mut i, mut o) = (0, 0);
        for p in sh::accel_ports(data_bits)
            .into_iter()
            .filter(|p| p.name != "aclk")
        {
            let at = if p.dir == Dir::In { &mut i } else { &mut o };
            map.insert(
                p.name,
                Slot {
                    off: *at,
                    width: p.width,
                },
            );
            *at += p.width.div_ceil(32) as usize;
        }
        let s = |n: &str| map[n];
        let l = |n: &str| map[format!("s_axil_{n}").as_str()];
        let m = |n: &str| map[format!("m_axi_{n}").as_str()];
        let ports = Ports {
            aresetn: s("aresetn"),
            l_awaddr: l("awaddr"),
            l_awvalid: l("awvalid"),
            l_awready: l("awready"),
            l_wdata: l("wdata"),
            l_wstrb: l("wstrb"),
            l_wvalid: l("wvalid"),
            l_wready: l("wready"),
            l_bresp: l("bresp"),
            l_bvalid: l("bvalid"),
            l_bready: l("bready"),
            l_araddr: l("araddr"),
            l_arvalid: l("arvalid"),
            l_arready: l("arready"),
            l_rdata: l("rdata"),
            l_rresp: l("rresp"),
            l_rvalid: l("rvalid"),
            l_rready: l("rready"),
            awid: m("awid"),
            awaddr: m("awaddr"),
            awlen: m("awlen"),
            awsize: m("awsize"),
            awburst: m("awburst"),
            awvalid: m("awvalid"),
            awready: m("awready"),
            wdata: m("wdata"),
            wstrb: m("wstrb"),
            wlast: m("wlast"),
            wvalid: m("wvalid"),
            wready: m("wready"),
            bid: m("bid"),
            bresp: m("bresp"),
            bvalid: m("bvalid"),
            bready: m("bready"),
            arid: m("arid"),
            araddr: m("araddr"),
            arlen: m("arlen"),
            arsize: m("arsize"),
            arburst: m("arburst"),
            arvalid: m("arvalid"),
            arready: m("arready"),
            rid: m("rid"),
            rdata: m("rdata"),
            rresp: m("rresp"),
            rlast: m("rlast"),
            rvalid: m("rvalid"),
            rready: m("rready"),
            interrupt: s("irq"),
        };
        (ports, i, o)
    }
}

/// Reads a port of at most 64 bits from a buffer.
fn get(buf: &[u32], s: Slot) -> u64 {
    let lo = buf[s.off] as u64;
    if s.width > 32 {
        lo | (buf[s.off + 1] as u64) << 32
    } else {
        lo
    }
}

/// Writes a port of at most 64 bits into a buffer (masked to its width).
fn set(buf: &mut [u32], s: Slot, v: u64) {
    let v = if s.width < 64 {
        v & ((1u64 << s.width) - 1)
    } else {
        v
    };
    buf[s.off] = v as u32;
    if s.width > 32 {
        buf[s.off + 1] = (v >> 32) as u32;
    }
}

/// Copies a wide port's bytes (little-endian) out of a buffer.
fn get_bytes(buf: &[u32], s: Slot, out: &mut [u8]) {
    for (k, chunk) in out.chunks_mut(4).enumerate() {
        chunk.copy_from_slice(&buf[s.off + k].to_le_bytes()[..chunk.len()]);
    }
}

/// Copies bytes (little-endian) into a wide port of a buffer.
fn set_bytes(buf: &mut [u32], s: Slot, bytes: &[u8]) {
    for (k, chunk) in bytes.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        buf[s.off + k] = u32::from_le_bytes(w);
    }
}

/// A simulated `seedlm_accel` with its device memory.
pub struct Accel {
    model: ffi::Model,
    kind: Kind,
    lanes: usize,
    data_bits: u32,
    p: Ports,
    inputs: Vec<u32>,
    outputs: Vec<u32>,
    mem: AxiMemory,
    /// The master's outputs of the last cycle (reused buffer).
    m: MasterOut,
    ticks: u64,
}

impl Accel {
    /// The accelerator for `kind` with `lanes` lanes (a compiled variant),
    /// `mem_size` bytes of device memory behind the given `timing`, reset.
    /// The memory is at most as large as the shell's MEM_SIZE; addresses
    /// between `mem_size` and MEM_SIZE answer DECERR.
    pub fn new(kind: Kind, lanes: usize, mem_size: u64, timing: MemTiming) -> Result<Accel> {
        let variant = ffi::VARIANTS
            .iter()
            .find(|v| v.accel && v.kind() == kind && v.lanes == lanes)
            .ok_or_else(|| Error::NoAccelModel {
                what: format!("{kind:?} with {lanes} lanes"),
                built: format!("{:?}", accel_variants()),
            })?;
        let data_bits = variant.data_bits;
        let (p, i, o) = Ports::resolve(data_bits);
        let name = match kind {
            Kind::Seedlm(cfg) => format!("b{}_l{lanes}", cfg.bits_per_weight()),
            Kind::Fp16 => format!("fp16_l{lanes}"),
        };
        let vcd = std::env::var_os("SEEDLM_VCD").map(|dir| {
            let n = TRACES.fetch_add(1, Ordering::Relaxed);
            let path = std::path::Path::new(&dir).join(format!("{}_{name}_{n}.vcd", sh::ACCEL_TOP));
            std::ffi::CString::new(path.to_string_lossy().into_owned())
                .expect("VCD path has no NUL")
        });
        let model = ffi::Model::new(variant, vcd.as_ref(), i, o);
        let mut a = Accel {
            model,
            kind,
            lanes,
            data_bits,
            p,
            inputs: vec![0; i],
            outputs: vec![0; o],
            mem: AxiMemory::new(0, data_bits as usize / 8, timing),
            m: MasterOut {
                wdata: vec![0; data_bits as usize / 8],
                ..MasterOut::default()
            },
            ticks: 0,
        };
        a.reset();
        let shell_mem = a.read(sh::MEM_SIZE_LO)? as u64 | (a.read(sh::MEM_SIZE_HI)? as u64) << 32;
        a.mem = AxiMemory::new(mem_size.min(shell_mem), data_bits as usize / 8, timing);
        Ok(a)
    }

    /// The engine's datapath.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Lanes of the engine.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Data width of the AXI4 master in bits.
    pub fn data_bits(&self) -> u32 {
        self.data_bits
    }

    /// Clock cycles simulated so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The device memory.
    pub fn mem(&self) -> &AxiMemory {
        &self.mem
    }

    /// The device memory, mutable (contents, timing, faults).
    pub fn mem_mut(&mut self) -> &mut AxiMemory {
        &mut self.mem
    }

    /// AXI rules the shell broke so far (empty for a correct shell).
    pub fn violations(&self) -> &[String] {
        self.mem.violations()
    }

    /// The `irq` output as sampled in the last cycle.
    pub fn interrupt(&self) -> bool {
        get(&self.outputs, self.p.interrupt) == 1
    }

    /// Synchronous reset: `aresetn` low for [`RESET_CYCLES`] cycles; the
    /// memory forgets the bursts in flight (its contents stay).
    pub fn reset(&mut self) {
        self.inputs.iter_mut().for_each(|w| *w = 0);
        for _ in 0..RESET_CYCLES {
            self.tick();
        }
        self.mem.reset_bus();
        set(&mut self.inputs, self.p.aresetn, 1);
    }

    /// One clock cycle: the memory's and the AXI4-Lite master's outputs in,
    /// the design evaluated, the memory's handshakes of the edge done.
    pub fn tick(&mut self) {
        let p = self.p;
        let s = self.mem.drive();
        let inp = &mut self.inputs;
        set(inp, p.awready, s.awready as u64);
        set(inp, p.wready, s.wready as u64);
        set(inp, p.bid, s.bid as u64);
        set(inp, p.bresp, s.bresp as u64);
        set(inp, p.bvalid, s.bvalid as u64);
        set(inp, p.arready, s.arready as u64);
        set(inp, p.rid, s.rid as u64);
        set_bytes(inp, p.rdata, &s.rdata);
        set(inp, p.rresp, s.rresp as u64);
        set(inp, p.rlast, s.rlast as u64);
        set(inp, p.rvalid, s.rvalid as u64);
        self.model.tick(&self.inputs, &mut self.outputs);
        self.ticks += 1;
        let (o, m) = (&self.outputs, &mut self.m);
        m.awid = get(o, p.awid) as u32;
        m.awaddr = get(o, p.awaddr);
        m.awlen = get(o, p.awlen) as u8;
        m.awsize = get(o, p.awsize) as u8;
        m.awburst = get(o, p.awburst) as u8;
        m.awvalid = get(o, p.awvalid) == 1;
        get_bytes(o, p.wdata, &mut m.wdata);
        let mut strb = [0u8; 16];
        get_bytes(o, p.wstrb, &mut strb[..p.wstrb.width.div_ceil(8) as usize]);
        m.wstrb = u128::from_le_bytes(strb);
        m.wlast = get(o, p.wlast) == 1;
        m.wvalid = get(o, p.wvalid) == 1;
        m.bready = get(o, p.bready) == 1;
        m.arid = get(o, p.arid) as u32;
        m.araddr = get(o, p.araddr);
        m.arlen = get(o, p.arlen) as u8;
        m.arsize = get(o, p.arsize) as u8;
        m.arburst = get(o, p.arburst) as u8;
        m.arvalid = get(o, p.arvalid) == 1;
        m.rready = get(o, p.rready) == 1;
        self.mem.step(&self.m);
    }

    /// Ticks until `done` holds for the outputs sampled in a cycle, at
    /// most [`LITE_TIMEOUT`] cycles.
    fn wait_for(&mut self, what: &str, off: u32, done: Slot) -> Result<()> {
        for _ in 0..LITE_TIMEOUT {
            self.tick();
            if get(&self.outputs, done) == 1 {
                return Ok(());
            }
        }
        Err(Error::Bus(format!(
            "AXI4-Lite {what} of register {off:#x}: no handshake in {LITE_TIMEOUT} cycles"
        )))
    }

    /// Writes a register: AW and W together, then B (OKAY expected).
    pub fn write(&mut self, off: u32, v: u32) -> Result<()> {
        let p = self.p;
        set(&mut self.inputs, p.l_awaddr, off as u64);
        set(&mut self.inputs, p.l_wdata, v as u64);
        set(&mut self.inputs, p.l_wstrb, 0xF);
        set(&mut self.inputs, p.l_awvalid, 1);
        set(&mut self.inputs, p.l_wvalid, 1);
        let (mut aw, mut w) = (false, false);
        for _ in 0..LITE_TIMEOUT {
            self.tick();
            aw |= get(&self.outputs, p.l_awready) == 1;
            w |= get(&self.outputs, p.l_wready) == 1;
            set(&mut self.inputs, p.l_awvalid, !aw as u64);
            set(&mut self.inputs, p.l_wvalid, !w as u64);
            if aw && w {
                break;
            }
        }
        if !(aw && w) {
            return Err(Error::Bus(format!(
                "AXI4-Lite write of register {off:#x}: AWREADY {aw}, WREADY {w} after {LITE_TIMEOUT} cycles"
            )));
        }
        set(&mut self.inputs, p.l_bready, 1);
        let b = self.wait_for("write response", off, p.l_bvalid);
        set(&mut self.inputs, p.l_bready, 0);
        b?;
        match get(&self.outputs, p.l_bresp) {
            0 => Ok(()),
            r => Err(Error::Bus(format!(
                "AXI4-Lite write of register {off:#x}: BRESP {r}"
            ))),
        }
    }

    /// Reads a register: AR, then R (OKAY expected).
    pub fn read(&mut self, off: u32) -> Result<u32> {
        let p = self.p;
        set(&mut self.inputs, p.l_araddr, off as u64);
        set(&mut self.inputs, p.l_arvalid, 1);
        let ar = self.wait_for("read address", off, p.l_arready);
        set(&mut self.inputs, p.l_arvalid, 0);
        ar?;
        set(&mut self.inputs, p.l_rready, 1);
        let r = self.wait_for("read data", off, p.l_rvalid);
        set(&mut self.inputs, p.l_rready, 0);
        r?;
        match get(&self.outputs, p.l_rresp) {
            0 => Ok(get(&self.outputs, p.l_rdata) as u32),
            r => Err(Error::Bus(format!(
                "AXI4-Lite read of register {off:#x}: RRESP {r}"
            ))),
        }
    }
}
