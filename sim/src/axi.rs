//! An AXI4 slave memory for co-simulation: the device memory that the
//! accelerator's AXI4 master reads tiles and activations from and writes
//! results to.
//!
//! The model is cycle based. Each clock cycle the harness
//! 1. takes the slave's outputs from [`AxiMemory::drive`] and applies them to
//!    the design's inputs,
//! 2. evaluates the design and samples its master outputs ([`MasterOut`]),
//! 3. calls [`AxiMemory::step`] with them: every handshake of that rising
//!    edge (`valid && ready`, both as driven before it) takes effect.
//!
//! Slave outputs depend only on state from earlier cycles (a registered
//! slave), never combinationally on the master's outputs.
//!
//! **Timing** ([`MemTiming`]). A read burst accepted on the AR channel in
//! cycle `t` presents its first R beat in cycle `t + max(1, read_latency)`
//! at the earliest; bursts are answered in order and several may be
//! outstanding (up to [`MemTiming::max_reads`]). A write burst's B
//! response comes `max(1, write_latency)` cycles after its last W beat.
//! With probability [`MemTiming::ready_stall`] per cycle each of ARREADY,
//! AWREADY and WREADY is low; with probability [`MemTiming::valid_gap`]
//! an R beat or a B response that could be presented is held back one
//! cycle (gaps between R beats). Once presented, a beat stays valid and
//! stable until the master takes it, as AXI requires. Every random choice
//! comes from one generator seeded by [`MemTiming::seed`], so a run is
//! reproducible.
//!
//! **Errors.** A beat whose bytes fall outside the memory answers DECERR
//! ([`RESP_DECERR`]); one that touches an injected fault range
//! ([`AxiMemory::inject`]) answers that range's response (e.g.
//! [`RESP_SLVERR`]). Read data of a failed beat is zero; a write burst with
//! any failed beat writes nothing and answers the worst response.
//!
//! **Checks.** The model records every protocol rule the master breaks
//! ([`AxiMemory::violations`]): a burst that crosses a 4 KB boundary, a
//! burst type other than INCR, a size other than the full data width, an
//! address not aligned to it, WLAST on the wrong beat, a valid dropped or
//! its payload changed before the handshake. Only full-width, aligned INCR
//! bursts are supported, which is what the accelerator's master promises.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;

/// RRESP/BRESP: OKAY.
pub const RESP_OKAY: u8 = 0;
/// RRESP/BRESP: SLVERR, the slave reports an error.
pub const RESP_SLVERR: u8 = 2;
/// RRESP/BRESP: DECERR, no slave at that address.
pub const RESP_DECERR: u8 = 3;
/// AxBURST: INCR.
pub const BURST_INCR: u8 = 1;
/// Bursts may not cross a boundary of this many bytes.
pub const BOUNDARY: u64 = 4096;

/// Latency and backpressure of the memory (see module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemTiming {
    /// Cycles from an AR handshake to the earliest first R beat.
    pub read_latency: u32,
    /// Cycles from the last W beat to the earliest B response.
    pub write_latency: u32,
    /// Probability per cycle that ARREADY, AWREADY and WREADY (each
    /// independently) are low.
    pub ready_stall: f64,
    /// Probability per cycle that a ready R beat or B response is held back.
    pub valid_gap: f64,
    /// Read bursts accepted but not yet fully answered, at most.
    pub max_reads: usize,
    /// Seed of the generator behind every random choice.
    pub seed: u64,
}

impl Default for MemTiming {
    /// An ideal memory: answers in one cycle, never stalls, 64 reads in flight.
    fn default() -> Self {
        MemTiming {
            read_latency: 0,
            write_latency: 0,
            ready_stall: 0.0,
            valid_gap: 0.0,
            max_reads: 64,
            seed: 0,
        }
    }
}

