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
