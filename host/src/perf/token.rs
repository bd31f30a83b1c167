//! Time per token of a model's linear layers on a board (the decode phase:
//! one token, every linear layer a mat-vec).
//!
//! One call computes one linear layer, or the layers that share their
//! input stacked by rows as the runtime calls them (q/k/v, gate/up:
//! [`ModelShape::calls`], four calls per block), on `engines` engines side
//! by side, each with its own memory port and a share of the rows in whole
//! row groups (any count: the busiest engine takes
//! `ceil(row groups / engines)` of them); the activation vector is
//! broadcast to all of them. Board memory holds the weights, the
//! activations and the results (`bitstreams/vivado/u55c.tcl`: the shell's
//! AXI master and the host's H2C/C2H DMA on HBM). Per call:
//!
//! ```text
//! t_call    = call_us + t_act + max(t_job, t_weights) + t_results
//! t_job     = job cycles of the busiest engine / clock
//!           = OverheadModel::job_cycles(engine cycles, ...), batch 1
//! t_act     = cols * 2 bytes / PCIe            (16-bit activations in, H2C)
//! t_results = rows * 16 bytes / PCIe           (result words out, C2H)
//! t_weights = weight bytes / memory bandwidth  (resident)
//!           = weight bytes / PCIe              (streaming: weights cross per token)
//! ```
//!
//! The job cycles are the shell's ([`seedlm::hw::shell::OverheadModel`]:
//! the engine's cycles plus the first read's latency, the activation
//! beats, the last write's response and the fixed handshakes), at the
//! board's assumed memory latencies. Activations must be in board memory
//! before the job starts and results leave it after the job ends (the next
//! layer needs them), so `t_act` and `t_results` add; weights stream from
//! memory while the engine computes, so those overlap. A token is the sum
//! over all calls (the host computes attention, norms and activations
//! between calls, which this model leaves out: it is the same for every
//! engine).
//!
//! [`Mode::Resident`] keeps the weights in board memory (DMA'd once);
//! [`Mode::Streaming`] sends them over PCIe for every token, for models
//! larger than board memory. [`Mode::Auto`] picks resident when the
//! weights fit.

use super::board::Board;
use super::engine::{Geometry, Kind};
use super::shapes::ModelShape;
use seedlm::hw::shell::{act_stride, tile_stride, OverheadModel};
use seedlm::hw::RESULT_BITS;

/// Bytes of one activation (16-bit, [`seedlm::fixed`]).
pub const ACT_BYTES: u64 = 2;

/// Bytes of one result word on the PCIe link: [`RESULT_BITS`] in whole
/// 32-bit words (104 bits -> 16 bytes).
pub const RESULT_BYTES: u64 = RESULT_BITS.div_ceil(32) as u64 * 4;

/// Where the weights live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In board memory, loaded once.
    Resident,
    /// Sent over PCIe for every token.
    Streaming,
    /// Resident if the weights fit in board memory, else streaming.
    Auto,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Resident => "resident",
            Mode::Streaming => "streaming",
            Mode::Auto => "auto",
        })
    }
}

/// What limits a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Engine cycles.
    Compute,
    /// Board memory bandwidth.
    Memory,
    /// The PCIe link (streamed weights or results).
    Pcie,
}

/// The model's answer for one call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallTime {
    /// Engine cycles (per engine, the busiest one).
    pub cycles: u64,
    /// The shell's job cycles around them (JOB_CYCLES).
    pub job_cycles: u64,
    /// Weight bytes read (all engines).
    pub weight_bytes: u64,
    /// Seconds in the engines' jobs (the shell's job cycles).
    pub engine_s: f64,
    /// Seconds to move the weights (memory, or PCIe when streaming).
    pub weights_s: f64,
    /// Seconds for the activations in.
    pub act_s: f64,
    /// Seconds for the results out.
    pub results_s: f64,
    /// Fixed call cost in seconds.
    pub call_s: f64,
    /// Total seconds.
    pub total_s: f64,
    /// The limit of the overlapped part.
    pub bound: Bound,
}

/// Engines that a board's memory feeds at one word per cycle each: its
/// bandwidth over one engine's demand (`word bytes x clock`), rounded to
/// the nearest whole engine, at least 1. With fewer, bandwidth goes unused
/// and the engines set the time; with more, engines wait on the memory.
/// At 64-byte words and 300 MHz (19.2 GB/s an engine): 460 / 19.2 = 23.96,
/// 24 engines on the U55C (460.8 GB/s asked of 460; in the HBM, 8 groups
/// of 3 engines on 4 of its 32 pseudo-channels of 14.4 GB/s), and
/// 77 / 19.2 = 4.01, 4 on the U250 (one per DDR4 channel). Any count
/// splits a layer: [`call_time`] gives the busiest engine its share of
/// whole row groups.
pub fn engines_for(board: &Board, geom: &Geometry) -> usize {
    let per_engine = geom.word_bytes() as f64 * board.clock_hz;
    (board.mem_bytes_per_s / per_engine).round().max(1.0) as usize
}