/// The master's AXI4 outputs in one cycle (what the slave samples).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MasterOut {
    /// AWID.
    pub awid: u32,
    /// AWADDR, byte address.
    pub awaddr: u64,
    /// AWLEN: beats - 1.
    pub awlen: u8,
    /// AWSIZE: log2 of bytes per beat.
    pub awsize: u8,
    /// AWBURST.
    pub awburst: u8,
    /// AWVALID.
    pub awvalid: bool,
    /// WDATA, little-endian, [`AxiMemory::data_bytes`] bytes.
    pub wdata: Vec<u8>,
    /// WSTRB, bit `i` for byte `i`.
    pub wstrb: u128,
    /// WLAST.
    pub wlast: bool,
    /// WVALID.
    pub wvalid: bool,
    /// BREADY.
    pub bready: bool,
    /// ARID.
    pub arid: u32,
    /// ARADDR, byte address.
    pub araddr: u64,
    /// ARLEN: beats - 1.
    pub arlen: u8,
    /// ARSIZE: log2 of bytes per beat.
    pub arsize: u8,
    /// ARBURST.
    pub arburst: u8,
    /// ARVALID.
    pub arvalid: bool,
    /// RREADY.
    pub rready: bool,
}

/// The slave's AXI4 outputs in one cycle (what the master sees).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlaveOut {
    /// AWREADY.
    pub awready: bool,
    /// WREADY.
    pub wready: bool,
    /// BID.
    pub bid: u32,
    /// BRESP.
    pub bresp: u8,
    /// BVALID.
    pub bvalid: bool,
    /// ARREADY.
    pub arready: bool,
    /// RID.
    pub rid: u32,
    /// RDATA, little-endian, [`AxiMemory::data_bytes`] bytes.
    pub rdata: Vec<u8>,
    /// RRESP.
    pub rresp: u8,
    /// RLAST.
    pub rlast: bool,
    /// RVALID.
    pub rvalid: bool,
}

/// Counts of what went over the bus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Read bursts accepted.
    pub read_bursts: u64,
    /// R beats delivered.
    pub read_beats: u64,
    /// Write bursts completed (B response delivered).
    pub write_bursts: u64,
    /// W beats accepted.
    pub write_beats: u64,
    /// Most read bursts outstanding at once.
    pub max_reads_in_flight: usize,
    /// Beats answered with an error response (R and B).
    pub error_beats: u64,
}

/// An address range that answers an error response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// First byte address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Response of a beat that touches it ([`RESP_SLVERR`] or [`RESP_DECERR`]).
    pub resp: u8,
    /// Whether reads fault (else writes).
    pub reads: bool,
}

/// One accepted burst.
#[derive(Clone, Copy, Debug)]
struct Burst {
    id: u32,
    addr: u64,
    beats: u32,
    /// Earliest cycle of its first response.
    due: u64,
}

/// A B response waiting to be delivered.
#[derive(Clone, Copy, Debug)]
struct WriteResp {
    id: u32,
    resp: u8,
    due: u64,
}

/// The memory (see module docs).
pub struct AxiMemory {
    bytes: Vec<u8>,
    data_bytes: usize,
    timing: MemTiming,
    rng: StdRng,
    faults: Vec<Fault>,
    cycle: u64,
    /// Outputs of this cycle, decided by `drive`.
    out: SlaveOut,
    reads: VecDeque<Burst>,
    /// Beats of the head read burst already delivered.
    read_beat: u32,
    writes: VecDeque<Burst>,
    /// W beats accepted ahead of (or for) the head write burst.
    wbeats: VecDeque<(Vec<u8>, u128, bool)>,
    bresps: VecDeque<WriteResp>,
    /// Master outputs of the previous cycle, for the stability checks.
    last: MasterOut,
    last_ready: (bool, bool, bool),
    stats: MemStats,
    violations: Vec<String>,
}

impl AxiMemory {
    /// `size` bytes of zeroed memory behind a bus of `data_bytes` bytes
    /// (a power of two, at most 128).
    pub fn new(size: u64, data_bytes: usize, timing: MemTiming) -> AxiMemory {
        assert!(
            data_bytes.is_power_of_two() && data_bytes <= 128,
            "AXI data width of {data_bytes} bytes"
        );
        let size = usize::try_from(size).expect("memory fits the address space");
        AxiMemory {
            // Zeroed pages are mapped lazily: a large memory costs nothing
            // until written.
            bytes: vec![0; size],
            data_bytes,
            timing,
            rng: StdRng::seed_from_u64(timing.seed),
            faults: Vec::new(),
            cycle: 0,
            out: SlaveOut {
                rdata: vec![0; data_bytes],
                ..SlaveOut::default()
            },
            reads: VecDeque::new(),
            read_beat: 0,
            writes: VecDeque::new(),
            wbeats: VecDeque::new(),
            bresps: VecDeque::new(),
            last: MasterOut::default(),
            last_ready: (false, false, false),
            stats: MemStats::default(),
            violations: Vec::new(),
        }
    }

