//! Every error path of a job, on `emu` and on the RTL (`verilator`, under a
//! hostile memory): addresses outside device memory, misaligned addresses,
//! TILE_WORDS zero or too large, BATCH zero, COL_BLOCKS above ACT_DEPTH,
//! START while busy, SLVERR on a read and on a write, and (RTL only) DECERR
//! from an address the memory does not decode. Each ends with the same
//! [`DeviceError::Job`] on both backends, equal to what
//! [`Job::flags`] predicts, never hangs, and leaves the device idle and
//! ready: the next job runs and is correct.

use rand::rngs::StdRng;
use rand::SeedableRng;
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::sample::random_blocks;
use seedlm::{hw, Config};
use seedlm_host::device::driver::{self, run_job};
use seedlm_host::device::emu::EmuDevice;
use seedlm_host::device::memory::Fault;
use seedlm_host::device::packer::pack_layer;
use seedlm_host::device::shell::{self, act_stride, tile_stride, Job, ADDR_ALIGN, RESULT_STRIDE};
use seedlm_host::device::verilator::VerilatorDevice;
use seedlm_host::device::{DevBuf, Device, JobFailure};
use seedlm_sim::MemTiming;
use seedlm_tests::{emu, job_failure, random_timing, verilator, TEST_MEM};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A backend whose memory can be made to fail.
trait Faulty: Device {
    fn inject(&mut self, f: Fault);
    fn clear(&mut self);
}

impl Faulty for EmuDevice {
    fn inject(&mut self, f: Fault) {
        EmuDevice::inject(self, f)
    }
    fn clear(&mut self) {
        self.clear_faults()
    }
}

impl Faulty for VerilatorDevice {
    fn inject(&mut self, f: Fault) {
        VerilatorDevice::inject(self, f)
    }
    fn clear(&mut self) {
        self.clear_faults()
    }
}

/// A well-formed job in device memory and its expected accumulators.
struct GoodJob {
    job: Job,
    tiles: DevBuf,
    act: DevBuf,
    res: DevBuf,
    want: Vec<Vec<i128>>,
}

const BATCH: usize = 3;

fn good_job(dev: &mut dyn Device, cfg: Config, lanes: usize) -> GoodJob {
    let mut rng = StdRng::seed_from_u64(5);
    let (rows, cols) = (2 * lanes + 1, 5 * cfg.c - 3);
    let bpr = cols.div_ceil(cfg.c);
    let blocks = random_blocks(&cfg, rows * bpr, &mut rng);
    let m = BlockMatrix {
        cfg,
        rows,
        cols,
        blocks: &blocks,
    };
    let packed = pack_layer(&m, lanes).unwrap();
    let tiles = dev.alloc(packed.bytes.len()).unwrap();
    dev.write(&tiles, 0, &packed.bytes).unwrap();
    let a = act_stride(&cfg);
    let act = dev.alloc(BATCH * bpr * a).unwrap();
    let mut want = Vec::new();
    for v in 0..BATCH {
        let x: Vec<i16> = (0..cols)
            .map(|i| (i as i16 * 97 + v as i16) % 500)
            .collect();
        for (i, w) in hw::activation_words(&cfg, &x).iter().enumerate() {
            dev.write(&act, ((v * bpr + i) * a) as u64, w).unwrap();
        }
        want.push(m.matvec_acc(&QuantizedActs { x, scale: 1.0 }).unwrap());
    }
    let res = dev.alloc(BATCH * rows * RESULT_STRIDE).unwrap();
    let job = Job {
        rows: rows as u32,
        col_blocks: bpr as u32,
        tile_addr: tiles.addr,
        tile_words: packed.tile_words as u32,
        act_addr: act.addr,
        res_addr: res.addr,
        batch: BATCH as u32,
    };
    GoodJob {
        job,
        tiles,
        act,
        res,
        want,
    }
}

/// Runs the good job and checks every result (the device is clean).
fn check_clean(dev: &mut dyn Device, g: &GoodJob, after: &str) {
    let status = dev.read_csr(shell::SHELL_STATUS).unwrap();
    assert_eq!(
        status & (shell::SHELL_BUSY | shell::SHELL_ERROR_BIT),
        0,
        "{after}: STATUS {status:#x}"
    );
    dev.write(&g.res, 0, &vec![0xAA; g.res.len as usize])
        .unwrap();
    run_job(dev, &g.job, TIMEOUT)
        .unwrap_or_else(|e| panic!("{}: job after {after}: {e}", dev.name()));
    check_results(dev, g, after);
}