/// JOB_CYCLES of one engine's share (`rows x cols`, `engine_cycles` of
/// the engine alone) through the shell at the board's memory latencies
/// ([`OverheadModel`], batch 1): tile and activation bytes at the shell's
/// strides for SeedLM, one memory word per tile word and 2 bytes per
/// activation for the FP16 baseline.
pub fn shell_job_cycles(
    board: &Board,
    geom: &Geometry,
    engine_cycles: u64,
    rows: usize,
    cols: usize,
) -> u64 {
    if engine_cycles == 0 {
        return 0;
    }
    let words = geom.words(rows, cols);
    let (tile_bytes, act_bytes) = match geom.kind {
        Kind::Seed(cfg) => (
            words * tile_stride(&cfg, geom.lanes) as u64,
            cols.div_ceil(cfg.c) as u64 * act_stride(&cfg) as u64,
        ),
        Kind::Fp16 => (words * geom.word_bytes(), cols as u64 * ACT_BYTES),
    };
    OverheadModel {
        read_latency: board.read_latency,
        write_latency: board.write_latency,
        data_bits: geom.bus_bits,
    }
    .job_cycles(engine_cycles, words, tile_bytes, act_bytes, 1)
}

/// Time of one call on a `rows x cols` layer with the weights resident or
/// streamed (`mode` must not be `Auto`).
pub fn call_time(
    board: &Board,
    geom: &Geometry,
    engines: usize,
    rows: usize,
    cols: usize,
    mode: Mode,
) -> CallTime {
    let engines = engines.max(1);
    let pcie = board.pcie.bytes_per_s();
    // Whole row groups per engine, so no engine pads a partial group.
    let per_engine = rows.div_ceil(geom.lanes).div_ceil(engines) * geom.lanes;
    let engine_rows = per_engine.min(rows);
    let cycles = geom.cycles(engine_rows, cols);
    let job_cycles = shell_job_cycles(board, geom, cycles, engine_rows, cols);
    let weight_bytes = geom.weight_bytes(rows, cols);
    let engine_s = job_cycles as f64 / board.clock_hz;
    let (weights_s, weights_bound) = match mode {
        Mode::Streaming => (weight_bytes as f64 / pcie, Bound::Pcie),
        _ => (weight_bytes as f64 / board.mem_bytes_per_s, Bound::Memory),
    };
    let act_s = cols as f64 * ACT_BYTES as f64 / pcie;
    let results_s = rows as f64 * RESULT_BYTES as f64 / pcie;
    let call_s = board.call_us * 1e-6;
    let (mut overlap, mut bound) = (engine_s, Bound::Compute);
    if weights_s > overlap {
        (overlap, bound) = (weights_s, weights_bound);
    }
    CallTime {
        cycles,
        job_cycles,
        weight_bytes,
        engine_s,
        weights_s,
        act_s,
        results_s,
        call_s,
        total_s: call_s + act_s + overlap + results_s,
        bound,
    }
}

/// The model's answer for one token of one model.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenTime {
    /// The mode used (never `Auto`).
    pub mode: Mode,
    /// Engines side by side.
    pub engines: usize,
    /// Weight bytes of all linear layers.
    pub weight_bytes: u64,
    /// Bytes over PCIe per token (activations, results, streamed weights).
    pub pcie_bytes: u64,
    /// Seconds per token.
    pub total_s: f64,
    /// Seconds per token spent on activations, results, the shell's cycles
    /// around the engine's and the host's call costs (what keeps the
    /// speed-up below the ratio of bytes).
    pub overhead_s: f64,
    /// Calls per token.
    pub calls: usize,
}

/// Time per token of `model`'s linear layers, called as the runtime calls
/// them ([`ModelShape::calls`]: four calls per block).
pub fn token_time(
    board: &Board,
    geom: &Geometry,
    engines: usize,
    model: &ModelShape,
    mode: Mode,
) -> TokenTime {
    let calls = model.calls();
    let weight_bytes: u64 = model.layers as u64
        * calls
            .iter()
            .map(|l| geom.weight_bytes(l.rows, l.cols))
            .sum::<u64>();
    let mode = match mode {
        Mode::Auto if weight_bytes <= board.mem_capacity => Mode::Resident,
        Mode::Auto => Mode::Streaming,
        m => m,
    };
    let (mut total_s, mut overhead_s, mut pcie_bytes) = (0.0, 0.0, 0u64);
    for l in &calls {
        let c = call_time(board, geom, engines, l.rows, l.cols, mode);
        let n = model.layers as f64;
        total_s += n * c.total_s;
        let engine_alone = c.cycles as f64 / board.clock_hz;
        overhead_s += n * (c.total_s - engine_alone.max(c.weights_s));
        let streamed = if mode == Mode::Streaming {
            c.weight_bytes
        } else {
            0
        };
        pcie_bytes += model.layers as u64
            * (l.cols as u64 * ACT_BYTES + l.rows as u64 * RESULT_BYTES + streamed);
    }
    TokenTime {
        mode,
        engines,
        weight_bytes,
        pcie_bytes,
        total_s,
        overhead_s,
        calls: calls.len() * model.layers,
    }
}

