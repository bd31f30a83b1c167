//! Runs one random job through the generated accelerator top in a
//! stand-alone Verilator testbench (`hdl/tb/accel_tb.cpp`: AXI memory model
//! with latency, backpressure and error injection) and checks every result
//! word against the golden model and the register map read back after it.
//! Shared by `tests/accel_bench.rs` and `examples/accel_job.rs`.

use rand::{Rng, SeedableRng};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::fixed_fp16::{fp16_activation_words, fp16_matvec_acc, fp16_tile_stream};
use seedlm::hw::{self, shell as sh};
use seedlm::sample::random_blocks;
use seedlm_hdl::shell::{
    accel_top, generate_accel, kind_act_stride, kind_tile_stride, AccelOptions,
};
use seedlm_hdl::top::Kind;
use std::path::Path;
use std::process::Command;

/// One job for the bench.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Engine kind.
    pub kind: Kind,
    /// Lanes.
    pub lanes: usize,
    /// Matrix rows.
    pub rows: usize,
    /// Matrix columns.
    pub cols: usize,
    /// Vectors.
    pub batch: usize,
    /// Read latency in cycles.
    pub rlat: u64,
    /// Write response latency in cycles.
    pub wlat: u64,
    /// Percent of cycles each memory channel stalls.
    pub stall: u64,
    /// AXI data width.
    pub axi: u32,
    /// A bad job to run first (`read`, `write`, `range`, `align`, `length`,
    /// `engine`, `busy`, `reset`), or empty.
    pub fault: String,
}

/// What the bench saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `(SHELL_STATUS, SHELL_ERROR)` of the bad job, if one ran (`reset`:
    /// the registers after the soft reset).
    pub fault: Option<(u32, u32)>,
    /// JOB_CYCLES of the good job.
    pub job_cycles: u64,
}

/// The SHELL_ERROR a fault must end with.
pub fn fault_flag(fault: &str) -> u32 {
    match fault {
        "read" => sh::SERR_READ_RESP,
        "write" => sh::SERR_WRITE_RESP,
        "range" => sh::SERR_RANGE,
        "align" => sh::SERR_ALIGN,
        "length" => sh::SERR_LENGTH,
        "engine" => sh::SERR_ENGINE,
        "busy" => sh::SERR_START_BUSY,
        _ => 0,
    }
}

