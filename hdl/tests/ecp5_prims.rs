//! The ECP5 forms of the multiplier bank, the activation memory and the
//! shell's read buffers (`-DSEEDLM_ECP5`, built only by the ECP5 flow;
//! `seedlm-sim` covers the plain forms inside the whole engine and shell),
//! simulated by Verilator against behavioural models of the two primitives
//! they instantiate, written here from the ECP5 sysDSP and sysMEM
//! documentation (Yosys ships black boxes only): MULT18X18D, signed 18 x 18
//! with its output register; DP16KD in its 4096 x 4 configuration (word
//! address on AD13..AD2) and its 1024 x 18 one (word address on AD13..AD4,
//! AD1..AD0 a write's byte enables), port B reading through its read and
//! output registers. This checks the wiring (operand
//! bits, sign extension, partial products, address and data slices,
//! register stages); the models' fidelity to the silicon is taken from the
//! documentation. Needs Verilator 5 (`--binary`); without it the tests say
//! so and pass, as a plain `cargo test` of this crate runs without
//! Verilator (CI installs it).

use rust_hdl::prelude::*;
use seedlm_hdl::blocks::act_mem::ActMem;
use seedlm_hdl::blocks::mul_bank::MulBank;
use seedlm_hdl::blocks::widths::{PW, RW};
use seedlm_hdl::blocks::ECP5_DEFINE;
use seedlm_hdl::shell::{generate_accel, AccelOptions};
use seedlm_hdl::top::Kind;
use std::path::Path;
use std::process::Command;

/// Behavioural MULT18X18D: the ports the bank connects; `P` registered on
/// CLK0 when REG_OUTPUT_CLK is "CLK0" (the only mode the bank uses).
fn mult18x18d_model() -> String {
    let ports = |p: &str, n: usize| (0..n).map(|k| format!("{p}{k}")).collect::<Vec<_>>();
    let ins: Vec<String> = [ports("A", 18), ports("B", 18), ports("C", 18)].concat();
    let outs = ports("P", 36);
    let cat = |v: &[String]| v.iter().rev().cloned().collect::<Vec<_>>().join(", ");
    format!(
        "module MULT18X18D #(parameter REG_OUTPUT_CLK = \"NONE\", parameter REG_OUTPUT_CE = \"CE0\",\n\
         \x20 parameter REG_OUTPUT_RST = \"RST0\") (\n\
         \x20 input {}, input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, RST0,\n\
         \x20 output {});\n\
         \x20 wire [17:0] a = {{{}}};\n\
         \x20 wire [17:0] b = {{{}}};\n\
         \x20 wire signed [35:0] y = $signed({{SIGNEDA & a[17], a}}) * $signed({{SIGNEDB & b[17], b}});\n\
         \x20 reg [35:0] r = 0;\n\
         \x20 always @(posedge CLK0) if (CE0) r <= RST0 ? 36'h0 : y;\n\
         \x20 initial if (REG_OUTPUT_CLK != \"CLK0\") $fatal(1, \"model: output register only\");\n\
         \x20 assign {{{}}} = r;\n\
         endmodule\n",
        ins.join(", "),
        outs.join(", "),
        cat(&ports("A", 18)),
        cat(&ports("B", 18)),
        cat(&outs),
    )
}

