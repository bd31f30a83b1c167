// AXI wrapper of the generated `seedlm_engine` for the U55C block design
// (bitstreams/vivado/u55c.tcl): an AXI4-Lite slave for the CSRs and the
// activation memory, the block stream in as AXI4-Stream, the result stream
// out as AXI4-Stream padded to 128 bits.
//
// Results carry TLAST on row ROWS-1 (the last result of a run).
//
// AXI4-Lite map (byte addresses, 32-bit data):
//   0x0_0000 .. 0x0_00FF  CSRs of seedlm::hw (CSR_CTRL, CSR_ROWS, ...)
//   0x1_0000 + 16*a + 4*k activation word a, 32-bit slice k (k = 0..3);
//                         the word is written to the engine when k = 3
//                         (4-bit configuration: C = 8 activations, 128 bits)
// Reads of the activation window return 0.
//
// Parameters must match the manifest of the generated engine
// (`gen-rtl --bits 4 --lanes 16`: TILE_W = 512, ACT_W = 128).
// Checked here with `verilator --lint-only` against the generated RTL;
// never run in Vivado in this repository (see u55c.tcl).
`default_nettype none

module seedlm_axi #(
    parameter TILE_W = 512,  // s_blk_tdata width: lanes x block word bits
    parameter ACT_W  = 128,  // activation word: 16 x C bits
    parameter ACT_AW = 12,   // activation address bits
    parameter RES_W  = 104   // result word: 72-bit acc + 32-bit row
) (
    input  wire              aclk,
    input  wire              aresetn,
    // AXI4-Lite slave
    input  wire [16:0]       s_axil_awaddr,
    input  wire              s_axil_awvalid,
    output reg               s_axil_awready,
    input  wire [31:0]       s_axil_wdata,
    input  wire [3:0]        s_axil_wstrb,
    input  wire              s_axil_wvalid,
    output reg               s_axil_wready,
    output reg  [1:0]        s_axil_bresp,
    output reg               s_axil_bvalid,
    input  wire              s_axil_bready,
    input  wire [16:0]       s_axil_araddr,
    input  wire              s_axil_arvalid,
    output reg               s_axil_arready,
    output reg  [31:0]       s_axil_rdata,
    output reg  [1:0]        s_axil_rresp,
    output reg               s_axil_rvalid,
    input  wire              s_axil_rready,
    // Block stream in
    input  wire [TILE_W-1:0] s_axis_blk_tdata,
    input  wire              s_axis_blk_tvalid,
    output wire              s_axis_blk_tready,
    // Result stream out
    output wire [127:0]      m_axis_res_tdata,
    output wire              m_axis_res_tvalid,
    output wire              m_axis_res_tlast,   // on the result of row ROWS-1
    input  wire              m_axis_res_tready
);
    wire rst = ~aresetn;

    // Write channel: take address and data together, one write at a time.
    reg              csr_we, act_we;
    reg  [7:0]       csr_addr_w;
    reg  [31:0]      csr_wdata;
    reg  [ACT_AW-1:0] act_addr;
    reg  [95:0]      act_word;   // slices 0..2; slice 3 comes with the write
    reg  [ACT_W-1:0] act_wdata;

    always @(posedge aclk) begin
        csr_we <= 1'b0;
        act_we <= 1'b0;
        if (rst) begin
            s_axil_awready <= 1'b0; s_axil_wready <= 1'b0; s_axil_bvalid <= 1'b0;
            s_axil_bresp <= 2'b00;
        end else begin
            s_axil_awready <= 1'b0; s_axil_wready <= 1'b0;
            if (s_axil_bvalid && s_axil_bready) s_axil_bvalid <= 1'b0;
            if (s_axil_awvalid && s_axil_wvalid && !s_axil_awready && !s_axil_bvalid) begin
                s_axil_awready <= 1'b1; s_axil_wready <= 1'b1; s_axil_bvalid <= 1'b1;
                if (s_axil_awaddr[16]) begin
                    if (s_axil_awaddr[3:2] != 2'd3) act_word[32 * s_axil_awaddr[3:2] +: 32] <= s_axil_wdata;
                    if (s_axil_awaddr[3:2] == 2'd3) begin
                        act_we <= 1'b1;
                        act_addr <= s_axil_awaddr[4 +: ACT_AW];
                        act_wdata <= {s_axil_wdata, act_word[95:0]};
                    end
                end else begin
                    csr_we <= 1'b1;
                    csr_addr_w <= s_axil_awaddr[7:0];
                    csr_wdata <= s_axil_wdata;
                end
            end
        end
    end

    // Read channel: CSR reads take the engine's two-cycle handshake.
    reg        csr_re, reading;
    reg  [7:0] csr_addr_r;
    wire [31:0] csr_rdata;
    wire        csr_rvalid;
    always @(posedge aclk) begin
        csr_re <= 1'b0;
        if (rst) begin
            s_axil_arready <= 1'b0; s_axil_rvalid <= 1'b0; reading <= 1'b0;
            s_axil_rresp <= 2'b00; s_axil_rdata <= 32'd0;
        end else begin
            s_axil_arready <= 1'b0;
            if (s_axil_rvalid && s_axil_rready) s_axil_rvalid <= 1'b0;
            if (s_axil_arvalid && !reading && !s_axil_rvalid && !s_axil_arready) begin
                s_axil_arready <= 1'b1;
                if (s_axil_araddr[16]) begin
                    s_axil_rdata <= 32'd0; s_axil_rvalid <= 1'b1;
                end else begin
                    csr_re <= 1'b1; csr_addr_r <= s_axil_araddr[7:0]; reading <= 1'b1;
                end
            end
            if (reading && csr_rvalid) begin
                s_axil_rdata <= csr_rdata; s_axil_rvalid <= 1'b1; reading <= 1'b0;
            end
        end
    end

    // ROWS as last written, for TLAST (the DMA's S2MM channel ends a
    // transfer on it).
    reg [31:0] rows;
    always @(posedge aclk)
        if (rst) rows <= 32'd0;
        else if (csr_we && csr_addr_w == 8'h08) rows <= csr_wdata;
    wire [RES_W-1:0] res;
    assign m_axis_res_tdata = {{(128 - RES_W){1'b0}}, res};
    assign m_axis_res_tlast = (res[RES_W-1 -: 32] == rows - 32'd1);

    seedlm_engine engine (
        .clk(aclk),
        .rst(rst),
        .s_blk_tdata(s_axis_blk_tdata),
        .s_blk_tvalid(s_axis_blk_tvalid),
        .s_blk_tready(s_axis_blk_tready),
        .m_res_tdata(res),
        .m_res_tvalid(m_axis_res_tvalid),
        .m_res_tready(m_axis_res_tready),
        .act_we(act_we),
        .act_addr(act_addr),
        .act_wdata(act_wdata),
        .csr_addr(csr_re ? csr_addr_r : csr_addr_w),
        .csr_wdata(csr_wdata),
        .csr_we(csr_we),
        .csr_re(csr_re),
        .csr_rdata(csr_rdata),
        .csr_rvalid(csr_rvalid)
    );

    wire unused = &{1'b0, s_axil_wstrb, s_axil_awaddr[15:0], s_axil_araddr[15:8]};
endmodule

`default_nettype wire
