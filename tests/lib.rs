//! What the end-to-end tests share: the backends under test, random memory
//! timings, random and real layers.
//!
//! The tests themselves (each a target of this crate):
//! - `cosim`: the RTL accelerator (`seedlm_accel`, Verilator, the AXI
//!   memory model with random latency and backpressure) bit-exact with
//!   `emu` and the golden model: both configurations, lanes 1, 3, 8, 16,
//!   batches of 1-4 vectors, ragged shapes, a real SmolLM2 layer;
//! - `job_errors`: every error path of a job ends with the same
//!   [`DeviceError`] on `emu` and `verilator` and leaves the device ready
//!   for the next job;
//! - `shell_cycles`: cycles of a 2048x2048 mat-vec through the whole
//!   accelerator at 0, 100 and 200 cycles of memory latency, against the
//!   engine alone and the FP16 baseline behind the same shell.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seedlm::fixed::BlockMatrix;
use seedlm::{Block, Config};
use seedlm_host::device::emu::EmuDevice;
use seedlm_host::device::verilator::VerilatorDevice;
use seedlm_host::device::{DeviceError, OpenOptions};
use seedlm_sim::MemTiming;

/// Device memory of the test devices: room for every test layer.
pub const TEST_MEM: u64 = 64 << 20;

/// The options of a test device.
pub fn opts(cfg: Config, lanes: usize) -> OpenOptions {
    OpenOptions {
        cfg,
        lanes,
        mem_size: TEST_MEM,
    }
}

/// The `emu` device of `cfg` and `lanes`.
pub fn emu(cfg: Config, lanes: usize) -> EmuDevice {
    EmuDevice::new(&opts(cfg, lanes)).expect("emu device")
}

/// The `verilator` device of `cfg` and `lanes` behind a memory of `timing`.
pub fn verilator(cfg: Config, lanes: usize, timing: MemTiming) -> VerilatorDevice {
    VerilatorDevice::with_timing(&opts(cfg, lanes), timing).expect("verilator device")
}

/// A hostile memory: latency up to 60 cycles, each ready low and each
/// response held back with probability up to 0.4, up to 8 reads in flight.
pub fn random_timing(rng: &mut StdRng) -> MemTiming {
    MemTiming {
        read_latency: rng.gen_range(0..=60),
        write_latency: rng.gen_range(0..=30),
        ready_stall: rng.gen_range(0.0..0.4),
        valid_gap: rng.gen_range(0.0..0.4),
        max_reads: rng.gen_range(1..=8),
        seed: rng.gen(),
    }
}

/// The job error of a result, for comparing backends (panics on success
/// or on another error).
pub fn job_failure(r: Result<(), DeviceError>) -> seedlm_host::device::JobFailure {
    match r {
        Err(DeviceError::Job { failure, .. }) => failure,
        other => panic!("expected a job error, got {other:?}"),
    }
}

/// A real 4-bit layer and where it comes from.
pub struct RealLayer {
    /// Tensor name and rows used.
    pub name: String,
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// The blocks, row-major.
    pub blocks: Vec<Block>,
}

impl RealLayer {
    /// The layer as a block matrix.
    pub fn matrix(&self) -> BlockMatrix<'_> {
        BlockMatrix {
            cfg: Config::BITS4,
            rows: self.rows,
            cols: self.cols,
            blocks: &self.blocks,
        }
    }

    /// A random input vector in `[-1, 1)`.
    pub fn input(&self, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..self.cols).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }
}

/// A real layer: SmolLM2-135M's `blk.0.attn_q.weight` (first 64 rows),
/// compressed here at 4 bits, or a whole tensor of a `.seedlm` file in
/// testdata/ if there is one. `None` (with a notice) if neither is there.
pub fn real_layer() -> Option<RealLayer> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    if let Some(path) = std::fs::read_dir(&root).ok().and_then(|d| {
        d.filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "seedlm") && p.is_file())
    }) {
        let file = seedlm::container::SeedFile::open(&path).unwrap();
        let t = file
            .tensors()
            .iter()
            .find(|t| {
                t.kind == seedlm::container::TensorKind::Seed(Config::BITS4) && t.cols() <= 4096
            })?
            .clone();
        let blocks = file.blocks(&t).unwrap();
        return Some(RealLayer {
            name: format!("{}:{}", path.display(), t.name),
            rows: t.rows(),
            cols: t.cols(),
            blocks,
        });
    }
    let gguf = root.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if !gguf.exists() {
        println!(
            "notice: no testdata/*.seedlm or {} (scripts/fetch-model.sh): real-layer check skipped",
            gguf.display()
        );
        return None;
    }
    let ckpt = seedlm_host::checkpoint::Checkpoint::open(&gguf).unwrap();
    let name = "blk.0.attn_q.weight";
    let cols = *ckpt.get(name).unwrap().shape.last().unwrap();
    let rows = 64;
    let w = ckpt.load_f32(name).unwrap();
    let searcher = seedlm::search::Searcher::new(Config::BITS4).unwrap();
    let found = searcher.search_all(&w[..rows * cols], &|_| {}).unwrap();
    Some(RealLayer {
        name: format!("{name} rows 0..{rows}"),
        rows,
        cols,
        blocks: found.iter().map(|f| f.block).collect(),
    })
}
