//! The raw side of the VFIO backend, and with the checkpoint readers' memory
//! map (`checkpoint::map_file`) the only `unsafe` of this crate:
//! BAR0 mapped for volatile 32-bit register access, DMA buffers in
//! anonymous memory mapped through the IOMMU, and a duplicate of the device
//! file descriptor for PCI config space access.
//!
//! Memory the device may DMA into is never seen through a Rust reference:
//! both [`Bar`] and [`DmaRegion`] hold a [`MmapRaw`] and touch it only with
//! volatile accesses through raw pointers, as `vfio_dma_map` requires.
#![allow(unsafe_code)]

use byteorder::{ByteOrder, LittleEndian};
use memmap2::{MmapOptions, MmapRaw};
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd};
use vfio_ioctls::{VfioContainer, VfioError};

/// BAR0 mapped into this process.
pub struct Bar {
    map: MmapRaw,
}

impl Bar {
    /// Maps `len` bytes of the device file at `offset` (a region of the
    /// VFIO device, from `VFIO_DEVICE_GET_REGION_INFO`).
    pub fn map(file: &File, offset: u64, len: usize) -> std::io::Result<Bar> {
        let map = MmapOptions::new().offset(offset).len(len).map_raw(file)?;
        Ok(Bar { map })
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Reads the little-endian 32-bit register at byte offset `off`, or
    /// `None` if it is not a 4-aligned offset inside the BAR.
    pub fn read32(&self, off: usize) -> Option<u32> {
        if !off.is_multiple_of(4) || off + 4 > self.len() {
            return None;
        }
        // SAFETY: `off + 4 <= len` and `off` is 4-aligned in a page-aligned
        // mapping that lives as long as `self`; MMIO is only read volatile
        // and as one 32-bit access.
        let raw = unsafe { (self.map.as_ptr().add(off) as *const u32).read_volatile() };
        Some(LittleEndian::read_u32(&raw.to_ne_bytes()))
    }

    /// Writes the little-endian 32-bit register at byte offset `off`;
    /// `None` if it is not a 4-aligned offset inside the BAR.
    pub fn write32(&self, off: usize, v: u32) -> Option<()> {
        if !off.is_multiple_of(4) || off + 4 > self.len() {
            return None;
        }
        let mut le = [0u8; 4];
        LittleEndian::write_u32(&mut le, v);
        // SAFETY: as in `read32`; one volatile 32-bit store.
        unsafe {
            (self.map.as_mut_ptr().add(off) as *mut u32).write_volatile(u32::from_ne_bytes(le))
        };
        Some(())
    }
}

/// Host memory that the device reaches by DMA at an IOVA.
pub struct DmaRegion {
    map: MmapRaw,
}

impl DmaRegion {
    /// `len` bytes of zeroed anonymous memory (`len` a multiple of the page
    /// size).
    pub fn new(len: usize) -> std::io::Result<DmaRegion> {
        let map = MmapRaw::from(MmapOptions::new().len(len).map_anon()?);
        Ok(DmaRegion { map })
    }

    /// Maps the region at `iova` in the container's IOMMU domain.
    pub fn map_iommu(&self, container: &VfioContainer, iova: u64) -> Result<(), VfioError> {
        // SAFETY: the region is owned by `self`, which the caller keeps until
        // after `vfio_dma_unmap` (see `VfioDevice::drop` and `free`); no Rust
        // reference to it ever exists: `read` and `write` use volatile
        // accesses through raw pointers only.
        unsafe { container.vfio_dma_map(iova, self.map.len(), self.map.as_mut_ptr()) }
    }

    /// Bytes of the region.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Copies `data` to byte `off` (the caller checked the range).
    pub fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= self.len());
        let p = self.map.as_mut_ptr();
        for (k, &b) in data.iter().enumerate() {
            // SAFETY: `off + k < len`, checked above; volatile, no reference.
            unsafe { p.add(off + k).write_volatile(b) };
        }
    }

    /// Copies bytes from byte `off` into `out` (the caller checked the range).
    pub fn read(&self, off: usize, out: &mut [u8]) {
        assert!(off + out.len() <= self.len());
        let p = self.map.as_ptr();
        for (k, o) in out.iter_mut().enumerate() {
            // SAFETY: `off + k < len`, checked above; volatile, no reference.
            *o = unsafe { p.add(off + k).read_volatile() };
        }
    }
}

/// A `File` on a duplicate of the VFIO device's descriptor, for `pread` /
/// `pwrite` of config space and `mmap` of BARs with errors reported.
pub fn device_file(dev: &vfio_ioctls::VfioDevice) -> std::io::Result<File> {
    // SAFETY: the descriptor belongs to `dev`, which is alive for this call;
    // it is only borrowed to duplicate it, and the duplicate is owned.
    let fd = unsafe { BorrowedFd::borrow_raw(dev.as_raw_fd()) };
    Ok(File::from(fd.try_clone_to_owned()?))
}
