//! What `compress` checks before any work, so that a checkpoint it cannot
//! store fails in seconds, not at the final write after hours of search.
//! Each error names the file (the shard of a directory) and the tensor.
//!
//! Every tensor must have a name the container takes (1 to 65,535 bytes,
//! [`seedlm::container::check_name`]), unique in the checkpoint and not
//! reserved: `meta/*` holds the model's config and tokenizer, and
//! `__metadata__` is the safetensors header's metadata key that `decompress`
//! writes. Its shape must be one the container takes (1 to 8 dims, none
//! zero: [`seedlm::container::check_shape`]; scalars are refused), and its
//! dtype one the readers convert.

use std::collections::HashSet;

use anyhow::{bail, Result};
use seedlm::container::{check_name, check_shape};
use seedlm_host::checkpoint::Checkpoint;
use seedlm_host::llama::load::META_PREFIX;

use super::printable;

/// Characters of a name that an error message shows.
const MAX_SHOWN: usize = 100;

/// The safetensors header key for file metadata.
const SAFETENSORS_METADATA: &str = "__metadata__";

/// Checks every tensor of `ck` (see the module docs).
pub fn tensors(ck: &Checkpoint) -> Result<()> {
    let mut seen = HashSet::new();
    for t in ck.tensors() {
        let fail = |why: String| -> Result<()> {
            // Names of up to 64 KiB and more: the message shows the start.
            let shown: String = printable(&t.name).chars().take(MAX_SHOWN).collect();
            let more = if t.name.chars().count() > MAX_SHOWN {
                format!("... ({} bytes)", t.name.len())
            } else {
                String::new()
            };
            bail!(
                "{}: tensor '{shown}{more}': {why}",
                ck.file_of(&t.name).display()
            )
        };
        if let Err(e) = check_name(&t.name) {
            fail(e)?;
        }
        if t.name.starts_with(META_PREFIX) || t.name == SAFETENSORS_METADATA {
            fail(format!(
                "the name is reserved ('{META_PREFIX}*' holds model metadata, \
                 '{SAFETENSORS_METADATA}' is the safetensors header's)"
            ))?;
        }
        if !seen.insert(t.name.as_str()) {
            fail("the name appears twice".into())?;
        }
        if let Err(e) = check_shape(&t.shape) {
            fail(format!("shape {:?}: {e}", t.shape))?;
        }
        if t.dtype.byte_len(t.numel()).is_none() {
            fail(format!(
                "dtype {} cannot be read (supported: f32, f16, bf16; in GGUF also q8_0, q4_0, q4_1)",
                t.dtype
            ))?;
        }
    }
    Ok(())
}