/// Behavioural DP16KD, 4096 x 4 or 1024 x 18: port A writes, port B reads
/// through its read register and, with REGMODE_B = "OUTREG", its output
/// register.
fn dp16kd_model() -> String {
    let ports = |p: &str, n: usize| (0..n).map(|k| format!("{p}{k}")).collect::<Vec<_>>();
    let cat = |v: &[String]| v.iter().rev().cloned().collect::<Vec<_>>().join(", ");
    let mut decl = Vec::new();
    for p in ["A", "B"] {
        decl.push(format!("input {}", cat(&ports(&format!("AD{p}"), 14))));
        decl.push(format!("input {}", cat(&ports(&format!("DI{p}"), 18))));
        decl.push(format!(
            "input CLK{p}, CE{p}, OCE{p}, RST{p}, WE{p}, CS{p}0, CS{p}1, CS{p}2"
        ));
    }
    decl.push(format!("output {}", cat(&ports("DOB", 18))));
    format!(
        "module DP16KD #(parameter DATA_WIDTH_A = 18, parameter DATA_WIDTH_B = 18,\n\
         \x20 parameter REGMODE_A = \"NOREG\", parameter REGMODE_B = \"NOREG\",\n\
         \x20 parameter RESETMODE = \"SYNC\", parameter ASYNC_RESET_RELEASE = \"SYNC\",\n\
         \x20 parameter CSDECODE_A = \"0b000\", parameter CSDECODE_B = \"0b000\",\n\
         \x20 parameter WRITEMODE_A = \"NORMAL\", parameter WRITEMODE_B = \"NORMAL\",\n\
         \x20 parameter GSR = \"ENABLED\") (\n  {});\n\
         \x20 reg [17:0] mem [0:4095];\n\
         \x20 reg [17:0] q = 0, o = 0;\n\
         \x20 localparam WIDE = DATA_WIDTH_A == 18;\n\
         \x20 wire [13:0] aa = {{{aa}}};\n\
         \x20 wire [13:0] ab = {{{ab}}};\n\
         \x20 wire [17:0] di = {{{di}}};\n\
         \x20 wire [11:0] wa = WIDE ? {{2'b0, aa[13:4]}} : aa[13:2];\n\
         \x20 wire [11:0] ra = WIDE ? {{2'b0, ab[13:4]}} : ab[13:2];\n\
         \x20 initial if (DATA_WIDTH_A != DATA_WIDTH_B || (DATA_WIDTH_A != 4 && DATA_WIDTH_A != 18))\n\
         \x20   $fatal(1, \"model: 4096 x 4 or 1024 x 18 only\");\n\
         \x20 always @(posedge CLKA) if (CEA && WEA) begin\n\
         \x20   if (!WIDE) mem[wa] <= {{14'h0, di[3:0]}};\n\
         \x20   if (WIDE && aa[0]) mem[wa][8:0] <= di[8:0];\n\
         \x20   if (WIDE && aa[1]) mem[wa][17:9] <= di[17:9];\n\
         \x20 end\n\
         \x20 always @(posedge CLKB) begin\n\
         \x20   if (CEB) q <= mem[ra];\n\
         \x20   if (OCEB) o <= q;\n\
         \x20 end\n\
         \x20 wire [17:0] d = REGMODE_B == \"OUTREG\" ? o : q;\n\
         \x20 assign {{{dob}}} = WIDE ? d : {{14'h0, d[3:0]}};\n\
         endmodule\n",
        decl.join(",\n  "),
        aa = cat(&ports("ADA", 14)),
        ab = cat(&ports("ADB", 14)),
        di = cat(&ports("DIA", 18)),
        dob = cat(&ports("DOB", 18)),
    )
}

/// A testbench over the bank `top` (two multipliers): 20,000 cycles of
/// operands from a 64-bit xorshift, every 7th one an extreme value, each
/// product compared with the exact one two clock edges later.
fn mul_testbench() -> String {
    format!(
        r#"module tb;
  reg clock = 0;
  reg [{ra}:0] a0 = 0, a1 = 0;
  reg [15:0] b0 = 0, b1 = 0;
  wire [{rp}:0] p0, p1;
  top dut(.clock(clock), .a$0(a0), .a$1(a1), .b$0(b0), .b$1(b1), .p$0(p0), .p$1(p1));
  reg signed [{rp}:0] want0 [0:1];
  reg signed [{rp}:0] want1 [0:1];
  reg [63:0] x = 64'h9e3779b97f4a7c15;
  integer n, bad = 0;
  initial begin
    want0[1] = 0; want1[1] = 0;
    for (n = 0; n < 20000; n = n + 1) begin
      x = x ^ (x << 13); x = x ^ (x >> 7); x = x ^ (x << 17);
      a0 = x[{ra}:0]; b0 = x[63:48]; a1 = x[{ra2}:{rb2}]; b1 = x[15:0];
      if (n % 7 == 0) begin a0 = {{1'b1, {{{ra}{{1'b0}}}}}}; b0 = 16'h8000; end
      if (n % 7 == 3) begin a1 = {{1'b0, {{{ra}{{1'b1}}}}}}; b1 = 16'h8000; end
      if (n % 7 == 5) begin a1 = {{1'b1, {{{ra}{{1'b0}}}}}}; b1 = 16'h7fff; end
      want0[0] = $signed(a0) * $signed(b0);
      want1[0] = $signed(a1) * $signed(b1);
      #1 clock = 1; #1 clock = 0;
      // After this edge p holds the product presented one edge earlier.
      if (n >= 1 && (p0 !== want0[1] || p1 !== want1[1])) begin
        if (bad < 5) $display("MISMATCH cycle %0d: %h %h, want %h %h", n, p0, p1, want0[1], want1[1]);
        bad = bad + 1;
      end
      want0[1] = want0[0]; want1[1] = want1[0];
    end
    if (bad == 0) $display("PASS"); else $display("FAIL %0d", bad);
    $finish;
  end
endmodule
"#,
        ra = RW - 1,
        rp = PW - 1,
        ra2 = RW + 23,
        rb2 = 24,
    )
}

