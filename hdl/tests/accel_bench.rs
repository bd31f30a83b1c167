//! The RTL shell at work: `seedlm_accel` (4-bit, 1 lane, 512-bit AXI) in
//! the stand-alone Verilator testbench, random jobs with backpressure on
//! every channel bit-exact against the golden model (tile gearbox at 8
//! tile words per beat, activation words split across beats, batches), and
//! every bad job ending with its SHELL_ERROR flag, after which the next
//! job runs clean. One Verilator build (about a minute on 2 cores).

mod bench;

use bench::{fault_flag, run, Spec};
use seedlm::hw::shell as sh;
use seedlm::Config;
use seedlm_hdl::top::Kind;

#[test]
fn test_accel_bench_jobs_and_faults() {
    let dir = std::env::temp_dir().join(format!("seedlm_accel_bench_{}", std::process::id()));
    let spec = |rows, cols, batch, fault: &str| Spec {
        kind: Kind::Seedlm(Config::BITS4),
        lanes: 1,
        rows,
        cols,
        batch,
        rlat: 40,
        wlat: 20,
        stall: 25,
        axi: 512,
        fault: fault.to_string(),
    };
    for (rows, cols, batch) in [(1, 8, 1), (5, 100, 3), (3, 333, 2)] {
        let out = run(&spec(rows, cols, batch, ""), &dir).unwrap();
        assert_eq!(out.fault, None);
        assert!(out.job_cycles > 40 + 20, "{out:?}");
    }
    for fault in [
        "read", "write", "range", "align", "length", "engine", "busy",
    ] {
        let out = run(&spec(4, 60, 2, fault), &dir).unwrap();
        let (status, error) = out.fault.unwrap();
        assert_eq!(error, fault_flag(fault), "{fault}");
        assert_eq!(
            status & (sh::SHELL_DONE | sh::SHELL_ERROR_BIT | sh::SHELL_BUSY),
            sh::SHELL_DONE | sh::SHELL_ERROR_BIT,
            "{fault}"
        );
    }
    // Soft reset in the middle of a job: status and error cleared, not busy.
    let out = run(&spec(4, 60, 2, "reset"), &dir).unwrap();
    assert_eq!(out.fault, Some((0, 0)));
    std::fs::remove_dir_all(&dir).unwrap();
}
