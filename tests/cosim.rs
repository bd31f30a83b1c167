//! Co-simulation: the generated accelerator (`seedlm_accel`: engine + RTL
//! shell, Verilator) behind the host's driver, with device memory in the
//! harness's AXI4 memory model under random latency and backpressure,
//! against `emu` and the golden model, bit for bit.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::sample::random_blocks;
use seedlm::Config;
use seedlm_host::device::{selftest, Engine};
use seedlm_sim::{accel_variants, Kind};
use seedlm_tests::{emu, random_timing, real_layer, verilator};

/// Random activations of `cols` columns: full range, tiny or zero.
fn random_acts(cols: usize, rng: &mut StdRng) -> QuantizedActs {
    let amp = [32767i16, 300, 1, 0][rng.gen_range(0..4)];
    QuantizedActs {
        x: (0..cols).map(|_| rng.gen_range(-amp..=amp)).collect(),
        scale: 1.0,
    }
}

#[test]
fn test_cosim_equals_emu_and_golden_both_configs_lanes_batches() {
    let mut rng = StdRng::seed_from_u64(11);
    // Every SeedLM accelerator model (sim's build.rs): 1 lane, ragged,
    // narrower than, equal to and wider than a 512-bit beat.
    let models: Vec<(Config, usize)> = accel_variants()
        .into_iter()
        .filter_map(|(kind, lanes, _)| match kind {
            Kind::Seedlm(cfg) => Some((cfg, lanes)),
            Kind::Fp16 => None,
        })
        .collect();
    // Five by default; all eight of lanes 1, 3, 8, 16 with SEEDLM_SIM_FULL=1.
    assert!(
        models.len() >= 5,
        "every SeedLM accelerator model built: {models:?}"
    );
    println!("SeedLM accelerator models: {models:?}");
    for (cfg, lanes) in models {
        let timing = random_timing(&mut rng);
        let label = format!("{cfg} lanes {lanes} {timing:?}");
        let mut v = Engine::new(Box::new(verilator(cfg, lanes, timing))).unwrap();
        let mut e = Engine::new(Box::new(emu(cfg, lanes))).unwrap();
        // Ragged: rows not a multiple of the lanes, columns not of C.
        let shapes = [
            (1, 1),
            (lanes + 1, 61),
            (2 * lanes - 1, 100),
            (
                rng.gen_range(1..=3 * lanes + 2),
                rng.gen_range(1..=12 * cfg.c),
            ),
        ];
        for (rows, cols) in shapes {
            let blocks = random_blocks(&cfg, rows * cols.div_ceil(cfg.c), &mut rng);
            let m = BlockMatrix {
                cfg,
                rows,
                cols,
                blocks: &blocks,
            };
            let (lv, le) = (v.load_layer(&m).unwrap(), e.load_layer(&m).unwrap());
            for batch in 1..=4 {
                let qs: Vec<QuantizedActs> =
                    (0..batch).map(|_| random_acts(cols, &mut rng)).collect();
                let got = v.matvec_acc_batch(&lv, &qs).unwrap();
                let want = e.matvec_acc_batch(&le, &qs).unwrap();
                assert_eq!(got, want, "{label} {rows}x{cols} batch {batch}");
                for (q, acc) in qs.iter().zip(&got) {
                    assert_eq!(acc, &m.matvec_acc(q).unwrap(), "{label} golden");
                }
            }
            // The float path (quantization, scale) on top.
            let x: Vec<f32> = (0..cols).map(|_| rng.gen_range(-2.0..2.0)).collect();
            assert_eq!(v.matvec(&lv, &x).unwrap(), m.matvec(&x).unwrap(), "{label}");
            v.unload(lv).unwrap();
            e.unload(le).unwrap();
        }
        let (engine, job) = v.last_cycles().unwrap();
        assert!(job > engine && engine > 0, "{label}: {job} vs {engine}");
    }
}

#[test]
fn test_cosim_selftest_passes_through_the_rtl_shell() {
    let mut rng = StdRng::seed_from_u64(12);
    for (cfg, lanes) in [(Config::BITS4, 8), (Config::BITS3, 3)] {
        let dev = verilator(cfg, lanes, random_timing(&mut rng));
        let mut v = Engine::new(Box::new(dev)).unwrap();
        assert_eq!(v.info().axi_data_bits, 512);
        for c in selftest::run(&mut v).unwrap() {
            assert_eq!(c.mismatches, 0, "{cfg} {}: {:?}", c.name, c.first);
        }
    }
}

#[test]
fn test_cosim_runs_a_real_smollm2_layer() {
    let Some(real) = real_layer() else {
        return;
    };
    let (m, name) = (real.matrix(), &real.name);
    let mut rng = StdRng::seed_from_u64(13);
    let timing = random_timing(&mut rng);
    let mut v = Engine::new(Box::new(verilator(Config::BITS4, 16, timing))).unwrap();
    let mut e = Engine::new(Box::new(emu(Config::BITS4, 16))).unwrap();
    let (lv, le) = (v.load_layer(&m).unwrap(), e.load_layer(&m).unwrap());
    let xs = [real.input(1), real.input(2)];
    let refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
    let y = v.matvec_batch(&lv, &refs).unwrap();
    assert_eq!(y, e.matvec_batch(&le, &refs).unwrap(), "{name}");
    for (x, y) in xs.iter().zip(&y) {
        assert_eq!(y, &m.matvec(x).unwrap(), "{name}");
    }
    println!(
        "{name}: {:?} cycles (engine, job) at {timing:?}",
        v.last_cycles().unwrap()
    );
}
