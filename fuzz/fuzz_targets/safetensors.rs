//! The checkpoint path of `compress` on safetensors bytes: any bytes are
//! refused by `Checkpoint::from_map` (after sniffing the format), or give a
//! checkpoint whose tensors each load as f32 or fail with an error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use seedlm_host::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(ck) = Checkpoint::from_map(Path::new("fuzz.safetensors"), seedlm_fuzz::map(data)) else {
        return;
    };
    for t in ck.tensors() {
        if let Ok(v) = ck.load_f32(&t.name) {
            assert_eq!(v.len(), t.numel());
        }
    }
});