#[cfg(test)]
mod tests {
    use super::super::board::Pcie;
    use super::super::engine::BUS_BITS;
    use super::super::shapes::{find_model, llama_models};
    use super::*;
    use seedlm::Config;

    fn ideal_board(mem: f64) -> Board {
        Board {
            name: "test".into(),
            mem_bytes_per_s: mem,
            mem_capacity: u64::MAX,
            pcie: Pcie { gen: 5, lanes: 16 },
            clock_hz: 250e6,
            call_us: 0.0,
            read_latency: 0,
            write_latency: 0,
        }
    }

    #[test]
    fn test_call_compute_bound_vs_memory_bound() {
        let g = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
        let (rows, cols) = (4096, 4096);
        // Plenty of bandwidth: the engine's cycles set the time.
        let fast = call_time(&ideal_board(1e15), &g, 1, rows, cols, Mode::Resident);
        assert_eq!(fast.bound, Bound::Compute);
        assert_eq!(fast.engine_s, fast.job_cycles as f64 / 250e6);
        assert!(fast.job_cycles > g.cycles(rows, cols));
        assert_eq!(fast.total_s, fast.act_s + fast.engine_s + fast.results_s);
        // 1 GB/s: the bytes set the time, whatever the clock.
        let slow = call_time(&ideal_board(1e9), &g, 1, rows, cols, Mode::Resident);
        assert_eq!(slow.bound, Bound::Memory);
        assert_eq!(
            slow.total_s,
            slow.act_s + g.weight_bytes(rows, cols) as f64 / 1e9 + slow.results_s
        );
        // More engines split the rows: cycles drop about linearly.
        let four = call_time(&ideal_board(1e15), &g, 4, rows, cols, Mode::Resident);
        assert_eq!(four.cycles, g.cycles(1024, cols));
        // 24 engines: 256 row groups of 16 lanes, the busiest engine takes
        // 11 (176 rows); q/k/v stacked, 768 groups, 32 each.
        let e24 = |rows| call_time(&ideal_board(1e15), &g, 24, rows, cols, Mode::Resident);
        assert_eq!(e24(rows).cycles, g.cycles(176, cols));
        assert_eq!(e24(3 * rows).cycles, g.cycles(512, cols));
    }

    #[test]
    fn test_engines_for_rounds_bandwidth_over_demand() {
        // 64-byte words at 300 MHz: 19.2 GB/s an engine.
        let g = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
        let at = |gb: f64| {
            let mut b = Board::u55c();
            b.mem_bytes_per_s = gb * 1e9;
            engines_for(&b, &g)
        };
        assert_eq!(engines_for(&Board::u55c(), &g), 24); // 460 / 19.2 = 23.96
        assert_eq!((at(441.0), at(442.0), at(1.0)), (23, 23, 1)); // 22.97, 23.02
        assert_eq!((at(451.2), at(470.0)), (24, 24)); // 23.5, 24.48

        // 24 engines and the HBM are matched on every Llama-2-7B call: the
        // busiest engine's cycles are within 5% of the weights' time in
        // memory (o and down: 11 of 256 row groups on one engine, 3% over).
        let b = Board::u55c();
        for c in find_model("llama2-7b").unwrap().calls() {
            let t = call_time(&b, &g, 24, c.rows, c.cols, Mode::Resident);
            let r = t.cycles as f64 / b.clock_hz / t.weights_s;
            assert!((0.95..1.05).contains(&r), "{}: {r}", c.name);
        }
    }

