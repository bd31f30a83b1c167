//! The generated SeedLM engine, simulated cycle by cycle with Verilator.
//!
//! [`Engine`] owns one Verilator model of `seedlm_engine` (the Verilog that
//! `gen-rtl` emits) or of the FP16 baseline `fp16_engine`
//! ([`Engine::new_fp16`]) and drives its ports: reset, clock, the CSR port,
//! the activation write port and the two streams. Stream words, result
//! words and register offsets all come from [`seedlm::hw`] (FP16 weight
//! words from [`seedlm::fixed_fp16`]); the port list from
//! [`seedlm_hdl::top::kind_ports`].
//!
//! Set `SEEDLM_VCD=DIR` to write a VCD trace of every engine to
//! `DIR/seedlm_engine_b<bits>_l<lanes>_<n>.vcd` (`fp16_engine_l<lanes>_<n>.vcd`).

pub mod accel;
pub mod axi;
pub mod bench;
mod ffi;

pub use accel::{accel_variants, Accel};
pub use axi::{AxiMemory, MemTiming};
pub use seedlm_hdl::top::Kind;

use seedlm::{hw, Config};
use seedlm_hdl::top::{kind_ports, Port};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No FP16 baseline model of this lane count was compiled in.
    #[error("no FP16 baseline engine model with {lanes} lanes (built: lanes {built:?})")]
    NoFp16Model {
        /// Requested lanes.
        lanes: usize,
        /// The lane counts that exist.
        built: Vec<usize>,
    },
    /// No model of this configuration and lane count was compiled in.
    #[error("no engine model for {cfg} with {lanes} lanes (built: {built})")]
    NoModel {
        /// Requested configuration.
        cfg: Config,
        /// Requested lanes.
        lanes: usize,
        /// The variants that exist.
        built: String,
    },
    /// The engine refused a run; ERROR flags attached.
    #[error("engine refused the run, ERROR = {0:#x}")]
    Refused(u32),
    /// No accelerator model of this datapath and lane count was compiled in.
    #[error("no seedlm_accel model for {what} (built: {built})")]
    NoAccelModel {
        /// What was asked for.
        what: String,
        /// The variants that exist.
        built: String,
    },
    /// An AXI4-Lite transaction failed (no handshake, or an error response).
    #[error("{0}")]
    Bus(String),
    /// The engine did not finish in time.
    #[error("engine did not finish within {0} cycles")]
    Timeout(u64),
    /// The stream or activations do not fit the engine.
    #[error("failed to drive the engine: {0}")]
    Input(String),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// `bits` of the FP16 baseline in the variant table.
const FP16_BITS: u32 = 16;

/// The (bits, lanes) SeedLM variants compiled into this crate.
pub fn variants() -> Vec<(u32, usize)> {
    ffi::VARIANTS
        .iter()
        .filter(|v| !v.accel && v.bits != FP16_BITS)
        .map(|v| (v.bits, v.lanes))
        .collect()
}

/// The lane counts of the FP16 baseline variants compiled into this crate.
pub fn fp16_variants() -> Vec<usize> {
    ffi::VARIANTS
        .iter()
        .filter(|v| !v.accel && v.bits == FP16_BITS)
        .map(|v| v.lanes)
        .collect()
}

/// What one run returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// `(row, acc)` in the order the engine emitted them.
    pub results: Vec<(u32, i128)>,
    /// CYCLES as read from the CSR block (START to last result).
    pub cycles: u64,
}

/// Per-cycle stall decisions of a run: `(hold back the block stream,
/// refuse results)`.
pub type Stalls<'a> = &'a mut dyn FnMut() -> (bool, bool);

/// Traces written so far (numbers the VCD files).
pub(crate) static TRACES: AtomicUsize = AtomicUsize::new(0);

/// A simulated engine.
pub struct Engine {
    model: ffi::Model,
    kind: Kind,
    lanes: usize,
    inputs: Vec<u32>,
    outputs: Vec<u32>,
    slots: HashMap<&'static str, (bool, usize, u32)>,
    ticks: u64,
}

