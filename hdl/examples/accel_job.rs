//! Runs one random job through the generated `seedlm_accel` in a
//! stand-alone Verilator testbench (`hdl/tb/accel_tb.cpp`: AXI memory model
//! with latency, backpressure and error injection) and checks every
//! result word against the golden model. A development tool of the RTL
//! shell; the project's co-simulation lives in `sim/`.
//!
//! usage: `accel_job BITS LANES ROWS COLS BATCH RLAT WLAT STALL_PCT WORKDIR [AXI_BITS]`
//! (WORKDIR keeps the Verilator build between runs of one configuration).

use rand::{Rng, SeedableRng};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::hw::{self, shell as sh};
use seedlm::sample::random_blocks;
use seedlm::Config;
use seedlm_hdl::shell::{generate_accel, AccelOptions};
use seedlm_hdl::top::Kind;
use std::path::Path;
use std::process::Command;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize| -> u64 { a[i].parse().expect("number") };
    let cfg = Config::for_bits(n(0) as u32)?;
    let (lanes, rows, cols, batch) = (n(1) as usize, n(2) as usize, n(3) as usize, n(4) as usize);
    let (rlat, wlat, stall) = (n(5), n(6), n(7));
    let dir = Path::new(&a[8]);
    let axi = a.get(9).map(|s| s.parse().unwrap()).unwrap_or(512);
    std::fs::create_dir_all(dir)?;
    let opts = AccelOptions {
        axi_data_bits: axi,
        mem_bytes: 64 << 20,
    };
    let rtl = generate_accel(&Kind::Seedlm(cfg), lanes, &opts)?;
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
            .args(["--top-module", "seedlm_accel", "-Mdir"])
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
    let bpr = cols.div_ceil(cfg.c);
    let blocks = random_blocks(&cfg, rows * bpr, &mut rng);
    let m = BlockMatrix {
        cfg,
        rows,
        cols,
        blocks: &blocks,
    };
    let words = hw::tile_stream(&m, lanes)?;
    let ts = sh::tile_stride(&cfg, lanes);
    let as_ = sh::act_stride(&cfg);
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
        for (i, w) in hw::activation_words(&cfg, &x).iter().enumerate() {
            mem[act_addr + (v * bpr + i) * as_..][..w.len()].copy_from_slice(w);
        }
        want.push(m.matvec_acc(&QuantizedActs { x, scale: 1.0 })?);
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
    for (off, v) in regs {
        job += &format!("reg {off} {v}\n");
    }
    job += "start\n";
    std::fs::write(dir.join("job.txt"), job)?;
    let out = Command::new(dir.join("obj/tb")).arg(dir).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    anyhow::ensure!(
        out.status.success(),
        "tb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::read(dir.join("out.bin"))?;
    let mut bad = 0;
    for (v, wv) in want.iter().enumerate() {
        for (r, &acc) in wv.iter().enumerate() {
            let at = res_addr + (v * rows + r) * sh::RESULT_STRIDE;
            let w = u128::from_le_bytes(got[at..at + 16].try_into()?);
            if w != hw::pack_result(r as u32, acc) {
                if bad < 5 {
                    println!(
                        "vector {v} row {r}: got {w:#x} want {:#x}",
                        hw::pack_result(r as u32, acc)
                    );
                }
                bad += 1;
            }
        }
    }
    anyhow::ensure!(bad == 0, "{bad} result words differ");
    println!("ok: {batch} x {rows} results bit-exact");
    Ok(())
}
