//! The GGUF reader and what is built from its metadata: any bytes are
//! refused by `Checkpoint::from_map`, or give a checkpoint whose tensors
//! load or fail cleanly, and whose Llama config and `tokenizer.json` are
//! built or refused, never a panic. (Loading that JSON into `tokenizers`
//! is the `tokenizer` target's job: it compiles regexes and costs a
//! hundred times more than the rest.)
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use seedlm_host::checkpoint::Checkpoint;
use seedlm_host::llama::{LlamaConfig, Tokenizer};

fuzz_target!(|data: &[u8]| {
    let Ok(ck) = Checkpoint::from_map(Path::new("fuzz.gguf"), seedlm_fuzz::map(data)) else {
        return;
    };
    for t in ck.tensors() {
        if let Ok(v) = ck.load_f32(&t.name) {
            assert_eq!(v.len(), t.numel());
        }
    }
    let Checkpoint::Gguf(g) = &ck else {
        return;
    };
    let _ = LlamaConfig::from_gguf(g);
    if let Ok(json) = Tokenizer::json_from_gguf(g) {
        serde_json::from_str::<serde_json::Value>(&json).expect("the tokenizer JSON parses");
    }
});
