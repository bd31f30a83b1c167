use super::*;
use crate::fixed::quantize_activations;
use crate::lfsr::Lfsr;
use crate::sample::random_blocks;
use rand::{Rng, SeedableRng};

/// The configurations with their own loops, and one that takes the
/// run-time sizes.
fn configs() -> [Config; 3] {
    [Config::BITS4, Config::BITS3, Config::new(5, 2, 12).unwrap()]
}

/// Activations with entries at the clamp often, to use the full widths.
fn extreme_acts(cols: usize, rng: &mut impl Rng) -> QuantizedActs {
    QuantizedActs {
        x: (0..cols)
            .map(|_| match rng.gen_range(0..4) {
                0 => 32767,
                1 => -32767,
                _ => rng.gen_range(-32767..=32767),
            })
            .collect(),
        scale: 1.0,
    }
}

#[test]
fn test_kernel_integer_form_equals_golden_on_every_isa() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    for cfg in configs() {
        for (rows, cols) in [(1usize, 1usize), (9, 61), (37, 203), (5, cfg.c), (17, 300)] {
            let bpr = cols.div_ceil(cfg.c);
            let mut blocks = random_blocks(&cfg, rows * bpr, &mut rng);
            // Seed 0 runs as on the hardware: the LFSR stays at 0.
            blocks[rows * bpr / 2].seed = 0;
            let bm = BlockMatrix {
                cfg,
                rows,
                cols,
                blocks: &blocks,
            };
            let mut xs: Vec<QuantizedActs> = (0..3)
                .map(|v| {
                    let amp = [1.0f32, 1e-3, 50.0][v];
                    let x: Vec<f32> = (0..cols).map(|_| rng.gen_range(-amp..amp)).collect();
                    quantize_activations(&x).unwrap()
                })
                .collect();
            xs.push(extreme_acts(cols, &mut rng));
            let want: Vec<Vec<i128>> = xs.iter().map(|x| bm.matvec_acc(x).unwrap()).collect();
            for isa in Isa::available() {
                let m = SeedMatrix::new(&bm).unwrap().with_isa(isa).unwrap();
                let refs: Vec<&QuantizedActs> = xs.iter().collect();
                assert_eq!(
                    m.matvec_acc(&refs).unwrap(),
                    want,
                    "{cfg} {rows}x{cols} {isa:?}"
                );
                // One vector at a time, and none.
                assert_eq!(m.matvec_acc(&refs[1..2]).unwrap()[0], want[1]);
                assert!(m.matvec_acc(&[]).unwrap().is_empty());
            }
        }
    }
}

#[test]
fn test_kernel_integer_form_exact_at_extremes_and_past_a_segment() {
    // Largest exponent and mantissas, full-scale activations, and rows
    // longer than one i64 segment: the lanes must be folded, not overflow.
    for cfg in [Config::BITS4, Config::BITS3] {
        let probe = SeedMatrix::new(&BlockMatrix {
            cfg,
            rows: 1,
            cols: cfg.c,
            blocks: &[Block {
                seed: 1,
                ..Default::default()
            }],
        })
        .unwrap();
        let bpr = probe.segment() + 3;
        let rows = 2usize;
        let blocks: Vec<Block> = (0..rows * bpr)
            .map(|i| Block {
                // Seeds whose windows hold the largest |u|.
                seed: [1, 2, 0xffff, 0x8000, 0x7fff][i % 5],
                exp: 7,
                q: [-8; crate::config::MAX_P],
            })
            .collect();
        let bm = BlockMatrix {
            cfg,
            rows,
            cols: bpr * cfg.c,
            blocks: &blocks,
        };
        let x = QuantizedActs {
            x: (0..bpr * cfg.c)
                .map(|i| if i % 3 == 0 { -32767 } else { 32767 })
                .collect(),
            scale: 1.0,
        };
        let want = bm.matvec_acc(&x).unwrap();
        for isa in Isa::available() {
            let m = SeedMatrix::new(&bm).unwrap().with_isa(isa).unwrap();
            assert_eq!(m.matvec_acc(&[&x]).unwrap()[0], want, "{cfg} {isa:?}");
        }
    }
}

