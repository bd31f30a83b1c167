// Board top for the open ECP5 flow (bitstreams/ecp5.sh): the whole
// generated accelerator `seedlm_accel` (shell + engine, 4-bit, LANES
// lanes) on a ULX3S 85F (LFE5U-85F-6BG381C), clocked at 150 MHz by the
// ECP5 PLL (EHXPLLL) from the board's 25 MHz oscillator.
//
//   - A power-on reset holds everything until the PLL has locked and 16
//     cycles after.
//   - The shell's AXI4 master is served by `ecp5_mem` (ecp5_mem.v): a
//     block-RAM memory of 1024 beats, read-only, holding a fixed
//     pseudo-random pattern that the shell reads as tile words (first
//     half) and activation words (second half); result writes go to the
//     addresses above it and are folded into a signature instead of stored.
//   - A small FSM is the host on the AXI4-Lite port: it writes the job
//     registers (ROWS, COL_BLOCKS, TILE_ADDR, TILE_WORDS, ACT_ADDR,
//     RES_ADDR, BATCH), writes START, waits for `irq`, reads JOB_CYCLES_LO
//     and SHELL_STATUS, and starts again, forever.
//   - Every result written and every register read goes into a 128-bit
//     signature register (MISR, a CRC taken 128 bits per cycle), XOR-folded
//     onto the 8 LEDs, so nothing the engine computes can be optimised away.
// This is a synthesis and place-and-route harness, not a useful design.
//
// Register offsets, control bits, LANES, the AXI widths and the memory
// strides come from ecp5_accel.vh, which ecp5.sh writes from the manifest
// gen-rtl puts beside seedlm_accel.v (seedlm::hw defines them once).
`default_nettype none

module ecp5_top (
    input  wire       clk_25mhz, // 25 MHz board oscillator
    output wire [7:0] led        // XOR fold of the signature of every result
);
`include "ecp5_accel.vh"
    localparam integer DB = AXI_DATA_BITS / 8;          // bytes per beat
    localparam integer RAM_BYTES = DB * 1024;           // ecp5_mem's read memory
    localparam integer COLS = 64;                       // column blocks per job
    // Tiles fill the first half of the memory exactly.
    localparam integer TILES = RAM_BYTES / 2 / (COLS * TILE_STRIDE);
    localparam integer ROWS = TILES * LANES;
    localparam integer TILE_WORDS = TILES * COLS;
    localparam integer ACT_BASE = RAM_BYTES / 2;        // COLS x ACT_STRIDE bytes
    localparam integer RES_BASE = RAM_BYTES;            // ROWS x RESULT_STRIDE bytes
    localparam [63:0] MEM_BYTES = 2 * RAM_BYTES;

    // 150 MHz from the 25 MHz oscillator: VCO 600 MHz = 25 x CLKFB_DIV 6,
    // CLKOP = VCO / 4 (parameters from Project Trellis' ecppll -i 25 -o 150).
    wire clk, locked;
    (* FREQUENCY_PIN_CLKI="25" *)
    (* FREQUENCY_PIN_CLKOP="150" *)
    (* ICP_CURRENT="12" *) (* LPF_RESISTOR="8" *) (* MFG_ENABLE_FILTEROPAMP="1" *) (* MFG_GMCREF_SEL="2" *)
    EHXPLLL #(
        .PLLRST_ENA("DISABLED"), .INTFB_WAKE("DISABLED"), .STDBY_ENABLE("DISABLED"),
        .DPHASE_SOURCE("DISABLED"), .OUTDIVIDER_MUXA("DIVA"), .OUTDIVIDER_MUXB("DIVB"),
        .OUTDIVIDER_MUXC("DIVC"), .OUTDIVIDER_MUXD("DIVD"), .CLKI_DIV(1),
        .CLKOP_ENABLE("ENABLED"), .CLKOP_DIV(4), .CLKOP_CPHASE(2), .CLKOP_FPHASE(0),
        .FEEDBK_PATH("CLKOP"), .CLKFB_DIV(6)
    ) pll (
        .RST(1'b0), .STDBY(1'b0), .CLKI(clk_25mhz), .CLKOP(clk), .CLKFB(clk),
        .CLKINTFB(), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b1),
        .PHASESTEP(1'b1), .PHASELOADREG(1'b1), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0),
        .LOCK(locked)
    );

    // Power-on reset, held until the PLL has locked.
    reg [4:0] por = 5'd0;
    reg rst = 1'b1;
    always @(posedge clk) begin
        if (!locked) por <= 5'd0; else if (!por[4]) por <= por + 5'd1;
        rst <= !por[4];
    end

    // The host FSM: one AXI4-Lite access per step, in this order.
    localparam [3:0] OP_WAIT = 4'd11, OP_LAST = 4'd13;
    reg [3:0] op = 4'd0;
    reg op_read;
    reg [AXIL_ADDR_BITS-1:0] op_addr;
    reg [31:0] op_data;
    always @(*) begin
        op_read = 1'b0;
        op_data = 32'd0;
        case (op)
            4'd0:  begin op_addr = R_ROWS;         op_data = ROWS; end
            4'd1:  begin op_addr = R_COL_BLOCKS;   op_data = COLS; end
            4'd2:  begin op_addr = R_TILE_ADDR_LO; op_data = 32'd0; end
            4'd3:  begin op_addr = R_TILE_ADDR_HI; op_data = 32'd0; end
            4'd4:  begin op_addr = R_TILE_WORDS;   op_data = TILE_WORDS; end
            4'd5:  begin op_addr = R_ACT_ADDR_LO;  op_data = ACT_BASE; end
            4'd6:  begin op_addr = R_ACT_ADDR_HI;  op_data = 32'd0; end
            4'd7:  begin op_addr = R_RES_ADDR_LO;  op_data = RES_BASE; end
            4'd8:  begin op_addr = R_RES_ADDR_HI;  op_data = 32'd0; end
            4'd9:  begin op_addr = R_BATCH;        op_data = 32'd1; end
            4'd10: begin op_addr = R_SHELL_CTRL;   op_data = CTRL_START; end
            4'd12: begin op_addr = R_JOB_CYCLES_LO; op_read = 1'b1; end
            default: begin op_addr = R_SHELL_STATUS; op_read = 1'b1; end
        endcase
    end

    // Address and data registered: a step's request goes out at least one
    // edge after `op` moved to it, and the shell decodes them straight away.
    reg [AXIL_ADDR_BITS-1:0] axil_addr = 0;
    reg [31:0] axil_wdata = 32'd0;
    always @(posedge clk) begin
        axil_addr <= op_addr;
        axil_wdata <= op_data;
    end

    wire irq;
    wire axil_awready, axil_wready, axil_bvalid, axil_arready, axil_rvalid;
    wire [1:0] axil_bresp, axil_rresp;
    wire [31:0] axil_rdata;
    reg axil_awvalid = 1'b0, axil_arvalid = 1'b0, pending = 1'b0;
    always @(posedge clk) begin
        if (rst) begin
            op <= 4'd0;
            axil_awvalid <= 1'b0;
            axil_arvalid <= 1'b0;
            pending <= 1'b0;
        end else begin
            // The shell takes AW and W together (AWREADY = WREADY).
            if (axil_awvalid && axil_awready) axil_awvalid <= 1'b0;
            if (axil_arvalid && axil_arready) axil_arvalid <= 1'b0;
            if (pending) begin
                if (axil_bvalid || axil_rvalid) begin
                    pending <= 1'b0;
                    op <= op == OP_LAST ? 4'd0 : op + 4'd1;
                end
            end else if (op == OP_WAIT) begin
                if (irq) op <= op + 4'd1;
            end else begin
                pending <= 1'b1;
                if (op_read) axil_arvalid <= 1'b1; else axil_awvalid <= 1'b1;
            end
        end
    end

    // AXI4 master <-> ecp5_mem.
    wire [AXI_ID_BITS-1:0] awid, bid, arid, rid;
    wire [AXI_ADDR_BITS-1:0] awaddr, araddr;
    wire [7:0] awlen, arlen;
    wire [2:0] awsize, arsize, awprot, arprot;
    wire [1:0] awburst, arburst, bresp, rresp;
    wire [3:0] awcache, arcache;
    wire awlock, arlock, awvalid, awready, wlast, wvalid, wready, bvalid, bready;
    wire arvalid, arready, rlast, rvalid, rready;
    wire [AXI_DATA_BITS-1:0] wdata, rdata;
    wire [AXI_DATA_BITS/8-1:0] wstrb;
    wire [127:0] res;
    wire res_valid;

    seedlm_accel #(.MEM_BYTES(MEM_BYTES)) accel (
        .aclk(clk), .aresetn(!rst),
        .s_axil_awaddr(axil_addr), .s_axil_awprot(3'd0), .s_axil_awvalid(axil_awvalid),
        .s_axil_awready(axil_awready), .s_axil_wdata(axil_wdata), .s_axil_wstrb(4'hF),
        .s_axil_wvalid(axil_awvalid), .s_axil_wready(axil_wready), .s_axil_bresp(axil_bresp),
        .s_axil_bvalid(axil_bvalid), .s_axil_bready(1'b1), .s_axil_araddr(axil_addr),
        .s_axil_arprot(3'd0), .s_axil_arvalid(axil_arvalid), .s_axil_arready(axil_arready),
        .s_axil_rdata(axil_rdata), .s_axil_rresp(axil_rresp), .s_axil_rvalid(axil_rvalid),
        .s_axil_rready(1'b1),
        .m_axi_awid(awid), .m_axi_awaddr(awaddr), .m_axi_awlen(awlen), .m_axi_awsize(awsize),
        .m_axi_awburst(awburst), .m_axi_awlock(awlock), .m_axi_awcache(awcache),
        .m_axi_awprot(awprot), .m_axi_awvalid(awvalid), .m_axi_awready(awready),
        .m_axi_wdata(wdata), .m_axi_wstrb(wstrb), .m_axi_wlast(wlast), .m_axi_wvalid(wvalid),
        .m_axi_wready(wready), .m_axi_bid(bid), .m_axi_bresp(bresp), .m_axi_bvalid(bvalid),
        .m_axi_bready(bready), .m_axi_arid(arid), .m_axi_araddr(araddr), .m_axi_arlen(arlen),
        .m_axi_arsize(arsize), .m_axi_arburst(arburst), .m_axi_arlock(arlock),
        .m_axi_arcache(arcache), .m_axi_arprot(arprot), .m_axi_arvalid(arvalid),
        .m_axi_arready(arready), .m_axi_rid(rid), .m_axi_rdata(rdata), .m_axi_rresp(rresp),
        .m_axi_rlast(rlast), .m_axi_rvalid(rvalid), .m_axi_rready(rready),
        .irq(irq)
    );

    ecp5_mem #(.DW(AXI_DATA_BITS), .ID_BITS(AXI_ID_BITS), .ADDR_BITS(AXI_ADDR_BITS)) mem (
        .clk(clk), .rst(rst),
        .arid(arid), .araddr(araddr), .arlen(arlen), .arvalid(arvalid), .arready(arready),
        .rid(rid), .rdata(rdata), .rresp(rresp), .rlast(rlast), .rvalid(rvalid), .rready(rready),
        .awvalid(awvalid), .awready(awready), .wdata(wdata), .wstrb(wstrb), .wvalid(wvalid),
        .wready(wready), .bid(bid), .bresp(bresp), .bvalid(bvalid), .bready(bready),
        .res(res), .res_valid(res_valid)
    );

    // Signature of every result and every register read: a 128-bit MISR
    // (multiple-input signature register: a Galois LFSR with polynomial
    // x^128 + x^7 + x^2 + x + 1, the input word XORed into every stage, a
    // CRC computed 128 bits at a time), one LUT level per bit. Its input
    // is registered, and its fold onto the LEDs takes two registered steps
    // (128 -> 32 -> 8 bits).
    localparam [127:0] MISR_POLY = 128'h87;
    reg [127:0] misr_in = 128'd0;
    reg [127:0] misr = 128'd0;
    reg [31:0] fold32 = 32'd0;
    reg [7:0] fold = 8'd0;
    integer f;
    always @(posedge clk) begin
        misr_in <= (res_valid ? res : 128'd0) ^ {96'd0, axil_rvalid ? axil_rdata : 32'd0};
        misr <= {misr[126:0], 1'b0} ^ ({128{misr[127]}} & MISR_POLY) ^ misr_in;
        for (f = 0; f < 32; f = f + 1)
            fold32[f] <= misr[f] ^ misr[32 + f] ^ misr[64 + f] ^ misr[96 + f];
        fold <= fold32[7:0] ^ fold32[15:8] ^ fold32[23:16] ^ fold32[31:24];
    end
    assign led = fold;

    // Ports the harness has no use for (responses are always OKAY here).
    wire unused_ok = &{1'b0, awid, awaddr, awlen, awsize, awburst, awlock, awcache, awprot,
                       wlast, arsize, arburst, arlock, arcache, arprot, axil_bresp, axil_rresp};
endmodule

`default_nettype wire
