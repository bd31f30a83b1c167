//! Which implementation of [`Linear`] runs the model's linear layers, and
//! building each layer for it.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use seedlm::fixed::{acc_to_f32, quantize_activations, BlockMatrix, QuantizedActs};
use seedlm::kernel::SeedMatrix;
use seedlm::{Block, Config};

use super::weights::{decode_blocks, StoredLinear};
use crate::device::{self, Engine, LayerHandle, OpenOptions};
use crate::error::{Error, Result};
use crate::linear::{check_batch, DenseLinear, HalfLinear, Linear, SeedCpuLinear};

/// A backend for the linear layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// f32 weights (SeedLM blocks decoded once at load); kept in f16 when
    /// they all are f16 values ([`HalfLinear::exact`]: the same results).
    Dense,
    /// f16 weights (converted once at load; for the output head: half the
    /// bytes of `dense` per token).
    Half,
    /// Round-to-nearest baseline at this many bits, group 128 (fake-quantized
    /// f32; needs float source weights).
    Rtn(u32),
    /// SeedLM blocks decoded in float on the fly.
    Cpu,
    /// The golden model of the device datapath ([`seedlm::fixed`]) called
    /// directly, without the device protocol; bit-exact with every device.
    Golden,
    /// A device through [`Engine`]: `emu`, `verilator` or `vfio:<pci-addr>`.
    Device(String),
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Backend, String> {
        Ok(match s {
            "dense" => Backend::Dense,
            "f16" => Backend::Half,
            "cpu" => Backend::Cpu,
            "golden" => Backend::Golden,
            "emu" | "verilator" => Backend::Device(s.into()),
            d if d.starts_with("vfio:") => Backend::Device(s.into()),
            "rtn4" => Backend::Rtn(4),
            "rtn3" => Backend::Rtn(3),
            other => {
                return Err(format!(
                    "unknown backend '{other}' (dense, f16, cpu, golden, emu, verilator, vfio:<pci-addr>, rtn4, rtn3)"
                ))
            }
        })
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Dense => f.write_str("dense"),
            Backend::Half => f.write_str("f16"),
            Backend::Rtn(b) => write!(f, "rtn{b}"),
            Backend::Cpu => f.write_str("cpu"),
            Backend::Golden => f.write_str("golden"),
            Backend::Device(spec) => f.write_str(spec),
        }
    }
}

/// A SeedLM layer run through the device numerics of [`seedlm::fixed`]:
/// activations quantized to 16 bits with one scale per vector, exact
/// integer rebuild and accumulation (the integer form of
/// [`seedlm::kernel`]), one rounding at the end.
pub struct GoldenLinear {
    m: SeedMatrix,
}

impl GoldenLinear {
    /// A layer of `rows × cols` weights stored as `blocks` of `cfg`.
    pub fn new(rows: usize, cols: usize, cfg: Config, blocks: &[Block]) -> Result<GoldenLinear> {
        Ok(GoldenLinear {
            m: crate::linear::seed_matrix(rows, cols, cfg, blocks)?,
        })
    }
}

impl Linear for GoldenLinear {
    fn rows(&self) -> usize {
        self.m.rows()
    }

    fn cols(&self) -> usize {
        self.m.cols()
    }

    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        self.forward_batch(x, 1, y)
    }

    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        let (rows, cols) = (self.rows(), self.cols());
        check_batch(rows, cols, x, n, y)?;
        let qs: Vec<QuantizedActs> = x
            .chunks_exact(cols)
            .map(quantize_activations)
            .collect::<seedlm::Result<_>>()
            .map_err(|e| Error::from(e).context(format!("activations of a {rows}x{cols} layer")))?;
        let refs: Vec<&QuantizedActs> = qs.iter().collect();
        let accs = self.m.matvec_acc(&refs)?;
        let cfg = *self.m.config();
        for ((yr, acc), q) in y.chunks_exact_mut(rows).zip(accs).zip(&qs) {
            for (yi, a) in yr.iter_mut().zip(acc) {
                *yi = acc_to_f32(&cfg, a, q.scale);
            }
        }
        Ok(())
    }

    fn weight_bytes(&self) -> usize {
        self.m.bytes()
    }
}

/// A SeedLM layer in a device's memory; calls go through the one
/// [`Engine`] that all layers of a model share (a device runs one job at a
/// time).
pub struct DeviceLinear {
    engine: Arc<Mutex<Engine>>,
    layer: LayerHandle,
    bytes: usize,
}

