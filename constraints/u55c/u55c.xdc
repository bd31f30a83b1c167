# Alveo U55C (xcu55c-fsvh2892-2L-e): constraints of bitstreams/vivado/u55c.tcl.
#
# Pins: none here. Every location (PCIe lanes and reference clock, PERST#,
# the 100 MHz sysclk0, the HBM reference clock) comes from the au55c board
# files through board automation (apply_board_connection); the flow places
# no pin by hand, so this file invents none.
#
# Clocks: none created here either. The PCIe reference clock (100 MHz) is
# constrained by the XDMA IP, the board clock (100 MHz) by the clocking
# wizard's own XDC, and the 300 MHz user clock of the accelerator
# and the HBM port is a generated clock of that wizard (period 3.333 ns),
# so Vivado derives it. The performance model (host/src/perf/board.rs)
# assumes the same 300 MHz.
#
# Configuration: the settings of the U55C master XDC shipped with the card's
# documentation (quad SPI flash at 63.8 MHz, 1.8 V configuration bank).

set_property CONFIG_VOLTAGE 1.8 [current_design]
set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
set_property CONFIG_MODE SPIx4 [current_design]
set_property BITSTREAM.CONFIG.SPI_BUSWIDTH 4 [current_design]
set_property BITSTREAM.CONFIG.CONFIGRATE 63.8 [current_design]
set_property BITSTREAM.CONFIG.EXTMASTERCCLK_EN disable [current_design]
set_property BITSTREAM.CONFIG.SPI_FALL_EDGE YES [current_design]
set_property BITSTREAM.CONFIG.UNUSEDPIN Pullup [current_design]
set_property BITSTREAM.CONFIG.SPI_32BIT_ADDR Yes [current_design]

# PERST# from the PCIe slot is asynchronous to every clock of the design
# (as in the XDMA example designs).
set_false_path -from [get_ports pcie_perstn]
