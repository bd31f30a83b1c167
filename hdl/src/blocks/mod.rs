//! The accelerator's blocks, one per file.

/// Verilog macro that selects the ECP5 forms of the blocks whose plain
/// Verilog Yosys cannot map to a fast ECP5 netlist (the activation memory's
/// output register, the multipliers' registers): `read_verilog
/// -DSEEDLM_ECP5`, as `bitstreams/ecp5.sh` does. The ECP5 forms instantiate
/// DP16KD and MULT18X18D primitives with the same latency and bits as the
/// plain forms (`hdl/tests/ecp5_prims.rs`).
pub const ECP5_DEFINE: &str = "SEEDLM_ECP5";

pub mod act_mem;
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
