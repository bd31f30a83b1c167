//! The CUDA search against the CPU search on real layers (feature `cuda`;
//! needs a GPU: scripts/gpu/device-run.sh runs it on the device machine).
//!
//! `SEEDLM_GPU_CHECKPOINT` names the checkpoint (default: the SmolLM2 GGUF
//! in testdata/); every 2-D tensor in it is searched at 4 and 3 bits.
#![cfg(feature = "cuda")]

use seedlm::search::gpu::{GpuSearcher, Tuning};
use seedlm::search::Searcher;
use seedlm::Config;
use seedlm_host::checkpoint::Checkpoint;

#[test]
fn gpu_equals_cpu_on_real_layers() {
    let path = std::env::var("SEEDLM_GPU_CHECKPOINT").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/SmolLM2-135M-Instruct.Q4_1.gguf"
        )
        .into()
    });
    let ck = Checkpoint::open(path.as_ref()).expect("the checkpoint");
    for cfg in [Config::BITS4, Config::BITS3] {
        let gpu = GpuSearcher::new(cfg, 0, Tuning::default()).expect("a CUDA device");
        let cpu = Searcher::new(cfg).unwrap();
        let mut blocks = 0;
        for t in ck.tensors().iter().filter(|t| t.shape.len() == 2) {
            if t.shape[1] % cfg.c != 0 {
                continue;
            }
            let w = ck.load_f32(&t.name).unwrap();
            let got = gpu.search_all(&w, &|_| {}).unwrap();
            let want = cpu.search_all(&w, &|_| {}).unwrap();
            let bad = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(bad, 0, "{cfg} {}: {bad} blocks differ", t.name);
            blocks += got.len();
        }
        assert!(blocks > 0, "no 2-D tensor in {path}");
        println!("{cfg}: {blocks} real blocks equal; {:?}", gpu.stats());
    }
}

/// The calibrated search on the GPU against the CPU's on real layers with
/// a real `H`: `SEEDLM_GPU_CALIB` names a fixture of `gpu_fixture ... TEXT
/// TOKENS` (layers and their `h.NAME` second moments; skipped without it).
/// Every block must be equal, so the .seedlm files would be byte-identical;
/// likewise after one refinement pass (`compress --refine`).
/// Prints both searches' speed and where the GPU's time went.
#[test]
fn gpu_calibrated_equals_cpu_on_real_layers() {
    use seedlm::gptq::{self, Feedback};
    use std::time::Instant;
    let Ok(path) = std::env::var("SEEDLM_GPU_CALIB") else {
        eprintln!("SEEDLM_GPU_CALIB not set: skipped");
        return;
    };
    let bytes = std::fs::read(&path).expect("the calibration fixture");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let mut layers = 0;
    for (name, h) in st.tensors() {
        let Some(layer) = name.strip_prefix("h.") else {
            continue;
        };
        let h: Vec<f64> = h
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let t = st.tensor(layer).expect("the layer of a moment");
        let w: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let cols = t.shape()[1];
        let fb = Feedback::new(&h, cols, gptq::DAMP).unwrap();
        for cfg in [Config::BITS4, Config::BITS3] {
            if cols % cfg.c != 0 {
                continue;
            }
            let gpu = GpuSearcher::new(cfg, 0, Tuning::default()).expect("a CUDA device");
            let cpu = Searcher::new(cfg).unwrap();
            let start = Instant::now();
            let want = gptq::search_calibrated(&cpu, &fb, &w, cols, &|_| {}).unwrap();
            let cpu_s = start.elapsed().as_secs_f64();
            // Warm-up (compiles the weighted kernels), then timed.
            let mut search =
                |m: &seedlm::search::Metric, b: &[f32]| gpu.search_weighted(m, true, b);
            gptq::search_calibrated_by_group(
                gpu.searcher(),
                &fb,
                &w[..cols * 8],
                cols,
                &mut search,
                &|_| {},
            )
            .unwrap();
            let before = gpu.stats();
            let start = Instant::now();
            let got = gptq::search_calibrated_by_group(
                gpu.searcher(),
                &fb,
                &w,
                cols,
                &mut search,
                &|_| {},
            )
            .unwrap();
            let gpu_s = start.elapsed().as_secs_f64();
            let after = gpu.stats();
            let bad = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(got.len(), want.len());
            assert_eq!(
                bad,
                0,
                "{cfg} {layer}: {bad} of {} blocks differ",
                got.len()
            );
            // One refinement pass from these blocks: the same on both.
            let start: Vec<seedlm::Block> = want.iter().map(|f| f.block).collect();
            let mut on_cpu = gptq::Refinement::new(&cpu, &fb, &w, cols, start.clone()).unwrap();
            let cpu_changed = on_cpu
                .pass(&mut gptq::cpu_group_search(&cpu), &|_| {})
                .unwrap();
            let mut on_gpu = gptq::Refinement::new(gpu.searcher(), &fb, &w, cols, start).unwrap();
            let gpu_changed = on_gpu.pass(&mut search, &|_| {}).unwrap();
            assert_eq!(gpu_changed, cpu_changed, "{cfg} {layer}: refinement");
            assert_eq!(
                on_gpu.blocks(),
                on_cpu.blocks(),
                "{cfg} {layer}: refinement"
            );
            let params = w.len() as f64;
            println!(
                "{cfg} {layer} {:?}: {} blocks equal; CPU {:.0} params/s ({cpu_s:.2} s), GPU {:.0} params/s ({gpu_s:.2} s): \
                 tables {:.3} s, upload {:.3}, scan {:.3}, fit {:.3}, rescan {:.3} ({} blocks), host prep {:.3}, \
                 feedback and the rest {:.3}",
                t.shape(),
                got.len(),
                params / cpu_s,
                params / gpu_s,
                after.tables_s - before.tables_s,
                after.upload_s - before.upload_s,
                after.scan_s - before.scan_s,
                after.fit_s - before.fit_s,
                after.rescan_s - before.rescan_s,
                after.rescanned - before.rescanned,
                after.host_s - before.host_s,
                gpu_s
                    - (after.tables_s - before.tables_s)
                    - (after.upload_s - before.upload_s)
                    - (after.scan_s - before.scan_s)
                    - (after.fit_s - before.fit_s)
                    - (after.rescan_s - before.rescan_s)
                    - (after.host_s - before.host_s),
            );
            layers += 1;
        }
    }
    assert!(layers > 0, "no h.* tensor in {path}");
}
