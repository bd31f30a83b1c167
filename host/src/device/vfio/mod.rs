//! Backend `vfio`: a board over PCIe through Linux VFIO.
//!
//! Opening `vfio:<pci-addr>` first checks, in order, everything VFIO needs
//! and names the first thing missing ([`check_ready`]): `/dev/vfio/vfio`
//! (module `vfio-pci` loaded), the device in `/sys/bus/pci/devices`, its
//! binding to `vfio-pci`, its IOMMU group (IOMMU enabled) and the group's
//! node `/dev/vfio/<group>`. Then, with `vfio-ioctls` (no hypervisor
//! features: a plain type-1 IOMMU container), it opens the container, the
//! group (refused if not viable) and the device, resets it (function level
//! reset when the device offers one), enables memory space and bus
//! mastering in the PCI command register, and maps BAR0 (registers:
//! engine CSRs, then the shell's; see [`super::shell`]).
//!
//! **Device memory** is card memory when BAR1 is an XDMA's DMA registers
//! (the U55C design of `bitstreams/vivado/u55c.tcl`: HBM at device address
//! 0, SHELL's MEM_SIZE bytes): [`Device::alloc`] takes device addresses
//! from that range, and [`Device::write`] / [`Device::read`] move the bytes
//! through a bounce buffer mapped in the IOMMU and the XDMA's H2C / C2H
//! channel 0, one descriptor per chunk (the private `xdma` module says why
//! descriptors and not the DMA-bypass window). Without an XDMA on BAR1,
//! device memory is host memory: each [`Device::alloc`] maps fresh
//! anonymous pages through the IOMMU at an IOVA from [`IOVA_BASE`], and the
//! shell's DMA reads tiles and activations and writes results there over
//! PCIe (a shell whose AXI master reaches the host through a PCIe bridge);
//! IOVAs are then the device addresses. All register and buffer accesses are volatile
//! and little-endian (the private `sys` module). On a job error the engine driver resets the
//! device.

mod sys;
mod xdma;

use super::error::{DeviceError, Result};
use super::memory::{check_in_buf, Heap};
use super::{DevBuf, Device};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use vfio_ioctls::{VfioContainer, VfioError};

/// First IOVA handed out for device buffers (above 32-bit DMA holes).
pub const IOVA_BASE: u64 = 1 << 32;
/// Size of the IOVA range for device buffers.
pub const IOVA_SIZE: u64 = 64 << 30;
/// VFIO region of BAR0.
const BAR0_REGION: u32 = 0;
/// VFIO region of PCI config space (`VFIO_PCI_CONFIG_REGION_INDEX`).
const CONFIG_REGION: u32 = 7;
/// `VFIO_REGION_INFO_FLAG_MMAP`.
const REGION_FLAG_MMAP: u32 = 1 << 2;
/// Byte offset of the PCI command register in config space.
const PCI_COMMAND: u64 = 0x04;
/// PCI command bits: memory space enable, bus master enable.
const PCI_COMMAND_MEMORY_MASTER: u16 = (1 << 1) | (1 << 2);
/// IOVA of the card-memory mode's descriptor page and bounce buffer (above
/// the host-memory mode's range and any device address of the shell).
const STAGING_IOVA: u64 = IOVA_BASE + IOVA_SIZE;
/// Bytes of the bounce buffer: the largest chunk of one XDMA descriptor.
const BOUNCE_BYTES: usize = 4 << 20;
/// Longest wait for one XDMA transfer.
const XDMA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// Smallest BAR0 that holds the engine and shell registers.
const BAR0_MIN: u64 = 2 * super::shell::SHELL_BASE as u64;

/// Where VFIO's files are; the real ones by default, a fake tree in tests.
#[derive(Clone, Debug)]
pub struct SysPaths {
    /// `/dev/vfio`.
    pub dev_vfio: PathBuf,
    /// `/sys/bus/pci/devices`.
    pub pci_devices: PathBuf,
}

impl Default for SysPaths {
    fn default() -> Self {
        SysPaths {
            dev_vfio: "/dev/vfio".into(),
            pci_devices: "/sys/bus/pci/devices".into(),
        }
    }
}