impl Engine {
    /// The engine for `cfg` with `lanes` lanes, held in reset for 2 cycles.
    pub fn new(cfg: &Config, lanes: usize) -> Result<Engine> {
        let bits = cfg.bits_per_weight() as u32;
        let variant = ffi::VARIANTS
            .iter()
            .find(|v| {
                !v.accel
                    && Config::for_bits(v.bits).ok() == Some(*cfg)
                    && v.lanes == lanes
                    && v.bits == bits
            })
            .ok_or_else(|| Error::NoModel {
                cfg: *cfg,
                lanes,
                built: format!("{:?}", variants()),
            })?;
        Engine::with_variant(
            Kind::Seedlm(*cfg),
            variant,
            format!("seedlm_engine_b{bits}_l{lanes}"),
        )
    }

    /// The FP16 baseline engine with `lanes` lanes ([`seedlm::fixed_fp16`]:
    /// 8 f16 weights per lane word), held in reset for 2 cycles.
    pub fn new_fp16(lanes: usize) -> Result<Engine> {
        let variant = ffi::VARIANTS
            .iter()
            .find(|v| !v.accel && v.bits == FP16_BITS && v.lanes == lanes)
            .ok_or_else(|| Error::NoFp16Model {
                lanes,
                built: fp16_variants(),
            })?;
        Engine::with_variant(Kind::Fp16, variant, format!("fp16_engine_l{lanes}"))
    }

    fn with_variant(
        kind: Kind,
        variant: &'static ffi::RawVariant,
        trace: String,
    ) -> Result<Engine> {
        let lanes = variant.lanes;
        let list: Vec<Port> = kind_ports(&kind, lanes)
            .into_iter()
            .filter(|p| p.name != "clk")
            .collect();
        let mut slots = HashMap::new();
        let (mut i, mut o) = (0, 0);
        for p in &list {
            let off = if p.input { &mut i } else { &mut o };
            slots.insert(p.name, (p.input, *off, p.width));
            *off += p.width.div_ceil(32) as usize;
        }
        let vcd = std::env::var_os("SEEDLM_VCD").map(|dir| {
            let n = TRACES.fetch_add(1, Ordering::Relaxed);
            let path = std::path::Path::new(&dir).join(format!("{trace}_{n}.vcd"));
            std::ffi::CString::new(path.to_string_lossy().into_owned())
                .expect("VCD path has no NUL")
        });
        let model = ffi::Model::new(variant, vcd.as_ref(), i, o);
        let mut e = Engine {
            model,
            kind,
            lanes,
            inputs: vec![0; i],
            outputs: vec![0; o],
            slots,
            ticks: 0,
        };
        e.reset();
        Ok(e)
    }

    /// Lanes of the engine.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Clock cycles simulated so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Sets an input port from little-endian bytes (zero-extended, masked).
    pub fn set(&mut self, port: &str, bytes: &[u8]) {
        let (input, off, width) = self.slots[port];
        assert!(input, "{port} is an output");
        let n = width.div_ceil(32) as usize;
        for k in 0..n {
            let mut w = 0u32;
            for b in 0..4 {
                w |= (*bytes.get(4 * k + b).unwrap_or(&0) as u32) << (8 * b);
            }
            let top = width as usize - 32 * k;
            if top < 32 {
                w &= (1 << top) - 1;
            }
            self.inputs[off + k] = w;
        }
    }

    /// Sets an input port of at most 64 bits.
    pub fn set_u64(&mut self, port: &str, v: u64) {
        self.set(port, &v.to_le_bytes());
    }

    /// An output port (at most 128 bits) as sampled before the last edge.
    pub fn get(&self, port: &str) -> u128 {
        let (input, off, width) = self.slots[port];
        assert!(!input && width <= 128, "{port} is not a readable output");
        (0..width.div_ceil(32) as usize).fold(0u128, |acc, k| {
            acc | (self.outputs[off + k] as u128) << (32 * k)
        })
    }

    /// One clock cycle with the current inputs.
    pub fn tick(&mut self) {
        self.model.tick(&self.inputs, &mut self.outputs);
        self.ticks += 1;
    }

    /// Synchronous reset: `rst` high for 2 cycles.
    pub fn reset(&mut self) {
        self.inputs.iter_mut().for_each(|w| *w = 0);
        self.set_u64("rst", 1);
        self.tick();
        self.tick();
        self.set_u64("rst", 0);
    }

