//! HF `config.json` loading: any text is refused by
//! `LlamaConfig::from_hf_json` or gives a config that survives its own
//! round trip and whose RoPE tables can be built.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use seedlm_host::llama::LlamaConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = Path::new("config.json");
    let Ok(cfg) = LlamaConfig::from_hf_json(text, p) else {
        return;
    };
    let back = LlamaConfig::from_hf_json(&cfg.to_hf_json(), p).expect("own output reads back");
    assert_eq!(back, cfg);
    // The runtime builds the RoPE table only once weights of
    // `n_heads·head_dim` rows were found in the file; keep the harness's
    // allocation to what such a file could hold.
    if cfg.head_dim <= 1 << 16 {
        let (inv_freq, _) = cfg.rope_inv_freq();
        assert_eq!(inv_freq.len(), cfg.head_dim / 2);
    }
});
