//! [`Engine`]: the driver above a [`Device`]: layers loaded once into
//! device memory, mat-vecs run as shell jobs (see the [`super::shell`]
//! docs for the register protocol).

use super::driver;
use super::error::{DeviceError, Result};
use super::packer::pack_layer;
use super::shell::{self, act_stride, Job, RESULT_STRIDE};
use super::{DevBuf, Device, DeviceInfo};
use seedlm::container::{SeedFile, TensorInfo, TensorKind};
use seedlm::fixed::{acc_to_f32, quantize_activations, BlockMatrix, QuantizedActs};
use seedlm::{hw, Config};
use std::time::Duration;

/// A layer in device memory. Made by [`Engine::load_layer`]; valid for the
/// engine that made it until [`Engine::unload`].
#[derive(Debug, PartialEq, Eq)]
pub struct LayerHandle {
    cfg: Config,
    rows: usize,
    cols: usize,
    col_blocks: usize,
    tile_words: usize,
    tiles: DevBuf,
}

impl LayerHandle {
    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of device memory its tiles use.
    pub fn device_bytes(&self) -> u64 {
        self.tiles.len
    }
}

/// The device driver (see the module docs of [`super`] for an example).
pub struct Engine {
    dev: Box<dyn Device>,
    info: DeviceInfo,
    act: Option<DevBuf>,
    res: Option<DevBuf>,
    timeout: Duration,
}

impl Engine {
    /// Takes over a device: resets it and reads what it reports.
    pub fn new(mut dev: Box<dyn Device>) -> Result<Engine> {
        dev.reset()?;
        let info = driver::info(dev.as_mut())?;
        if info.version >> 16 != hw::VERSION >> 16
            || info.shell_version >> 16 != shell::SHELL_VERSION_VALUE >> 16
        {
            return Err(DeviceError::Hardware(format!(
                "{}: engine version {:#x} / shell version {:#x}, this host speaks {:#x} / {:#x}",
                info.backend,
                info.version,
                info.shell_version,
                hw::VERSION,
                shell::SHELL_VERSION_VALUE
            )));
        }
        Ok(Engine {
            dev,
            info,
            act: None,
            res: None,
            timeout: Duration::from_secs(60),
        })
    }

    /// What the device reported when the engine took it over.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The device, for raw register access.
    pub fn device(&mut self) -> &mut dyn Device {
        self.dev.as_mut()
    }

    /// Sets how long a job may run before [`Engine::matvec`] gives up
    /// (default 60 s; the `verilator` backend simulates every cycle).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Packs `m` into the engine's tile layout and writes it to device
    /// memory.
    pub fn load_layer(&mut self, m: &BlockMatrix<'_>) -> Result<LayerHandle> {
        let i = &self.info;
        if m.cfg != i.cfg {
            return Err(DeviceError::Invalid(format!(
                "layer of {} on a {} device",
                m.cfg, i.cfg
            )));
        }
        let bpr = m.blocks_per_row();
        if m.rows == 0 || bpr == 0 || bpr > i.act_depth as usize || m.rows > u32::MAX as usize {
            return Err(DeviceError::Invalid(format!(
                "layer of {}x{} does not fit: rows 1..2^32, 1..={} column blocks of {} (it has {bpr})",
                m.rows, m.cols, i.act_depth, i.cfg.c
            )));
        }
        let packed = pack_layer(m, i.lanes)?;
        let tiles = self.dev.alloc(packed.bytes.len())?;
        if let Err(e) = self.dev.write(&tiles, 0, &packed.bytes) {
            self.dev.free(tiles)?;
            return Err(e);
        }
        Ok(LayerHandle {
            cfg: m.cfg,
            rows: m.rows,
            cols: m.cols,
            col_blocks: bpr,
            tile_words: packed.tile_words,
            tiles,
        })
    }

    /// Loads seed tensor `t` of `file` (a 2-D view: rows × last dim).
    pub fn load_tensor(&mut self, file: &SeedFile, t: &TensorInfo) -> Result<LayerHandle> {
        let TensorKind::Seed(cfg) = t.kind else {
            return Err(DeviceError::Invalid(format!(
                "{}: tensor '{}' is raw, not seed blocks",
                file.path().display(),
                t.name
            )));
        };
        let blocks = file.blocks(t)?;
        self.load_layer(&BlockMatrix {
            cfg,
            rows: t.rows(),
            cols: t.cols(),
            blocks: &blocks,
        })
        .map_err(|e| {
            DeviceError::Invalid(format!(
                "{}: tensor '{}': {e}",
                file.path().display(),
                t.name
            ))
        })
    }

    /// Frees a layer's device memory.
    pub fn unload(&mut self, layer: LayerHandle) -> Result<()> {
        self.dev.free(layer.tiles)
    }

