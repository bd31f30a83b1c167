//! Times the integer form for one vector (what `emu` runs per token) on the
//! SeedLM layers of a `.seedlm` file, by wall time inside rayon's pool (as
//! `Model::forward` calls its layers). Not by the threads' CPU time: a
//! call from outside the pool hands its rows to a pool thread, whose
//! spinning after the call counts as CPU time (192x576: 3.9 ns per block
//! by CPU time from outside, 2.5 by wall time from outside, 1.95 by wall
//! time inside), and `schedstat` of a running thread lags. Medians and
//! bests over the passes absorb other jobs' interruptions. Per pass, one
//! `matvec_acc` of each layer of blocks 1-3 (its real shapes and
//! exponents); prints the median and best ns per block over the passes,
//! per shape, and an FNV hash of the accumulators (equal across builds:
//! same integers).
//!
//! `cargo run --release -p seedlm --example kernel_token -- FILE THREADS PASSES`
use seedlm::container::{SeedFile, TensorKind};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::kernel::SeedMatrix;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = a.get(1).map_or("testdata/smollm2-135m-4bit.seedlm", |s| s);
    let threads: usize = a.get(2).map_or(1, |s| s.parse().unwrap());
    let passes: usize = a.get(3).map_or(40, |s| s.parse().unwrap());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .unwrap();
    let f = SeedFile::open(std::path::Path::new(path)).unwrap();
    let mut ms = Vec::new();
    for t in f.tensors() {
        let TensorKind::Seed(cfg) = t.kind else {
            continue;
        };
        if !(t.name.contains("blk.1.") || t.name.contains("blk.2.") || t.name.contains("blk.3.")) {
            continue;
        }
        let (rows, cols) = (t.shape[0], t.shape[1]);
        let blocks = f.blocks(t).unwrap();
        let m = SeedMatrix::new(&BlockMatrix {
            cfg,
            rows,
            cols,
            blocks: &blocks,
        })
        .unwrap();
        // Activations spread like a token's: full 16-bit range, mostly small.
        let mut s = 0x9e3779b97f4a7c15u64 ^ (rows * cols) as u64;
        let x: Vec<i16> = (0..cols)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s >> 16) as i16;
                if s & 7 == 0 {
                    v
                } else {
                    v >> 6
                }
            })
            .collect();
        ms.push((t.name.clone(), m, QuantizedActs { x, scale: 1.0 }));
    }
    let mut shapes: Vec<(usize, usize)> = ms.iter().map(|(_, m, _)| (m.rows(), m.cols())).collect();
    shapes.sort();
    shapes.dedup();
    let mut times = vec![Vec::new(); shapes.len()];
    let mut hash = 0xcbf29ce484222325u64;
    rayon::scope(|_| {
        for pass in 0..passes + 2 {
            let mut per = vec![0u64; shapes.len()];
            for (_, m, q) in &ms {
                let t = Instant::now();
                let acc = m.matvec_acc(&[q]).unwrap();
                let dt = t.elapsed().as_nanos() as u64;
                let k = shapes
                    .iter()
                    .position(|&s| s == (m.rows(), m.cols()))
                    .unwrap();
                per[k] += dt;
                if pass == 0 {
                    for &v in &acc[0] {
                        for b in v.to_le_bytes() {
                            hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
                        }
                    }
                }
            }
            if pass >= 2 {
                for (k, p) in per.into_iter().enumerate() {
                    times[k].push(p);
                }
            }
        }
    });
    println!("threads {threads} passes {passes} hash {hash:016x}");
    for (k, &(r, c)) in shapes.iter().enumerate() {
        let n: usize = ms
            .iter()
            .filter(|(_, m, _)| (m.rows(), m.cols()) == (r, c))
            .count();
        let nb = (n * r * c.div_ceil(8)) as f64;
        let t = &mut times[k];
        t.sort();
        println!(
            "{r}x{c} x{n}: median {:.3} ns/block, best {:.3}",
            t[t.len() / 2] as f64 / nb,
            t[0] as f64 / nb
        );
    }
}
