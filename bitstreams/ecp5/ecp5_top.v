// Board top for the open ECP5 flow (bitstreams/ecp5.sh): the generated
// `seedlm_engine` (4-bit configuration, LANES lanes, default 1) on a
// ULX3S 85F (LFE5U-85F-6BG381C), clocked at 150 MHz by the ECP5 PLL
// (EHXPLLL) from the board's 25 MHz oscillator.
//
// The engine's ports (a 32-bit block stream, a 104-bit result stream, a
// 128-bit activation write port, the CSR port) are wider than the board's
// pins, so they are driven and consumed on chip:
//   - a power-on reset holds the engine in reset until the PLL has locked
//     and 16 cycles after;
//   - the activation memory is filled with COLS words from a 32-bit
//     Galois LFSR (PRBS), then ROWS and COL_BLOCKS are written and START
//     is issued through the CSR port;
//   - block words come from the same PRBS, advanced on every accepted beat;
//     lane l gets it rotated by 3l bits and XORed with a constant of its
//     own, so that no two lanes see equal inputs (synthesis would merge
//     them);
//   - every result (accumulator and row) and the CYCLES register are
//     XOR-folded into 8 bits shown on the LEDs, so no result bit can be
//     optimised away; after ROWS results the run is restarted.
// This is a synthesis and place-and-route harness, not a useful design:
// its LED pattern is only the XOR of the results.
//
// Widths below are those of `gen-rtl --bits 4 --lanes LANES` (see the
// manifest written beside seedlm_engine.v); ecp5.sh sets LANES with
// `chparam`.
`default_nettype none

module ecp5_top #(
    parameter LANES = 1
) (
    input  wire       clk_25mhz, // 25 MHz board oscillator
    output wire [7:0] led        // XOR fold of the results
);
    localparam TILE_W = 32 * LANES; // s_blk_tdata: LANES x 32-bit block words
    localparam RES_W  = 104;     // m_res_tdata: 72-bit accumulator + 32-bit row
    localparam ROWS   = 64;      // rows per run
    localparam COLS   = 64;      // column blocks per run (<= activation depth)

    // CSR offsets (seedlm::hw).
    localparam [7:0] CSR_CTRL = 8'h00, CSR_ROWS = 8'h08, CSR_COL_BLOCKS = 8'h0C,
                     CSR_CYCLES_LO = 8'h10;

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
    wire rst = ~por[4];
    always @(posedge clk) if (!locked) por <= 5'd0; else if (rst) por <= por + 5'd1;

    // 32-bit Galois LFSR, taps x^32 + x^22 + x^2 + x + 1.
    reg [31:0] prbs = 32'h1;
    wire [31:0] prbs_next = {1'b0, prbs[31:1]} ^ (prbs[0] ? 32'h80200003 : 32'h0);

    // Control sequence.
    localparam S_ACT = 3'd0, S_ROWS = 3'd1, S_COLS = 3'd2, S_START = 3'd3,
               S_RUN = 3'd4;
    reg [2:0]  state = S_ACT;
    reg [11:0] addr = 12'd0;
    reg [15:0] results = 16'd0;

    reg        act_we;
    reg [7:0]  csr_addr;
    reg [31:0] csr_wdata;
    reg        csr_we, csr_re;

    wire [TILE_W-1:0] s_blk_tdata;
    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : lane_words
            wire [63:0] twice = {prbs, prbs};
            assign s_blk_tdata[32 * l +: 32] = twice[(3 * l) % 32 +: 32] ^ (32'h9e3779b9 * l);
        end
    endgenerate
    wire              s_blk_tvalid = (state == S_RUN);
    wire              s_blk_tready;
    wire [RES_W-1:0]  m_res_tdata;
    wire              m_res_tvalid;
    wire [31:0]       csr_rdata;
    wire              csr_rvalid;

    always @(*) begin
        act_we = 1'b0; csr_we = 1'b0; csr_re = 1'b0;
        csr_addr = CSR_CYCLES_LO; csr_wdata = 32'd0;
        case (state)
            S_ACT:   act_we = 1'b1;
            S_ROWS:  begin csr_we = 1'b1; csr_addr = CSR_ROWS;       csr_wdata = ROWS; end
            S_COLS:  begin csr_we = 1'b1; csr_addr = CSR_COL_BLOCKS; csr_wdata = COLS; end
            S_START: begin csr_we = 1'b1; csr_addr = CSR_CTRL;       csr_wdata = 32'd1; end
            default: csr_re = 1'b1; // keep reading CYCLES while running
        endcase
    end

    always @(posedge clk) begin
        if (rst) begin
            state <= S_ACT; addr <= 12'd0; results <= 16'd0;
        end else begin
            case (state)
                S_ACT: begin
                    prbs <= prbs_next;
                    addr <= addr + 12'd1;
                    if (addr == COLS - 1) state <= S_ROWS;
                end
                S_ROWS:  state <= S_COLS;
                S_COLS:  state <= S_START;
                S_START: begin state <= S_RUN; results <= 16'd0; end
                default: begin
                    if (s_blk_tvalid && s_blk_tready) prbs <= prbs_next;
                    if (m_res_tvalid) begin
                        results <= results + 16'd1;
                        if (results == ROWS - 1) state <= S_START;
                    end
                end
            endcase
        end
    end

    // XOR fold of every result and CSR read into 8 LED bits.
    function [7:0] fold8;
        input [RES_W-1:0] v;
        integer k;
        begin
            fold8 = 8'd0;
            for (k = 0; k < RES_W; k = k + 1) fold8[k % 8] = fold8[k % 8] ^ v[k];
        end
    endfunction
    reg [7:0] fold = 8'd0;
    always @(posedge clk)
        fold <= fold ^ (m_res_tvalid ? fold8(m_res_tdata) : 8'd0)
                     ^ (csr_rvalid ? fold8({{(RES_W - 32){1'b0}}, csr_rdata}) : 8'd0);
    assign led = fold;

    seedlm_engine engine (
        .clk(clk),
        .rst(rst),
        .s_blk_tdata(s_blk_tdata),
        .s_blk_tvalid(s_blk_tvalid),
        .s_blk_tready(s_blk_tready),
        .m_res_tdata(m_res_tdata),
        .m_res_tvalid(m_res_tvalid),
        .m_res_tready(1'b1),
        .act_we(act_we),
        .act_addr(addr),
        // act_wdata: C = 8 activations of 16 bits (128 bits).
        .act_wdata({prbs, ~prbs, {prbs[15:0], prbs[31:16]}, prbs ^ 32'h5a5a5a5a}),
        .csr_addr(csr_addr),
        .csr_wdata(csr_wdata),
        .csr_we(csr_we),
        .csr_re(csr_re),
        .csr_rdata(csr_rdata),
        .csr_rvalid(csr_rvalid)
    );
endmodule

`default_nettype wire