    /// `y = W x` in device numerics: equal to [`BlockMatrix::matvec`] bit
    /// for bit.
    pub fn matvec(&mut self, layer: &LayerHandle, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.matvec_batch(layer, &[x])?.remove(0))
    }

    /// [`Engine::matvec`] for several vectors in one job (each vector has
    /// its own activation scale).
    pub fn matvec_batch(&mut self, layer: &LayerHandle, xs: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let qs = xs
            .iter()
            .enumerate()
            .map(|(v, x)| {
                if x.len() != layer.cols {
                    return Err(DeviceError::Invalid(format!(
                        "activation vector {v} has {} values, the layer has {} columns",
                        x.len(),
                        layer.cols
                    )));
                }
                Ok(quantize_activations(x)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let accs = self.matvec_acc_batch(layer, &qs)?;
        Ok(accs
            .iter()
            .zip(&qs)
            .map(|(acc, q)| {
                acc.iter()
                    .map(|&a| acc_to_f32(&layer.cfg, a, q.scale))
                    .collect()
            })
            .collect())
    }

    /// The integer accumulators of each row for quantized activations (one
    /// job for all vectors).
    pub fn matvec_acc_batch(
        &mut self,
        layer: &LayerHandle,
        qs: &[QuantizedActs],
    ) -> Result<Vec<Vec<i128>>> {
        if qs.is_empty() {
            return Ok(Vec::new());
        }
        let (cfg, bpr, rows) = (layer.cfg, layer.col_blocks, layer.rows);
        let a_stride = bpr * act_stride(&cfg);
        let mut act = vec![0u8; qs.len() * a_stride];
        for (v, (q, av)) in qs.iter().zip(act.chunks_exact_mut(a_stride)).enumerate() {
            if q.x.len() != layer.cols {
                return Err(DeviceError::Invalid(format!(
                    "activation vector {v} has {} values, the layer has {} columns",
                    q.x.len(),
                    layer.cols
                )));
            }
            hw::write_activation_words(&cfg, &q.x, act_stride(&cfg), av);
        }
        let act_buf = grow(self.dev.as_mut(), &mut self.act, act.len())?;
        let res_buf = grow(
            self.dev.as_mut(),
            &mut self.res,
            qs.len() * rows * RESULT_STRIDE,
        )?;
        self.dev.write(&act_buf, 0, &act)?;
        // All-ones result words name row 2^32-1: a row the engine never
        // wrote is caught by `scatter_results`, not read as stale data.
        self.dev
            .write(&res_buf, 0, &vec![0xFF; qs.len() * rows * RESULT_STRIDE])?;
        let job = Job {
            rows: rows as u32,
            col_blocks: bpr as u32,
            tile_addr: layer.tiles.addr,
            tile_words: layer.tile_words as u32,
            act_addr: act_buf.addr,
            res_addr: res_buf.addr,
            batch: qs.len() as u32,
        };
        driver::run_job(self.dev.as_mut(), &job, self.timeout)?;
        let mut raw = vec![0u8; qs.len() * rows * RESULT_STRIDE];
        self.dev.read(&res_buf, 0, &mut raw)?;
        raw.chunks_exact(rows * RESULT_STRIDE)
            .enumerate()
            .map(|(v, words)| scatter_results(rows, v, words))
            .collect()
    }

    /// CYCLES of the engine's last run and JOB_CYCLES of the shell's last
    /// job (0 on backends without a clock).
    pub fn last_cycles(&mut self) -> Result<(u64, u64)> {
        driver::last_cycles(self.dev.as_mut())
    }
}

/// A scratch buffer of at least `len` bytes, reallocated when too small.
fn grow(dev: &mut dyn Device, slot: &mut Option<DevBuf>, len: usize) -> Result<DevBuf> {
    match *slot {
        Some(b) if b.len >= len as u64 => Ok(b),
        old => {
            if let Some(b) = old {
                *slot = None;
                dev.free(b)?;
            }
            let b = dev.alloc(len.max(4096))?;
            *slot = Some(b);
            Ok(b)
        }
    }
}

/// Places the result words of vector `v` (in emitted order) by row index;
/// every row must come exactly once.
fn scatter_results(rows: usize, v: usize, words: &[u8]) -> Result<Vec<i128>> {
    let mut acc = vec![0i128; rows];
    let mut seen = vec![false; rows];
    for (k, w) in words.chunks_exact(RESULT_STRIDE).enumerate() {
        let (row, a) = hw::unpack_result(u128::from_le_bytes(w.try_into().expect("16 bytes")));
        let r = row as usize;
        if r >= rows || seen[r] {
            return Err(DeviceError::Hardware(format!(
                "vector {v}: result {k} names row {row} ({} of {rows} rows)",
                if r >= rows { "out" } else { "repeat" }
            )));
        }
        seen[r] = true;
        acc[r] = a;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_scatter_results_checks_rows() {
        let words: Vec<u8> = [(1u32, -5i128), (0, 7)]
            .iter()
            .flat_map(|&(r, a)| hw::pack_result(r, a).to_le_bytes())
            .collect();
        assert_eq!(scatter_results(2, 0, &words).unwrap(), vec![7, -5]);
        let dup: Vec<u8> = [(1u32, 1i128), (1, 2)]
            .iter()
            .flat_map(|&(r, a)| hw::pack_result(r, a).to_le_bytes())
            .collect();
        assert!(scatter_results(2, 0, &dup)
            .unwrap_err()
            .to_string()
            .contains("repeat"));
        let out: Vec<u8> = hw::pack_result(5, 0).to_le_bytes().to_vec();
        assert!(scatter_results(1, 3, &out)
            .unwrap_err()
            .to_string()
            .contains("vector 3"));
    }
}