    /// Bytes per beat.
    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The memory's contents (the host's path into device memory, beside
    /// the bus).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Mutable contents.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Changes latency and backpressure from the next cycle on (and
    /// reseeds the generator).
    pub fn set_timing(&mut self, timing: MemTiming) {
        self.timing = timing;
        self.rng = StdRng::seed_from_u64(timing.seed);
    }

    /// The current timing.
    pub fn timing(&self) -> MemTiming {
        self.timing
    }

    /// Makes beats touching `fault`'s range answer its response.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// What went over the bus so far.
    pub fn stats(&self) -> MemStats {
        self.stats
    }

    /// Protocol rules the master broke so far (empty for a correct master).
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Whether no burst is in flight: nothing accepted and unanswered.
    pub fn idle(&self) -> bool {
        self.reads.is_empty()
            && self.writes.is_empty()
            && self.wbeats.is_empty()
            && self.bresps.is_empty()
    }

    /// What is in flight: `(read bursts, write bursts waiting for data, W
    /// beats not yet matched to a burst, B responses not yet taken)`.
    pub fn in_flight(&self) -> (usize, usize, usize, usize) {
        (
            self.reads.len(),
            self.writes.len(),
            self.wbeats.len(),
            self.bresps.len(),
        )
    }

    /// Forgets every burst in flight (the design was reset with the bus);
    /// memory contents, faults and statistics stay.
    pub fn reset_bus(&mut self) {
        self.reads.clear();
        self.read_beat = 0;
        self.writes.clear();
        self.wbeats.clear();
        self.bresps.clear();
        self.out = SlaveOut {
            rdata: vec![0; self.data_bytes],
            ..SlaveOut::default()
        };
        self.last = MasterOut::default();
        self.last_ready = (false, false, false);
    }

    /// The slave's outputs for the current cycle.
    pub fn drive(&mut self) -> &SlaveOut {
        let t = self.timing;
        let stall = |rng: &mut StdRng| t.ready_stall > 0.0 && rng.gen_bool(t.ready_stall);
        self.out.arready = self.reads.len() < t.max_reads.max(1) && !stall(&mut self.rng);
        self.out.awready = !stall(&mut self.rng);
        self.out.wready = !stall(&mut self.rng);
        // R: a beat, once valid, stays until taken (`step` clears it).
        if !self.out.rvalid {
            if let Some(b) = self.reads.front().copied() {
                let gap = t.valid_gap > 0.0 && self.rng.gen_bool(t.valid_gap);
                if self.cycle >= b.due && !gap {
                    let addr = b.addr + self.read_beat as u64 * self.data_bytes as u64;
                    let resp = self.resp(addr, true);
                    self.out.rdata.iter_mut().for_each(|x| *x = 0);
                    if resp == RESP_OKAY {
                        let a = addr as usize;
                        self.out
                            .rdata
                            .copy_from_slice(&self.bytes[a..a + self.data_bytes]);
                    }
                    self.out.rresp = resp;
                    self.out.rid = b.id;
                    self.out.rlast = self.read_beat + 1 == b.beats;
                    self.out.rvalid = true;
                }
            }
        }
        if !self.out.bvalid {
            if let Some(r) = self.bresps.front().copied() {
                let gap = t.valid_gap > 0.0 && self.rng.gen_bool(t.valid_gap);
                if self.cycle >= r.due && !gap {
                    self.out.bid = r.id;
                    self.out.bresp = r.resp;
                    self.out.bvalid = true;
                }
            }
        }
        &self.out
    }

