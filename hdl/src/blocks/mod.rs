//! The accelerator's blocks, one per file.

pub mod adder_tree;
pub mod csr;
pub mod engine;
pub mod fp16_decode;
pub mod fp16_lane;
pub mod lfsr_expander;
pub mod mac_lane;
pub mod mul_bank;
pub mod pipe;
pub mod shifter;
pub mod weight_rebuild;
pub mod widths;