/// Runs `spec` in `dir` (which keeps the Verilator build of one
/// configuration between runs); `Err` when the testbench fails or any
/// result word or register differs.
pub fn run(spec: &Spec, dir: &Path) -> anyhow::Result<Outcome> {
    let Spec {
        kind,
        lanes,
        rows,
        cols,
        batch,
        rlat,
        wlat,
        stall,
        axi,
        ..
    } = spec.clone();
    std::fs::create_dir_all(dir)?;
    let opts = AccelOptions {
        axi_data_bits: axi,
        mem_bytes: 64 << 20,
    };
    let rtl = generate_accel(&kind, lanes, &opts)?;
    let top = accel_top(&kind);
    let v = dir.join("seedlm_accel.v");
    let old = std::fs::read_to_string(&v).unwrap_or_default();
    if old != rtl.verilog || !dir.join("obj/tb").exists() {
        std::fs::write(&v, &rtl.verilog)?;
        let tb = Path::new(env!("CARGO_MANIFEST_DIR")).join("tb/accel_tb.cpp");
        let st = Command::new("verilator")
            .args([
                "--cc",
                "--exe",
                "--build",
                "-O2",
                "-Wno-fatal",
                "--prefix",
                "Vaccel",
            ])
            .args(["--top-module", top, "-Mdir"])
            .arg(dir.join("obj"))
            .args(["-o", "tb"])
            .arg(&v)
            .arg(tb)
            .args(["-CFLAGS", "-O1"])
            .status()?;
        anyhow::ensure!(st.success(), "verilator build failed");
    }
    // The job: random blocks and activations, laid out as the shell reads them.
    let mut rng = rand::rngs::StdRng::seed_from_u64(rows as u64 * 31 + cols as u64);
    let bpr = cols.div_ceil(kind.cols_per_word());
    let (words, blocks, weights) = match kind {
        Kind::Seedlm(cfg) => {
            let blocks = random_blocks(&cfg, rows * bpr, &mut rng);
            let m = BlockMatrix {
                cfg,
                rows,
                cols,
                blocks: &blocks,
            };
            (hw::tile_stream(&m, lanes)?, blocks, vec![])
        }
        Kind::Fp16 => {
            // Random finite f16 weights (exponent field below 31).
            let w: Vec<u16> = (0..rows * cols)
                .map(|_| rng.gen::<u16>() & !(1 << 14))
                .collect();
            (fp16_tile_stream(rows, cols, &w, lanes)?, vec![], w)
        }
    };
    let ts = kind_tile_stride(&kind, lanes);
    let as_ = kind_act_stride(&kind);
    let align = |x: usize| x.next_multiple_of(4096);
    let tile_addr = 4096usize;
    let act_addr = align(tile_addr + words.len() * ts);
    let res_addr = align(act_addr + batch * bpr * as_);
    let end = res_addr + batch * rows * sh::RESULT_STRIDE;
    let mut mem = vec![0u8; end.next_multiple_of(4096) + 4096];
    for (i, w) in words.iter().enumerate() {
        mem[tile_addr + i * ts..][..w.len()].copy_from_slice(w);
    }
    let mut want = Vec::new();
    for v in 0..batch {
        let x: Vec<i16> = (0..cols).map(|_| rng.gen_range(-32767..=32767)).collect();
        let (act, acc) = match kind {
            Kind::Seedlm(cfg) => {
                let m = BlockMatrix {
                    cfg,
                    rows,
                    cols,
                    blocks: &blocks,
                };
                let acc = m.matvec_acc(&QuantizedActs {
                    x: x.clone(),
                    scale: 1.0,
                })?;
                (hw::activation_words(&cfg, &x), acc)
            }
            Kind::Fp16 => (
                fp16_activation_words(&x),
                fp16_matvec_acc(rows, cols, &weights, &x)?,
            ),
        };
        for (i, w) in act.iter().enumerate() {
            mem[act_addr + (v * bpr + i) * as_..][..w.len()].copy_from_slice(w);
        }
        want.push(acc);
    }
    mem[res_addr..end].fill(0xEE);
    std::fs::write(dir.join("mem.bin"), &mem)?;
    let regs = [
        (hw::CSR_ROWS, rows as u64),
        (hw::CSR_COL_BLOCKS, bpr as u64),
        (sh::TILE_ADDR_LO, tile_addr as u64),
        (sh::TILE_ADDR_HI, 0),
        (sh::TILE_WORDS, words.len() as u64),
        (sh::ACT_ADDR_LO, act_addr as u64),
        (sh::ACT_ADDR_HI, 0),
        (sh::RES_ADDR_LO, res_addr as u64),
        (sh::RES_ADDR_HI, 0),
        (sh::BATCH, batch as u64),
    ];
    let mut job = format!("rlat {rlat}\nwlat {wlat}\nstall {stall}\nseed 7\n");
    // A bad job first (see `fault_flag`), then the good one, which must
    // run clean.
    let fault = spec.fault.clone();
    let mut bad_regs = regs;
    let mut tail = "start\n";
    let bad_job = match fault.as_str() {
        "" => false,
        "read" => {
            job += &format!(
                "err {} {}\n",
                tile_addr + ts * words.len() / 2,
                tile_addr + ts * words.len() / 2 + 1
            );
            true
        }
        "write" => {
            job += &format!("err {} {}\n", end - 16, end);
            true
        }
        "range" => {
            bad_regs[7].1 = 64 << 20; // RES_ADDR at the end of memory
            true
        }
        "align" => {
            bad_regs[5].1 += 16;
            true
        }
        "length" => {
            bad_regs[4].1 = 0;
            true
        }
        "engine" => {
            bad_regs[1].1 = 5000;
            bad_regs[4].1 = 5000 * rows.div_ceil(lanes) as u64;
            bad_regs[7].1 = 0;
            true
        }
        "busy" => {
            tail = "kick\nwait 20\nstart\n";
            true
        }
        "reset" => {
            tail = "kick\nwait 30\nreg 256 2\nwait 2000\nread 260\nread 264\n";
            true
        }
        f => anyhow::bail!("unknown fault {f}"),
    };
    if bad_job {
        for (off, v) in bad_regs {
            job += &format!("reg {off} {v}\n");
        }
        job += tail;
        job += "err 1 0\n";
    }
    for (off, v) in regs {
        job += &format!("reg {off} {v}\n");
    }
    job += "start\n";
    // The register map, read back after the job.
    let config = match kind {
        Kind::Seedlm(cfg) => hw::encode_config(&cfg, lanes),
        Kind::Fp16 => seedlm::fixed_fp16::fp16_encode_config(lanes),
    };
    let mut expect_regs: Vec<(u32, u32)> = regs.iter().map(|&(o, v)| (o, v as u32)).collect();
    expect_regs.extend([
        (hw::CSR_VERSION, hw::VERSION),
        (hw::CSR_CONFIG, config),
        (hw::CSR_ACT_DEPTH, 1 << hw::DEFAULT_ACT_ADDR_BITS),
        (hw::CSR_ERROR, 0),
        (sh::SHELL_STATUS, sh::SHELL_DONE),
        (sh::SHELL_ERROR, 0),
        (sh::MEM_SIZE_LO, (opts.mem_bytes & 0xFFFF_FFFF) as u32),
        (sh::MEM_SIZE_HI, (opts.mem_bytes >> 32) as u32),
        (sh::SHELL_VERSION, sh::SHELL_VERSION_VALUE),
        (sh::AXI_DATA_BITS_REG, axi),
        (sh::BAR0_BYTES - 4, 0),
    ]);
    for (off, _) in &expect_regs {
        job += &format!("read {off}\n");
    }
    std::fs::write(dir.join("job.txt"), job)?;
    let out = Command::new(dir.join("obj/tb")).arg(dir).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "tb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reads: Vec<(u32, u32)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("read "))
        .map(|l| {
            let mut it = l.split(' ').map(|x| x.parse::<u32>().unwrap());
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    let tail = &reads[reads.len() - expect_regs.len()..];
    for (&(off, want), &(got_off, got)) in expect_regs.iter().zip(tail) {
        anyhow::ensure!(
            off == got_off && want == got,
            "register {off:#x}: read {got:#x}, want {want:#x}"
        );
    }
    let got = std::fs::read(dir.join("out.bin"))?;
    let mut bad = 0;
    for (v, wv) in want.iter().enumerate() {
        for (r, &acc) in wv.iter().enumerate() {
            let at = res_addr + (v * rows + r) * sh::RESULT_STRIDE;
            let w = u128::from_le_bytes(got[at..at + 16].try_into()?);
            if w != hw::pack_result(r as u32, acc) {
                if bad == 0 {
                    eprintln!(
                        "vector {v} row {r}: got {w:#x} want {:#x}",
                        hw::pack_result(r as u32, acc)
                    );
                }
                bad += 1;
            }
        }
    }
    anyhow::ensure!(bad == 0, "{bad} result words differ");
    let status: Vec<(u32, u32, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("status "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                f[2].parse().unwrap(),
                f[6].parse().unwrap(),
            )
        })
        .collect();
    let good = *status
        .last()
        .ok_or_else(|| anyhow::anyhow!("no job ended: {text}"))?;
    anyhow::ensure!(
        good.0 & sh::SHELL_ERROR_BIT == 0,
        "the good job failed: {text}"
    );
    let fault = match spec.fault.as_str() {
        "" => None,
        "reset" => Some((reads[0].1, reads[1].1)),
        _ => Some((status[0].0, status[0].1)),
    };
    Ok(Outcome {
        fault,
        job_cycles: good.2,
    })
}
