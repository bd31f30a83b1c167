//! The generated FP16 baseline engine in Verilator against the golden model
//! of `seedlm::fixed_fp16`, bit for bit.

use rand::{Rng, SeedableRng};
use seedlm::fixed_fp16::{
    fp16_activation_words, fp16_encode_config, fp16_matvec_acc, fp16_tile_stream, FP16_C,
};
use seedlm::hw;
use seedlm_hdl::blocks::engine::fp16_engine_latency;
use seedlm_sim::{fp16_variants, Engine, Error};

mod common;

/// One random mat-vec through `e`, checked row by row against the golden
/// model; returns (tile words, cycles). Weights are any 16-bit pattern:
/// zeros, subnormals, normals, inf and NaN (which contribute 0).
fn check_run(
    e: &mut Engine,
    rows: usize,
    cols: usize,
    stall: f64,
    rng: &mut rand::rngs::StdRng,
) -> (usize, u64) {
    let mut w: Vec<u16> = (0..rows * cols).map(|_| rng.gen()).collect();
    w[0] = if rng.gen_bool(0.5) { 0x7BFF } else { 0xFBFF };
    let mut x: Vec<i16> = (0..cols).map(|_| rng.gen()).collect();
    x[0] = if rng.gen_bool(0.5) { 32767 } else { -32768 };
    let want = fp16_matvec_acc(rows, cols, &w, &x).unwrap();
    e.load_activations(&fp16_activation_words(&x)).unwrap();
    let words = fp16_tile_stream(rows, cols, &w, e.lanes()).unwrap();
    let bpr = cols.div_ceil(FP16_C);
    common::run_checked(e, (rows, bpr), &words, &want, stall, rng, "fp16")
}

#[test]
fn test_fp16_engine_random_matvec_with_stalls() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1616);
    assert_eq!(fp16_variants(), vec![4]);
    for lanes in fp16_variants() {
        let mut e = Engine::new_fp16(lanes).unwrap();
        // Ragged shapes: rows not a multiple of lanes, cols not of 8.
        for _ in 0..6 {
            let rows = rng.gen_range(1..=2 * lanes + 3);
            let cols = rng.gen_range(1..=9 * FP16_C);
            check_run(&mut e, rows, cols, 0.3, &mut rng);
        }
        // One lane word per row: every word is a tile's first and last.
        check_run(&mut e, lanes + 1, FP16_C, 0.3, &mut rng);
    }
}

#[test]
fn test_fp16_engine_throughput_one_tile_word_per_cycle() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    let latency = fp16_engine_latency() as u64;
    for lanes in fp16_variants() {
        let mut e = Engine::new_fp16(lanes).unwrap();
        let bpr = lanes + latency as usize + 4;
        let (words, cycles) = check_run(&mut e, 4 * lanes, bpr * FP16_C, 0.0, &mut rng);
        let bound = words as u64 + latency + lanes as u64 + 4;
        assert!(
            cycles <= bound,
            "fp16 lanes {lanes}: {cycles} cycles for {words} words > {bound}"
        );
    }
}

#[test]
fn test_fp16_engine_csr_identity_and_errors() {
    let mut e = Engine::new_fp16(4).unwrap();
    assert_eq!(e.csr_read(hw::CSR_VERSION), hw::VERSION);
    assert_eq!(e.csr_read(hw::CSR_CONFIG), fp16_encode_config(4));
    e.csr_write(hw::CSR_ROWS, 3);
    e.csr_write(hw::CSR_COL_BLOCKS, 0);
    e.csr_write(hw::CSR_CTRL, hw::CTRL_START);
    e.tick();
    assert_eq!(e.csr_read(hw::CSR_ERROR), hw::ERR_EMPTY);
    assert!(matches!(
        Engine::new_fp16(3),
        Err(Error::NoFp16Model { lanes: 3, .. })
    ));
}
