// Device memory of the ECP5 board top (bitstreams/ecp5/ecp5_top.v): an
// AXI4 slave for `seedlm_accel`'s master.
//
// Reads: 1024 beats of DW bits in DW/16 DP16KDs (1024 x 18 each, 16 bits
// used), read-only, filled at configuration with a fixed pseudo-random
// pattern (`initval` below), so every tile word and activation the shell
// reads is a constant of the bitstream that synthesis cannot see through.
// Port B reads through its output register (REGMODE_B "OUTREG"): the
// DP16KD's clock-to-out without it (about 5.8 ns) would take most of a
// 150 MHz cycle. One burst at a time: AR is taken when the last burst's
// addresses are all issued, then one beat per cycle, two cycles from
// address to R; RREADY low stalls the whole pipeline (CEB and OCEB).
// Byte address bits [DB_BITS+9:DB_BITS] pick the beat (the map wraps).
//
// Writes are not stored: every W beat is accepted at once and the 16
// bytes its WSTRB selects (one result, seedlm::hw::shell's single-beat
// writes) leave on `res`/`res_valid` a cycle later, for the top to fold
// into its signature. B answers OKAY once both AW and W of a write are in.
// IDs: the shell issues every request with ID 0 (seedlm::hw::shell), so
// R carries the AR's ID and B answers with ID 0.
`default_nettype none

module ecp5_mem #(
    parameter DW = 256,     // AXI data bits (a multiple of 128)
    parameter ID_BITS = 1,
    parameter ADDR_BITS = 64
) (
    input  wire                 clk,
    input  wire                 rst,
    // AXI4 read address and data.
    input  wire [ID_BITS-1:0]   arid,
    input  wire [ADDR_BITS-1:0] araddr,
    input  wire [7:0]           arlen,
    input  wire                 arvalid,
    output wire                 arready,
    output wire [ID_BITS-1:0]   rid,
    output wire [DW-1:0]        rdata,
    output wire [1:0]           rresp,
    output wire                 rlast,
    output wire                 rvalid,
    input  wire                 rready,
    // AXI4 write address, data and response.
    input  wire                 awvalid,
    output wire                 awready,
    input  wire [DW-1:0]        wdata,
    input  wire [DW/8-1:0]      wstrb,
    input  wire                 wvalid,
    output wire                 wready,
    output wire [ID_BITS-1:0]   bid,
    output wire [1:0]           bresp,
    output wire                 bvalid,
    input  wire                 bready,
    // The 16 bytes of each accepted W beat that WSTRB selects.
    output reg  [127:0]         res,
    output reg                  res_valid
);
    localparam integer DB_BITS = $clog2(DW / 8);
    localparam integer EBRS = DW / 16;

    // Read side: address counter, then two pipeline stages (the DP16KD's
    // address register and its output register).
    reg        busy = 1'b0;
    reg [9:0]  raddr = 10'd0;
    reg [7:0]  left = 8'd0;
    reg [ID_BITS-1:0] id0 = 0, id1 = 0, id2 = 0;
    reg        v1 = 1'b0, v2 = 1'b0, l1 = 1'b0, l2 = 1'b0;
    wire       adv = !v2 || rready;
    assign arready = !busy;
    assign rvalid = v2;
    assign rlast = l2;
    assign rid = id2;
    assign rresp = 2'b00;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            v1 <= 1'b0;
            v2 <= 1'b0;
        end else begin
            if (arvalid && arready) begin
                busy <= 1'b1;
                raddr <= araddr[DB_BITS +: 10];
                left <= arlen;
                id0 <= arid;
            end else if (busy && adv) begin
                raddr <= raddr + 10'd1;
                left <= left - 8'd1;
                if (left == 8'd0) busy <= 1'b0;
            end
            if (adv) begin
                v1 <= busy;
                l1 <= busy && left == 8'd0;
                id1 <= id0;
                v2 <= v1;
                l2 <= l1;
                id2 <= id1;
            end
        end
    end

    // Word i of EBR e: a 32-bit integer hash of (i, e), low 16 bits. In
    // the 18-bit mode word i is INIT bits [18i, 18i+18) and INITVAL_k
    // holds words 16k..16k+15 at 20-bit steps (Yosys' brams_map_16kd.v).
    function [319:0] initval;
        input integer e;
        input integer k;
        integer i;
        reg [31:0] h;
        begin
            initval = 320'd0;
            for (i = 0; i < 16; i = i + 1) begin
                h = (k * 16 + i) * 32'h9E3779B1 ^ e * 32'h85EBCA77;
                h = h ^ (h >> 15);
                h = h * 32'h2C1B3C6D;
                h = h ^ (h >> 13);
                initval[i * 20 +: 16] = h[15:0];
            end
        end
    endfunction

    genvar g;
    generate
        for (g = 0; g < EBRS; g = g + 1) begin : ebr
            wire [15:0] dob;
            DP16KD #(
                .DATA_WIDTH_A(18), .DATA_WIDTH_B(18),
                .REGMODE_A("NOREG"), .REGMODE_B("OUTREG"),
                .RESETMODE("SYNC"), .ASYNC_RESET_RELEASE("SYNC"),
                .CSDECODE_A("0b000"), .CSDECODE_B("0b000"),
                .WRITEMODE_A("NORMAL"), .WRITEMODE_B("NORMAL"), .GSR("AUTO"),
                .INITVAL_00(initval(g, 0)), .INITVAL_01(initval(g, 1)), .INITVAL_02(initval(g, 2)),
                .INITVAL_03(initval(g, 3)), .INITVAL_04(initval(g, 4)), .INITVAL_05(initval(g, 5)),
                .INITVAL_06(initval(g, 6)), .INITVAL_07(initval(g, 7)), .INITVAL_08(initval(g, 8)),
                .INITVAL_09(initval(g, 9)), .INITVAL_0A(initval(g, 10)), .INITVAL_0B(initval(g, 11)),
                .INITVAL_0C(initval(g, 12)), .INITVAL_0D(initval(g, 13)), .INITVAL_0E(initval(g, 14)),
                .INITVAL_0F(initval(g, 15)), .INITVAL_10(initval(g, 16)), .INITVAL_11(initval(g, 17)),
                .INITVAL_12(initval(g, 18)), .INITVAL_13(initval(g, 19)), .INITVAL_14(initval(g, 20)),
                .INITVAL_15(initval(g, 21)), .INITVAL_16(initval(g, 22)), .INITVAL_17(initval(g, 23)),
                .INITVAL_18(initval(g, 24)), .INITVAL_19(initval(g, 25)), .INITVAL_1A(initval(g, 26)),
                .INITVAL_1B(initval(g, 27)), .INITVAL_1C(initval(g, 28)), .INITVAL_1D(initval(g, 29)),
                .INITVAL_1E(initval(g, 30)), .INITVAL_1F(initval(g, 31)), .INITVAL_20(initval(g, 32)),
                .INITVAL_21(initval(g, 33)), .INITVAL_22(initval(g, 34)), .INITVAL_23(initval(g, 35)),
                .INITVAL_24(initval(g, 36)), .INITVAL_25(initval(g, 37)), .INITVAL_26(initval(g, 38)),
                .INITVAL_27(initval(g, 39)), .INITVAL_28(initval(g, 40)), .INITVAL_29(initval(g, 41)),
                .INITVAL_2A(initval(g, 42)), .INITVAL_2B(initval(g, 43)), .INITVAL_2C(initval(g, 44)),
                .INITVAL_2D(initval(g, 45)), .INITVAL_2E(initval(g, 46)), .INITVAL_2F(initval(g, 47)),
                .INITVAL_30(initval(g, 48)), .INITVAL_31(initval(g, 49)), .INITVAL_32(initval(g, 50)),
                .INITVAL_33(initval(g, 51)), .INITVAL_34(initval(g, 52)), .INITVAL_35(initval(g, 53)),
                .INITVAL_36(initval(g, 54)), .INITVAL_37(initval(g, 55)), .INITVAL_38(initval(g, 56)),
                .INITVAL_39(initval(g, 57)), .INITVAL_3A(initval(g, 58)), .INITVAL_3B(initval(g, 59)),
                .INITVAL_3C(initval(g, 60)), .INITVAL_3D(initval(g, 61)), .INITVAL_3E(initval(g, 62)),
                .INITVAL_3F(initval(g, 63))
            ) ram (
                // Port A unused; port B reads word raddr (AD13..AD4 in the 18-bit mode).
                .CLKA(1'b0), .CEA(1'b0), .OCEA(1'b0), .RSTA(1'b0), .WEA(1'b0), .CSA0(1'b0),
                .CSA1(1'b0), .CSA2(1'b0), .ADA0(1'b0), .ADA1(1'b0), .ADA2(1'b0), .ADA3(1'b0),
                .ADA4(1'b0), .ADA5(1'b0), .ADA6(1'b0), .ADA7(1'b0), .ADA8(1'b0), .ADA9(1'b0),
                .ADA10(1'b0), .ADA11(1'b0), .ADA12(1'b0), .ADA13(1'b0), .DIA0(1'b0), .DIA1(1'b0),
                .DIA2(1'b0), .DIA3(1'b0), .DIA4(1'b0), .DIA5(1'b0), .DIA6(1'b0), .DIA7(1'b0),
                .DIA8(1'b0), .DIA9(1'b0), .DIA10(1'b0), .DIA11(1'b0), .DIA12(1'b0), .DIA13(1'b0),
                .DIA14(1'b0), .DIA15(1'b0), .DIA16(1'b0), .DIA17(1'b0), .CLKB(clk), .CEB(adv),
                .OCEB(adv), .RSTB(1'b0), .WEB(1'b0), .CSB0(1'b0), .CSB1(1'b0), .CSB2(1'b0),
                .ADB0(1'b0), .ADB1(1'b0), .ADB2(1'b0), .ADB3(1'b0), .ADB4(raddr[0]), .ADB5(raddr[1]),
                .ADB6(raddr[2]), .ADB7(raddr[3]), .ADB8(raddr[4]), .ADB9(raddr[5]), .ADB10(raddr[6]),
                .ADB11(raddr[7]), .ADB12(raddr[8]), .ADB13(raddr[9]), .DIB0(1'b0), .DIB1(1'b0),
                .DIB2(1'b0), .DIB3(1'b0), .DIB4(1'b0), .DIB5(1'b0), .DIB6(1'b0), .DIB7(1'b0),
                .DIB8(1'b0), .DIB9(1'b0), .DIB10(1'b0), .DIB11(1'b0), .DIB12(1'b0), .DIB13(1'b0),
                .DIB14(1'b0), .DIB15(1'b0), .DIB16(1'b0), .DIB17(1'b0), .DOB0(dob[0]), .DOB1(dob[1]),
                .DOB2(dob[2]), .DOB3(dob[3]), .DOB4(dob[4]), .DOB5(dob[5]), .DOB6(dob[6]),
                .DOB7(dob[7]), .DOB8(dob[8]), .DOB9(dob[9]), .DOB10(dob[10]), .DOB11(dob[11]),
                .DOB12(dob[12]), .DOB13(dob[13]), .DOB14(dob[14]), .DOB15(dob[15])
            );
            assign rdata[16 * g +: 16] = dob;
        end
    endgenerate

    // Write side: every AW and W is taken at once; B owed for each pair.
    reg [7:0] aw_owed = 8'd0, w_owed = 8'd0;
    wire b_fire = bvalid && bready;
    assign awready = 1'b1;
    assign wready = 1'b1;
    assign bvalid = aw_owed != 8'd0 && w_owed != 8'd0;
    assign bresp = 2'b00;
    assign bid = {ID_BITS{1'b0}};

    // The 16-byte group whose first strobe is set (one-hot for the shell).
    reg [127:0] sel;
    integer k;
    always @(*) begin
        sel = 128'd0;
        for (k = 0; k < DW / 128; k = k + 1)
            sel = sel | (wdata[128 * k +: 128] & {128{wstrb[16 * k]}});
    end

    always @(posedge clk) begin
        res <= sel;
        res_valid <= wvalid && !rst;
        if (rst) begin
            aw_owed <= 8'd0;
            w_owed <= 8'd0;
        end else begin
            aw_owed <= aw_owed + {7'd0, awvalid} - {7'd0, b_fire};
            w_owed <= w_owed + {7'd0, wvalid} - {7'd0, b_fire};
        end
    end
endmodule

`default_nettype wire
