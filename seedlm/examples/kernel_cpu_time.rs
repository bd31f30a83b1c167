//! Times the SeedLM kernel against the f16 dot product on one 4096x4096
//! mat-vec, on every instruction set this CPU runs, by the CPU time of the
//! process's threads (`/proc/self/task/*/schedstat`) rather than wall time,
//! so that other jobs on a shared machine do not inflate the numbers. One
//! rayon thread; 10 calls each.
//!
//! `cargo run --release -p seedlm --example kernel_cpu_time`
use rand::{Rng, SeedableRng};
use seedlm::fixed::{quantize_activations, BlockMatrix};
use seedlm::kernel::{dense::dot_f16, Isa, SeedMatrix};
use seedlm::{sample::random_blocks, Config};
fn cpu_ns() -> u64 {
    let mut t = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = e.unwrap().path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(p) {
            t += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    t
}
fn main() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .unwrap();
    let (rows, cols) = (4096usize, 4096usize);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let x: Vec<f32> = (0..cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let w16: Vec<half::f16> = (0..rows * cols)
        .map(|_| half::f16::from_f32(rng.gen_range(-1.0..1.0)))
        .collect();
    let reps = 10;
    let t = cpu_ns();
    let mut s = 0f32;
    for _ in 0..reps {
        for r in 0..rows {
            s += dot_f16(Isa::detect(), &w16[r * cols..(r + 1) * cols], &x);
        }
    }
    let f16 = (cpu_ns() - t) as f64 / reps as f64;
    println!("f16 {:.0} us  ({s})", f16 / 1e3);
    for cfg in [Config::BITS4, Config::BITS3] {
        let blocks = random_blocks(&cfg, rows * cols.div_ceil(cfg.c), &mut rng);
        let m0 = SeedMatrix::new(&BlockMatrix {
            cfg,
            rows,
            cols,
            blocks: &blocks,
        })
        .unwrap();
        let q = quantize_activations(&x).unwrap();
        for isa in Isa::available() {
            let m = m0.clone().with_isa(isa).unwrap();
            let mut y = vec![0f32; rows];
            let t = cpu_ns();
            for _ in 0..reps {
                m.matvec_f32(&x, &mut y).unwrap();
            }
            let f = (cpu_ns() - t) as f64 / reps as f64;
            let t = cpu_ns();
            for _ in 0..reps {
                std::hint::black_box(m.matvec_acc(&[&q]).unwrap());
            }
            let i = (cpu_ns() - t) as f64 / reps as f64;
            let nb = (rows * cols.div_ceil(cfg.c)) as f64;
            println!("{cfg} {isa:?}: float {:.0} us ({:.2}x f16, {:.1} ns/block), int {:.0} us ({:.2}x f16, {:.1} ns/block)", f/1e3, f16/f, f/nb, i/1e3, f16/i, i/nb);
        }
    }
}