    /// Takes the master's outputs of the current cycle (driven against
    /// [`AxiMemory::drive`]'s) and performs the handshakes of the rising
    /// edge that ends it.
    pub fn step(&mut self, m: &MasterOut) {
        self.check_stable(m);
        let c = self.cycle;
        if m.arvalid && self.out.arready {
            self.check_burst("AR", m.araddr, m.arlen, m.arsize, m.arburst);
            self.reads.push_back(Burst {
                id: m.arid,
                addr: m.araddr,
                beats: m.arlen as u32 + 1,
                due: c + self.timing.read_latency.max(1) as u64,
            });
            self.stats.read_bursts += 1;
            self.stats.max_reads_in_flight = self.stats.max_reads_in_flight.max(self.reads.len());
        }
        if self.out.rvalid && m.rready {
            self.out.rvalid = false;
            self.stats.read_beats += 1;
            if self.out.rresp != RESP_OKAY {
                self.stats.error_beats += 1;
            }
            self.read_beat += 1;
            let head = self.reads.front().expect("a beat belongs to a burst");
            if self.read_beat == head.beats {
                self.reads.pop_front();
                self.read_beat = 0;
            }
        }
        if m.awvalid && self.out.awready {
            self.check_burst("AW", m.awaddr, m.awlen, m.awsize, m.awburst);
            self.writes.push_back(Burst {
                id: m.awid,
                addr: m.awaddr,
                beats: m.awlen as u32 + 1,
                due: 0,
            });
        }
        if m.wvalid && self.out.wready {
            self.wbeats.push_back((m.wdata.clone(), m.wstrb, m.wlast));
            self.stats.write_beats += 1;
        }
        self.complete_writes();
        if self.out.bvalid && m.bready {
            self.out.bvalid = false;
            self.stats.write_bursts += 1;
            if self.out.bresp != RESP_OKAY {
                self.stats.error_beats += 1;
            }
            self.bresps.pop_front();
        }
        self.last = m.clone();
        self.last_ready = (self.out.arready, self.out.awready, self.out.wready);
        self.cycle += 1;
    }

    /// Applies the head write burst once all its W beats are in.
    fn complete_writes(&mut self) {
        while let Some(&b) = self.writes.front() {
            if self.wbeats.len() < b.beats as usize {
                return;
            }
            self.writes.pop_front();
            let beats: Vec<_> = self.wbeats.drain(..b.beats as usize).collect();
            for (k, (_, _, last)) in beats.iter().enumerate() {
                if *last != (k + 1 == b.beats as usize) {
                    self.violate(format!(
                        "W beat {k} of the {}-beat burst at {:#x} has WLAST {}",
                        b.beats, b.addr, last
                    ));
                }
            }
            let step = self.data_bytes as u64;
            let resp = (0..b.beats as u64)
                .map(|k| self.resp(b.addr + k * step, false))
                .max()
                .unwrap_or(RESP_OKAY);
            if resp == RESP_OKAY {
                for (k, (data, strb, _)) in beats.iter().enumerate() {
                    let at = (b.addr + k as u64 * step) as usize;
                    for (i, &byte) in data.iter().enumerate() {
                        if strb >> i & 1 == 1 {
                            self.bytes[at + i] = byte;
                        }
                    }
                }
            }
            self.bresps.push_back(WriteResp {
                id: b.id,
                resp,
                due: self.cycle + self.timing.write_latency.max(1) as u64,
            });
        }
    }

    /// The response of a beat at `addr`.
    fn resp(&self, addr: u64, read: bool) -> u8 {
        let n = self.data_bytes as u64;
        if addr.checked_add(n).is_none_or(|end| end > self.size()) {
            return RESP_DECERR;
        }
        self.faults
            .iter()
            .filter(|f| f.reads == read && addr < f.addr + f.len && f.addr < addr + n)
            .map(|f| f.resp)
            .max()
            .unwrap_or(RESP_OKAY)
    }

    fn check_burst(&mut self, ch: &str, addr: u64, len: u8, size: u8, burst: u8) {
        let n = self.data_bytes as u64;
        let bytes = (len as u64 + 1) * n;
        if burst != BURST_INCR {
            self.violate(format!("{ch} burst type {burst} at {addr:#x}: only INCR"));
        }
        if 1u64 << size != n {
            self.violate(format!(
                "{ch} size {size} at {addr:#x}: the bus is {n} bytes wide"
            ));
        }
        if !addr.is_multiple_of(n) {
            self.violate(format!("{ch} address {addr:#x} not aligned to {n} bytes"));
        }
        if addr % BOUNDARY + bytes > BOUNDARY {
            self.violate(format!(
                "{ch} burst of {} beats at {addr:#x} crosses a 4 KB boundary",
                len as u32 + 1
            ));
        }
    }