impl DeviceLinear {
    /// Loads `rows × cols` weights stored as `blocks` of `cfg` into the
    /// device of `engine`.
    pub fn new(
        engine: Arc<Mutex<Engine>>,
        rows: usize,
        cols: usize,
        cfg: Config,
        blocks: &[Block],
    ) -> Result<DeviceLinear> {
        let m = BlockMatrix {
            cfg,
            rows,
            cols,
            blocks,
        };
        let layer = engine
            .lock()
            .expect("engine lock poisoned")
            .load_layer(&m)?;
        Ok(DeviceLinear {
            engine,
            layer,
            bytes: seedlm::pack::packed_len(&cfg, blocks.len()),
        })
    }
}

impl Linear for DeviceLinear {
    fn rows(&self) -> usize {
        self.layer.rows()
    }

    fn cols(&self) -> usize {
        self.layer.cols()
    }

    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        self.forward_batch(x, 1, y)
    }

    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        let (rows, cols) = (self.rows(), self.cols());
        check_batch(rows, cols, x, n, y)?;
        let xs: Vec<&[f32]> = x.chunks_exact(cols).collect();
        let out = self
            .engine
            .lock()
            .expect("engine lock poisoned")
            .matvec_batch(&self.layer, &xs)?;
        for (yr, o) in y.chunks_exact_mut(rows).zip(out) {
            yr.copy_from_slice(&o);
        }
        Ok(())
    }

    fn weight_bytes(&self) -> usize {
        self.bytes
    }
}

/// A layer whose outputs are its inner layer's times `2^offset` (a seed
/// tensor's exponent offset, applied with the activation scale on the host).
pub struct Scaled {
    inner: Box<dyn Linear>,
    offset: i16,
}

impl Linear for Scaled {
    fn rows(&self) -> usize {
        self.inner.rows()
    }

    fn cols(&self) -> usize {
        self.inner.cols()
    }

    fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        self.inner.forward(x, y)?;
        seedlm::magnitude::scale_up(y, self.offset);
        Ok(())
    }

    fn forward_batch(&self, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        self.inner.forward_batch(x, n, y)?;
        seedlm::magnitude::scale_up(y, self.offset);
        Ok(())
    }

    fn weight_bytes(&self) -> usize {
        self.inner.weight_bytes()
    }
}

/// Builds layers for one backend, sharing, for a device backend, one
/// engine.
pub struct LayerFactory {
    backend: Backend,
    engine: Mutex<Option<Arc<Mutex<Engine>>>>,
    device_memory: u64,
}

/// Device memory of the software devices unless set: enough for a model of
/// about 1.5B parameters at 4 bits plus batch buffers.
pub const DEFAULT_DEVICE_MEMORY: u64 = 1 << 30;

impl LayerFactory {
    /// A factory for `backend`.
    pub fn new(backend: Backend) -> LayerFactory {
        LayerFactory {
            backend,
            engine: Mutex::new(None),
            device_memory: DEFAULT_DEVICE_MEMORY,
        }
    }

    /// Sets the memory of a software device (`emu`, `verilator`), in bytes.
    pub fn with_device_memory(mut self, bytes: u64) -> LayerFactory {
        self.device_memory = bytes;
        self
    }

    /// The device engine, opened for `cfg` on first use.
    fn engine(&self, spec: &str, cfg: &Config) -> Result<Arc<Mutex<Engine>>> {
        let mut e = self.engine.lock().expect("engine slot poisoned");
        if let Some(engine) = &*e {
            return Ok(engine.clone());
        }
        let opts = OpenOptions {
            cfg: *cfg,
            mem_size: self.device_memory,
            ..OpenOptions::default()
        };
        let engine = Engine::new(device::open(spec, &opts)?)?;
        let engine = Arc::new(Mutex::new(engine));
        *e = Some(engine.clone());
        Ok(engine)
    }

