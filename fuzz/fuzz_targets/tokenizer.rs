//! HF `tokenizer.json` loading: any text is refused by `Tokenizer::from_json`
//! or gives a tokenizer that encodes and decodes a prompt (the calls
//! `generate` makes), never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use seedlm_host::llama::Tokenizer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tok) = Tokenizer::from_json(text, Path::new("tokenizer.json")) else {
        return;
    };
    let _ = tok.vocab_size();
    if let Ok(ids) = tok.encode("Alice was 12 <|im_start|>user\né\n") {
        let _ = tok.decode(&ids);
        let mut stream = tok.stream();
        for id in ids {
            let _ = stream.push(id);
        }
    }
});
