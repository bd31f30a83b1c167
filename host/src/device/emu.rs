//! Backend `emu`: the golden model of [`seedlm::fixed`] behind the
//! [`Device`] trait, the functional reference of the accelerator.
//!
//! Registers behave as on the board ([`ShellRegs`]): the engine's
//! read-only CSRs report the emulated configuration, the shell's registers
//! describe a job, START makes the shell busy and the job runs to
//! completion at the next register read (so the driver's first poll finds
//! DONE, and a second START before it finds the shell busy, as on the
//! RTL). A job is checked with [`Job::flags`] (the flags of the RTL
//! shell), reads its tile words and activations from [`SimMemory`] and
//! computes the accumulators with the integer form of [`seedlm::kernel`]
//! ([`SeedMatrix::matvec_acc`]: bit-exact with the golden model, rayon over
//! rows, every block rebuilt once per batch). A read of an injected
//! [`Fault`] range ends the job with [`shell::SERR_READ_RESP`], a result
//! write into one with [`shell::SERR_WRITE_RESP`] (nothing is written), as
//! the RTL shell does on an SLVERR response.
//!
//! Decoded tiles are cached by their address range and dropped when the
//! host writes into that range, so a layer is unpacked once, not per call.
//! Writes to the engine's CTRL are ignored: the shell starts the engine.

use super::error::Result;
use super::memory::{Fault, SimMemory};
use super::packer::unpack_tiles;
use super::shell::{self, act_stride, tile_stride, Job, ShellRegs, RESULT_STRIDE};
use super::{DevBuf, Device, OpenOptions};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::kernel::SeedMatrix;
use seedlm::{hw, Config};
use std::sync::Arc;

/// Decoded tiles of one layer: `(tile_addr, tile byte length, rows, col_blocks)`.
type TileKey = (u64, u64, u32, u32);

/// The emulated accelerator.
pub struct EmuDevice {
    cfg: Config,
    lanes: usize,
    act_depth: u32,
    mem: SimMemory,
    regs: ShellRegs,
    engine_error: u32,
    cache: Vec<(TileKey, Arc<SeedMatrix>)>,
    /// The kernel's cycle, built at open (and checked to exist for K).
    _cycle: Arc<seedlm::cycle::Cycle>,
    faults: Vec<Fault>,
}

impl EmuDevice {
    /// An emulated engine of `opts.cfg` with `opts.lanes` lanes, the
    /// hardware's activation depth and `opts.mem_size` bytes of memory.
    pub fn new(opts: &OpenOptions) -> Result<EmuDevice> {
        hw::check_lanes(opts.lanes)?;
        Ok(EmuDevice {
            cfg: opts.cfg,
            lanes: opts.lanes,
            act_depth: 1 << hw::DEFAULT_ACT_ADDR_BITS,
            mem: SimMemory::new(opts.mem_size)?,
            regs: ShellRegs::default(),
            engine_error: 0,
            // Fails for K > 16 (the kernel's centred states are i16).
            _cycle: seedlm::kernel::shared_cycle(opts.cfg.k)?,
            cache: Vec::new(),
            faults: Vec::new(),
        })
    }

    /// Makes accesses of the shell to `fault`'s range fail (SLVERR).
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Runs a started job, if any, and records its end.
    fn settle(&mut self) {
        if let Some((job, flags)) = self.regs.take_pending() {
            let err = self.run_job(&job);
            self.regs.finish(err | flags, 0);
        }
    }

