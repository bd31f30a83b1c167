# Vivado flow for an Alveo U55C: the generated SeedLM engine behind a PCIe
# DMA shell, weights in HBM.
#
# NOT RUN IN THIS REPOSITORY: it needs Vivado (written for 2023.2) with the
# Alveo U55C board files installed (board part xilinx.com:au55c:part0:1.*,
# from the Xilinx board store). CI only parses it (bitstreams/vivado/check.sh
# runs it under tclsh with every Vivado command stubbed) and lints the RTL
# wrapper with Verilator. Board interface names (pci_express, pcie_perstn,
# pcie_refclk, sysclk0) are those of the au55c board files; list them with
# `get_board_part_interfaces` if a Vivado release renames them. No pin is
# placed by hand: board automation takes every location from the board files.
#
# Block design:
#   XDMA (PCIe Gen3 x16, AXI-MM, 512-bit, AXI-Lite master on BAR)
#     M_AXI      -> SmartConnect -> HBM SAXI_00   (host writes the tile
#                                                  stream once, reads results)
#     M_AXI_LITE -> SmartConnect -> AXI DMA registers, seedlm_axi CSRs and
#                                   activation memory
#   AXI DMA (simple mode): MM2S reads tile words from HBM as a 512-bit
#     AXI4-Stream into seedlm_axi (the engine, 16 lanes of 4-bit blocks);
#     S2MM writes the 128-bit result stream back to HBM.
#   Engine, DMA and HBM port on a 300 MHz clock from a clocking wizard fed by
#   the board's 100 MHz sysclk0 (the clock the performance model assumes);
#   SmartConnect crosses to the XDMA's 250 MHz axi_aclk.
#
# Usage: cargo run --release --bin gen-rtl -- --top engine --bits 4 --lanes 16 --out RTL_DIR
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
add_files -norecurse [list [file join $rtl_dir seedlm_engine.v] [file join $script_dir seedlm_axi.v]]
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
    CONFIG.pl_link_cap_max_link_width {X16} \
    CONFIG.pl_link_cap_max_link_speed {8.0_GT/s} \
    CONFIG.axi_data_width {512_bit} \
    CONFIG.axilite_master_en {true} \
    CONFIG.axilite_master_size {1} \
    CONFIG.axilite_master_scale {Megabytes} \
    CONFIG.xdma_rnum_chnl {1} \
    CONFIG.xdma_wnum_chnl {1} \
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

# HBM: one stack, port SAXI_00 on the 300 MHz clock; its reference clock
# from the same 100 MHz board clock.
create_bd_cell -type ip -vlnv xilinx.com:ip:hbm:1.0 hbm_0
set_property -dict [list \
    CONFIG.USER_HBM_DENSITY {16GB} \
    CONFIG.USER_HBM_STACK {2} \
    CONFIG.USER_MEMORY_DISPLAY {8192} \
    CONFIG.USER_SWITCH_ENABLE_00 {TRUE} \
    CONFIG.USER_SAXI_00 {true} \
    CONFIG.USER_APB_EN {false} \
] [get_bd_cells hbm_0]
connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins hbm_0/AXI_00_ACLK]
connect_bd_net [get_bd_pins rst_300/peripheral_aresetn] [get_bd_pins hbm_0/AXI_00_ARESET_N]
connect_bd_net [get_bd_pins clk_wiz_0/clk_in1] [get_bd_pins hbm_0/HBM_REF_CLK_0]

# The engine (RTL module reference) and the DMA that feeds it.
create_bd_cell -type module -reference seedlm_axi seedlm_0
create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 dma_0
set_property -dict [list \
    CONFIG.c_include_sg {0} \
    CONFIG.c_sg_length_width {26} \
    CONFIG.c_m_axi_mm2s_data_width {512} \
    CONFIG.c_m_axis_mm2s_tdata_width {512} \
    CONFIG.c_mm2s_burst_size {64} \
    CONFIG.c_m_axi_s2mm_data_width {128} \
    CONFIG.c_s_axis_s2mm_tdata_width {128} \
    CONFIG.c_s2mm_burst_size {64} \
    CONFIG.c_addr_width {64} \
] [get_bd_cells dma_0]
connect_bd_intf_net [get_bd_intf_pins dma_0/M_AXIS_MM2S] [get_bd_intf_pins seedlm_0/s_axis_blk]
connect_bd_intf_net [get_bd_intf_pins seedlm_0/m_axis_res] [get_bd_intf_pins dma_0/S_AXIS_S2MM]

# Memory path: host DMA and both DMA channels into HBM.
create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 sc_mem
set_property -dict [list CONFIG.NUM_SI {3} CONFIG.NUM_MI {1} CONFIG.NUM_CLKS {2}] [get_bd_cells sc_mem]
connect_bd_intf_net [get_bd_intf_pins xdma_0/M_AXI] [get_bd_intf_pins sc_mem/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins dma_0/M_AXI_MM2S] [get_bd_intf_pins sc_mem/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins dma_0/M_AXI_S2MM] [get_bd_intf_pins sc_mem/S02_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_mem/M00_AXI] [get_bd_intf_pins hbm_0/SAXI_00]

# Control path: the XDMA's AXI-Lite master to the DMA and engine registers.
create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 sc_ctl
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {2} CONFIG.NUM_CLKS {2}] [get_bd_cells sc_ctl]
connect_bd_intf_net [get_bd_intf_pins xdma_0/M_AXI_LITE] [get_bd_intf_pins sc_ctl/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_ctl/M00_AXI] [get_bd_intf_pins dma_0/S_AXI_LITE]
connect_bd_intf_net [get_bd_intf_pins sc_ctl/M01_AXI] [get_bd_intf_pins seedlm_0/s_axil]

# Clocks and resets: XDMA side on axi_aclk, the rest on 300 MHz.
foreach sc {sc_mem sc_ctl} {
    connect_bd_net [get_bd_pins xdma_0/axi_aclk] [get_bd_pins $sc/aclk]
    connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins $sc/aclk1]
    connect_bd_net [get_bd_pins xdma_0/axi_aresetn] [get_bd_pins $sc/aresetn]
}
foreach pin {dma_0/s_axi_lite_aclk dma_0/m_axi_mm2s_aclk dma_0/m_axi_s2mm_aclk seedlm_0/aclk} {
    connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins $pin]
}
foreach pin {dma_0/axi_resetn seedlm_0/aresetn} {
    connect_bd_net [get_bd_pins rst_300/peripheral_aresetn] [get_bd_pins $pin]
}

# Addresses: HBM at 0 in the host DMA's space; registers on the BAR.
assign_bd_address
set_property offset 0x00000 [get_bd_addr_segs {xdma_0/M_AXI_LITE/SEG_dma_0_Reg}]
set_property range 64K [get_bd_addr_segs {xdma_0/M_AXI_LITE/SEG_dma_0_Reg}]
set_property offset 0x80000 [get_bd_addr_segs {xdma_0/M_AXI_LITE/SEG_seedlm_0_reg0}]
set_property range 128K [get_bd_addr_segs {xdma_0/M_AXI_LITE/SEG_seedlm_0_reg0}]

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
