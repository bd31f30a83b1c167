//! The accelerator harness on its own: AXI4-Lite register round trips on
//! the Verilated `seedlm_accel`, the identity registers, and a VCD trace on
//! request (`SEEDLM_VCD`). Jobs run through the host's driver in the
//! workspace's `tests/`.

use seedlm::hw::shell as sh;
use seedlm::{hw, Config};
use seedlm_sim::{accel_variants, Accel, Kind, MemTiming};

#[test]
fn test_accel_registers_and_vcd_on_request() {
    let dir = std::env::temp_dir().join(format!("seedlm_vcd_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Only this test runs in this binary: the variable reaches no other.
    std::env::set_var("SEEDLM_VCD", &dir);
    assert!(accel_variants().contains(&(Kind::Seedlm(Config::BITS3), 3, 512)));
    let mut a = Accel::new(
        Kind::Seedlm(Config::BITS3),
        3,
        1 << 20,
        MemTiming::default(),
    )
    .unwrap();
    std::env::remove_var("SEEDLM_VCD");
    assert_eq!(a.read(hw::CSR_VERSION).unwrap(), hw::VERSION);
    assert_eq!(
        hw::decode_config(a.read(hw::CSR_CONFIG).unwrap()).unwrap(),
        (Config::BITS3, 3)
    );
    assert_eq!(a.read(sh::SHELL_VERSION).unwrap(), sh::SHELL_VERSION_VALUE);
    assert_eq!(a.read(sh::AXI_DATA_BITS_REG).unwrap(), 512);
    for r in sh::SHELL_REGISTERS
        .iter()
        .filter(|r| r.writable && r.offset != sh::SHELL_CTRL)
    {
        a.write(r.offset, 0x5A5A_0000 | r.offset).unwrap();
    }
    for r in sh::SHELL_REGISTERS
        .iter()
        .filter(|r| r.writable && r.offset != sh::SHELL_CTRL)
    {
        assert_eq!(
            a.read(r.offset).unwrap(),
            0x5A5A_0000 | r.offset,
            "{}",
            r.name
        );
    }
    assert_eq!(a.read(sh::SHELL_STATUS).unwrap(), 0);
    assert!(!a.interrupt());
    // Nothing was started: the memory saw no request.
    assert_eq!(a.mem().stats().read_bursts, 0);
    let ticks = a.ticks();
    assert!(ticks > 0);
    drop(a);
    let vcd: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(vcd.len(), 1, "{vcd:?}");
    let name = vcd[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("seedlm_accel_b3_l3_"), "{name}");
    let text = std::fs::read_to_string(&vcd[0]).unwrap();
    assert!(text.contains("m_axi_arvalid") && text.contains("s_axil_rdata"));
    std::fs::remove_dir_all(&dir).unwrap();
}