    /// Runs `job`; returns SHELL_ERROR flags (0: done).
    fn run_job(&mut self, job: &Job) -> u32 {
        let flags = job.flags(&self.cfg, self.lanes, self.act_depth, self.mem.size());
        if flags & shell::SERR_ENGINE != 0 {
            self.engine_error = shell::engine_error(job.rows, job.col_blocks, self.act_depth);
        }
        if flags != 0 {
            return flags;
        }
        let (cfg, b) = (&self.cfg, job.batch as u64);
        let tile_len = job.tile_words as u64 * tile_stride(cfg, self.lanes) as u64;
        let act_len = b * job.col_blocks as u64 * act_stride(cfg) as u64;
        let res_len = b * job.rows as u64 * RESULT_STRIDE as u64;
        let hit = |addr, len, reads| self.faults.iter().any(|f| f.hits(addr, len, reads));
        if hit(job.tile_addr, tile_len, true) || hit(job.act_addr, act_len, true) {
            return shell::SERR_READ_RESP;
        }
        if hit(job.res_addr, res_len, false) {
            return shell::SERR_WRITE_RESP;
        }
        let (rows, bpr) = (job.rows as usize, job.col_blocks as usize);
        let m = self.tiles(job);
        let xs: Vec<QuantizedActs> = (0..job.batch)
            .map(|v| {
                // Each word: C values in the first 2C of its stride bytes.
                let (stride, c) = (act_stride(&self.cfg), self.cfg.c);
                let bytes = self.mem.at(job.act_at(&self.cfg, v), bpr * stride);
                let mut x = Vec::with_capacity(bpr * c);
                for w in bytes.chunks_exact(stride) {
                    x.extend(
                        w[..2 * c]
                            .chunks_exact(2)
                            .map(|b| i16::from_le_bytes([b[0], b[1]])),
                    );
                }
                QuantizedActs { x, scale: 1.0 }
            })
            .collect();
        let refs: Vec<&QuantizedActs> = xs.iter().collect();
        let accs = m
            .matvec_acc(&refs)
            .expect("shape and activation lengths checked above");
        for (v, acc) in accs.iter().enumerate() {
            let out = self.mem.at_mut(job.res_at(v as u32), rows * RESULT_STRIDE);
            for (row, (&a, word)) in acc.iter().zip(out.chunks_exact_mut(16)).enumerate() {
                word.copy_from_slice(&hw::pack_result(row as u32, a).to_le_bytes());
            }
        }
        0
    }

    /// The job's tiles in the kernel's layout, from the cache if present.
    fn tiles(&mut self, job: &Job) -> Arc<SeedMatrix> {
        let len = job.tile_words as u64 * tile_stride(&self.cfg, self.lanes) as u64;
        let key = (job.tile_addr, len, job.rows, job.col_blocks);
        if let Some((_, m)) = self.cache.iter().find(|(k, _)| *k == key) {
            return m.clone();
        }
        let (rows, bpr) = (job.rows as usize, job.col_blocks as usize);
        let blocks = unpack_tiles(
            &self.cfg,
            self.lanes,
            rows,
            bpr,
            self.mem.at(job.tile_addr, len as usize),
        );
        let m = SeedMatrix::new(&BlockMatrix {
            cfg: self.cfg,
            rows,
            cols: bpr * self.cfg.c,
            blocks: &blocks,
        })
        .expect("K <= 16 checked at open; unpacked seeds are K bits wide");
        let m = Arc::new(m);
        self.cache.push((key, m.clone()));
        m
    }

    /// Drops cached tiles that overlap `[addr, addr + len)`.
    fn invalidate(&mut self, addr: u64, len: u64) {
        self.cache
            .retain(|((a, l, _, _), _)| a + l <= addr || addr + len <= *a);
    }
}

impl Device for EmuDevice {
    fn name(&self) -> String {
        "emu".into()
    }

    fn read_csr(&mut self, off: u32) -> Result<u32> {
        self.settle();
        if let Some(v) = self.regs.read(off, self.mem.size()) {
            return Ok(v);
        }
        Ok(match off {
            hw::CSR_STATUS => {
                let s = self.regs.status;
                ((s & shell::SHELL_DONE != 0) as u32 * hw::STATUS_DONE)
                    | ((self.engine_error != 0) as u32 * hw::STATUS_ERROR)
            }
            hw::CSR_ROWS => self.regs.job.rows,
            hw::CSR_COL_BLOCKS => self.regs.job.col_blocks,
            hw::CSR_ERROR => self.engine_error,
            hw::CSR_VERSION => hw::VERSION,
            hw::CSR_CONFIG => hw::encode_config(&self.cfg, self.lanes),
            hw::CSR_ACT_DEPTH => self.act_depth,
            _ => 0,
        })
    }

    fn write_csr(&mut self, off: u32, v: u32) -> Result<()> {
        if off == shell::SHELL_CTRL && v & (shell::SHELL_START | shell::SHELL_RESET) != 0 {
            self.engine_error = 0;
        }
        self.regs.write(off, v);
        Ok(())
    }

    fn alloc(&mut self, len: usize) -> Result<DevBuf> {
        self.mem.alloc(len)
    }

    fn free(&mut self, buf: DevBuf) -> Result<()> {
        self.invalidate(buf.addr, buf.len);
        self.mem.free(buf)
    }

    fn write(&mut self, buf: &DevBuf, offset: u64, data: &[u8]) -> Result<()> {
        self.mem.write(buf, offset, data)?;
        self.invalidate(buf.addr + offset, data.len() as u64);
        Ok(())
    }

    fn read(&mut self, buf: &DevBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        self.mem.read(buf, offset, out)
    }

    fn reset(&mut self) -> Result<()> {
        self.regs = ShellRegs::default();
        self.engine_error = 0;
        Ok(())
    }
}
