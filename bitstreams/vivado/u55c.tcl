# Vivado flow for an Alveo U55C: the generated accelerator `seedlm_accel`
# (the engine behind its AXI shell, 4-bit, 16 lanes, 512-bit AXI master)
# behind XDMA, weights, activations and results in HBM.
#
# NOT RUN IN THIS REPOSITORY: it needs Vivado (written for 2023.2) with the
# Alveo U55C board files installed (board part xilinx.com:au55c:part0:1.*,
# from the Xilinx board store). CI only parses it (bitstreams/vivado/check.sh
# runs it under tclsh with every Vivado command stubbed) and lints the RTL
# wrapper together with the generated seedlm_accel.v with Verilator. Board
# interface names (pci_express, pcie_perstn, pcie_refclk, sysclk0) are those
# of the au55c board files; list them with `get_board_part_interfaces` if a
# Vivado release renames them. No pin is placed by hand: board automation
# takes every location from the board files.
#
# Block design:
#   XDMA (PCIe Gen3 x16, DMA mode, AXI-MM 512-bit, one H2C and one C2H
#   channel, AXI-Lite master; BAR0 = the AXI-Lite master, BAR1 = the DMA
#   engine's registers, PG195):
#     M_AXI_LITE (BAR0) -> SmartConnect -> seedlm_0/s_axil: every register of
#                          seedlm::hw (engine CSRs 0x000-0x0FF, shell from
#                          0x100), what the vfio backend maps as BAR0
#     M_AXI (H2C/C2H)   -> SmartConnect -> HBM: the host's path to device
#                          memory (tile streams once, activations in and
#                          results out per job), descriptors in host memory
#   seedlm_0/m_axi     -> same SmartConnect -> HBM: the shell reads tile and
#                          activation words and writes result words at device
#                          addresses 0 .. 16 GiB (MEM_BYTES, HBM at 0)
#   seedlm_0/usr_irq   -> XDMA usr_irq_req[0] (the shell's level interrupt)
#
# Host path: H2C/C2H descriptors rather than the DMA-bypass BAR window.
# Every job reads its result words back (16 bytes per output row: 680 KiB
# per Llama-2-7B block, 21 MiB per token); through a bypass BAR they are
# uncached MMIO reads, one non-posted round trip (about 1 us) per 8-64
# bytes, seconds per token, while C2H moves them at the DMA's rate (~12 GB/s
# on Gen3 x16). The vfio backend (host/src/device/vfio) drives the XDMA's
# channel 0 on BAR1: one descriptor per Device::write/read, the host side a
# buffer mapped through the IOMMU, the card side the HBM address.
#
# Engine, its SmartConnect side and the HBM port on a 300 MHz clock from a
# clocking wizard fed by the board's 100 MHz sysclk0 (the clock the
# performance model assumes); SmartConnect crosses to the XDMA's 250 MHz
# axi_aclk. One HBM pseudo-channel port (SAXI_00, 256-bit, its global
# switch on so it reaches all 16 GiB) feeds this one engine; the board
# model's 24 engines (host::perf::token::engines_for: 460 GB/s over 19.2 GB/s
# an engine) would take 24 ports and are not built here.
#
# Usage: cargo run --release --bin gen-rtl -- --bits 4 --lanes 16 --out RTL_DIR
#        vivado -mode batch -source bitstreams/vivado/u55c.tcl -tclargs RTL_DIR OUT_DIR

set script_dir [file dirname [file normalize [info script]]]
if {[llength $argv] >= 2} {
    set rtl_dir [lindex $argv 0]
    set out_dir [lindex $argv 1]
} else {
    set rtl_dir [file join $script_dir rtl]
    set out_dir [file join $script_dir build]
}

create_project seedlm_u55c $out_dir -part xcu55c-fsvh2892-2L-e -force
set_property board_part xilinx.com:au55c:part0:1.0 [current_project]
add_files -norecurse [list [file join $rtl_dir seedlm_accel.v] [file join $script_dir seedlm_axi.v]]
add_files -fileset constrs_1 -norecurse [file join $script_dir .. .. constraints u55c u55c.xdc]
update_compile_order -fileset sources_1

create_bd_design seedlm

# PCIe DMA shell: XDMA, with the board's PCIe lanes, reference clock and PERST#.
create_bd_cell -type ip -vlnv xilinx.com:ip:xdma:4.1 xdma_0
apply_bd_automation -rule xilinx.com:bd_rule:xdma -config {
    accel {0} auto_level {IP Level} axi_clk {Maximum Data Width}
    axi_intf {AXI Memory Mapped} bar_size {Disable} bypass_size {Disable}
    c2h {1} cache_size {32k} h2c {1} lane_width {X16}
    link_speed {8.0 GT/s (PCIe Gen 3)}
} [get_bd_cells xdma_0]
set_property -dict [list \
    CONFIG.functional_mode {DMA} \
    CONFIG.pl_link_cap_max_link_width {X16} \
    CONFIG.pl_link_cap_max_link_speed {8.0_GT/s} \
    CONFIG.axi_data_width {512_bit} \
    CONFIG.axi_addr_width {64} \
    CONFIG.axilite_master_en {true} \
    CONFIG.axilite_master_size {64} \
    CONFIG.axilite_master_scale {Kilobytes} \
    CONFIG.axi_bypass_en {false} \
    CONFIG.xdma_rnum_chnl {1} \
    CONFIG.xdma_wnum_chnl {1} \
    CONFIG.xdma_num_usr_irq {1} \
] [get_bd_cells xdma_0]
apply_board_connection -board_interface pci_express -ip_intf xdma_0/pcie_mgt -diagram seedlm
apply_board_connection -board_interface pcie_perstn -ip_intf xdma_0/RST.sys_rst_n -diagram seedlm