    /// The backend it builds for.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The layer called `name` for this backend. A seed layer with an
    /// exponent offset is built from its blocks as stored and its outputs
    /// are scaled by `2^offset` ([`Scaled`]): the engine does not change.
    pub fn build(&self, name: &str, stored: StoredLinear) -> Result<Box<dyn Linear>> {
        let stored = match stored {
            StoredLinear::Seed {
                rows,
                cols,
                cfg,
                blocks,
                exp_offset,
            } if exp_offset != 0 => {
                let inner = self.build(
                    name,
                    StoredLinear::Seed {
                        rows,
                        cols,
                        cfg,
                        blocks,
                        exp_offset: 0,
                    },
                )?;
                return Ok(Box::new(Scaled {
                    inner,
                    offset: exp_offset,
                }));
            }
            s => s,
        };
        let named = |e: Error| e.context(format!("layer '{name}'"));
        match (&self.backend, stored) {
            (Backend::Dense, StoredLinear::Dense { rows, cols, w }) => {
                match HalfLinear::exact(rows, cols, &w) {
                    Some(exact) => Ok(Box::new(exact)),
                    None => Ok(Box::new(DenseLinear::new(rows, cols, w).map_err(named)?)),
                }
            }
            (Backend::Dense, StoredLinear::Seed { rows, cols, cfg, blocks, .. }) => Ok(Box::new(
                DenseLinear::new(rows, cols, decode_blocks(rows, cols, &cfg, &blocks).map_err(named)?)
                    .map_err(named)?,
            )),
            (Backend::Half, StoredLinear::Dense { rows, cols, w }) => {
                Ok(Box::new(HalfLinear::new(rows, cols, &w).map_err(named)?))
            }
            (Backend::Half, StoredLinear::Seed { rows, cols, cfg, blocks, .. }) => Ok(Box::new(
                HalfLinear::new(rows, cols, &decode_blocks(rows, cols, &cfg, &blocks).map_err(named)?)
                    .map_err(named)?,
            )),
            (Backend::Rtn(bits), StoredLinear::Dense { rows, cols, w }) => {
                Ok(Box::new(DenseLinear::rtn(rows, cols, &w, *bits).map_err(named)?))
            }
            (Backend::Cpu, StoredLinear::Seed { rows, cols, cfg, blocks, .. }) => Ok(Box::new(
                SeedCpuLinear::new(rows, cols, cfg, &blocks).map_err(named)?,
            )),
            (Backend::Golden, StoredLinear::Seed { rows, cols, cfg, blocks, .. }) => Ok(Box::new(
                GoldenLinear::new(rows, cols, cfg, &blocks).map_err(named)?,
            )),
            (Backend::Device(spec), StoredLinear::Seed { rows, cols, cfg, blocks, .. }) => {
                let engine = self.engine(spec, &cfg)?;
                Ok(Box::new(
                    DeviceLinear::new(engine, rows, cols, cfg, &blocks).map_err(named)?,
                ))
            }
            (b, StoredLinear::Seed { .. }) => Err(Error::Invalid(format!(
                "layer '{name}' is stored as SeedLM blocks; backend {b} needs float weights (use a checkpoint)"
            ))),
            (b, StoredLinear::Dense { .. }) => Err(Error::Invalid(format!(
                "layer '{name}' is stored as float weights; backend {b} needs SeedLM blocks (use a .seedlm file)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_backend_names_round_trip() {
        for b in [
            Backend::Dense,
            Backend::Half,
            Backend::Cpu,
            Backend::Golden,
            Backend::Device("emu".into()),
            Backend::Device("verilator".into()),
            Backend::Device("vfio:0000:01:00.0".into()),
            Backend::Rtn(4),
            Backend::Rtn(3),
        ] {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        assert!("gpu".parse::<Backend>().is_err());
    }

    #[test]
    fn test_exponent_offset_scales_every_backend_exactly() {
        let cfg = Config::BITS4;
        let (rows, cols) = (5usize, 20usize);
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
        let blocks = seedlm::sample::random_blocks(&cfg, rows * cols.div_ceil(cfg.c), &mut rng);
        let x: Vec<f32> = (0..2 * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let stored = |exp_offset| StoredLinear::Seed {
            rows,
            cols,
            cfg,
            blocks: blocks.clone(),
            exp_offset,
        };
        for backend in [Backend::Dense, Backend::Cpu, Backend::Golden] {
            let f = LayerFactory::new(backend.clone());
            let mut y0 = vec![0f32; 2 * rows];
            f.build("l", stored(0))
                .unwrap()
                .forward_batch(&x, 2, &mut y0)
                .unwrap();
            for o in [3i16, -70] {
                let mut y = vec![0f32; 2 * rows];
                f.build("l", stored(o))
                    .unwrap()
                    .forward_batch(&x, 2, &mut y)
                    .unwrap();
                let want: Vec<f32> = y0
                    .iter()
                    .map(|v| (*v as f64 * (o as f64).exp2()) as f32)
                    .collect();
                assert_eq!(y, want, "{backend} offset {o}");
            }
        }
    }
}