#[test]
fn test_kernel_decode_equals_block_decode() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    for cfg in configs() {
        let (rows, cols) = (19usize, 53usize);
        let bpr = cols.div_ceil(cfg.c);
        let mut blocks = random_blocks(&cfg, rows * bpr, &mut rng);
        blocks[7].seed = 0;
        let lfsr = Lfsr::new(cfg.k);
        let m = SeedMatrix::new(&BlockMatrix {
            cfg,
            rows,
            cols,
            blocks: &blocks,
        })
        .unwrap();
        let all = m.decode();
        let mut buf = vec![0f32; bpr * cfg.c];
        for r in 0..rows {
            for (b, o) in blocks[r * bpr..(r + 1) * bpr]
                .iter()
                .zip(buf.chunks_exact_mut(cfg.c))
            {
                b.decode(&cfg, &lfsr, o);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&all[r * cols..(r + 1) * cols]),
                bits(&buf[..cols]),
                "{cfg} row {r}"
            );
            assert_eq!(bits(&m.row(r)), bits(&buf[..cols]));
        }
    }
}

#[test]
fn test_kernel_float_form_within_f32_bound_on_every_isa() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    for cfg in configs() {
        let (rows, cols) = (41usize, 517usize);
        let bpr = cols.div_ceil(cfg.c);
        let mut blocks = random_blocks(&cfg, rows * bpr, &mut rng);
        blocks[bpr + 1].seed = 0;
        let bm = BlockMatrix {
            cfg,
            rows,
            cols,
            blocks: &blocks,
        };
        let m = SeedMatrix::new(&bm).unwrap();
        let w = m.decode();
        let x: Vec<f32> = (0..cols).map(|_| rng.gen_range(-2.0..2.0)).collect();
        for isa in Isa::available() {
            let m = m.clone().with_isa(isa).unwrap();
            let mut y = vec![0f32; rows];
            m.matvec_f32(&x, &mut y).unwrap();
            for r in 0..rows {
                let wr = &w[r * cols..(r + 1) * cols];
                let exact: f64 = wr.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
                let mag: f64 = wr
                    .iter()
                    .zip(&x)
                    .map(|(&a, &b)| (a as f64 * b as f64).abs())
                    .sum();
                // Each term is a product of exact integers and powers of two
                // rounded once or twice; the f32 sums of `cols` terms stay
                // within (cols + 4) eps of the magnitude (Higham, γ_n).
                let bound = (cols + 4) as f64 * f32::EPSILON as f64 * mag + 1e-30;
                assert!(
                    (y[r] as f64 - exact).abs() <= bound,
                    "{cfg} {isa:?} row {r}: {} vs {exact} (bound {bound})",
                    y[r]
                );
            }
        }
    }
}

#[test]
fn test_kernel_refuses_bad_input() {
    let cfg = Config::BITS4;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut blocks = random_blocks(&cfg, 4 * 2, &mut rng);
    let bm = |blocks: &[Block], cols| {
        SeedMatrix::new(&BlockMatrix {
            cfg,
            rows: 4,
            cols,
            blocks,
        })
    };
    assert!(bm(&blocks, 17).is_err(), "wrong block count");
    let m = bm(&blocks, 16).unwrap();
    assert!(m.matvec_f32(&[0.0; 15], &mut [0.0; 4]).is_err());
    assert!(m.matvec_f32(&[0.0; 16], &mut [0.0; 5]).is_err());
    let short = QuantizedActs {
        x: vec![0; 15],
        scale: 1.0,
    };
    assert!(m.matvec_acc(&[&short]).is_err());
    blocks[5].seed = 1 << 16;
    let err = bm(&blocks, 16).unwrap_err().to_string();
    assert!(err.contains("row 2, block 1"), "{err}");
    let wide = Config::new(8, 3, 17).unwrap();
    let one = [Block {
        seed: 1,
        ..Default::default()
    }];
    assert!(SeedMatrix::new(&BlockMatrix {
        cfg: wide,
        rows: 1,
        cols: 8,
        blocks: &one,
    })
    .is_err());
    assert_eq!(Isa::available().last(), Some(&Isa::Portable));
    assert!(Isa::available().contains(&Isa::detect()));
}

#[test]
fn test_line_aligned_starts_on_a_line() {
    for len in [0usize, 1, 7, 100] {
        let mut b16 = Vec::new();
        let s = line_aligned::<i16>(&mut b16, len);
        assert_eq!((s.len(), s.as_ptr() as usize % 64), (len, 0));
        assert!(s.iter().all(|&v| v == 0));
        let mut b64 = Vec::new();
        let s = line_aligned::<i64>(&mut b64, len);
        assert_eq!((s.len(), s.as_ptr() as usize % 64), (len, 0));
    }
}
