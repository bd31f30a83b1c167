//! The device layer on `emu`: against the golden model (bit for bit), the
//! float path within the golden model's error bound, the self-test, and
//! the vfio backend's error paths without a board. The same checks against
//! the RTL (`verilator`), a real layer, and the job error paths on every
//! backend are in the workspace's top-level `tests/`.

use rand::{Rng, SeedableRng};
use seedlm::fixed::{error_bound, quantize_activations, BlockMatrix};
use seedlm::sample::random_blocks;
use seedlm::{hw, Config, Lfsr};
use seedlm_host::device::vfio::{SysPaths, VfioDevice};
use seedlm_host::device::{open, selftest, DeviceError, Engine, OpenOptions};

fn emu(cfg: Config, lanes: usize) -> Engine {
    let opts = OpenOptions {
        cfg,
        lanes,
        mem_size: 256 << 20,
    };
    Engine::new(open("emu", &opts).unwrap()).unwrap()
}

/// Runs random ragged layers through `engine` and compares every output
/// with the golden model, bit for bit (single and batched calls).
fn check_against_golden(engine: &mut Engine, shapes: &[(usize, usize)], seed: u64) {
    let cfg = engine.info().cfg;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for &(rows, cols) in shapes {
        let blocks = random_blocks(&cfg, rows * cols.div_ceil(cfg.c), &mut rng);
        let m = BlockMatrix {
            cfg,
            rows,
            cols,
            blocks: &blocks,
        };
        let layer = engine.load_layer(&m).unwrap();
        let xs: Vec<Vec<f32>> = (0..3)
            .map(|v| {
                let amp = [1.0f32, 1e-4, 300.0][v];
                (0..cols).map(|_| rng.gen_range(-amp..amp)).collect()
            })
            .collect();
        let name = engine.info().backend.clone();
        for x in &xs {
            let want = m.matvec(x).unwrap();
            let got = engine.matvec(&layer, x).unwrap();
            let same = want
                .iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{name} {cfg} {rows}x{cols}: {got:?} != {want:?}");
        }
        let refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
        let batch = engine.matvec_batch(&layer, &refs).unwrap();
        for (x, y) in xs.iter().zip(&batch) {
            assert_eq!(y, &m.matvec(x).unwrap(), "{name} batch {rows}x{cols}");
        }
        engine.unload(layer).unwrap();
    }
}

#[test]
fn test_device_emu_equals_golden_on_ragged_layers() {
    for cfg in [Config::BITS4, Config::BITS3] {
        for lanes in [1, 3, 5, 8, 16] {
            let mut e = emu(cfg, lanes);
            let shapes = [(1, 1), (lanes + 1, 61), (3 * lanes - 1, 200), (37, 576)];
            check_against_golden(&mut e, &shapes, 100 + lanes as u64);
        }
    }
}

#[test]
fn test_device_emu_within_bound_of_float_path() {
    // The cpu path: decode the blocks to f32 and multiply in f64.
    let cfg = Config::BITS4;
    let lfsr = Lfsr::new(cfg.k);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (rows, cols) = (29usize, 203usize);
    let bpr = cols.div_ceil(cfg.c);
    let blocks = random_blocks(&cfg, rows * bpr, &mut rng);
    let m = BlockMatrix {
        cfg,
        rows,
        cols,
        blocks: &blocks,
    };
    let mut e = emu(cfg, 8);
    let layer = e.load_layer(&m).unwrap();
    let x: Vec<f32> = (0..cols).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let scale = quantize_activations(&x).unwrap().scale;
    let y = e.matvec(&layer, &x).unwrap();
    for row in 0..rows {
        let mut w = vec![0f32; bpr * cfg.c];
        for (b, out) in w.chunks_mut(cfg.c).enumerate() {
            blocks[row * bpr + b].decode(&cfg, &lfsr, out);
        }
        w.truncate(cols);
        let exact: f64 = w.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
        let err = (y[row] as f64 - exact).abs();
        let bound = error_bound(&w, y[row], scale);
        assert!(err <= bound, "row {row}: {err} > {bound}");
        // The bound is not vacuous: it is small against the row's size.
        let l1: f64 = w.iter().map(|v| v.abs() as f64).sum();
        assert!(bound < 1e-3 * l1 * 2.0, "bound {bound} vs l1 {l1}");
    }
}