/// Normalises a PCI address to `DDDD:BB:DD.F` (a missing domain is 0000).
pub fn parse_pci_addr(addr: &str) -> Result<String> {
    let full = if addr.matches(':').count() == 1 {
        format!("0000:{addr}")
    } else {
        addr.to_string()
    };
    let ok = full.len() == 12
        && full.char_indices().all(|(i, c)| match i {
            4 | 7 => c == ':',
            10 => c == '.',
            11 => ('0'..='7').contains(&c),
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(full.to_ascii_lowercase())
    } else {
        Err(DeviceError::VfioMissing {
            addr: addr.into(),
            what: "not a PCI address: expected DDDD:BB:DD.F, e.g. 0000:01:00.0 (see lspci -D)"
                .into(),
        })
    }
}

/// Checks every prerequisite of VFIO for the device at `addr` and returns
/// its IOMMU group number (see module docs for the order).
pub fn check_ready(paths: &SysPaths, addr: &str) -> Result<u32> {
    let missing = |what: String| DeviceError::VfioMissing {
        addr: addr.into(),
        what,
    };
    let container = paths.dev_vfio.join("vfio");
    if !container.exists() {
        return Err(missing(format!(
            "no {}: load the vfio-pci module (modprobe vfio-pci)",
            container.display()
        )));
    }
    let dev = paths.pci_devices.join(addr);
    if !dev.exists() {
        return Err(missing(format!(
            "device not found in {} (see lspci -D)",
            paths.pci_devices.display()
        )));
    }
    let link_name = |link: &str| {
        std::fs::read_link(dev.join(link))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    };
    match link_name("driver") {
        Some(d) if d == "vfio-pci" => {}
        other => {
            return Err(missing(format!(
                "not bound to vfio-pci ({}); bind it: echo vfio-pci > {}/driver_override; \
                 echo {addr} > /sys/bus/pci/drivers_probe",
                other.map_or("no driver".into(), |d| format!("bound to {d}")),
                dev.display()
            )))
        }
    }
    let group = link_name("iommu_group")
        .ok_or_else(|| {
            missing(
                "no IOMMU group: enable the IOMMU (intel_iommu=on or amd_iommu=on on the \
                 kernel command line)"
                    .into(),
            )
        })?
        .parse::<u32>()
        .map_err(|_| missing("IOMMU group link does not name a number".into()))?;
    let node = paths.dev_vfio.join(group.to_string());
    if !node.exists() {
        return Err(missing(format!(
            "no {} for IOMMU group {group}",
            node.display()
        )));
    }
    Ok(group)
}

/// An accelerator board opened through VFIO.
pub struct VfioDevice {
    addr: String,
    heap: Heap,
    // Drop order (fields drop in declaration order after `Drop::drop` has
    // unmapped every buffer from the IOMMU): buffers, BAR0 mapping, config
    // file, device, container.
    bufs: BTreeMap<u64, sys::DmaRegion>,
    /// Card memory through the XDMA (and its bounce buffer, also in
    /// `bufs`, at [`STAGING_IOVA`] + 4 KiB), or `None`: host memory.
    card: Option<xdma::Xdma>,
    bar: sys::Bar,
    config: File,
    device: vfio_ioctls::VfioDevice,
    container: Arc<VfioContainer>,
}

impl VfioDevice {
    /// Opens the board at PCI address `addr` (see module docs).
    pub fn open(addr: &str) -> Result<VfioDevice> {
        Self::open_at(&SysPaths::default(), addr)
    }

    /// [`VfioDevice::open`] with VFIO's files under `paths`.
    pub fn open_at(paths: &SysPaths, addr: &str) -> Result<VfioDevice> {
        let addr = parse_pci_addr(addr)?;
        let group = check_ready(paths, &addr)?;
        let vfio = |action: &str| {
            let addr = addr.clone();
            let action = action.to_string();
            move |source: VfioError| match source {
                VfioError::GroupViable => DeviceError::VfioMissing {
                    addr,
                    what: format!(
                        "IOMMU group {group} is not viable: bind every device in \
                         /sys/kernel/iommu_groups/{group}/devices to vfio-pci (or unbind it)"
                    ),
                },
                source => DeviceError::Vfio {
                    addr,
                    action,
                    source,
                },
            }
        };
        let container =
            Arc::new(VfioContainer::new(None).map_err(vfio("open the VFIO container"))?);
        let device =
            vfio_ioctls::VfioDevice::new(&paths.pci_devices.join(&addr), container.clone(), false)
                .map_err(vfio("open the device"))?;
        let io = |action: &'static str| {
            let path = paths.pci_devices.join(&addr);
            move |source| DeviceError::Io {
                action,
                path,
                source,
            }
        };
        let config = sys::device_file(&device).map_err(io("duplicate the VFIO descriptor of"))?;
        let size = device.get_region_size(BAR0_REGION);
        if size < BAR0_MIN || device.get_region_flags(BAR0_REGION) & REGION_FLAG_MMAP == 0 {
            return Err(DeviceError::Hardware(format!(
                "vfio {addr}: BAR0 is {size} bytes{}; the shell needs {BAR0_MIN}, mappable",
                if device.get_region_flags(BAR0_REGION) & REGION_FLAG_MMAP == 0 {
                    ", not mappable"
                } else {
                    ""
                }
            )));
        }
        let bar = sys::Bar::map(
            &config,
            device.get_region_offset(BAR0_REGION),
            size as usize,
        )
        .map_err(io("map BAR0 of"))?;
        let mut dev = VfioDevice {
            addr,
            heap: Heap::new(IOVA_BASE, IOVA_SIZE),
            bufs: BTreeMap::new(),
            card: None,
            bar,
            config,
            device,
            container,
        };
        dev.reset()?;
        dev.probe_card()?;
        Ok(dev)
    }

    /// Switches to card memory when BAR1 is an XDMA (module docs): maps its
    /// descriptor page and bounce buffer and takes the shell's MEM_SIZE
    /// bytes from device address 0 as the heap.
    fn probe_card(&mut self) -> Result<()> {
        let r = xdma::DMA_BAR_REGION;
        if self.device.get_region_size(r) < xdma::DMA_BAR_MIN
            || self.device.get_region_flags(r) & REGION_FLAG_MMAP == 0
        {
            return Ok(());
        }
        let io = |action: &'static str, addr: &str| {
            let path = PathBuf::from(format!("/sys/bus/pci/devices/{addr}"));
            move |source| DeviceError::Io {
                action,
                path,
                source,
            }
        };
        let bar1 = sys::Bar::map(
            &self.config,
            self.device.get_region_offset(r),
            self.device.get_region_size(r) as usize,
        )
        .map_err(io("map BAR1 of", &self.addr))?;
        if !xdma::Xdma::is_xdma(&bar1) {
            return Ok(());
        }
        let page = super::shell::BUF_ALIGN;
        let (desc_iova, bounce_iova) = (STAGING_IOVA, STAGING_IOVA + page);
        for (iova, len) in [(desc_iova, page as usize), (bounce_iova, BOUNCE_BYTES)] {
            let region =
                sys::DmaRegion::new(len).map_err(io("allocate DMA memory for", &self.addr))?;
            region
                .map_iommu(&self.container, iova)
                .map_err(|source| DeviceError::Vfio {
                    addr: self.addr.clone(),
                    action: format!("map {len} bytes at IOVA {iova:#x}"),
                    source,
                })?;
            // In `bufs` until the XDMA owns it: unmapped on drop either way.
            self.bufs.insert(iova, region);
        }
        let mem = read_mem_size(self)?;
        let desc = self.bufs.remove(&desc_iova).expect("inserted above");
        self.card = Some(xdma::Xdma::new(bar1, desc, desc_iova));
        self.heap = Heap::new(0, mem);
        Ok(())
    }

    /// Moves `len` bytes between the bounce buffer and card address `card`.
    fn card_copy(&mut self, dir: xdma::Dir, card: u64, len: usize) -> Result<()> {
        let x = self.card.as_mut().expect("card memory mode");
        x.transfer(
            dir,
            STAGING_IOVA + super::shell::BUF_ALIGN,
            card,
            len as u32,
            XDMA_TIMEOUT,
        )
    }

    /// Sets memory space and bus master enable in the PCI command register.
    fn enable_bus_master(&self) -> Result<()> {
        let at = self.device.get_region_offset(CONFIG_REGION) + PCI_COMMAND;
        let io = |source| DeviceError::Io {
            action: "access the PCI command register of",
            path: PathBuf::from(format!("/sys/bus/pci/devices/{}", self.addr)),
            source,
        };
        let mut cmd = [0u8; 2];
        self.config.read_exact_at(&mut cmd, at).map_err(io)?;
        let v = u16::from_le_bytes(cmd) | PCI_COMMAND_MEMORY_MASTER;
        self.config.write_all_at(&v.to_le_bytes(), at).map_err(io)
    }

    fn region(&self, buf: &DevBuf) -> Result<&sys::DmaRegion> {
        self.bufs.get(&buf.addr).ok_or_else(|| {
            DeviceError::Memory(format!("{:#x} is not a buffer of this device", buf.addr))
        })
    }

    fn bad_reg(&self, off: u32) -> DeviceError {
        DeviceError::Invalid(format!(
            "vfio {}: register offset {off:#x} outside the {}-byte BAR0 or not 4-aligned",
            self.addr,
            self.bar.len()
        ))
    }
}

