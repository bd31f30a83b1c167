//! Device memory of the software backends and the allocator every backend
//! shares.
//!
//! [`Heap`] hands out [`BUF_ALIGN`]-aligned ranges of a device address
//! space, first fit, and merges neighbours on free. [`SimMemory`] is the
//! device memory of `emu` and `verilator`: a zero-initialised `Vec<u8>`
//! (the OS maps its pages lazily, so a large size costs nothing until
//! written) with a [`Heap`] over it.

use super::error::{DeviceError, Result};
use super::shell::BUF_ALIGN;
use super::DevBuf;
use std::collections::BTreeMap;

/// First-fit allocator over `[base, base + size)`.
#[derive(Clone, Debug)]
pub struct Heap {
    /// Free ranges: start -> length.
    free: BTreeMap<u64, u64>,
    /// Allocated ranges: start -> length.
    used: BTreeMap<u64, u64>,
}

impl Heap {
    /// A heap over `size` bytes from `base` (both multiples of [`BUF_ALIGN`]).
    pub fn new(base: u64, size: u64) -> Heap {
        let size = size - size % BUF_ALIGN;
        let mut free = BTreeMap::new();
        if size > 0 {
            free.insert(base, size);
        }
        Heap {
            free,
            used: BTreeMap::new(),
        }
    }

    /// Allocates `len` bytes (rounded up to [`BUF_ALIGN`]).
    pub fn alloc(&mut self, len: usize) -> Result<DevBuf> {
        let need = (len.max(1) as u64).next_multiple_of(BUF_ALIGN);
        let (&start, &have) = self.free.iter().find(|(_, &l)| l >= need).ok_or_else(|| {
            let largest = self.free.values().max().copied().unwrap_or(0);
            DeviceError::Memory(format!(
                "out of device memory: {len} bytes requested, largest free range {largest}"
            ))
        })?;
        self.free.remove(&start);
        if have > need {
            self.free.insert(start + need, have - need);
        }
        self.used.insert(start, need);
        Ok(DevBuf {
            addr: start,
            len: len as u64,
        })
    }

    /// Returns a buffer to the heap.
    pub fn free(&mut self, buf: DevBuf) -> Result<()> {
        let len = self.used.remove(&buf.addr).ok_or_else(|| {
            DeviceError::Memory(format!("free of {:#x}: not an allocated buffer", buf.addr))
        })?;
        let (mut start, mut len) = (buf.addr, len);
        if let Some((&s, &l)) = self.free.range(..start).next_back() {
            if s + l == start {
                self.free.remove(&s);
                start = s;
                len += l;
            }
        }
        if let Some(l) = self.free.remove(&(start + len)) {
            len += l;
        }
        self.free.insert(start, len);
        Ok(())
    }
}

/// Checks that `[offset, offset + n)` lies inside `buf`; returns the device
/// address of `offset`.
pub fn check_in_buf(buf: &DevBuf, offset: u64, n: usize) -> Result<u64> {
    match offset.checked_add(n as u64) {
        Some(end) if end <= buf.len => Ok(buf.addr + offset),
        _ => Err(DeviceError::Memory(format!(
            "access of {n} bytes at offset {offset} is outside the {}-byte buffer at {:#x}",
            buf.len, buf.addr
        ))),
    }
}

/// A device-memory range whose bus accesses answer SLVERR: how tests
/// inject a failing memory into the software backends (`emu`, and the
/// AXI memory model of `verilator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// First device address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Reads fail (else writes).
    pub reads: bool,
}

impl Fault {
    /// Whether an access of `len` bytes at `addr` (a read if `reads`)
    /// touches the range.
    pub fn hits(&self, addr: u64, len: u64, reads: bool) -> bool {
        self.reads == reads
            && len > 0
            && addr < self.addr.saturating_add(self.len)
            && self.addr < addr.saturating_add(len)
    }
}

/// Zero-initialised device memory of a software backend.
#[derive(Debug)]
pub struct SimMemory {
    bytes: Vec<u8>,
    heap: Heap,
}

impl SimMemory {
    /// `size` bytes of memory (rounded down to [`BUF_ALIGN`]).
    pub fn new(size: u64) -> Result<SimMemory> {
        let size = size - size % BUF_ALIGN;
        let n = usize::try_from(size)
            .map_err(|_| DeviceError::Invalid(format!("memory size {size} too large")))?;
        // `vec!` of zeros allocates zeroed pages lazily (calloc): a 4 GiB
        // device costs nothing until it is written.
        let bytes = vec![0u8; n];
        Ok(SimMemory {
            bytes,
            heap: Heap::new(0, size),
        })
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Allocates a buffer.
    pub fn alloc(&mut self, len: usize) -> Result<DevBuf> {
        self.heap.alloc(len)
    }

    /// Frees a buffer.
    pub fn free(&mut self, buf: DevBuf) -> Result<()> {
        self.heap.free(buf)
    }

    /// Writes `data` at `offset` into `buf`.
    pub fn write(&mut self, buf: &DevBuf, offset: u64, data: &[u8]) -> Result<()> {
        let at = check_in_buf(buf, offset, data.len())? as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Reads `out.len()` bytes at `offset` of `buf`.
    pub fn read(&self, buf: &DevBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        let at = check_in_buf(buf, offset, out.len())? as usize;
        out.copy_from_slice(&self.bytes[at..at + out.len()]);
        Ok(())
    }

    /// The bytes at device address `[addr, addr + len)`, as the shell's DMA
    /// sees them (the caller has checked the range with [`super::shell::Job::check`]).
    pub fn at(&self, addr: u64, len: usize) -> &[u8] {
        &self.bytes[addr as usize..addr as usize + len]
    }

    /// Mutable bytes at device address `[addr, addr + len)` (checked by the caller).
    pub fn at_mut(&mut self, addr: u64, len: usize) -> &mut [u8] {
        &mut self.bytes[addr as usize..addr as usize + len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_heap_first_fit_merge_and_exhaustion() {
        let mut h = Heap::new(0, 4 * BUF_ALIGN);
        let a = h.alloc(1).unwrap();
        let b = h.alloc(BUF_ALIGN as usize + 1).unwrap();
        let c = h.alloc(10).unwrap();
        assert_eq!((a.addr, b.addr, c.addr), (0, BUF_ALIGN, 3 * BUF_ALIGN));
        assert!(h.alloc(1).is_err());
        h.free(a).unwrap();
        assert!(h.free(a).is_err(), "double free refused");
        h.free(b).unwrap();
        // a and b merged: a 3-page buffer fits again.
        assert_eq!(h.alloc(3 * BUF_ALIGN as usize).unwrap().addr, 0);
        h.free(c).unwrap();
    }

    #[test]
    fn test_sim_memory_bounds() {
        let mut m = SimMemory::new(3 * BUF_ALIGN).unwrap();
        let b = m.alloc(100).unwrap();
        m.write(&b, 96, &[1, 2, 3, 4]).unwrap();
        let mut out = [0u8; 4];
        m.read(&b, 96, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4]);
        assert!(m.write(&b, 97, &[0; 4]).is_err());
        assert!(m.read(&b, u64::MAX, &mut out).is_err());
    }
}