#[test]
fn test_device_selftest_passes_on_emu() {
    for (cfg, lanes) in [(Config::BITS4, 8), (Config::BITS3, 3)] {
        let cases = selftest::run(&mut emu(cfg, lanes)).unwrap();
        assert_eq!(cases.len(), 2);
        for c in cases {
            assert_eq!(c.mismatches, 0, "{cfg} {}: {:?}", c.name, c.first);
        }
    }
}

#[test]
fn test_device_engine_rejects_bad_layers_and_inputs() {
    let mut e = emu(Config::BITS4, 8);
    let blocks = vec![hw::PAD_BLOCK; 4];
    let bad_cfg = BlockMatrix {
        cfg: Config::BITS3,
        rows: 2,
        cols: 24,
        blocks: &blocks[..4],
    };
    let err = e.load_layer(&bad_cfg).unwrap_err();
    assert!(
        err.to_string().contains("on a C=8,P=3,K=16 device"),
        "{err}"
    );
    let wide = vec![hw::PAD_BLOCK; 4097];
    let too_wide = BlockMatrix {
        cfg: Config::BITS4,
        rows: 1,
        cols: 4097 * 8,
        blocks: &wide,
    };
    let err = e.load_layer(&too_wide).unwrap_err();
    assert!(err.to_string().contains("1..=4096 column blocks"), "{err}");
    let ok = BlockMatrix {
        cfg: Config::BITS4,
        rows: 2,
        cols: 16,
        blocks: &blocks,
    };
    let layer = e.load_layer(&ok).unwrap();
    let err = e.matvec(&layer, &[0.0; 15]).unwrap_err();
    assert!(err.to_string().contains("has 15 values"), "{err}");
    assert!(e.matvec(&layer, &[f32::NAN; 16]).is_err());
    assert_eq!(e.matvec(&layer, &[0.0; 16]).unwrap(), vec![0.0, 0.0]);
}

#[test]
fn test_device_vfio_fails_cleanly_without_a_board() {
    // The real machine: whatever is missing is named, nothing panics.
    let err = open("vfio:0000:ff:1f.7", &OpenOptions::default())
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.starts_with("vfio 0000:ff:1f.7: "), "{msg}");
    assert!(
        msg.contains("/dev/vfio/vfio")
            || msg.contains("not found in /sys/bus/pci/devices")
            || msg.contains("vfio-pci"),
        "{msg}"
    );
    let err = open("vfio:01:00", &OpenOptions::default()).err().unwrap();
    assert!(err.to_string().contains("not a PCI address"), "{err}");
}

#[test]
fn test_device_vfio_names_each_missing_prerequisite() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let paths = SysPaths {
        dev_vfio: dir.path().join("dev/vfio"),
        pci_devices: dir.path().join("sys/bus/pci/devices"),
    };
    let addr = "0000:01:00.0";
    let dev = paths.pci_devices.join(addr);
    let expect = |what: &str| {
        let err = VfioDevice::open_at(&paths, addr).err().unwrap();
        assert!(
            matches!(err, DeviceError::VfioMissing { .. }),
            "{what}: {err}"
        );
        assert!(err.to_string().contains(what), "want '{what}' in: {err}");
    };
    expect("modprobe vfio-pci");
    std::fs::create_dir_all(&paths.dev_vfio).unwrap();
    std::fs::write(paths.dev_vfio.join("vfio"), b"").unwrap();
    expect("device not found in");
    std::fs::create_dir_all(&dev).unwrap();
    expect("not bound to vfio-pci (no driver)");
    symlink("../../../../bus/pci/drivers/nvme", dev.join("driver")).unwrap();
    expect("not bound to vfio-pci (bound to nvme)");
    std::fs::remove_file(dev.join("driver")).unwrap();
    symlink("../../../../bus/pci/drivers/vfio-pci", dev.join("driver")).unwrap();
    expect("no IOMMU group");
    symlink(
        "../../../../kernel/iommu_groups/17",
        dev.join("iommu_group"),
    )
    .unwrap();
    expect("no ");
    expect("for IOMMU group 17");
    // Everything present in the fake tree: opening the (real) container or
    // the group fails with an error, not a panic.
    std::fs::write(paths.dev_vfio.join("17"), b"").unwrap();
    assert!(VfioDevice::open_at(&paths, addr).is_err());
}
