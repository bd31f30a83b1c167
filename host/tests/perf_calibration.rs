//! Calibration of the engine cycle model (`seedlm_host::perf::engine`)
//! against the Verilator simulation of the generated RTL: for both
//! configurations and every compiled lane count, layers that stream at one
//! word per cycle (as every Llama layer does), ragged ones and a single
//! long row group; the model must be within 2% of the simulated CYCLES
//! register. Needs the `verilator` feature (scripts/test.sh).
#![cfg(feature = "verilator")]

use rand::{Rng, SeedableRng};
use seedlm::fixed::BlockMatrix;
use seedlm::{hw, Block, Config};
use seedlm_host::perf::cpu::random_blocks;
use seedlm_host::perf::engine::Geometry;
use seedlm_sim::{variants, Engine};

/// Simulated cycles of one `rows x cols` mat-vec with random blocks and
/// activations, no stalls.
fn simulate(e: &mut Engine, rows: usize, cols: usize, rng: &mut rand::rngs::StdRng) -> u64 {
    let cfg = e.config();
    let bpr = cols.div_ceil(cfg.c);
    let blocks: Vec<Block> = random_blocks(&cfg, rows * bpr, rng.gen());
    let x: Vec<i16> = (0..cols).map(|_| rng.gen_range(-32767..=32767)).collect();
    let m = BlockMatrix {
        cfg,
        rows,
        cols,
        blocks: &blocks,
    };
    e.load_activations(&hw::activation_words(&cfg, &x)).unwrap();
    let words = hw::tile_stream(&m, e.lanes()).unwrap();
    let mut no_stalls = || (false, false);
    e.run(rows as u32, bpr as u32, &words, &mut no_stalls, 1_000_000)
        .unwrap()
        .cycles
}

#[test]
fn test_cycle_model_within_2_percent_of_verilator() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let mut worst = 0f64;
    for (bits, lanes) in variants() {
        let cfg = Config::for_bits(bits).unwrap();
        let g = Geometry::seedlm(&cfg, lanes);
        let mut e = Engine::new(&cfg, lanes).unwrap();
        let c = cfg.c;
        let wide = lanes + g.latency as usize + 8;
        for (rows, cols) in [
            (8 * lanes, 4 * wide * c),         // streams at one word per cycle
            (3 * lanes + 1, 4 * wide * c + 3), // ragged rows and columns
            (lanes, 200 * c),                  // one long row group
        ] {
            let sim = simulate(&mut e, rows, cols, &mut rng);
            let model = g.cycles(rows, cols);
            let err = (model as f64 - sim as f64).abs() / sim as f64;
            println!(
                "{cfg} lanes {lanes} {rows}x{cols}: sim {sim}, model {model}, {:.2}%",
                100.0 * err
            );
            worst = worst.max(err);
            assert!(
                err <= 0.02,
                "{cfg} lanes {lanes} {rows}x{cols}: model {model} cycles, simulation {sim}"
            );
        }
    }
    println!("worst model error {:.2}%", 100.0 * worst);
}
