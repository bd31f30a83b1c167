//! Cycle model of one engine call (one mat-vec), calibrated against the
//! Verilator simulation of the generated RTL (`tests/perf_calibration.rs`).
//!
//! The engine reads one memory word per cycle. A SeedLM word is a tile
//! word: `lanes` block words, one per row, all for the same column block of
//! `C` activations ([`seedlm::hw::tile_stream`]). The FP16 baseline reads
//! the same memory word width, 16 bits per weight.
//!
//! Cycles of a call of `rows x cols`, with `groups = ceil(rows / lanes)`
//! and `cb = ceil(cols / cols_per_word)` words per row group:
//!
//! ```text
//! cycles = groups * period + latency + last + CALL_CYCLES
//! period = max(cb, lanes + latency + TILE_GAP)    (SeedLM engine)
//! last   = rows - (groups - 1) * lanes            (rows of the last group)
//! ```
//!
//! `groups * cb` is the stream of words, `latency` the pipeline after the
//! last word, `last` the drain of the last tile's results (one row per
//! cycle from the shifting result bank; rows past ROWS are dropped), and
//! `CALL_CYCLES` the START and DONE handshakes. A tile's last word is held
//! until the previous tile's results have left the bank, so a row group
//! takes at least `lanes + latency + TILE_GAP` cycles: only narrow layers
//! (`cb` below about 30) see that; every Llama layer has `cb >= 128`.
//! The calibration test covers layers with `cb >= lanes + latency + 8`
//! (Llama-like); `TILE_GAP` of narrow layers is an estimate.
//!
//! The FP16 baseline ([`Geometry::fp16_for_bus`]) is modelled with the
//! same formula and no drain bound: one row per word, 32 weights; it is not
//! calibrated against the FP16 RTL (not compiled into the simulator when
//! this model was written).

use seedlm::Config;

/// Cycles of the START and DONE handshakes of one call (calibrated).
pub const CALL_CYCLES: u64 = 2;

/// Extra cycles between the row groups of a narrow layer (calibrated).
pub const TILE_GAP: u64 = 2;

/// Memory word width of the engines on a board: 512 bits (a 64-byte AXI
/// beat; 16 lanes of 4-bit blocks or 32 FP16 weights).
pub const BUS_BITS: u32 = 512;

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The SeedLM engine of this configuration.
    Seed(Config),
    /// The FP16 baseline: 16-bit weights, plain MACs.
    Fp16,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Seed(c) => write!(f, "SeedLM {}-bit", c.bits_per_weight()),
            Kind::Fp16 => write!(f, "FP16"),
        }
    }
}

/// The shape of an engine: what one memory word carries and how deep the
/// pipeline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Which engine.
    pub kind: Kind,
    /// Rows per word (lanes).
    pub lanes: usize,
    /// Columns per lane per word (`C` for SeedLM).
    pub cols_per_word: usize,
    /// Bits of the memory word read per cycle (bytes moved per cycle x 8).
    pub bus_bits: u32,
    /// Pipeline latency in cycles (the manifest's `latency.engine`).
    pub latency: u64,
}

impl Geometry {
    /// The SeedLM engine of `cfg` with `lanes` lanes, reading a bus word of
    /// `lanes` block words (rounded up to whole bytes).
    pub fn seedlm(cfg: &Config, lanes: usize) -> Geometry {
        // seedlm_hdl::blocks::engine::engine_latency: stages 0 and 1, the
        // lane (8 stages and a log2(C) adder tree), the bank capture. The
        // calibration test checks this against the manifest.
        let latency = 2 + 8 + cfg.c.next_power_of_two().trailing_zeros() as u64 + 1;
        Geometry {
            kind: Kind::Seed(*cfg),
            lanes,
            cols_per_word: cfg.c,
            bus_bits: (lanes as u32 * cfg.bits_per_block()).div_ceil(8) * 8,
            latency,
        }
    }

    /// The SeedLM engine with as many lanes as fit a `bus_bits` word
    /// (16 for the 4-bit configuration, 14 for the 3-bit one at 512 bits).
    pub fn seedlm_for_bus(cfg: &Config, bus_bits: u32) -> Geometry {
        let lanes = (bus_bits / cfg.bits_per_block()).max(1) as usize;
        Geometry {
            bus_bits,
            ..Geometry::seedlm(cfg, lanes)
        }
    }