/// The shell's MEM_SIZE (device memory bytes from address 0).
fn read_mem_size(dev: &mut VfioDevice) -> Result<u64> {
    let lo = dev.read_csr(super::shell::MEM_SIZE_LO)?;
    let hi = dev.read_csr(super::shell::MEM_SIZE_HI)?;
    Ok(u64::from(hi) << 32 | u64::from(lo))
}

impl Device for VfioDevice {
    fn name(&self) -> String {
        format!("vfio {}", self.addr)
    }

    fn read_csr(&mut self, off: u32) -> Result<u32> {
        self.bar
            .read32(off as usize)
            .ok_or_else(|| self.bad_reg(off))
    }

    fn write_csr(&mut self, off: u32, v: u32) -> Result<()> {
        self.bar
            .write32(off as usize, v)
            .ok_or_else(|| self.bad_reg(off))
    }

    fn alloc(&mut self, len: usize) -> Result<DevBuf> {
        let buf = self.heap.alloc(len)?;
        if self.card.is_some() {
            return Ok(buf);
        }
        let pages = (len.max(1) as u64).next_multiple_of(super::shell::BUF_ALIGN) as usize;
        let region = sys::DmaRegion::new(pages).map_err(|source| DeviceError::Io {
            action: "allocate DMA memory for",
            path: PathBuf::from(format!("/sys/bus/pci/devices/{}", self.addr)),
            source,
        })?;
        if let Err(source) = region.map_iommu(&self.container, buf.addr) {
            self.heap.free(buf)?;
            return Err(DeviceError::Vfio {
                addr: self.addr.clone(),
                action: format!("map {pages} bytes at IOVA {:#x}", buf.addr),
                source,
            });
        }
        self.bufs.insert(buf.addr, region);
        Ok(buf)
    }