    #[test]
    fn test_token_counts_the_runtimes_calls() {
        let b = Board::u55c();
        let g = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
        let m = find_model("llama2-7b").unwrap();
        let t = token_time(&b, &g, 24, &m, Mode::Resident);
        assert_eq!(t.calls, 4 * 32);
        let sum: f64 = m
            .calls()
            .iter()
            .map(|c| 32.0 * call_time(&b, &g, 24, c.rows, c.cols, Mode::Resident).total_s)
            .sum();
        assert_eq!(t.total_s, sum);
        // Seven separate calls would cost more: three more call costs and
        // activation transfers per block.
        let seven: f64 = m
            .linears()
            .iter()
            .map(|c| 32.0 * call_time(&b, &g, 24, c.rows, c.cols, Mode::Resident).total_s)
            .sum();
        assert!(
            seven - t.total_s > 96.0 * b.call_us * 1e-6,
            "{seven} vs {}",
            t.total_s
        );
    }

    #[test]
    fn test_job_cycles_are_the_shells_cosimulated_cycles() {
        // The co-simulation of seedlm_accel (tests/shell_cycles.rs), 2048x2048,
        // 4-bit, 16 lanes: engine alone 32,798 cycles; through the shell
        // 32,911 at latency 0, 33,110 at read 200 / write 0, 33,309 at
        // 200 / 200. The OverheadModel is within a cycle of each.
        let g = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
        let mut b = Board::u55c();
        for (r, w, want) in [(0, 0, 32_911), (200, 0, 33_110), (200, 200, 33_309)] {
            (b.read_latency, b.write_latency) = (r, w);
            let got = shell_job_cycles(&b, &g, 32_798, 2048, 2048);
            assert!(got.abs_diff(want) <= 1, "{r}/{w}: {got}, want {want}");
        }
        // The call takes the job's cycles, not the engine's alone.
        let c = call_time(&b, &g, 1, 2048, 2048, Mode::Resident);
        assert_eq!(c.cycles, g.cycles(2048, 2048));
        assert_eq!(c.job_cycles, shell_job_cycles(&b, &g, c.cycles, 2048, 2048));
        assert_eq!(c.engine_s, c.job_cycles as f64 / b.clock_hz);
    }

    #[test]
    fn test_streaming_is_pcie_bound() {
        let g = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
        let b = Board::u55c();
        let c = call_time(&b, &g, 16, 8192, 8192, Mode::Streaming);
        assert_eq!(c.bound, Bound::Pcie);
        assert!(c.total_s >= c.weight_bytes as f64 / b.pcie.bytes_per_s());
        // Auto: Llama-2-70B does not fit 16 GB even at 4 bits; 7B does.
        let big = token_time(&b, &g, 16, &find_model("llama2-70b").unwrap(), Mode::Auto);
        assert_eq!(big.mode, Mode::Streaming);
        assert!(big.weight_bytes > b.mem_capacity);
        let small = token_time(&b, &g, 16, &find_model("llama2-7b").unwrap(), Mode::Auto);
        assert_eq!(small.mode, Mode::Resident);
    }

    #[test]
    fn test_speedup_never_exceeds_the_byte_ratio_and_approaches_4x() {
        // Same board, same engines, same mode: the 4-bit engine reads a
        // quarter of FP16's words, so its speed-up is at most 4 (exactly
        // 4 on the words; the per-call tail and overheads only lower it)
        // and it grows with the model.
        let b = Board::u55c();
        let g4 = Geometry::seedlm_for_bus(&Config::BITS4, BUS_BITS);
        let f16 = Geometry::fp16_for_bus(BUS_BITS);
        let e = engines_for(&b, &g4);
        assert_eq!((e, engines_for(&b, &f16)), (24, 24));
        assert_eq!(engines_for(&Board::u250(), &g4), 4);
        let mut last = 0.0;
        for m in llama_models() {
            for mode in [Mode::Resident, Mode::Streaming] {
                let s = token_time(&b, &f16, e, &m, mode).total_s
                    / token_time(&b, &g4, e, &m, mode).total_s;
                assert!(s <= 4.0 && s > 2.0, "{} {mode}: {s}", m.name);
                if mode == Mode::Resident {
                    assert!(s >= last - 0.05, "{}: {s} after {last}", m.name);
                    last = s;
                }
            }
        }
        // With no fixed costs, no memory latency and a fast link, a 70B
        // model is within 2% of 4x (the 16-byte result words cross the link
        // after each job, the same bytes for both engines) on 16 engines,
        // which split every row count evenly. On 24 the busiest 4-bit
        // engine takes 22 of 512 row groups of 16 (3% over an even share)
        // where FP16's takes 342 of 8192 rows (0.2%).
        let ideal = ideal_board(460e9);
        let m = find_model("llama2-70b").unwrap();
        let speedup = |e| {
            token_time(&ideal, &f16, e, &m, Mode::Resident).total_s
                / token_time(&ideal, &g4, e, &m, Mode::Resident).total_s
        };
        assert!((3.92..=4.0).contains(&speedup(16)), "{}", speedup(16));
        assert!((3.8..3.92).contains(&speedup(24)), "{}", speedup(24));
    }
}