# 300 MHz user clock from the board's 100 MHz system clock.
create_bd_cell -type ip -vlnv xilinx.com:ip:clk_wiz:6.0 clk_wiz_0
apply_board_connection -board_interface sysclk0 -ip_intf clk_wiz_0/clock_CLK_IN1 -diagram seedlm
set_property -dict [list CONFIG.CLKOUT1_REQUESTED_OUT_FREQ {300.000} CONFIG.USE_RESET {false}] [get_bd_cells clk_wiz_0]
create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 rst_300
connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins rst_300/slowest_sync_clk]
connect_bd_net [get_bd_pins clk_wiz_0/locked] [get_bd_pins rst_300/dcm_locked]
connect_bd_net [get_bd_pins xdma_0/axi_aresetn] [get_bd_pins rst_300/ext_reset_in]

# HBM: both stacks (16 GiB), port SAXI_00 on the 300 MHz clock with the
# global switch on (one port reaches every pseudo-channel); its reference
# clock from the same 100 MHz board clock.
create_bd_cell -type ip -vlnv xilinx.com:ip:hbm:1.0 hbm_0
set_property -dict [list \
    CONFIG.USER_HBM_DENSITY {16GB} \
    CONFIG.USER_HBM_STACK {2} \
    CONFIG.USER_MEMORY_DISPLAY {16384} \
    CONFIG.USER_SWITCH_ENABLE_00 {TRUE} \
    CONFIG.USER_SWITCH_ENABLE_01 {TRUE} \
    CONFIG.USER_SAXI_00 {true} \
    CONFIG.USER_APB_EN {false} \
] [get_bd_cells hbm_0]
connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins hbm_0/AXI_00_ACLK]
connect_bd_net [get_bd_pins rst_300/peripheral_aresetn] [get_bd_pins hbm_0/AXI_00_ARESET_N]
connect_bd_net [get_bd_pins clk_wiz_0/clk_in1] [get_bd_pins hbm_0/HBM_REF_CLK_0]
connect_bd_net [get_bd_pins clk_wiz_0/clk_in1] [get_bd_pins hbm_0/HBM_REF_CLK_1]

# The accelerator (RTL module reference: seedlm_axi.v around the generated
# seedlm_accel.v; its s_axil and m_axi ports are inferred as AXI interfaces).
create_bd_cell -type module -reference seedlm_axi seedlm_0

# Memory path: the host's DMA and the shell's master into HBM.
create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 sc_mem
set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1} CONFIG.NUM_CLKS {2}] [get_bd_cells sc_mem]
connect_bd_intf_net [get_bd_intf_pins xdma_0/M_AXI] [get_bd_intf_pins sc_mem/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins seedlm_0/m_axi] [get_bd_intf_pins sc_mem/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_mem/M00_AXI] [get_bd_intf_pins hbm_0/SAXI_00]

# Control path: the XDMA's AXI-Lite master (BAR0) on the shell's registers.
create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 sc_ctl
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1} CONFIG.NUM_CLKS {2}] [get_bd_cells sc_ctl]
connect_bd_intf_net [get_bd_intf_pins xdma_0/M_AXI_LITE] [get_bd_intf_pins sc_ctl/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_ctl/M00_AXI] [get_bd_intf_pins seedlm_0/s_axil]

# Interrupt: the shell's irq, synchronised to axi_aclk in the wrapper.
connect_bd_net [get_bd_pins xdma_0/axi_aclk] [get_bd_pins seedlm_0/irq_clk]
connect_bd_net [get_bd_pins seedlm_0/usr_irq] [get_bd_pins xdma_0/usr_irq_req]

# Clocks and resets: XDMA side on axi_aclk, the rest on 300 MHz.
foreach sc {sc_mem sc_ctl} {
    connect_bd_net [get_bd_pins xdma_0/axi_aclk] [get_bd_pins $sc/aclk]
    connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins $sc/aclk1]
    connect_bd_net [get_bd_pins xdma_0/axi_aresetn] [get_bd_pins $sc/aresetn]
}
connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins seedlm_0/aclk]
connect_bd_net [get_bd_pins rst_300/peripheral_aresetn] [get_bd_pins seedlm_0/aresetn]

# Addresses: HBM at 0 for both masters (the shell's MEM_BYTES = 16 GiB from
# device address 0, seedlm::hw::shell); the registers at 0 of BAR0.
assign_bd_address
foreach master {xdma_0/M_AXI seedlm_0/m_axi} {
    set seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces $master] -filter {NAME =~ *HBM_MEM00*}]
    set_property offset 0x0 $seg
    set_property range 16G $seg
}
set_property offset 0x0 [get_bd_addr_segs {xdma_0/M_AXI_LITE/SEG_seedlm_0_reg0}]
set_property range 4K [get_bd_addr_segs {xdma_0/M_AXI_LITE/SEG_seedlm_0_reg0}]

validate_bd_design
save_bd_design
set wrapper [make_wrapper -files [get_files seedlm.bd] -top]
add_files -norecurse $wrapper
set_property top seedlm_wrapper [current_fileset]

launch_runs synth_1 -jobs 8
wait_on_run synth_1
launch_runs impl_1 -to_step write_bitstream -jobs 8
wait_on_run impl_1
open_run impl_1
report_utilization -file [file join $out_dir utilization.rpt]
report_timing_summary -file [file join $out_dir timing.rpt]
puts "bitstream: [file join $out_dir seedlm_u55c.runs impl_1 seedlm_wrapper.bit]"
