// Simulation check of the ECP5 board harness (bitstreams/ecp5/sim.sh):
// ecp5_top with the generated seedlm_accel, the models of prims.v for the
// PLL and the block RAM. Runs JOBS jobs of the top's FSM and fails unless
// each one ends DONE without ERROR (SHELL_STATUS = DONE | IRQ), took
// cycles (JOB_CYCLES_LO > 0) and wrote exactly ROWS results.
`default_nettype none

module tb;
`include "ecp5_accel.vh"
    localparam integer JOBS = 3;
    reg clk = 1'b0;
    always #1 clk = !clk;
    wire [7:0] led;
    ecp5_top top (.clk_25mhz(clk), .led(led));

    integer results = 0, jobs = 0, cycles = 0;
    always @(posedge clk) begin
        cycles <= cycles + 1;
        if (top.mem.res_valid) results <= results + 1;
        if (top.accel.m_axi_rvalid && top.accel.m_axi_rresp != 2'b00) $fatal(1, "read error");
        if (top.axil_rvalid && top.op == 4'd12 && top.axil_rdata == 32'd0)
            $fatal(1, "job %0d: JOB_CYCLES_LO = 0", jobs);
        if (top.axil_rvalid && top.op == 4'd13) begin
            if (top.axil_rdata != (STATUS_DONE | STATUS_IRQ))
                $fatal(1, "job %0d: SHELL_STATUS = %h", jobs, top.axil_rdata);
            if (results != top.ROWS)
                $fatal(1, "job %0d: %0d results, expected %0d", jobs, results, top.ROWS);
            $display("job %0d: %0d results, SHELL_STATUS %h, led %h", jobs, results,
                     top.axil_rdata, led);
            results <= 0;
            jobs <= jobs + 1;
            if (jobs + 1 == JOBS) $finish;
        end
        if (cycles == 200000) $fatal(1, "timeout after %0d jobs", jobs);
    end
endmodule

`default_nettype wire
