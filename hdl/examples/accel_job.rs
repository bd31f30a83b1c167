//! Runs one random job through the generated accelerator top in the
//! stand-alone Verilator testbench (`hdl/tb/accel_tb.cpp`) and checks it
//! (`hdl/tests/bench`): a development tool for cycle counts and stress
//! runs beyond what `tests/accel_bench.rs` runs in CI.
//!
//! usage: `accel_job BITS LANES ROWS COLS BATCH RLAT WLAT STALL_PCT WORKDIR [AXI_BITS]`
//! (BITS 3, 4 or 16 for the FP16 baseline; WORKDIR keeps the Verilator
//! build between runs of one configuration; `ACCEL_JOB_ERR=read|write|
//! range|align|length|engine|busy|reset` runs that bad job first).

#[path = "../tests/bench/mod.rs"]
mod bench;

use seedlm::Config;
use seedlm_hdl::top::Kind;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        a.len() >= 9,
        "usage: accel_job BITS LANES ROWS COLS BATCH RLAT WLAT STALL_PCT WORKDIR [AXI_BITS]"
    );
    let n = |i: usize| -> anyhow::Result<u64> { Ok(a[i].parse()?) };
    let spec = bench::Spec {
        kind: match n(0)? {
            16 => Kind::Fp16,
            b => Kind::Seedlm(Config::for_bits(b as u32)?),
        },
        lanes: n(1)? as usize,
        rows: n(2)? as usize,
        cols: n(3)? as usize,
        batch: n(4)? as usize,
        rlat: n(5)?,
        wlat: n(6)?,
        stall: n(7)?,
        axi: a.get(9).map_or(Ok(512), |s| s.parse())?,
        fault: std::env::var("ACCEL_JOB_ERR").unwrap_or_default(),
    };
    let out = bench::run(&spec, std::path::Path::new(&a[8]))?;
    if let Some((status, error)) = out.fault {
        println!(
            "bad job ({}): SHELL_STATUS {status:#x} SHELL_ERROR {error:#x} (want {:#x})",
            spec.fault,
            bench::fault_flag(&spec.fault)
        );
    }
    println!(
        "ok: {} x {} results bit-exact, registers read back, JOB_CYCLES {}",
        spec.batch, spec.rows, out.job_cycles
    );
    Ok(())
}
