//! What the fuzz targets share.

use memmap2::{Mmap, MmapMut};

/// `bytes` in an anonymous read-only map, the type the file readers take
/// (so that a target reads its input without touching the disk).
pub fn map(bytes: &[u8]) -> Mmap {
    let mut m = MmapMut::map_anon(bytes.len()).expect("anonymous map");
    m.copy_from_slice(bytes);
    m.make_read_only().expect("read-only map")
}