    fn free(&mut self, buf: DevBuf) -> Result<()> {
        if self.card.is_some() {
            return self.heap.free(buf);
        }
        let region = self.bufs.remove(&buf.addr).ok_or_else(|| {
            DeviceError::Memory(format!("{:#x} is not a buffer of this device", buf.addr))
        })?;
        self.container
            .vfio_dma_unmap(buf.addr, region.len())
            .map_err(|source| DeviceError::Vfio {
                addr: self.addr.clone(),
                action: format!("unmap IOVA {:#x}", buf.addr),
                source,
            })?;
        drop(region);
        self.heap.free(buf)
    }

    fn write(&mut self, buf: &DevBuf, offset: u64, data: &[u8]) -> Result<()> {
        if self.card.is_some() {
            let mut card = check_in_buf(buf, offset, data.len())?;
            for chunk in data.chunks(BOUNCE_BYTES) {
                self.bufs[&(STAGING_IOVA + super::shell::BUF_ALIGN)].write(0, chunk);
                self.card_copy(xdma::Dir::H2c, card, chunk.len())?;
                card += chunk.len() as u64;
            }
            return Ok(());
        }
        let at = check_in_buf(buf, offset, data.len())? - buf.addr;
        self.region(buf)?.write(at as usize, data);
        Ok(())
    }

    fn read(&mut self, buf: &DevBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        if self.card.is_some() {
            let mut card = check_in_buf(buf, offset, out.len())?;
            for chunk in out.chunks_mut(BOUNCE_BYTES) {
                self.card_copy(xdma::Dir::C2h, card, chunk.len())?;
                self.bufs[&(STAGING_IOVA + super::shell::BUF_ALIGN)].read(0, chunk);
                card += chunk.len() as u64;
            }
            return Ok(());
        }
        let at = check_in_buf(buf, offset, out.len())? - buf.addr;
        self.region(buf)?.read(at as usize, out);
        Ok(())
    }

    fn reset(&mut self) -> Result<()> {
        self.device.reset();
        self.enable_bus_master()
    }
}

impl Drop for VfioDevice {
    fn drop(&mut self) {
        // Take every buffer out of the IOMMU before its pages are unmapped.
        for (&iova, region) in &self.bufs {
            let _ = self.container.vfio_dma_unmap(iova, region.len());
        }
        if let Some(x) = &self.card {
            let (iova, len) = x.desc_mapping();
            let _ = self.container.vfio_dma_unmap(iova, len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_pci_addr() {
        assert_eq!(parse_pci_addr("0000:01:00.0").unwrap(), "0000:01:00.0");
        assert_eq!(parse_pci_addr("3B:00.1").unwrap(), "0000:3b:00.1");
        for bad in ["", "01:00", "0000:01:00.8", "0000:01:00:0", "zzzz:01:00.0"] {
            assert!(parse_pci_addr(bad).is_err(), "{bad}");
        }
    }
}