    /// The FP16 baseline on a `bus_bits` word: one row, `bus_bits / 16`
    /// weights per word, a pipeline as deep as the SeedLM lane's MAC part.
    pub fn fp16_for_bus(bus_bits: u32) -> Geometry {
        let per_word = (bus_bits / 16) as usize;
        Geometry {
            kind: Kind::Fp16,
            lanes: 1,
            cols_per_word: per_word,
            bus_bits,
            latency: 2 + per_word.next_power_of_two().trailing_zeros() as u64 + 2,
        }
    }

    /// Bytes of one memory word.
    pub fn word_bytes(&self) -> u64 {
        self.bus_bits.div_ceil(8) as u64
    }

    /// Words of a `rows x cols` layer (padding rows and columns included).
    pub fn words(&self, rows: usize, cols: usize) -> u64 {
        (rows.div_ceil(self.lanes) * cols.div_ceil(self.cols_per_word)) as u64
    }

    /// Bytes of weights the engine reads for a `rows x cols` layer.
    pub fn weight_bytes(&self, rows: usize, cols: usize) -> u64 {
        self.words(rows, cols) * self.word_bytes()
    }

    /// Clock cycles of one call on a `rows x cols` layer (module docs),
    /// START to DONE, with the memory keeping up.
    pub fn cycles(&self, rows: usize, cols: usize) -> u64 {
        if rows == 0 || cols == 0 {
            return 0;
        }
        let groups = rows.div_ceil(self.lanes) as u64;
        let cb = cols.div_ceil(self.cols_per_word) as u64;
        let lanes = self.lanes as u64;
        let period = match self.kind {
            Kind::Seed(_) => cb.max(lanes + self.latency + TILE_GAP),
            Kind::Fp16 => cb,
        };
        let last = rows as u64 - (groups - 1) * lanes;
        groups * period + self.latency + last + CALL_CYCLES
    }

    /// Weights processed per cycle at full rate.
    pub fn weights_per_cycle(&self) -> usize {
        self.lanes * self.cols_per_word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_geometry_words_and_bytes() {
        let g4 = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
        assert_eq!(
            (g4.lanes, g4.bus_bits, g4.weights_per_cycle()),
            (16, 512, 128)
        );
        let g3 = Geometry::seedlm_for_bus(&Config::BITS3, BUS_BITS);
        assert_eq!((g3.lanes, g3.weights_per_cycle()), (14, 168));
        let f = Geometry::fp16_for_bus(BUS_BITS);
        assert_eq!(f.weights_per_cycle(), 32);
        // 4096 x 4096: 4-bit moves exactly a quarter of FP16's bytes.
        assert_eq!(g4.weight_bytes(4096, 4096) * 4, f.weight_bytes(4096, 4096));
        assert_eq!(f.weight_bytes(4096, 4096), 4096 * 4096 * 2);
        // Ragged: 17 rows need two row groups of 16 lanes; 9 columns two blocks.
        assert_eq!(g4.words(17, 9), 4);
    }

    #[test]
    fn test_cycles_stream_bound_and_narrow_layers() {
        let g = Geometry::seedlm(&Config::BITS4, 8);
        // Wide layer: one word per cycle plus a constant tail.
        let (rows, cols) = (64, 8 * 100);
        let tail = g.latency + 8 + CALL_CYCLES;
        assert_eq!(g.cycles(rows, cols), g.words(rows, cols) + tail);
        // Narrow layer: a row group takes at least lanes + latency + gap.
        let narrow = g.cycles(64, 8);
        assert_eq!(narrow, 8 * (8 + g.latency + TILE_GAP) + tail);
        assert!(narrow > g.words(64, 8) + tail);
        // Ragged rows: the last group drains only its 3 real rows.
        assert_eq!(
            g.cycles(67, cols),
            g.words(67, cols) + g.latency + 3 + CALL_CYCLES
        );
        assert_eq!(g.cycles(0, 8), 0);
    }
}
