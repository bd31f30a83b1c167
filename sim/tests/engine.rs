//! The generated engine in Verilator against the golden model, bit for bit.

use rand::{Rng, SeedableRng};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::sample::random_blocks;
use seedlm::{hw, Config};
use seedlm_sim::{variants, Engine, Error};

mod common;

/// One random mat-vec through `e`, checked row by row against the golden
/// model; returns (tile words, cycles).
fn check_run(
    e: &mut Engine,
    rows: usize,
    cols: usize,
    stall: f64,
    rng: &mut rand::rngs::StdRng,
) -> (usize, u64) {
    let cfg = e.config();
    let bpr = cols.div_ceil(cfg.c);
    let blocks = random_blocks(&cfg, rows * bpr, rng);
    let mut x: Vec<i16> = (0..cols).map(|_| rng.gen_range(-32767..=32767)).collect();
    x[0] = if rng.gen_bool(0.5) { 32767 } else { -32767 };
    let m = BlockMatrix {
        cfg,
        rows,
        cols,
        blocks: &blocks,
    };
    let want = m
        .matvec_acc(&QuantizedActs {
            x: x.clone(),
            scale: 1.0,
        })
        .unwrap();
    e.load_activations(&hw::activation_words(&cfg, &x)).unwrap();
    let words = hw::tile_stream(&m, e.lanes()).unwrap();
    let label = cfg.to_string();
    common::run_checked(e, (rows, bpr), &words, &want, stall, rng, &label)
}

#[test]
fn test_engine_random_matvec_with_stalls_both_configs() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    assert_eq!(
        variants(),
        vec![(4, 1), (4, 16), (3, 3), (3, 14)],
        "1 lane, ragged 3-bit tiles, the benchmark's 512- and 504-bit words \
         (lanes 1, 3, 8, 16 of both configurations run through the shell in tests/)"
    );
    for (bits, lanes) in variants() {
        let cfg = Config::for_bits(bits).unwrap();
        let mut e = Engine::new(&cfg, lanes).unwrap();
        // Ragged shapes: rows not a multiple of lanes, cols not of C; twice
        // per engine, so the second run also checks the restart.
        for _ in 0..6 {
            let rows = rng.gen_range(1..=2 * lanes + 3);
            let cols = rng.gen_range(1..=9 * cfg.c);
            check_run(&mut e, rows, cols, 0.3, &mut rng);
        }
        // One block per row: every word is a tile's first and last.
        check_run(&mut e, lanes + 1, cfg.c, 0.3, &mut rng);
    }
}

#[test]
fn test_engine_throughput_one_tile_word_per_cycle() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (bits, lanes) in variants() {
        let cfg = Config::for_bits(bits).unwrap();
        let latency = seedlm_hdl::blocks::engine::engine_latency(&cfg) as u64;
        let mut e = Engine::new(&cfg, lanes).unwrap();
        // COL_BLOCKS >= lanes + latency: the result bank never back-pressures.
        let bpr = lanes + latency as usize + 4;
        let (words, cycles) = check_run(&mut e, 4 * lanes, bpr * cfg.c, 0.0, &mut rng);
        // Stream, pipeline, the last tile's drain of `lanes` results, and
        // the START/DONE handshakes.
        let bound = words as u64 + latency + lanes as u64 + 4;
        assert!(
            cycles <= bound,
            "{cfg} lanes {lanes}: {cycles} cycles for {words} words > {bound}"
        );
        println!("{cfg} lanes {lanes}: {words} tile words in {cycles} cycles (bound {bound})");
    }
}

#[test]
fn test_engine_csr_identity_and_errors() {
    let cfg = Config::BITS3;
    let mut e = Engine::new(&cfg, 3).unwrap();
    assert_eq!(e.csr_read(hw::CSR_VERSION), hw::VERSION);
    assert_eq!(
        hw::decode_config(e.csr_read(hw::CSR_CONFIG)).unwrap(),
        (cfg, 3)
    );
    assert_eq!(
        e.csr_read(hw::CSR_ACT_DEPTH),
        1 << hw::DEFAULT_ACT_ADDR_BITS
    );
    e.csr_write(hw::CSR_ROWS, 0);
    e.csr_write(hw::CSR_COL_BLOCKS, 4);
    e.csr_write(hw::CSR_CTRL, hw::CTRL_START);
    e.tick();
    assert_eq!(e.csr_read(hw::CSR_ERROR), hw::ERR_EMPTY);
    assert_eq!(e.csr_read(hw::CSR_STATUS), hw::STATUS_ERROR);
    e.csr_write(hw::CSR_ROWS, 5);
    e.csr_write(hw::CSR_COL_BLOCKS, (1 << hw::DEFAULT_ACT_ADDR_BITS) + 1);
    e.csr_write(hw::CSR_CTRL, hw::CTRL_START);
    e.tick();
    assert_eq!(e.csr_read(hw::CSR_ERROR), hw::ERR_ACT_DEPTH);
    assert!(matches!(Engine::new(&cfg, 5), Err(Error::NoModel { .. })));
}