    /// Writes a CSR (one cycle).
    pub fn csr_write(&mut self, offset: u32, value: u32) {
        self.set_u64("csr_addr", offset as u64);
        self.set_u64("csr_wdata", value as u64);
        self.set_u64("csr_we", 1);
        self.tick();
        self.set_u64("csr_we", 0);
    }

    /// Reads a CSR (two cycles: request, response).
    pub fn csr_read(&mut self, offset: u32) -> u32 {
        self.set_u64("csr_addr", offset as u64);
        self.set_u64("csr_re", 1);
        self.tick();
        self.set_u64("csr_re", 0);
        self.tick();
        assert_eq!(self.get("csr_rvalid"), 1, "CSR read answered");
        self.get("csr_rdata") as u32
    }

    /// Writes the activation memory ([`hw::activation_words`] layout).
    pub fn load_activations(&mut self, words: &[Vec<u8>]) -> Result<()> {
        let depth = 1usize << seedlm_hdl::blocks::engine::ACT_ADDR_BITS;
        if words.len() > depth {
            return Err(Error::Input(format!(
                "{} activation words, memory holds {depth}",
                words.len()
            )));
        }
        for (a, w) in words.iter().enumerate() {
            self.set_u64("act_addr", a as u64);
            self.set("act_wdata", w);
            self.set_u64("act_we", 1);
            self.tick();
        }
        self.set_u64("act_we", 0);
        Ok(())
    }

    /// Runs one mat-vec: ROWS and COL_BLOCKS through the CSRs, START, the
    /// tile words of [`hw::tile_stream`] in, every result out. `stalls` is
    /// asked once per cycle. Fails after `limit` cycles.
    pub fn run(
        &mut self,
        rows: u32,
        col_blocks: u32,
        words: &[Vec<u8>],
        stalls: Stalls<'_>,
        limit: u64,
    ) -> Result<Run> {
        let want_words = (rows as usize).div_ceil(self.lanes) * col_blocks as usize;
        if words.len() != want_words {
            return Err(Error::Input(format!(
                "{} tile words, {rows} rows x {col_blocks} blocks need {want_words}",
                words.len()
            )));
        }
        self.csr_write(hw::CSR_ROWS, rows);
        self.csr_write(hw::CSR_COL_BLOCKS, col_blocks);
        self.csr_write(hw::CSR_CTRL, hw::CTRL_START);
        let mut next = 0;
        let mut results = Vec::with_capacity(rows as usize);
        let start = self.ticks;
        loop {
            let (hold, refuse) = stalls();
            let offer = next < words.len() && !hold;
            if offer {
                self.set("s_blk_tdata", &words[next]);
            }
            self.set_u64("s_blk_tvalid", offer as u64);
            self.set_u64("m_res_tready", !refuse as u64);
            self.tick();
            if offer && self.get("s_blk_tready") == 1 {
                next += 1;
            }
            if !refuse && self.get("m_res_tvalid") == 1 {
                results.push(hw::unpack_result(self.get("m_res_tdata")));
            }
            if self.ticks - start > limit {
                return Err(Error::Timeout(limit));
            }
            if next == words.len() && results.len() == rows as usize {
                break;
            }
        }
        self.set_u64("s_blk_tvalid", 0);
        self.set_u64("m_res_tready", 0);
        // The engine leaves BUSY the cycle after its last result.
        self.tick();
        let status = self.csr_read(hw::CSR_STATUS);
        let error = self.csr_read(hw::CSR_ERROR);
        if error != 0 {
            return Err(Error::Refused(error));
        }
        if status & hw::STATUS_DONE == 0 {
            return Err(Error::Input(format!(
                "STATUS {status:#x} without DONE after the last result"
            )));
        }
        let cycles = self.csr_read(hw::CSR_CYCLES_LO) as u64
            | (self.csr_read(hw::CSR_CYCLES_HI) as u64) << 32;
        Ok(Run { results, cycles })
    }

    /// The configuration the engine was built for. The FP16 baseline has
    /// none; it answers [`Config::BITS4`], whose activation layout (C = 8)
    /// its lanes share (see [`Engine::kind`]).
    pub fn config(&self) -> Config {
        match self.kind {
            Kind::Seedlm(cfg) => cfg,
            Kind::Fp16 => Config::BITS4,
        }
    }

    /// The datapath of the engine.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}