/// A testbench over the memory `top` (128-bit words, 4096 deep): writes
/// 600 pseudo-random words to pseudo-random addresses (the last write to an
/// address wins, as in the model kept here), then reads every written
/// address in another order and checks each word two edges later.
fn mem_testbench() -> String {
    r#"module tb;
  reg clock = 0;
  reg we = 0;
  reg [11:0] wa = 0, ra = 0;
  reg [127:0] wd = 0;
  wire [127:0] rd;
  top dut(.clock(clock), .write_enable(we), .write_address(wa), .write_data(wd),
          .read_address(ra), .read_data(rd));
  reg [127:0] model [0:4095];
  reg [11:0] addrs [0:599];
  reg [127:0] want [0:1];
  reg [63:0] x = 64'hd1b54a32d192ed03;
  integer n, bad = 0;
  initial begin
    for (n = 0; n < 600; n = n + 1) begin
      x = x ^ (x << 13); x = x ^ (x >> 7); x = x ^ (x << 17);
      addrs[n] = (n < 2) ? (n == 0 ? 12'h000 : 12'hfff) : x[11:0];
      we = 1; wa = addrs[n]; wd = {x, ~x ^ 64'h0123456789abcdef};
      model[wa] = wd;
      #1 clock = 1; #1 clock = 0;
    end
    we = 0;
    want[1] = 0;
    for (n = 0; n < 601; n = n + 1) begin
      ra = addrs[(n * 7) % 600];
      want[0] = model[ra];
      #1 clock = 1; #1 clock = 0;
      // After this edge rd holds the word addressed one edge earlier.
      if (n >= 2 && rd !== want[1]) begin
        if (bad < 5) $display("MISMATCH %0d: %h want %h", n, rd, want[1]);
        bad = bad + 1;
      end
      want[1] = want[0];
    end
    if (bad == 0) $display("PASS"); else $display("FAIL %0d", bad);
    $finish;
  end
endmodule
"#
    .to_string()
}

/// Builds and runs `tb` over `verilog` (and the primitive models) with
/// `-DSEEDLM_ECP5`; the simulator's output.
fn simulate(verilog: &str, tb: &str, dir: &Path) -> String {
    simulate_forms(verilog, tb, dir, true)
}

/// [`simulate`], with `-DSEEDLM_ECP5` only where `ecp5`.
fn simulate_forms(verilog: &str, tb: &str, dir: &Path, ecp5: bool) -> String {
    let files = [
        ("dut.v", verilog.to_string()),
        ("tb.v", tb.to_string()),
        ("prims.v", mult18x18d_model() + &dp16kd_model()),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mdir = dir.join("obj");
    let out = Command::new("verilator")
        .args([
            "--binary",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "--top-module",
            "tb",
        ])
        .args(ecp5.then(|| format!("-D{ECP5_DEFINE}")))
        .arg("-Mdir")
        .arg(&mdir)
        .args(files.iter().map(|(n, _)| dir.join(n)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verilator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(mdir.join("Vtb")).output().unwrap();
    String::from_utf8_lossy(&run.stdout).into_owned()
}

fn verilator() -> bool {
    let ok = Command::new("verilator").arg("--version").output().is_ok();
    if !ok {
        eprintln!("verilator not on PATH: the ECP5 forms are not simulated");
    }
    ok
}

fn bank_verilog() -> String {
    let mut uut = MulBank::<RW, PW>::new(2);
    uut.connect_all();
    generate_verilog(&uut)
}

fn mem_verilog() -> String {
    let mut uut = ActMem::<128, 12>::default();
    uut.connect_all();
    generate_verilog(&uut)
}

#[test]
fn ecp5_multipliers_are_exact() {
    if !verilator() {
        return;
    }
    let verilog = bank_verilog();
    assert!(verilog.contains("MULT18X18D"));
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(&verilog, &mul_testbench(), dir.path());
    assert!(out.contains("PASS"), "{out}");
    // Bit 16 of the first multiplier's weight left out of its low part.
    let broken = verilog.replace(".A16(a$0[16])", ".A16(1'b0)");
    assert_ne!(broken, verilog);
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(&broken, &mul_testbench(), dir.path());
    assert!(out.contains("FAIL"), "{out}");
}

#[test]
fn ecp5_activation_memory_reads_what_was_written() {
    if !verilator() {
        return;
    }
    let verilog = mem_verilog();
    assert!(verilog.contains("DP16KD"));
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(&verilog, &mem_testbench(), dir.path());
    assert!(out.contains("PASS"), "{out}");
    // Without the output register the word arrives one edge early.
    let broken = verilog.replace(".REGMODE_B(\"OUTREG\")", ".REGMODE_B(\"NOREG\")");
    assert_ne!(broken, verilog);
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(&broken, &mem_testbench(), dir.path());
    assert!(out.contains("FAIL"), "{out}");
}

/// The shell's read buffer of `lanes` = 1 at a 256-bit AXI (the ECP5
/// flow's), as `generate_accel` emits it: the module `seedlm_accel_fifo`.
fn fifo_verilog() -> String {
    let opts = AccelOptions {
        axi_data_bits: 256,
        ..Default::default()
    };
    let rtl = generate_accel(&Kind::Seedlm(seedlm::Config::BITS4), 1, &opts).unwrap();
    let v = &rtl.verilog;
    let at = v.find("module seedlm_accel_fifo").unwrap();
    let end = at + v[at..].find("endmodule").unwrap() + "endmodule".len();
    format!(
        "`default_nettype none\n{}\n`default_nettype wire\n",
        &v[at..end]
    )
}

/// A testbench over the buffer (256-bit words, 2^`log` deep): one word
/// pushed into the empty buffer and the edges until `dvalid` printed as
/// LATENCY (the push's edge counted: `dvalid` is seen that many cycles
/// after the push's); then 30,000 cycles of pushes while there is room and
/// pops while `dvalid`, in phases that fill, drain and stream, every
/// popped word checked against the order of the pushes.
fn fifo_testbench(log: u32) -> String {
    format!(
        r#"module tb;
  localparam integer LOG = {log};
  reg clk = 0, flush = 1, push = 0, pop = 0;
  reg [255:0] din = 0;
  wire [255:0] dout;
  wire dvalid;
  seedlm_accel_fifo #(.W(256), .LOG(LOG)) dut(.clk(clk), .flush(flush), .push(push), .din(din),
      .pop(pop), .dout(dout), .dvalid(dvalid));
  reg [255:0] model [0:65535];
  reg [63:0] x = 64'h2545f4914f6cdd1d;
  integer n, k, wr = 0, rd = 0, bad = 0, lat = 0;
  initial begin
    #1 clk = 1; #1 clk = 0;
    flush = 0;
    push = 1; din = {{4{{64'h0123456789abcdef}}}}; model[0] = din; wr = 1;
    #1 clk = 1; #1 clk = 0;
    push = 0;
    lat = 1;
    for (k = 0; k < 8 && !dvalid; k = k + 1) begin
      #1 clk = 1; #1 clk = 0;
      lat = lat + 1;
    end
    $display("LATENCY %0d", lat);
    for (n = 0; n < 30000; n = n + 1) begin
      x = x ^ (x << 13); x = x ^ (x >> 7); x = x ^ (x << 17);
      // Phases of 600 cycles: fill (few pops), drain (no pushes), stream.
      case ((n / 600) % 3)
        0: begin pop = dvalid && x[3:0] == 0; push = x[4]; end
        1: begin pop = dvalid && x[5]; push = 0; end
        default: begin pop = dvalid && x[6:5] != 0; push = x[8:7] != 0; end
      endcase
      if (wr - rd >= (1 << LOG)) push = 0;
      if (pop) begin
        if (dout !== model[rd % 65536]) begin
          if (bad < 5) $display("MISMATCH word %0d: %h want %h", rd, dout, model[rd % 65536]);
          bad = bad + 1;
        end
        rd = rd + 1;
      end
      if (push) begin
        din = {{x, ~x, x ^ 64'h5555aaaa5555aaaa, x[31:0], x[63:32]}};
        model[wr % 65536] = din;
        wr = wr + 1;
      end
      #1 clk = 1; #1 clk = 0;
    end
    if (rd < 5000) begin $display("FEW POPS %0d", rd); bad = bad + 1; end
    if (bad == 0) $display("PASS"); else $display("FAIL %0d", bad);
    $finish;
  end
endmodule
"#
    )
}

#[test]
fn ecp5_shell_fifo_keeps_order_and_the_models_latency() {
    if !verilator() {
        return;
    }
    let verilog = fifo_verilog();
    assert!(verilog.contains("DP16KD"));
    let latency = format!("LATENCY {}", seedlm::hw::shell::SHELL_FIFO_LATENCY);
    // The ECP5 form at the activation and the tile buffer's depths, and
    // the plain form (which the co-simulation runs inside the shell).
    for (log, ecp5) in [(6, true), (9, true), (6, false)] {
        let dir = tempfile::tempdir().unwrap();
        let out = simulate_forms(&verilog, &fifo_testbench(log), dir.path(), ecp5);
        assert!(
            out.contains("PASS") && out.contains(&latency),
            "LOG {log} ecp5 {ecp5}: {out}"
        );
    }
    // Without the output register the head shows the next word too early.
    let broken = verilog.replace(".REGMODE_B(\"OUTREG\")", ".REGMODE_B(\"NOREG\")");
    assert_ne!(broken, verilog);
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(&broken, &fifo_testbench(6), dir.path());
    assert!(out.contains("FAIL"), "{out}");
}