fn check_results(dev: &mut dyn Device, g: &GoodJob, after: &str) {
    let rows = g.job.rows as usize;
    let mut raw = vec![0u8; BATCH * rows * RESULT_STRIDE];
    dev.read(&g.res, 0, &mut raw).unwrap();
    for (v, words) in raw.chunks_exact(rows * RESULT_STRIDE).enumerate() {
        let mut got = vec![None; rows];
        for w in words.chunks_exact(RESULT_STRIDE) {
            let (row, acc) = hw::unpack_result(u128::from_le_bytes(w.try_into().unwrap()));
            got[row as usize] = Some(acc);
        }
        let want: Vec<Option<i128>> = g.want[v].iter().map(|&a| Some(a)).collect();
        assert_eq!(got, want, "{}: vector {v} after {after}", dev.name());
    }
}

/// Every scenario on `dev`: `(name, failure)` in order.
fn scenarios<D: Faulty>(dev: &mut D, cfg: Config, lanes: usize) -> Vec<(String, JobFailure)> {
    let info = driver::info(dev).unwrap();
    let g = good_job(dev, cfg, lanes);
    check_clean(dev, &g, "opening");
    let end = info.mem_size / ADDR_ALIGN * ADDR_ALIGN;
    let j = g.job;
    let bad: Vec<(&str, Job)> = vec![
        (
            "tiles past the end",
            Job {
                tile_addr: end - ADDR_ALIGN,
                ..j
            },
        ),
        (
            "results past the end",
            Job {
                res_addr: end - ADDR_ALIGN,
                ..j
            },
        ),
        (
            "tiles beyond 2^64",
            Job {
                tile_addr: u64::MAX - 127,
                ..j
            },
        ),
        (
            "misaligned activations",
            Job {
                act_addr: j.act_addr + ADDR_ALIGN / 2,
                ..j
            },
        ),
        (
            "misaligned tiles",
            Job {
                tile_addr: j.tile_addr + 8,
                ..j
            },
        ),
        ("TILE_WORDS zero", Job { tile_words: 0, ..j }),
        (
            "TILE_WORDS too large",
            Job {
                tile_words: j.tile_words + 1,
                ..j
            },
        ),
        ("BATCH zero", Job { batch: 0, ..j }),
        (
            "ROWS zero",
            Job {
                rows: 0,
                tile_words: 0,
                ..j
            },
        ),
        (
            "COL_BLOCKS above ACT_DEPTH",
            Job {
                col_blocks: info.act_depth + 1,
                tile_words: j.rows.div_ceil(lanes as u32) * (info.act_depth + 1),
                ..j
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, job) in bad {
        let f = job_failure(run_job(dev, &job, TIMEOUT));
        let want = job.flags(&cfg, lanes, info.act_depth, info.mem_size);
        assert_eq!(f.shell, want, "{}: {name}", dev.name());
        check_clean(dev, &g, name);
        out.push((name.to_string(), f));
    }
    // START while the job runs: it goes on, correct, and ends flagged.
    driver::configure(dev, &g.job).unwrap();
    driver::start(dev).unwrap();
    driver::start(dev).unwrap();
    let f = job_failure(driver::wait(dev, TIMEOUT));
    check_results(dev, &g, "START while busy");
    driver::recover(dev).unwrap();
    check_clean(dev, &g, "START while busy");
    out.push(("START while busy".into(), f));
    // Error responses from memory.
    let faults = [
        ("SLVERR reading tiles", g.tiles, true),
        ("SLVERR reading activations", g.act, true),
        ("SLVERR writing results", g.res, false),
    ];
    for (name, buf, reads) in faults {
        dev.inject(Fault {
            addr: buf.addr + buf.len / 2,
            len: 1,
            reads,
        });
        let f = job_failure(run_job(dev, &g.job, TIMEOUT));
        dev.clear();
        check_clean(dev, &g, name);
        out.push((name.into(), f));
    }
    out
}

#[test]
fn test_job_errors_equal_on_every_backend_and_recover() {
    let mut rng = StdRng::seed_from_u64(21);
    for (cfg, lanes) in [(Config::BITS4, 8), (Config::BITS3, 3)] {
        let on_emu = scenarios(&mut emu(cfg, lanes), cfg, lanes);
        let on_rtl = scenarios(
            &mut verilator(cfg, lanes, random_timing(&mut rng)),
            cfg,
            lanes,
        );
        for ((name, e), (_, v)) in on_emu.iter().zip(&on_rtl) {
            assert_eq!(e, v, "{cfg} lanes {lanes}: {name}: emu {e}, verilator {v}");
        }
        let flag = |name: &str| on_emu.iter().find(|(n, _)| n == name).unwrap().1;
        let engine = JobFailure {
            shell: shell::SERR_ENGINE,
            engine: hw::ERR_ACT_DEPTH,
        };
        assert_eq!(flag("COL_BLOCKS above ACT_DEPTH"), engine);
        for (name, bit) in [
            ("tiles past the end", shell::SERR_RANGE),
            ("misaligned tiles", shell::SERR_ALIGN),
            ("TILE_WORDS zero", shell::SERR_LENGTH),
            ("START while busy", shell::SERR_START_BUSY),
            ("SLVERR reading tiles", shell::SERR_READ_RESP),
            ("SLVERR reading activations", shell::SERR_READ_RESP),
            ("SLVERR writing results", shell::SERR_WRITE_RESP),
        ] {
            assert_eq!(
                flag(name),
                JobFailure {
                    shell: bit,
                    engine: 0
                },
                "{name}"
            );
        }
    }
}

#[test]
fn test_job_errors_decerr_from_undecoded_memory() {
    // The RTL shell's MEM_SIZE is larger than the harness's memory: a job
    // inside MEM_SIZE but past the memory gets DECERR on its reads.
    let mut rng = StdRng::seed_from_u64(22);
    let (cfg, lanes) = (Config::BITS4, 8);
    let mut dev = verilator(cfg, lanes, random_timing(&mut rng));
    let info = driver::info(&mut dev).unwrap();
    assert!(info.mem_size > TEST_MEM, "{info}");
    let g = good_job(&mut dev, cfg, lanes);
    let job = Job {
        tile_addr: TEST_MEM,
        ..g.job
    };
    assert_eq!(job.flags(&cfg, lanes, info.act_depth, info.mem_size), 0);
    let f = job_failure(run_job(&mut dev, &job, TIMEOUT));
    assert_eq!(f.shell, shell::SERR_READ_RESP);
    check_clean(&mut dev, &g, "DECERR");
    assert!(dev.accel().mem().stats().error_beats > 0);
}

#[test]
fn test_job_errors_slverr_at_every_beat_then_clean() {
    // An error response on any one beat of a job's tiles or activations,
    // or on any one result word, under an ideal and a hostile memory: the
    // job ends with READ_RESP or WRITE_RESP (as on `emu`) and the next job
    // runs and is correct. (An earlier shell hung on the job after some
    // write errors in the second or third vector of a batch.)
    let mut rng = StdRng::seed_from_u64(23);
    let (cfg, lanes) = (Config::BITS4, 8);
    let beat = u64::from(seedlm::hw::shell::DEFAULT_AXI_DATA_BITS / 8);
    for timing in [MemTiming::default(), random_timing(&mut rng)] {
        let mut dev = verilator(cfg, lanes, timing);
        let mut on_emu = emu(cfg, lanes);
        let g = good_job(&mut dev, cfg, lanes);
        let ge = good_job(&mut on_emu, cfg, lanes);
        assert_eq!(
            (g.job.tile_addr, g.job.res_addr),
            (ge.job.tile_addr, ge.job.res_addr)
        );
        // The bytes the job reads and writes (the buffers may be longer).
        let j = g.job;
        let tile_bytes = u64::from(j.tile_words) * tile_stride(&cfg, lanes) as u64;
        let act_bytes = u64::from(j.batch * j.col_blocks) * act_stride(&cfg) as u64;
        let result_bytes = u64::from(j.batch * j.rows) * RESULT_STRIDE as u64;
        let places = [
            ("tiles", j.tile_addr, tile_bytes, beat, true),
            ("activations", j.act_addr, act_bytes, beat, true),
            (
                "result",
                j.res_addr,
                result_bytes,
                RESULT_STRIDE as u64,
                false,
            ),
        ];
        let mut runs = 0;
        for (what, start, len, step, reads) in places {
            for off in (0..len).step_by(step as usize) {
                let fault = Fault {
                    addr: start + off,
                    len: 1,
                    reads,
                };
                let at = format!("SLVERR on {what} at +{off} ({timing:?})");
                dev.inject(fault);
                on_emu.inject(fault);
                let f = job_failure(run_job(&mut dev, &g.job, TIMEOUT));
                let fe = job_failure(run_job(&mut on_emu, &ge.job, TIMEOUT));
                dev.clear();
                on_emu.clear();
                assert_eq!(f, fe, "{at}: verilator {f}, emu {fe}");
                let bit = if reads {
                    shell::SERR_READ_RESP
                } else {
                    shell::SERR_WRITE_RESP
                };
                assert_eq!(f.shell, bit, "{at}");
                check_clean(&mut dev, &g, &at);
                runs += 1;
            }
        }
        // Every result word of every vector, every tile and activation beat.
        println!("{runs} faulty jobs, each followed by a clean one ({timing:?})");
        assert!(runs >= 51 + 2, "{runs} faulty jobs");
        assert!(
            dev.accel().mem().stats().error_beats >= runs,
            "faults not hit"
        );
    }
}
