//! The Llama runtime on a tiny random model built here (no download):
//! batched prefill equals token-by-token decoding, GGUF's interleaved RoPE
//! over permuted q/k rows equals HF's half-split RoPE, and SeedLM `cpu`
//! (float decode) and `emu` (device golden model) agree within the bound of
//! the datapath numerics.

use seedlm::sample::random_blocks;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use seedlm::{Block, Config};
use seedlm_host::linear::{DenseLinear, Linear, SeedCpuLinear};
use seedlm_host::llama::backend::{Backend, GoldenLinear, LayerFactory};
use seedlm_host::llama::config::RopeScaling;
use seedlm_host::llama::fused::{Fused, Stacking};
use seedlm_host::llama::sampler::argmax;
use seedlm_host::llama::weights::{decode_blocks, Layer, Naming, StoredLinear};
use seedlm_host::llama::{LlamaConfig, Model, Weights};

fn tiny_config() -> LlamaConfig {
    LlamaConfig {
        dim: 48,
        hidden_dim: 96,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 12,
        vocab_size: 64,
        max_seq_len: 64,
        rms_eps: 1e-5,
        rope_theta: 10000.0,
        rope_scaling: RopeScaling::None,
        bos_token_id: None,
        eos_token_ids: vec![],
    }
}

fn normal(n: usize, std: f32, rng: &mut StdRng) -> Vec<f32> {
    let d = Normal::new(0.0, std).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

/// How one linear layer of the tiny model is stored.
enum Stored {
    Dense(Vec<f32>),
    Seed(Vec<Block>),
}

/// The tiny model's tensors: per layer q, k, v, o, gate, up, down; then
/// embedding and norms.
struct Tensors {
    layers: Vec<Vec<(usize, usize, Stored)>>,
    emb: Vec<f32>,
    norms: Vec<f32>,
}

fn shapes(c: &LlamaConfig) -> [(usize, usize); 7] {
    let (q, kv) = (c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
    [
        (q, c.dim),
        (kv, c.dim),
        (kv, c.dim),
        (c.dim, q),
        (c.hidden_dim, c.dim),
        (c.hidden_dim, c.dim),
        (c.dim, c.hidden_dim),
    ]
}

fn tensors(c: &LlamaConfig, seed_cfg: Option<Config>, rng: &mut StdRng) -> Tensors {
    let layers = (0..c.n_layers)
        .map(|_| {
            shapes(c)
                .iter()
                .map(|&(r, k)| {
                    let s = match seed_cfg {
                        None => Stored::Dense(normal(r * k, 1.0 / (k as f32).sqrt(), rng)),
                        Some(cfg) => Stored::Seed(random_blocks(&cfg, r * k.div_ceil(cfg.c), rng)),
                    };
                    (r, k, s)
                })
                .collect()
        })
        .collect();
    Tensors {
        layers,
        emb: normal(c.vocab_size * c.dim, 1.0, rng),
        norms: (0..(2 * c.n_layers + 1) * c.dim)
            .map(|_| rng.gen_range(0.5..1.5))
            .collect(),
    }
}

/// Makes linear layer `j` (0..7 in the order of `shapes`), `rows × cols`.
type MakeLinear<'a> = dyn Fn(usize, usize, usize, &Stored) -> Box<dyn Linear> + 'a;

/// Builds the model; `lin` makes each linear layer.
fn build(c: &LlamaConfig, t: &Tensors, naming: Naming, lin: &MakeLinear) -> Model {
    let layers = t
        .layers
        .iter()
        .map(|l| {
            let mut ws = l.iter().enumerate().map(|(j, (r, k, s))| lin(j, *r, *k, s));
            let wqkv = Fused::separate(ws.by_ref().take(3).collect()).unwrap();
            let wo = ws.next().unwrap();
            let w_gate_up = Fused::separate(ws.by_ref().take(2).collect()).unwrap();
            (wqkv, wo, w_gate_up, ws.next().unwrap())
        })
        .collect();
    model_of(c, t, naming, layers)
}

/// One block's q/k/v, o, gate/up and down.
type BlockLinears = (Fused, Box<dyn Linear>, Fused, Box<dyn Linear>);

/// The model of `t`'s embedding and norms with each block's linear layers
/// (q/k/v, o, gate/up, down) from `layers`.
fn model_of(c: &LlamaConfig, t: &Tensors, naming: Naming, layers: Vec<BlockLinears>) -> Model {
    let d = c.dim;
    let layers = layers
        .into_iter()
        .enumerate()
        .map(|(i, (wqkv, wo, w_gate_up, w_down))| Layer {
            attn_norm: t.norms[2 * i * d..(2 * i + 1) * d].to_vec(),
            wqkv,
            wo,
            ffn_norm: t.norms[(2 * i + 1) * d..(2 * i + 2) * d].to_vec(),
            w_gate_up,
            w_down,
        })
        .collect();
    let weights = Weights {
        tok_emb: t.emb.clone(),
        layers,
        final_norm: t.norms[2 * c.n_layers * d..].to_vec(),
        head: Box::new(DenseLinear::new(c.vocab_size, d, t.emb.clone()).unwrap()),
        tied_head: true,
        naming,
    };
    Model::new(c.clone(), weights)
}

fn dense(_: usize, r: usize, k: usize, s: &Stored) -> Box<dyn Linear> {
    match s {
        Stored::Dense(w) => Box::new(DenseLinear::new(r, k, w.clone()).unwrap()),
        Stored::Seed(_) => unreachable!(),
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Prefill of n tokens at once gives the same logits as n single-token
/// steps through the KV cache (same math, different summation order).
#[test]
fn test_llama_batched_prefill_equals_stepping() {
    let c = tiny_config();
    let mut rng = StdRng::seed_from_u64(1);
    let t = tensors(&c, None, &mut rng);
    let m = build(&c, &t, Naming::Hf, &dense);
    let toks: Vec<u32> = (0..10)
        .map(|_| rng.gen_range(0..c.vocab_size as u32))
        .collect();
    let mut st = m.new_state();
    let all = m.forward(&mut st, &toks, true).unwrap();
    assert_eq!(st.pos(), toks.len());
    let mut st2 = m.new_state();
    for (i, &tk) in toks.iter().enumerate() {
        let l = m.forward(&mut st2, &[tk], false).unwrap();
        let want = &all[i * c.vocab_size..(i + 1) * c.vocab_size];
        let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!(max_abs_diff(&l, want) <= 1e-5 * scale, "token {i}");
    }
    // Continuing a prefilled cache equals a longer prefill.
    let mut st3 = m.new_state();
    m.forward(&mut st3, &toks[..6], false).unwrap();
    let tail = m.forward(&mut st3, &toks[6..], true).unwrap();
    let scale = all.iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(max_abs_diff(&tail, &all[6 * c.vocab_size..]) <= 1e-5 * scale);
    // Out-of-vocabulary tokens and overlong contexts are errors, not panics.
    assert!(m
        .forward(&mut m.new_state(), &[c.vocab_size as u32], false)
        .is_err());
    let long = vec![0u32; c.max_seq_len + 1];
    assert!(m.forward(&mut m.new_state(), &long, false).is_err());
}

/// A dense layer that records whether each call ran on a thread of
/// rayon's pool.
struct OnPool {
    inner: DenseLinear,
    outside: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Linear for OnPool {
    fn rows(&self) -> usize {
        self.inner.rows()
    }
    fn cols(&self) -> usize {
        self.inner.cols()
    }
    fn forward(&self, x: &[f32], y: &mut [f32]) -> seedlm_host::Result<()> {
        self.forward_batch(x, 1, y)
    }
    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> seedlm_host::Result<()> {
        if rayon::current_thread_index().is_none() {
            self.outside
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.forward_batch(x, n, y)
    }
    fn weight_bytes(&self) -> usize {
        self.inner.weight_bytes()
    }
}

/// A forward pass called from outside rayon's pool runs every linear layer
/// on a pool thread (one hand-over per pass, not one per parallel step),
/// with the same logits as the plain layers.
#[test]
fn test_llama_forward_runs_on_the_pool() {
    let c = tiny_config();
    let mut rng = StdRng::seed_from_u64(4);
    let t = tensors(&c, None, &mut rng);
    let outside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let on_pool = |_: usize, r: usize, k: usize, s: &Stored| -> Box<dyn Linear> {
        let Stored::Dense(w) = s else { unreachable!() };
        Box::new(OnPool {
            inner: DenseLinear::new(r, k, w.clone()).unwrap(),
            outside: outside.clone(),
        })
    };
    let m = build(&c, &t, Naming::Hf, &on_pool);
    let plain = build(&c, &t, Naming::Hf, &dense);
    let (mut st, mut st2) = (m.new_state(), plain.new_state());
    for tk in [3u32, 9, 27] {
        assert_eq!(
            m.forward(&mut st, &[tk], false).unwrap(),
            plain.forward(&mut st2, &[tk], false).unwrap()
        );
    }
    assert_eq!(outside.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// GGUF converters permute each head's q/k rows so that the interleaved
/// pair rotation applies (llama.cpp `convert_hf_to_gguf.py` `permute`):
/// row `2i` <- `i`, `2i+1` <- `i + d/2`. With that permutation the GGUF
/// path must give the HF path's logits.
#[test]
fn test_llama_gguf_rope_matches_hf_rope() {
    let c = tiny_config();
    let mut rng = StdRng::seed_from_u64(2);
    let t = tensors(&c, None, &mut rng);
    let hd = c.head_dim;
    let permute = |w: &[f32], rows: usize, cols: usize| -> Vec<f32> {
        let mut out = vec![0f32; rows * cols];
        for h in 0..rows / hd {
            for i in 0..hd / 2 {
                for (dst, src) in [(2 * i, i), (2 * i + 1, i + hd / 2)] {
                    let (d0, s0) = ((h * hd + dst) * cols, (h * hd + src) * cols);
                    out[d0..d0 + cols].copy_from_slice(&w[s0..s0 + cols]);
                }
            }
        }
        out
    };
    let gguf = |j: usize, r: usize, k: usize, s: &Stored| -> Box<dyn Linear> {
        let Stored::Dense(w) = s else { unreachable!() };
        let w = if j < 2 { permute(w, r, k) } else { w.clone() };
        Box::new(DenseLinear::new(r, k, w).unwrap())
    };
    let hf = build(&c, &t, Naming::Hf, &dense);
    let gg = build(&c, &t, Naming::Gguf, &gguf);
    let toks: Vec<u32> = (0..12)
        .map(|_| rng.gen_range(0..c.vocab_size as u32))
        .collect();
    let a = hf.forward(&mut hf.new_state(), &toks, true).unwrap();
    let b = gg.forward(&mut gg.new_state(), &toks, true).unwrap();
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max_abs_diff(&a, &b) <= 1e-5 * scale);
    // Without the permutation the two layouts differ: the test can fail.
    let wrong = build(&c, &t, Naming::Gguf, &dense);
    let w = wrong.forward(&mut wrong.new_state(), &toks, true).unwrap();
    assert!(max_abs_diff(&a, &w) > 1e-2 * scale);
}

/// SeedLM layers through the float decode (`cpu`) and through the device
/// golden model (`emu`): every layer agrees within `seedlm::fixed`'s
/// bound, the whole model's logits within a small multiple of it, and the
/// greedy tokens are identical.
#[test]
fn test_llama_seed_cpu_matches_golden() {
    for bits in [4, 3] {
        let cfg = Config::for_bits(bits).unwrap();
        let c = tiny_config();
        let mut rng = StdRng::seed_from_u64(3 + bits as u64);
        let t = tensors(&c, Some(cfg), &mut rng);
        let cpu = build(&c, &t, Naming::Hf, &move |_, r, k, s| {
            let Stored::Seed(b) = s else { unreachable!() };
            Box::new(SeedCpuLinear::new(r, k, cfg, b).unwrap())
        });
        let emu = build(&c, &t, Naming::Hf, &move |_, r, k, s| {
            let Stored::Seed(b) = s else { unreachable!() };
            Box::new(GoldenLinear::new(r, k, cfg, b).unwrap())
        });
        // Per layer: |y_emu - y_cpu| <= error_bound (activation rounding)
        // + the f32 summation error of the float path.
        let (r, k, s) = &t.layers[0][4];
        let Stored::Seed(blocks) = s else {
            unreachable!()
        };
        let w = decode_blocks(*r, *k, &cfg, blocks).unwrap();
        let x = normal(*k, 1.0, &mut rng);
        let q = seedlm::fixed::quantize_activations(&x).unwrap();
        let (mut yc, mut ye) = (vec![0f32; *r], vec![0f32; *r]);
        SeedCpuLinear::new(*r, *k, cfg, blocks)
            .unwrap()
            .forward(&x, &mut yc)
            .unwrap();
        GoldenLinear::new(*r, *k, cfg, blocks)
            .unwrap()
            .forward(&x, &mut ye)
            .unwrap();
        for i in 0..*r {
            let row = &w[i * k..(i + 1) * k];
            let l1: f64 = row.iter().zip(&x).map(|(a, b)| (a * b).abs() as f64).sum();
            let bound = seedlm::fixed::error_bound(row, ye[i], q.scale)
                + 2.0 * *k as f64 * f32::EPSILON as f64 * l1;
            assert!(
                ((yc[i] - ye[i]) as f64).abs() <= bound,
                "{bits}-bit row {i}"
            );
        }
        // Whole model: each layer's relative error is about 2^-16 (16-bit
        // activations); through 2 layers of 7 linears the logits stay within
        // 1e-3 of their scale, far above the 2^-16 per-layer step yet far
        // below the gap between the top two logits the greedy check needs.
        let prompt: Vec<u32> = (0..8)
            .map(|_| rng.gen_range(0..c.vocab_size as u32))
            .collect();
        let (mut sc, mut se) = (cpu.new_state(), emu.new_state());
        let mut lc = cpu.forward(&mut sc, &prompt, false).unwrap();
        let mut le = emu.forward(&mut se, &prompt, false).unwrap();
        for step in 0..6 {
            let scale = lc.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                max_abs_diff(&lc, &le) <= 1e-3 * scale,
                "{bits}-bit step {step}"
            );
            let (tc, te) = (argmax(&lc), argmax(&le));
            assert_eq!(tc, te, "{bits}-bit greedy token {step}");
            lc = cpu.forward(&mut sc, &[tc], false).unwrap();
            le = emu.forward(&mut se, &[te], false).unwrap();
        }
    }
}

/// Builds the tiny SeedLM model with every linear layer from `factory`.
fn seed_model(c: &LlamaConfig, t: &Tensors, cfg: Config, factory: &LayerFactory) -> Model {
    build(c, t, Naming::Hf, &|j, r, k, s| {
        let Stored::Seed(b) = s else { unreachable!() };
        let stored = StoredLinear::Seed {
            rows: r,
            cols: k,
            cfg,
            blocks: b.clone(),
            exp_offset: 0,
        };
        factory.build(&format!("linear {j}"), stored).unwrap()
    })
}

/// Greedy tokens and the logits behind them for `steps` steps.
fn greedy_run(m: &Model, prompt: &[u32], steps: usize) -> (Vec<u32>, Vec<Vec<f32>>) {
    let mut st = m.new_state();
    let mut l = m.forward(&mut st, prompt, false).unwrap();
    let (mut toks, mut all) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        let t = argmax(&l);
        toks.push(t);
        all.push(l);
        l = m.forward(&mut st, &[t], false).unwrap();
    }
    (toks, all)
}

/// The `emu` device through the engine protocol gives the golden model's
/// logits bit for bit (batched prefill and single-token steps).
#[test]
fn test_llama_emu_device_equals_golden_bit_for_bit() {
    for bits in [4, 3] {
        let cfg = Config::for_bits(bits).unwrap();
        let c = tiny_config();
        let mut rng = StdRng::seed_from_u64(20 + bits as u64);
        let t = tensors(&c, Some(cfg), &mut rng);
        let golden = seed_model(&c, &t, cfg, &LayerFactory::new(Backend::Golden));
        let emu = seed_model(
            &c,
            &t,
            cfg,
            &LayerFactory::new(Backend::Device("emu".into())).with_device_memory(16 << 20),
        );
        let prompt: Vec<u32> = (0..7)
            .map(|_| rng.gen_range(0..c.vocab_size as u32))
            .collect();
        let (tg, lg) = greedy_run(&golden, &prompt, 5);
        let (te, le) = greedy_run(&emu, &prompt, 5);
        assert_eq!(tg, te);
        assert_eq!(lg, le, "{bits}-bit logits differ");
    }
}

/// The generated RTL (Verilator) produces the same greedy tokens and
/// logits as `emu` for a few steps of the tiny model.
#[cfg(feature = "verilator")]
#[test]
fn test_llama_verilator_equals_emu() {
    let cfg = Config::for_bits(4).unwrap();
    let c = tiny_config();
    let mut rng = StdRng::seed_from_u64(30);
    let t = tensors(&c, Some(cfg), &mut rng);
    let emu = seed_model(
        &c,
        &t,
        cfg,
        &LayerFactory::new(Backend::Device("emu".into())).with_device_memory(16 << 20),
    );
    let ver = seed_model(
        &c,
        &t,
        cfg,
        &LayerFactory::new(Backend::Device("verilator".into())).with_device_memory(16 << 20),
    );
    let prompt: Vec<u32> = (0..5)
        .map(|_| rng.gen_range(0..c.vocab_size as u32))
        .collect();
    let (te, le) = greedy_run(&emu, &prompt, 4);
    let (tv, lv) = greedy_run(&ver, &prompt, 4);
    assert_eq!(te, tv);
    assert_eq!(le, lv);
}

/// Builds the tiny model through `factory` with q/k/v and gate/up as
/// `stacking` says (as `Weights::load` does); SeedLM tensors (of `cfg`)
/// get an exponent offset of their own, `j - 3` for layer `j` of `shapes`.
fn factory_model(
    c: &LlamaConfig,
    t: &Tensors,
    cfg: Option<Config>,
    factory: &LayerFactory,
    stacking: Stacking,
) -> Model {
    let stored = |j: usize, (r, k, s): &(usize, usize, Stored)| match s {
        Stored::Dense(w) => StoredLinear::Dense {
            rows: *r,
            cols: *k,
            w: w.clone(),
        },
        Stored::Seed(b) => StoredLinear::Seed {
            rows: *r,
            cols: *k,
            cfg: cfg.unwrap(),
            blocks: b.clone(),
            exp_offset: j as i16 - 3,
        },
    };
    let build = |name: &str, s: StoredLinear| factory.build(name, s);
    let layers = t
        .layers
        .iter()
        .map(|l| {
            let group = |js: std::ops::Range<usize>| {
                let names: Vec<String> = js.clone().map(|j| format!("linear {j}")).collect();
                let parts = js.map(|j| stored(j, &l[j])).collect();
                Fused::build(&names, parts, &build, stacking).unwrap()
            };
            let one = |j: usize| build("linear", stored(j, &l[j])).unwrap();
            (group(0..3), one(3), group(4..6), one(6))
        })
        .collect();
    model_of(c, t, Naming::Hf, layers)
}

/// q/k/v and gate/up stacked into one call each give the separate calls'
/// logits bit for bit (batched prefill and single-token steps) on the
/// dense, cpu and emu backends, SeedLM tensors each with its own exponent
/// offset applied to its row range of the stacked results.
#[test]
fn test_llama_stacked_calls_equal_separate_bit_for_bit() {
    let c = tiny_config();
    let emu = Backend::Device("emu".into());
    let runs = [
        (None, Backend::Dense),
        (Some(Config::BITS4), Backend::Dense),
        (Some(Config::BITS4), Backend::Cpu),
        (Some(Config::BITS3), Backend::Cpu),
        (Some(Config::BITS4), emu.clone()),
        (Some(Config::BITS3), emu),
    ];
    for (i, (cfg, name)) in runs.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(40 + i as u64);
        let t = tensors(&c, *cfg, &mut rng);
        let model = |stacking| {
            let f = LayerFactory::new(name.clone()).with_device_memory(16 << 20);
            factory_model(&c, &t, *cfg, &f, stacking)
        };
        let (stacked, separate) = (model(Stacking::Stacked), model(Stacking::Separate));
        let l = &stacked.weights.layers[0];
        assert_eq!((l.wqkv.calls(), l.w_gate_up.calls()), (1, 1), "{name}");
        let l = &separate.weights.layers[0];
        assert_eq!((l.wqkv.calls(), l.w_gate_up.calls()), (3, 2), "{name}");
        let prompt: Vec<u32> = (0..7)
            .map(|_| rng.gen_range(0..c.vocab_size as u32))
            .collect();
        let (ts, ls) = greedy_run(&stacked, &prompt, 5);
        let (tp, lp) = greedy_run(&separate, &prompt, 5);
        assert_eq!(ts, tp, "{name} {cfg:?}");
        let bits =
            |l: &[Vec<f32>]| -> Vec<u32> { l.iter().flatten().map(|v| v.to_bits()).collect() };
        assert!(bits(&ls) == bits(&lp), "{name} {cfg:?}: logits differ");
    }
}