    /// Valid held and payload stable until the handshake.
    fn check_stable(&mut self, m: &MasterOut) {
        let p = self.last.clone();
        let (ar, aw, w) = self.last_ready;
        if p.arvalid && !ar {
            let same = (p.araddr, p.arlen, p.arsize, p.arburst, p.arid)
                == (m.araddr, m.arlen, m.arsize, m.arburst, m.arid);
            if !m.arvalid || !same {
                self.violate(format!(
                    "AR at {:#x} dropped or changed before ARREADY",
                    p.araddr
                ));
            }
        }
        if p.awvalid && !aw {
            let same = (p.awaddr, p.awlen, p.awsize, p.awburst, p.awid)
                == (m.awaddr, m.awlen, m.awsize, m.awburst, m.awid);
            if !m.awvalid || !same {
                self.violate(format!(
                    "AW at {:#x} dropped or changed before AWREADY",
                    p.awaddr
                ));
            }
        }
        if p.wvalid && !w {
            let same = (&p.wdata, p.wstrb, p.wlast) == (&m.wdata, m.wstrb, m.wlast);
            if !m.wvalid || !same {
                self.violate("W beat dropped or changed before WREADY".into());
            }
        }
    }

    fn violate(&mut self, what: String) {
        // Keep the first few: one broken rule tends to repeat every cycle.
        if self.violations.len() < 16 {
            self.violations
                .push(format!("cycle {}: {what}", self.cycle));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simple in-order master: issues the given read bursts (at most
    /// `outstanding` at once), then the write bursts, and collects beats.
    struct TestMaster {
        reads: VecDeque<(u64, u8)>,
        writes: VecDeque<(u64, Vec<Vec<u8>>)>,
        got: Vec<(Vec<u8>, u8, bool)>,
        bresps: Vec<u8>,
        w_pending: VecDeque<(Vec<u8>, bool)>,
    }

    fn run(mem: &mut AxiMemory, mut t: TestMaster, rready_p: f64, limit: u64) -> TestMaster {
        let n = mem.data_bytes();
        let mut rng = StdRng::seed_from_u64(9);
        let mut m = MasterOut {
            wdata: vec![0; n],
            ..MasterOut::default()
        };
        let writes = t.writes.len();
        for _ in 0..limit {
            let s = mem.drive().clone();
            // Master outputs: registered, decided from the previous cycle.
            m.rready = rng.gen_bool(rready_p);
            m.bready = rng.gen_bool(rready_p);
            mem.step(&m);
            if m.arvalid && s.arready {
                m.arvalid = false;
            }
            if !m.arvalid {
                if let Some((addr, len)) = t.reads.pop_front() {
                    (m.araddr, m.arlen, m.arsize, m.arburst, m.arvalid) =
                        (addr, len, n.trailing_zeros() as u8, BURST_INCR, true);
                }
            }
            if s.rvalid && m.rready {
                t.got.push((s.rdata.clone(), s.rresp, s.rlast));
            }
            if s.bvalid && m.bready {
                t.bresps.push(s.bresp);
            }
            if m.awvalid && s.awready {
                m.awvalid = false;
            }
            if m.wvalid && s.wready {
                m.wvalid = false;
            }
            if !m.awvalid && t.w_pending.is_empty() {
                if let Some((addr, beats)) = t.writes.pop_front() {
                    (m.awaddr, m.awlen, m.awsize, m.awburst, m.awvalid) = (
                        addr,
                        beats.len() as u8 - 1,
                        n.trailing_zeros() as u8,
                        BURST_INCR,
                        true,
                    );
                    let k = beats.len();
                    t.w_pending
                        .extend(beats.into_iter().enumerate().map(|(i, b)| (b, i + 1 == k)));
                }
            }
            if !m.wvalid {
                if let Some((d, last)) = t.w_pending.pop_front() {
                    (m.wdata, m.wstrb, m.wlast, m.wvalid) = (d, (1u128 << n) - 1, last, true);
                }
            }
            if t.reads.is_empty()
                && !m.arvalid
                && t.bresps.len() == writes
                && mem.idle()
                && !s.rvalid
            {
                break;
            }
        }
        t
    }

    fn master(reads: &[(u64, u8)], writes: Vec<(u64, Vec<Vec<u8>>)>) -> TestMaster {
        TestMaster {
            reads: reads.iter().copied().collect(),
            writes: writes.into(),
            got: Vec::new(),
            bresps: Vec::new(),
            w_pending: VecDeque::new(),
        }
    }

    #[test]
    fn test_axi_memory_reads_back_writes_under_backpressure() {
        for (lat, stall, gap) in [(0, 0.0, 0.0), (7, 0.3, 0.4), (100, 0.5, 0.5)] {
            let timing = MemTiming {
                read_latency: lat,
                write_latency: lat / 2,
                ready_stall: stall,
                valid_gap: gap,
                max_reads: 4,
                seed: lat as u64,
            };
            let mut mem = AxiMemory::new(1 << 16, 16, timing);
            let beats = |base: u8, k: usize| -> Vec<Vec<u8>> {
                (0..k)
                    .map(|i| (0..16).map(|j| base ^ (16 * i + j) as u8).collect())
                    .collect()
            };
            let t = master(&[], vec![(0x1000, beats(1, 4)), (0x2000, beats(2, 3))]);
            let t = run(&mut mem, t, 0.7, 100_000);
            assert_eq!(t.bresps, vec![RESP_OKAY; 2]);
            let t = run(
                &mut mem,
                master(&[(0x1000, 3), (0x2000, 2)], vec![]),
                0.6,
                100_000,
            );
            let data: Vec<Vec<u8>> = t.got.iter().map(|g| g.0.clone()).collect();
            let mut want = beats(1, 4);
            want.extend(beats(2, 3));
            assert_eq!(data, want, "latency {lat}");
            let lasts: Vec<bool> = t.got.iter().map(|g| g.2).collect();
            assert_eq!(lasts, [false, false, false, true, false, false, true]);
            assert!(mem.violations().is_empty(), "{:?}", mem.violations());
            assert!(mem.stats().max_reads_in_flight <= 4);
        }
    }

    #[test]
    fn test_axi_memory_latency_is_as_configured() {
        for lat in [0u32, 1, 5, 200] {
            let timing = MemTiming {
                read_latency: lat,
                ..MemTiming::default()
            };
            let mut mem = AxiMemory::new(1 << 12, 8, timing);
            let m = MasterOut {
                araddr: 64,
                arsize: 3,
                arburst: BURST_INCR,
                arvalid: true,
                rready: true,
                ..MasterOut::default()
            };
            assert!(mem.drive().arready);
            mem.step(&m);
            let idle = MasterOut {
                rready: true,
                ..MasterOut::default()
            };
            let mut waited = 1;
            while !mem.drive().rvalid {
                mem.step(&idle);
                waited += 1;
            }
            assert_eq!(waited, lat.max(1), "latency {lat}");
        }
    }

    #[test]
    fn test_axi_memory_answers_decerr_and_injected_slverr() {
        let mut mem = AxiMemory::new(1 << 13, 16, MemTiming::default());
        mem.inject(Fault {
            addr: 0x100,
            len: 1,
            resp: RESP_SLVERR,
            reads: true,
        });
        let t = run(
            &mut mem,
            master(&[(0xF0, 1), (0x1FF0, 0), (0x2000, 0)], vec![]),
            1.0,
            1000,
        );
        let resps: Vec<u8> = t.got.iter().map(|g| g.1).collect();
        assert_eq!(resps, [RESP_OKAY, RESP_SLVERR, RESP_OKAY, RESP_DECERR]);
        assert!(t.got[1].0.iter().all(|&b| b == 0));
        // A write past the end writes nothing and answers DECERR.
        let t = run(
            &mut mem,
            master(&[], vec![(0x2000, vec![vec![7; 16]])]),
            1.0,
            1000,
        );
        assert_eq!(t.bresps, [RESP_DECERR]);
        assert_eq!(mem.stats().error_beats, 3);
        assert!(mem.violations().is_empty(), "{:?}", mem.violations());
    }

    #[test]
    fn test_axi_memory_flags_protocol_violations() {
        let mut mem = AxiMemory::new(1 << 14, 16, MemTiming::default());
        // Crosses 0x1000, and is misaligned.
        run(&mut mem, master(&[(0xFF0, 1), (0x8, 0)], vec![]), 1.0, 1000);
        let v = mem.violations().join("\n");
        assert!(v.contains("crosses a 4 KB boundary"), "{v}");
        assert!(v.contains("not aligned"), "{v}");
        // AR dropped before ARREADY.
        let mut mem = AxiMemory::new(
            1 << 14,
            16,
            MemTiming {
                ready_stall: 1.0,
                ..MemTiming::default()
            },
        );
        let ar = MasterOut {
            arvalid: true,
            arsize: 4,
            arburst: BURST_INCR,
            ..MasterOut::default()
        };
        mem.drive();
        mem.step(&ar);
        mem.drive();
        mem.step(&MasterOut::default());
        assert!(mem.violations()[0].contains("dropped or changed"));
    }
}
