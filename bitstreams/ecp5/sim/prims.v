// Simulation models of the two ECP5 primitives the board top uses beyond
// the engine's, for bitstreams/ecp5/sim.sh only (synthesis takes Yosys'
// own): EHXPLLL passes its input clock through and is always locked;
// DP16KD models what ecp5_mem.v uses of it, the 18-bit read-only port B
// through its output register, filled from INITVAL_xx (word i of INITVAL_k
// at bits [20i, 20i+18), as Yosys' brams_map_16kd.v lays it out).
`default_nettype none

module DP16KD (
    input wire DIA0, input wire DIA1, input wire DIA2, input wire DIA3, input wire DIA4,
    input wire DIA5, input wire DIA6, input wire DIA7, input wire DIA8, input wire DIA9,
    input wire DIA10, input wire DIA11, input wire DIA12, input wire DIA13, input wire DIA14,
    input wire DIA15, input wire DIA16, input wire DIA17, input wire ADA0, input wire ADA1,
    input wire ADA2, input wire ADA3, input wire ADA4, input wire ADA5, input wire ADA6,
    input wire ADA7, input wire ADA8, input wire ADA9, input wire ADA10, input wire ADA11,
    input wire ADA12, input wire ADA13, input wire CEA, input wire OCEA, input wire CLKA,
    input wire WEA, input wire RSTA, input wire CSA2, input wire CSA1, input wire CSA0,
    input wire DIB0, input wire DIB1, input wire DIB2, input wire DIB3, input wire DIB4,
    input wire DIB5, input wire DIB6, input wire DIB7, input wire DIB8, input wire DIB9,
    input wire DIB10, input wire DIB11, input wire DIB12, input wire DIB13, input wire DIB14,
    input wire DIB15, input wire DIB16, input wire DIB17, input wire ADB0, input wire ADB1,
    input wire ADB2, input wire ADB3, input wire ADB4, input wire ADB5, input wire ADB6,
    input wire ADB7, input wire ADB8, input wire ADB9, input wire ADB10, input wire ADB11,
    input wire ADB12, input wire ADB13, input wire CEB, input wire OCEB, input wire CLKB,
    input wire WEB, input wire RSTB, input wire CSB2, input wire CSB1, input wire CSB0,
    output wire DOA0, output wire DOA1, output wire DOA2, output wire DOA3, output wire DOA4,
    output wire DOA5, output wire DOA6, output wire DOA7, output wire DOA8, output wire DOA9,
    output wire DOA10, output wire DOA11, output wire DOA12, output wire DOA13, output wire DOA14,
    output wire DOA15, output wire DOA16, output wire DOA17, output wire DOB0, output wire DOB1,
    output wire DOB2, output wire DOB3, output wire DOB4, output wire DOB5, output wire DOB6,
    output wire DOB7, output wire DOB8, output wire DOB9, output wire DOB10, output wire DOB11,
    output wire DOB12, output wire DOB13, output wire DOB14, output wire DOB15, output wire DOB16,
    output wire DOB17
);
    parameter DATA_WIDTH_A = 18, DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG", REGMODE_B = "NOREG", RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC", CSDECODE_A = "0b000", CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL", WRITEMODE_B = "NORMAL", GSR = "ENABLED";
    parameter [319:0] INITVAL_00 = 0, INITVAL_01 = 0, INITVAL_02 = 0, INITVAL_03 = 0;
    parameter [319:0] INITVAL_04 = 0, INITVAL_05 = 0, INITVAL_06 = 0, INITVAL_07 = 0;
    parameter [319:0] INITVAL_08 = 0, INITVAL_09 = 0, INITVAL_0A = 0, INITVAL_0B = 0;
    parameter [319:0] INITVAL_0C = 0, INITVAL_0D = 0, INITVAL_0E = 0, INITVAL_0F = 0;
    parameter [319:0] INITVAL_10 = 0, INITVAL_11 = 0, INITVAL_12 = 0, INITVAL_13 = 0;
    parameter [319:0] INITVAL_14 = 0, INITVAL_15 = 0, INITVAL_16 = 0, INITVAL_17 = 0;
    parameter [319:0] INITVAL_18 = 0, INITVAL_19 = 0, INITVAL_1A = 0, INITVAL_1B = 0;
    parameter [319:0] INITVAL_1C = 0, INITVAL_1D = 0, INITVAL_1E = 0, INITVAL_1F = 0;
    parameter [319:0] INITVAL_20 = 0, INITVAL_21 = 0, INITVAL_22 = 0, INITVAL_23 = 0;
    parameter [319:0] INITVAL_24 = 0, INITVAL_25 = 0, INITVAL_26 = 0, INITVAL_27 = 0;
    parameter [319:0] INITVAL_28 = 0, INITVAL_29 = 0, INITVAL_2A = 0, INITVAL_2B = 0;
    parameter [319:0] INITVAL_2C = 0, INITVAL_2D = 0, INITVAL_2E = 0, INITVAL_2F = 0;
    parameter [319:0] INITVAL_30 = 0, INITVAL_31 = 0, INITVAL_32 = 0, INITVAL_33 = 0;
    parameter [319:0] INITVAL_34 = 0, INITVAL_35 = 0, INITVAL_36 = 0, INITVAL_37 = 0;
    parameter [319:0] INITVAL_38 = 0, INITVAL_39 = 0, INITVAL_3A = 0, INITVAL_3B = 0;
    parameter [319:0] INITVAL_3C = 0, INITVAL_3D = 0, INITVAL_3E = 0, INITVAL_3F = 0;
    wire [64 * 320 - 1:0] init = {
        INITVAL_3F, INITVAL_3E, INITVAL_3D, INITVAL_3C, INITVAL_3B, INITVAL_3A, INITVAL_39,
        INITVAL_38, INITVAL_37, INITVAL_36, INITVAL_35, INITVAL_34, INITVAL_33, INITVAL_32,
        INITVAL_31, INITVAL_30, INITVAL_2F, INITVAL_2E, INITVAL_2D, INITVAL_2C, INITVAL_2B,
        INITVAL_2A, INITVAL_29, INITVAL_28, INITVAL_27, INITVAL_26, INITVAL_25, INITVAL_24,
        INITVAL_23, INITVAL_22, INITVAL_21, INITVAL_20, INITVAL_1F, INITVAL_1E, INITVAL_1D,
        INITVAL_1C, INITVAL_1B, INITVAL_1A, INITVAL_19, INITVAL_18, INITVAL_17, INITVAL_16,
        INITVAL_15, INITVAL_14, INITVAL_13, INITVAL_12, INITVAL_11, INITVAL_10, INITVAL_0F,
        INITVAL_0E, INITVAL_0D, INITVAL_0C, INITVAL_0B, INITVAL_0A, INITVAL_09, INITVAL_08,
        INITVAL_07, INITVAL_06, INITVAL_05, INITVAL_04, INITVAL_03, INITVAL_02, INITVAL_01,
        INITVAL_00
    };
    reg [17:0] mem [0:1023];
    reg [17:0] q1 = 18'd0, q2 = 18'd0;
    integer i;
    initial for (i = 0; i < 1024; i = i + 1) mem[i] = init[(i / 16) * 320 + (i % 16) * 20 +: 18];
    wire [9:0] a = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4};
    always @(posedge CLKB) begin
        if (CEB) q1 <= mem[a];
        if (OCEB) q2 <= q1;
    end
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = q2;
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = 18'd0;
    wire unused_ok = &{1'b0, DIA0, DIA1, DIA2, DIA3, DIA4, DIA5, DIA6, DIA7, DIA8, DIA9, DIA10, DIA11, DIA12, DIA13, DIA14, DIA15, DIA16, DIA17, ADA0, ADA1, ADA2, ADA3, ADA4, ADA5, ADA6, ADA7, ADA8, ADA9, ADA10, ADA11, ADA12, ADA13, CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0, DIB0, DIB1, DIB2, DIB3, DIB4, DIB5, DIB6, DIB7, DIB8, DIB9, DIB10, DIB11, DIB12, DIB13, DIB14, DIB15, DIB16, DIB17, WEB, RSTB, CSB2, CSB1, CSB0, ADB3, ADB2, ADB1, ADB0};
endmodule

module EHXPLLL (
    input  wire CLKI, CLKFB, RST, STDBY, PHASESEL0, PHASESEL1, PHASEDIR, PHASESTEP,
    input  wire PHASELOADREG, PLLWAKESYNC, ENCLKOP,
    output wire CLKOP, CLKOS, CLKOS2, CLKOS3, LOCK, INTLOCK, REFCLK, CLKINTFB
);
    parameter PLLRST_ENA = "", INTFB_WAKE = "", STDBY_ENABLE = "", DPHASE_SOURCE = "";
    parameter OUTDIVIDER_MUXA = "", OUTDIVIDER_MUXB = "", OUTDIVIDER_MUXC = "", OUTDIVIDER_MUXD = "";
    parameter CLKI_DIV = 1, CLKOP_DIV = 1, CLKOP_CPHASE = 0, CLKOP_FPHASE = 0, CLKFB_DIV = 1;
    parameter CLKOP_ENABLE = "", FEEDBK_PATH = "";
    assign CLKOP = CLKI;
    assign LOCK = 1'b1;
    assign {CLKOS, CLKOS2, CLKOS3, INTLOCK, REFCLK, CLKINTFB} = 6'd0;
    wire unused_ok = &{1'b0, CLKFB, RST, STDBY, PHASESEL0, PHASESEL1, PHASEDIR, PHASESTEP,
                       PHASELOADREG, PLLWAKESYNC, ENCLKOP};
endmodule

`default_nettype wire
