    // ---------------------------------------------------------------
    // Body of seedlm_accel (template: gen-rtl puts the port list and the
    // localparams from seedlm::hw::shell above this line).
    // ---------------------------------------------------------------
    localparam integer DB = DW / 8;            // bytes per beat
    localparam integer TPB = (TS < DB) ? DB / TS : 1; // tile words per beat
    localparam integer BPT = (TS > DB) ? TS / DB : 1; // beats per tile word
    localparam integer APB = DB / AS;          // activation words per beat
    localparam integer JW = 8;                 // width of word-in-beat counters
    localparam [7:0] AXSIZE = DB_BITS[7:0];

    wire clk = aclk;
    wire rst = !aresetn;

    // ---------------- job registers ----------------
    reg [63:0] tile_addr, act_addr, res_addr;
    reg [31:0] tile_words, batch, rows, col_blocks;
    reg        busy, done, failed, irq_r;
    reg [31:0] serr;                 // SHELL_ERROR of the last job
    reg [31:0] serr_run;             // flags gathered while running
    reg [63:0] job_cycles;

    // ---------------- main state ----------------
    localparam [3:0] S_IDLE = 4'd0, S_CHECK1 = 4'd1, S_CHECK2 = 4'd2, S_RUN = 4'd3,
                     S_DRAIN = 4'd4, S_ERST = 4'd5, S_ROWS = 4'd6, S_COLS = 4'd7,
                     S_FINISH = 4'd8, S_MUL = 4'd9, S_SUM = 4'd10, S_CMP = 4'd11;
    reg [3:0] st;
    reg       soft_reset;            // the drain was asked for by SHELL_RESET

    // ---------------- engine instance ports ----------------
    wire [TW-1:0]  e_blk_tdata;
    wire           e_blk_tvalid, e_blk_tready;
    wire [RES_BITS-1:0] e_res_tdata;
    wire           e_res_tvalid, e_res_tready;
    wire           e_act_we;
    wire [ACT_ADDR_BITS-1:0] e_act_addr;
    wire [AWB-1:0] e_act_wdata;
    wire [7:0]     e_csr_addr;
    wire [31:0]    e_csr_wdata, e_csr_rdata;
    wire           e_csr_we, e_csr_re, e_csr_rvalid;
    reg            e_rst;

    // ---------------- AXI4-Lite slave ----------------
    reg        axil_bvalid, axil_rvalid, axil_rpend;
    reg [31:0] axil_rdata;
    reg        sh_csr_we;            // the shell writes an engine CSR this cycle
    reg [7:0]  sh_csr_addr;
    reg [31:0] sh_csr_wdata;
    wire [8:0] waddr = {s_axil_awaddr[8:2], 2'b00};
    wire [8:0] raddr = {s_axil_araddr[8:2], 2'b00};
    wire wr_go = s_axil_awvalid && s_axil_wvalid && !axil_bvalid && !sh_csr_we;
    wire rd_go = s_axil_arvalid && !axil_rvalid && !axil_rpend && !sh_csr_we && !wr_go;
    wire w_engine = !waddr[8];
    wire r_engine = !raddr[8];
    assign s_axil_awready = wr_go;
    assign s_axil_wready = wr_go;
    assign s_axil_bvalid = axil_bvalid;
    assign s_axil_bresp = 2'b00;
    assign s_axil_arready = rd_go;
    assign s_axil_rvalid = axil_rvalid;
    assign s_axil_rdata = axil_rdata;
    assign s_axil_rresp = 2'b00;
    // The engine's CSR port: the shell first, then host writes (CTRL is
    // the shell's alone), then host reads.
    assign e_csr_we = sh_csr_we || (wr_go && w_engine && waddr[7:0] != E_CTRL);
    assign e_csr_addr = sh_csr_we ? sh_csr_addr : (wr_go ? waddr[7:0] : raddr[7:0]);
    assign e_csr_wdata = sh_csr_we ? sh_csr_wdata : s_axil_wdata;
    assign e_csr_re = rd_go && r_engine;

    wire        host_start = wr_go && waddr == R_SHELL_CTRL && (s_axil_wdata & C_START) != 0;
    wire        host_reset = wr_go && waddr == R_SHELL_CTRL && (s_axil_wdata & C_RESET) != 0;
    wire        host_irqack = wr_go && waddr == R_SHELL_CTRL && (s_axil_wdata & C_IRQ_ACK) != 0;

    reg [31:0] shell_rdata;
    always @(*) begin
        case (raddr)
            R_SHELL_STATUS: shell_rdata = (busy ? ST_BUSY : 32'd0) | (done ? ST_DONE : 32'd0)
                                          | (failed ? ST_ERROR : 32'd0) | (irq_r ? ST_IRQ : 32'd0);
            R_SHELL_ERROR: shell_rdata = serr;
            R_TILE_ADDR_LO: shell_rdata = tile_addr[31:0];
            R_TILE_ADDR_HI: shell_rdata = tile_addr[63:32];
            R_TILE_WORDS: shell_rdata = tile_words;
            R_ACT_ADDR_LO: shell_rdata = act_addr[31:0];
            R_ACT_ADDR_HI: shell_rdata = act_addr[63:32];
            R_RES_ADDR_LO: shell_rdata = res_addr[31:0];
            R_RES_ADDR_HI: shell_rdata = res_addr[63:32];
            R_BATCH: shell_rdata = batch;
            R_MEM_SIZE_LO: shell_rdata = MEM_BYTES[31:0];
            R_MEM_SIZE_HI: shell_rdata = MEM_BYTES[63:32];
            R_SHELL_VERSION: shell_rdata = SHELL_VERSION_VALUE;
            R_JOB_CYCLES_LO: shell_rdata = job_cycles[31:0];
            R_JOB_CYCLES_HI: shell_rdata = job_cycles[63:32];
            R_AXI_DATA_BITS: shell_rdata = DW;
            default: shell_rdata = 32'd0;
        endcase
    end

    always @(posedge clk) begin
        if (rst) begin
            axil_bvalid <= 1'b0;
            axil_rvalid <= 1'b0;
            axil_rpend <= 1'b0;
            axil_rdata <= 32'd0;
        end else begin
            if (wr_go) axil_bvalid <= 1'b1;
            else if (s_axil_bready) axil_bvalid <= 1'b0;
            if (rd_go && !r_engine) begin
                axil_rvalid <= 1'b1;
                axil_rdata <= shell_rdata;
            end else if (rd_go) begin
                axil_rpend <= 1'b1;
            end else if (axil_rpend && e_csr_rvalid) begin
                axil_rpend <= 1'b0;
                axil_rvalid <= 1'b1;
                axil_rdata <= e_csr_rdata;
            end else if (axil_rvalid && s_axil_rready) begin
                axil_rvalid <= 1'b0;
            end
        end
    end

    // ---------------- the job check (sequential, once per job) ----------------
    // No multiplier and no divider, nothing long between two registers:
    // S_CHECK1 loads the operands; S_MUL takes one bit of each per cycle,
    // MSB first, for CHECK_STEPS cycles: ceil(ROWS / lanes) by restoring
    // division of ROWS + lanes - 1 (a remainder below lanes), BATCH x
    // COL_BLOCKS and BATCH x ROWS by shift-and-add (Horner); TILES x
    // COL_BLOCKS by shift-and-add on the quotient bits one cycle behind
    // the division, so S_MUL lasts CHECK_STEPS + 1 cycles. S_SUM adds the
    // ranges' ends and tests lengths and alignment, S_CMP compares the
    // ends with the memory size, S_CHECK2 acts on the registered flags
    // (seedlm::hw::shell::SHELL_CHECK_CYCLES counts these cycles).
    localparam integer CHK_RW = $clog2(LANES) + 1;  // remainder bits
    localparam [CHK_RW:0] LANES_R = LANES[CHK_RW:0];
    localparam integer CHK_IW = $clog2(CHECK_STEPS + 1);
    reg [CHK_IW-1:0] chk_i;             // steps left after this one
    reg [32:0] chk_x;                   // dividend bits left, MSB first
    reg [32:0] chk_b;                   // BATCH bits left, MSB first
    reg [CHK_RW-1:0] chk_r;             // remainder, below lanes
    reg        chk_q;                   // quotient bit of the last step
    reg [63:0] want;                    // TILES x COL_BLOCKS
    reg [63:0] bc_prod, br_prod;        // BATCH x COL_BLOCKS, BATCH x ROWS
    reg [71:0] tile_end, act_end, res_end;
    reg        len_bad, align_bad, range_bad, engine_bad;
    wire [CHK_RW:0] chk_rs = {chk_r, chk_x[32]};
    wire       chk_qn = chk_rs >= LANES_R;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [CHK_RW:0] chk_rn = chk_qn ? chk_rs - LANES_R : chk_rs; // below lanes
    /* verilator lint_on UNUSEDSIGNAL */
    wire [31:0] check_flags = (len_bad ? E_LENGTH : 32'd0) | (align_bad ? E_ALIGN : 32'd0)
                              | (range_bad ? E_RANGE : 32'd0);

    // ---------------- read issuer ----------------
    // The issuer's vector ri_vec as a down-counter with a registered flag
    // (the 32-bit compare ri_vec + 1 == BATCH was a critical path):
    // ri_rest = BATCH - 1 - ri_vec, ri_more = ri_rest != 0.
    reg [31:0] ri_rest;                 // vectors after the current segment's
    reg        ri_more;                 // ri_rest != 0, registered
    reg        ri_kind;                 // 0: activations, 1: tiles
    reg        ri_load;                 // the next segment must be set up
    reg        ri_end;                  // every segment is issued
    reg [63:0] ri_addr;                 // next burst address (beat-aligned)
    reg [63:0] ri_beats;                // beats left in the segment
    reg        ri_zero;                 // ri_beats == 0, registered with it
    reg [63:0] ri_act_ptr;              // activations the next load reads
    reg        arvalid;
    reg [63:0] araddr;
    reg [7:0]  arlen;
    reg [RD_LOG:0] tag_cnt;
    reg [RD_LOG-1:0] tag_wp, tag_rp;
    reg [RD_OUT-1:0] tag_kind;
    // Free beats of the FIFOs (their size less the beats reserved): the
    // credit test is then one compare, no add before it.
    reg [TF_LOG:0] tile_free;           // tile FIFO beats not reserved
    reg [AF_LOG:0] act_free;            // act FIFO beats not reserved
    reg [12:0] ri_nb;                   // size of the next burst, registered
    reg        ri_nb_ok;                // ri_nb is that of ri_addr and ri_beats
    // The next burst: at most MAX_BURST beats, not across the 4 KiB
    // boundary, not past the segment. On 13 bits (a burst is at most
    // 4096 / DB beats; ri_beats of 2^13 or more exceeds any boundary
    // distance), the values of the 64-bit form with short carry chains,
    // registered in ri_nb: ri_addr and ri_beats change at an issue or a
    // segment set-up, ri_nb follows a cycle later (ri_nb_ok low in
    // between), so the issuer issues at most one AR per two cycles.
    wire [12:0] to_4k = 13'd4096 - {1'b0, ri_addr[11:0]};
    wire [12:0] beats_4k = to_4k >> DB_BITS;
    // min(segment, boundary, MAX_BURST) from three compares side by side
    // (not a compare behind the first min: one carry chain less in series).
    wire seg_lt_4k = ri_beats[63:13] == 51'd0 && ri_beats[12:0] < beats_4k;
    wire seg_lt_max = ri_beats[63:13] == 51'd0 && ri_beats[12:0] < MAX_BURST[12:0];
    wire b4k_lt_max = beats_4k < MAX_BURST[12:0];
    wire [12:0] burst_n = seg_lt_4k ? (seg_lt_max ? ri_beats[12:0] : MAX_BURST[12:0])
                                    : (b4k_lt_max ? beats_4k : MAX_BURST[12:0]);
    wire [63:0] burst = {51'd0, ri_nb};
    wire credit_ok = ri_kind ? ({1'b0, ri_nb} <= {{(13 - TF_LOG){1'b0}}, tile_free})
                             : ({1'b0, ri_nb} <= {{(13 - AF_LOG){1'b0}}, act_free});
    wire ar_free = !arvalid || m_axi_arready;
    wire ar_issue = st == S_RUN && !ri_load && !ri_end && ri_nb_ok && ri_nb != 13'd0 && ar_free
                    && tag_cnt != RD_OUT[RD_LOG:0] && credit_ok;
    wire ri_setup = st == S_RUN && !ri_end && (ri_load || ri_zero);
    wire [63:0] act_seg_end = ri_act_ptr + ({32'd0, col_blocks} << AS_LOG);
    // Bytes of one vector's activations plus a beat less one (the job
    // check sets it): a segment's beats are its offset in the first beat
    // plus these, in whole beats.
    reg [63:0] act_len_up;

    assign m_axi_arid = {AXI_ID_BITS{1'b0}};
    assign m_axi_araddr = araddr;
    assign m_axi_arlen = arlen;
    assign m_axi_arsize = AXSIZE[2:0];
    assign m_axi_arburst = 2'b01;
    assign m_axi_arlock = 1'b0;
    assign m_axi_arcache = 4'b0011;
    assign m_axi_arprot = 3'b000;
    assign m_axi_arvalid = arvalid;

    // ---------------- R channel into the two FIFOs ----------------
    wire r_kind = tag_kind[tag_rp];
    wire r_take = m_axi_rvalid && st == S_RUN;   // beats are dropped otherwise
    wire r_err = m_axi_rvalid && m_axi_rresp[1];
    assign m_axi_rready = 1'b1;
    wire fifo_flush = st == S_ERST || st == S_CHECK1;
    wire [DW-1:0] tf_dout, af_dout;
    wire tf_valid, af_valid;
    wire tf_pop, af_pop;
    shell_fifo #(.W(DW), .LOG(TF_LOG)) tile_fifo (
        .clk(clk), .flush(rst || fifo_flush),
        .push(r_take && r_kind), .din(m_axi_rdata),
        .pop(tf_pop), .dout(tf_dout), .dvalid(tf_valid));
    shell_fifo #(.W(DW), .LOG(AF_LOG)) act_fifo (
        .clk(clk), .flush(rst || fifo_flush),
        .push(r_take && !r_kind), .din(m_axi_rdata),
        .pop(af_pop), .dout(af_dout), .dvalid(af_valid));

    // ---------------- activation loader ----------------
    // Column counts fit AL_W bits: COL_BLOCKS <= ACT_DEPTH while running.
    localparam integer AL_W = ACT_ADDR_BITS + 1;
    // The loader's vector al_vec is kept as two small facts, registered
    // (the 32-bit compares al_vec + 1 < BATCH and al_vec + 1 <= fed_vecs
    // were a critical path): al_rest = BATCH - 1 - al_vec, vectors after
    // it (BATCH as the job check found it: a job is a snapshot), al_more =
    // al_rest != 0; fed_lead = fed_vecs - al_vec, the vectors whose tile
    // words are all fed less al_vec: 0, 1 or 2 (al_vec advances only past
    // fed vectors, and the engine is at most one vector ahead of it, see
    // vec_lead), so two bits hold it.
    reg [31:0] al_rest;                 // vectors after the one being loaded
    reg        al_more;                 // al_rest != 0, registered
    reg [1:0]  fed_lead;                // fed vectors less al_vec
    reg [AL_W-1:0] al_cnt;              // its words written so far
    reg [AL_W-1:0] al_left;             // its words still to write
    reg        al_full;                 // al_left == 0, registered
    reg        al_last;                 // al_left == 1, registered
    reg [JW-1:0] al_j;                  // word of the FIFO head beat
    reg [63:0] al_ptr;                  // byte address of vector al_vec's words
    wire [AL_W-1:0] cb_w = col_blocks[AL_W-1:0];
    wire al_write = st == S_RUN && !al_full && af_valid;
    wire al_next = st == S_RUN && al_full && al_more && fed_lead != 2'd0;
    wire [63:0] al_ptr_next = al_ptr + ({32'd0, col_blocks} << AS_LOG);
    /* verilator lint_off UNUSEDSIGNAL */
    wire [63:0] al_skip = (al_ptr_next & (DB64 - 64'd1)) >> AS_LOG; // first word of the next vector
    /* verilator lint_on UNUSEDSIGNAL */
    assign af_pop = al_write && (al_j == APB[JW-1:0] - 1'b1 || al_last);
    // The word goes to the engine's memory a cycle later, from registers
    // alone: the word select of the FIFO's head register by al_j goes
    // before act_wdata_r (the head is a fabric register, near; the
    // activation memory's block RAMs are spread over the die, so the
    // register's output gets the long routing to their inputs, nothing
    // in series with it).
    reg           act_we_r;
    reg [ACT_ADDR_BITS-1:0] act_addr_r;
    reg [AWB-1:0] act_wdata_r;
    assign e_act_we = act_we_r;
    assign e_act_addr = act_addr_r;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [DW-1:0] af_shift = af_dout >> ({{(32 - JW){1'b0}}, al_j} * (AS * 8));
    /* verilator lint_on UNUSEDSIGNAL */
    assign e_act_wdata = act_wdata_r;

    // ---------------- engine sequencer and tile feeder ----------------
    // The engine's vector eng_vec and its results taken, res_cnt, are kept
    // as down-counters with registered flags (the 32-bit compares
    // eng_vec + 1 < BATCH and res_cnt == ROWS were in the result
    // handshake and eng_next): eng_rest = BATCH - 1 - eng_vec,
    // res_left = ROWS - res_cnt (ROWS and BATCH as the job check found
    // them: a job is a snapshot).
    reg [31:0] eng_rest;                // vectors after the engine's
    reg        eng_more;                // eng_rest != 0, registered
    reg        eng_started;             // START written for eng_vec
    reg [2:0]  eng_wait;                // cycles until the engine is idle
    reg [31:0] res_left;                // results of eng_vec still to take
    reg        res_more;                // res_left != 0, registered
    reg        res_last;                // res_left == 1, registered
    reg [31:0] fd_left;                 // tile words of eng_vec still to feed
    reg        fd_last;                 // fd_left == 1, registered
    reg [AL_W-1:0] fd_col;              // column block of the next one
    reg [AL_W-1:0] fd_col1;             // fd_col + 1, registered with it
    reg        fd_col_ok;               // activation word fd_col is in the engine
    reg        fd_done;                 // every tile word of eng_vec is fed
    reg [JW-1:0] fd_j;                  // tile word within the head beat
    // al_vec - eng_vec, which is -1, 0 or 1: the loader waits for the
    // vector before it to be fed (fed_vecs), the engine for its vector's
    // activations (fd_ok), so two bits hold it.
    reg [1:0]  vec_lead;
    wire fd_ok = st == S_RUN && eng_started && !fd_done && vec_lead == 2'd0 && fd_col_ok;
    wire fd_take = e_blk_tvalid && e_blk_tready;
    generate
        if (BPT == 1) begin : g_narrow
            /* verilator lint_off UNUSEDSIGNAL */
            wire [DW-1:0] tf_shift = tf_dout >> ({{(32 - JW){1'b0}}, fd_j} * (TS * 8));
            /* verilator lint_on UNUSEDSIGNAL */
            assign e_blk_tdata = tf_shift[TW-1:0];
            assign e_blk_tvalid = fd_ok && tf_valid;
            assign tf_pop = fd_take && (fd_j == TPB[JW-1:0] - 1'b1 || fd_last);
        end else begin : g_wide
            reg [(BPT-1)*DW-1:0] asm_r;
            reg [JW-1:0] fd_k;
            /* verilator lint_off UNUSEDSIGNAL */
            wire [BPT*DW-1:0] whole = {tf_dout, asm_r};
            wire [BPT*DW-1:0] shifted = whole >> DW; // the next asm_r, low bits
            /* verilator lint_on UNUSEDSIGNAL */
            assign e_blk_tdata = whole[TW-1:0];
            wire fd_asm = st == S_RUN && eng_started && !fd_done && tf_valid
                            && fd_k != BPT[JW-1:0] - 1'b1;
            assign e_blk_tvalid = fd_ok && tf_valid && fd_k == BPT[JW-1:0] - 1'b1;
            assign tf_pop = fd_take || fd_asm;
            always @(posedge clk) begin
                if (rst || st != S_RUN || !eng_started) begin
                    fd_k <= {JW{1'b0}};
                end else if (fd_asm) begin
                    asm_r <= shifted[(BPT-1)*DW-1:0];
                    fd_k <= fd_k + 1'b1;
                end else if (fd_take) begin
                    fd_k <= {JW{1'b0}};
                end
            end
        end
    endgenerate

    // ---------------- result writer ----------------
    reg        aw_pend, w_pend;
    reg [63:0] awaddr;
    reg [DW-1:0] wdata;
    reg [DB-1:0] wstrb;
    reg [63:0] res_ptr;
    reg [WR_LOG:0] b_out;
    wire res_room = (!aw_pend || m_axi_awready) && (!w_pend || m_axi_wready)
                    && b_out != WR_OUT[WR_LOG:0];
    assign e_res_tready = st == S_RUN && res_room && res_more;
    wire res_take = e_res_tvalid && e_res_tready;
    wire [DB_BITS-5:0] res_lane = res_ptr[DB_BITS-1:4];
    wire [DW-1:0] res_word = {{(DW - RES_BITS){1'b0}}, e_res_tdata};
    wire b_err = m_axi_bvalid && m_axi_bresp[1];
    assign m_axi_awid = {AXI_ID_BITS{1'b0}};
    assign m_axi_awaddr = awaddr;
    assign m_axi_awlen = 8'd0;
    assign m_axi_awsize = AXSIZE[2:0];
    assign m_axi_awburst = 2'b01;
    assign m_axi_awlock = 1'b0;
    assign m_axi_awcache = 4'b0011;
    assign m_axi_awprot = 3'b000;
    assign m_axi_awvalid = aw_pend;
    assign m_axi_wdata = wdata;
    assign m_axi_wstrb = wstrb;
    assign m_axi_wlast = 1'b1;
    assign m_axi_wvalid = w_pend;
    assign m_axi_bready = 1'b1;
    wire eng_next = st == S_RUN && !res_more && eng_more;
    // fd_col_ok of the next cycle: fd_col then below the words of al_vec
    // in the engine's memory then (al_cnt now, or none after al_next:
    // each is written a cycle after al_cnt counts it). The compares take
    // registers only (al_next, which decodes the state, and fd_take, which
    // the engine's ready gates, come after them: they were a critical
    // path as operands of the compares' carry chains).
    wire fd_wrap = fd_col1 == cb_w;
    wire al_any = al_cnt != {AL_W{1'b0}};
    wire fd_col_ok_next = !al_next && (eng_next ? al_any
                                       : fd_take ? (fd_wrap ? al_any : fd_col1 < al_cnt)
                                       : fd_col < al_cnt);
    wire quiet = tag_cnt == 0 && !arvalid && !aw_pend && !w_pend && b_out == 0;
    wire all_results = !eng_more && !res_more;

    assign irq = irq_r;

    always @(posedge clk) begin
        sh_csr_we <= 1'b0;
        e_rst <= 1'b0;
        if (busy) job_cycles <= job_cycles + 64'd1;
        if (host_irqack) irq_r <= 1'b0;
        // Job registers (host writes).
        if (wr_go) begin
            case (waddr)
                R_ROWS: rows <= s_axil_wdata;
                R_COL_BLOCKS: col_blocks <= s_axil_wdata;
                R_TILE_ADDR_LO: tile_addr[31:0] <= s_axil_wdata;
                R_TILE_ADDR_HI: tile_addr[63:32] <= s_axil_wdata;
                R_TILE_WORDS: tile_words <= s_axil_wdata;
                R_ACT_ADDR_LO: act_addr[31:0] <= s_axil_wdata;
                R_ACT_ADDR_HI: act_addr[63:32] <= s_axil_wdata;
                R_RES_ADDR_LO: res_addr[31:0] <= s_axil_wdata;
                R_RES_ADDR_HI: res_addr[63:32] <= s_axil_wdata;
                R_BATCH: batch <= s_axil_wdata;
                default: ;
            endcase
        end
        // Read issuer bookkeeping.
        if (arvalid && m_axi_arready) arvalid <= 1'b0;
        if (ar_issue) begin
            arvalid <= 1'b1;
            araddr <= ri_addr;
            arlen <= burst[7:0] - 8'd1;
            ri_addr <= ri_addr + (burst << DB_BITS);
            ri_beats <= ri_beats - burst;
            ri_zero <= ri_beats[63:13] == 51'd0 && ri_beats[12:0] == ri_nb;
            tag_kind[tag_wp] <= ri_kind;
            tag_wp <= tag_wp + 1'b1;
        end
        ri_nb <= burst_n;
        ri_nb_ok <= !ar_issue && !ri_setup;
        if (ri_setup) begin
            // Set up the next segment: a vector's activations, then its tiles.
            if (ri_load) begin
                ri_load <= 1'b0;
                ri_kind <= 1'b0;
                ri_addr <= {ri_act_ptr[63:DB_BITS], {DB_BITS{1'b0}}};
                ri_beats <= ({{(64 - DB_BITS){1'b0}}, ri_act_ptr[DB_BITS-1:0]} + act_len_up) >> DB_BITS;
                ri_zero <= 1'b0; // COL_BLOCKS >= 1 while running
                ri_act_ptr <= act_seg_end;
            end else if (!ri_kind) begin
                ri_kind <= 1'b1;
                ri_addr <= tile_addr;
                ri_beats <= (({32'd0, tile_words} << TS_LOG) + DB64 - 64'd1) >> DB_BITS;
                ri_zero <= 1'b0; // TILE_WORDS >= 1 while running
            end else if (!ri_more) begin
                ri_end <= 1'b1;
            end else begin
                ri_rest <= ri_rest - 32'd1;
                ri_more <= ri_rest != 32'd1;
                ri_load <= 1'b1;
            end
        end
        tag_cnt <= tag_cnt + {{RD_LOG{1'b0}}, ar_issue}
                   - {{RD_LOG{1'b0}}, m_axi_rvalid && m_axi_rlast};
        if (m_axi_rvalid && m_axi_rlast) tag_rp <= tag_rp + 1'b1;
        tile_free <= tile_free - ((ar_issue && ri_kind) ? burst[TF_LOG:0] : {(TF_LOG + 1){1'b0}})
                     + {{TF_LOG{1'b0}}, tf_pop};
        act_free <= act_free - ((ar_issue && !ri_kind) ? burst[AF_LOG:0] : {(AF_LOG + 1){1'b0}})
                    + {{AF_LOG{1'b0}}, af_pop};
        // Activation loader.
        act_we_r <= al_write;
        act_addr_r <= al_cnt[ACT_ADDR_BITS-1:0];
        act_wdata_r <= af_shift[AWB-1:0];
        fd_col_ok <= fd_col_ok_next;
        vec_lead <= vec_lead + {1'b0, al_next} - {1'b0, eng_next};
        fed_lead <= fed_lead + {1'b0, fd_take && fd_last} - {1'b0, al_next};
        if (al_write) begin
            al_cnt <= al_cnt + 1'b1;
            al_left <= al_left - 1'b1;
            al_full <= al_last;
            al_last <= al_left == 2;
            al_j <= af_pop ? {JW{1'b0}} : al_j + 1'b1;
        end
        if (al_next) begin
            al_rest <= al_rest - 32'd1;
            al_more <= al_rest != 32'd1;
            al_cnt <= {AL_W{1'b0}};
            al_left <= cb_w;
            al_full <= cb_w == 0;
            al_last <= cb_w == 1;
            al_ptr <= al_ptr_next;
            al_j <= al_skip[JW-1:0];
        end
        // Tile feeder.
        if (fd_take) begin
            fd_left <= fd_left - 32'd1;
            fd_last <= fd_left == 32'd2;
            fd_col <= fd_wrap ? {AL_W{1'b0}} : fd_col1;
            fd_col1 <= fd_wrap ? {{(AL_W - 1){1'b0}}, 1'b1} : fd_col1 + 1'b1;
            fd_j <= (tf_pop || fd_last) ? {JW{1'b0}} : fd_j + 1'b1;
            if (fd_last) fd_done <= 1'b1;
        end
        // Engine sequencer.
        if (eng_wait != 3'd0) eng_wait <= eng_wait - 3'd1;
        if (st == S_RUN && !eng_started && eng_wait == 3'd0) begin
            sh_csr_we <= 1'b1;
            sh_csr_addr <= E_CTRL;
            sh_csr_wdata <= CTRL_START;
            eng_started <= 1'b1;
        end
        if (res_take) begin
            res_left <= res_left - 32'd1;
            res_more <= !res_last;
            res_last <= res_left == 32'd2;
        end
        if (eng_next) begin
            eng_rest <= eng_rest - 32'd1;
            eng_more <= eng_rest != 32'd1;
            res_left <= rows;
            res_more <= rows != 32'd0;
            res_last <= rows == 32'd1;
            eng_started <= 1'b0;
            eng_wait <= 3'd4;
            fd_left <= tile_words;
            fd_last <= tile_words == 32'd1;
            fd_col <= {AL_W{1'b0}};
            fd_col1 <= {{(AL_W - 1){1'b0}}, 1'b1};
            fd_j <= {JW{1'b0}};
            fd_done <= 1'b0;
        end
        // Result writer.
        if (aw_pend && m_axi_awready) aw_pend <= 1'b0;
        if (w_pend && m_axi_wready) w_pend <= 1'b0;
        if (res_take) begin
            aw_pend <= 1'b1;
            w_pend <= 1'b1;
            awaddr <= {res_ptr[63:DB_BITS], {DB_BITS{1'b0}}};
            wdata <= res_word << ({{(32 - DB_BITS + 4){1'b0}}, res_lane} * 128);
            wstrb <= {{(DB - 16){1'b0}}, 16'hFFFF} << ({{(32 - DB_BITS + 4){1'b0}}, res_lane} * 16);
            res_ptr <= res_ptr + 64'd16;
        end
        b_out <= b_out + {{WR_LOG{1'b0}}, res_take} - {{WR_LOG{1'b0}}, m_axi_bvalid};
        // Errors while running.
        serr_run <= serr_run | (r_err ? E_READ_RESP : 32'd0) | (b_err ? E_WRITE_RESP : 32'd0)
                    | ((host_start && st != S_IDLE) ? E_START_BUSY : 32'd0);
        // Main state.
        case (st)
            S_IDLE: begin
                if (host_start) begin
                    st <= S_CHECK1;
                    busy <= 1'b1;
                    done <= 1'b0;
                    failed <= 1'b0;
                    irq_r <= 1'b0;
                    serr <= 32'd0;
                    serr_run <= 32'd0;
                    job_cycles <= 64'd0;
                end else if (host_reset) begin
                    done <= 1'b0;
                    failed <= 1'b0;
                    irq_r <= 1'b0;
                    serr <= 32'd0;
                end
            end
            S_CHECK1: begin
                chk_i <= CHECK_STEPS[CHK_IW-1:0];
                chk_x <= {1'b0, rows} + LANES33 - 33'd1;
                chk_b <= {1'b0, batch};
                chk_r <= {CHK_RW{1'b0}};
                chk_q <= 1'b0;
                want <= 64'd0;
                bc_prod <= 64'd0;
                br_prod <= 64'd0;
                st <= S_MUL;
            end
            S_MUL: begin
                want <= (want << 1) + (chk_q ? {32'd0, col_blocks} : 64'd0);
                if (chk_i != {CHK_IW{1'b0}}) begin
                    chk_i <= chk_i - 1'b1;
                    chk_x <= chk_x << 1;
                    chk_b <= chk_b << 1;
                    chk_r <= chk_rn[CHK_RW-1:0];
                    chk_q <= chk_qn;
                    bc_prod <= (bc_prod << 1) + (chk_b[32] ? {32'd0, col_blocks} : 64'd0);
                    br_prod <= (br_prod << 1) + (chk_b[32] ? {32'd0, rows} : 64'd0);
                end else begin
                    st <= S_SUM;
                end
            end
            S_SUM: begin
                tile_end <= {8'd0, tile_addr} + ({40'd0, tile_words} << TS_LOG);
                act_end <= {8'd0, act_addr} + ({8'd0, bc_prod} << AS_LOG);
                res_end <= {8'd0, res_addr} + ({8'd0, br_prod} << 4);
                len_bad <= tile_words == 32'd0 || {32'd0, tile_words} != want
                           || batch == 32'd0 || batch > MAX_BATCH;
                align_bad <= tile_addr[ALIGN_BITS-1:0] != 0 || act_addr[ALIGN_BITS-1:0] != 0
                             || res_addr[ALIGN_BITS-1:0] != 0;
                engine_bad <= rows == 32'd0 || col_blocks == 32'd0 || col_blocks > ACT_DEPTH;
                act_len_up <= ({32'd0, col_blocks} << AS_LOG) + DB64 - 64'd1;
                st <= S_CMP;
            end
            S_CMP: begin
                range_bad <= tile_end > {8'd0, MEM_BYTES} || act_end > {8'd0, MEM_BYTES}
                             || res_end > {8'd0, MEM_BYTES};
                st <= S_CHECK2;
            end
            S_CHECK2: begin
                if (check_flags != 32'd0 || engine_bad) begin
                    serr_run <= serr_run | (check_flags != 32'd0 ? check_flags : E_ENGINE);
                    st <= S_FINISH;
                    // Refused by the engine alone: START it all the same,
                    // so that it refuses the run and its ERROR register
                    // says why (EMPTY or ACT_DEPTH), as on `emu`.
                    if (check_flags == 32'd0) begin
                        sh_csr_we <= 1'b1;
                        sh_csr_addr <= E_CTRL;
                        sh_csr_wdata <= CTRL_START;
                    end
                end else begin
                    st <= S_RUN;
                end
                ri_rest <= batch - 32'd1;
                ri_more <= batch > 32'd1;
                ri_load <= 1'b1;
                ri_end <= 1'b0;
                ri_kind <= 1'b0;
                ri_beats <= 64'd0;
                ri_zero <= 1'b1;
                ri_act_ptr <= act_addr;
                al_rest <= batch - 32'd1;
                al_more <= batch > 32'd1;
                al_cnt <= {AL_W{1'b0}};
                al_left <= cb_w;
                al_full <= cb_w == 0;
                al_last <= cb_w == 1;
                al_ptr <= act_addr;
                al_j <= {JW{1'b0}}; // ACT_ADDR is beat-aligned
                fed_lead <= 2'd0;
                eng_rest <= batch - 32'd1;
                eng_more <= batch > 32'd1;
                vec_lead <= 2'd0;
                fd_col_ok <= 1'b0;
                eng_started <= 1'b0;
                eng_wait <= 3'd0;
                res_left <= rows;
                res_more <= rows != 32'd0;
                res_last <= rows == 32'd1;
                fd_left <= tile_words;
                fd_last <= tile_words == 32'd1;
                fd_col <= {AL_W{1'b0}};
            fd_col1 <= {{(AL_W - 1){1'b0}}, 1'b1};
                fd_j <= {JW{1'b0}};
                fd_done <= 1'b0;
                res_ptr <= res_addr;
            end
            S_RUN: begin
                if (r_err || b_err || host_reset) begin
                    soft_reset <= host_reset;
                    st <= S_DRAIN;
                end else if (all_results && quiet && ri_end) begin
                    st <= S_FINISH;
                end
            end
            S_DRAIN: begin
                if (host_reset) soft_reset <= 1'b1;
                if (quiet) begin
                    e_rst <= 1'b1;
                    st <= S_ERST;
                end
            end
            S_ERST: begin
                tile_free <= TILE_FIFO[TF_LOG:0];
                act_free <= ACT_FIFO[AF_LOG:0];
                tag_wp <= 0;
                tag_rp <= 0;
                sh_csr_we <= 1'b1;
                sh_csr_addr <= E_ROWS;
                sh_csr_wdata <= rows;
                st <= S_ROWS;
            end
            S_ROWS: begin
                sh_csr_we <= 1'b1;
                sh_csr_addr <= E_COL_BLOCKS;
                sh_csr_wdata <= col_blocks;
                st <= S_COLS;
            end
            S_COLS: begin
                if (soft_reset) begin
                    busy <= 1'b0;
                    done <= 1'b0;
                    failed <= 1'b0;
                    irq_r <= 1'b0;
                    serr <= 32'd0;
                    soft_reset <= 1'b0;
                    st <= S_IDLE;
                end else begin
                    st <= S_FINISH;
                end
            end
            S_FINISH: begin
                busy <= 1'b0;
                done <= 1'b1;
                irq_r <= 1'b1;
                serr <= serr_run;
                failed <= serr_run != 32'd0;
                st <= S_IDLE;
            end
            default: st <= S_IDLE;
        endcase
        // SHELL_RESET in the short states: nothing is outstanding there
        // (or the engine is being restored), so stop at once, cleared.
        if (host_reset && (st == S_CHECK1 || st == S_MUL || st == S_SUM || st == S_CMP
                           || st == S_CHECK2 || st == S_COLS || st == S_FINISH)) begin
            st <= S_IDLE;
            busy <= 1'b0;
            done <= 1'b0;
            failed <= 1'b0;
            irq_r <= 1'b0;
            serr <= 32'd0;
            soft_reset <= 1'b0;
        end
        if (host_reset && (st == S_ERST || st == S_ROWS)) soft_reset <= 1'b1;
        if (rst) begin
            st <= S_IDLE;
            busy <= 1'b0;
            done <= 1'b0;
            failed <= 1'b0;
            irq_r <= 1'b0;
            serr <= 32'd0;
            serr_run <= 32'd0;
            soft_reset <= 1'b0;
            job_cycles <= 64'd0;
            tile_addr <= 64'd0;
            act_addr <= 64'd0;
            res_addr <= 64'd0;
            tile_words <= 32'd0;
            batch <= 32'd0;
            rows <= 32'd0;
            col_blocks <= 32'd0;
            arvalid <= 1'b0;
            aw_pend <= 1'b0;
            w_pend <= 1'b0;
            tag_cnt <= 0;
            tag_wp <= 0;
            tag_rp <= 0;
            tile_free <= TILE_FIFO[TF_LOG:0];
            act_free <= ACT_FIFO[AF_LOG:0];
            b_out <= 0;
            ri_end <= 1'b1;
            ri_load <= 1'b0;
            ri_beats <= 64'd0;
            ri_zero <= 1'b1;
            eng_started <= 1'b0;
            eng_wait <= 3'd0;
            al_cnt <= {AL_W{1'b0}};
            al_left <= {AL_W{1'b0}};
            al_full <= 1'b1;
            al_last <= 1'b0;
            act_we_r <= 1'b0;
            fd_done <= 1'b1;
        end
    end

    seedlm_engine engine (
        .clk(clk),
        .rst(rst || e_rst),
        .s_blk_tdata(e_blk_tdata),
        .s_blk_tvalid(e_blk_tvalid),
        .s_blk_tready(e_blk_tready),
        .m_res_tdata(e_res_tdata),
        .m_res_tvalid(e_res_tvalid),
        .m_res_tready(e_res_tready),
        .act_we(e_act_we),
        .act_addr(e_act_addr),
        .act_wdata(e_act_wdata),
        .csr_addr(e_csr_addr),
        .csr_wdata(e_csr_wdata),
        .csr_we(e_csr_we),
        .csr_re(e_csr_re),
        .csr_rdata(e_csr_rdata),
        .csr_rvalid(e_csr_rvalid)
    );

    // Inputs the shell does not look at (byte strobes: registers take
    // whole 32-bit writes; IDs: every request uses ID 0).
    /* verilator lint_off UNUSED */
    wire unused_ok = &{1'b0, s_axil_awprot, s_axil_arprot, s_axil_wstrb, s_axil_awaddr[1:0],
                       s_axil_araddr[1:0], m_axi_bid, m_axi_rid, m_axi_bresp[0], m_axi_rresp[0]};
    /* verilator lint_on UNUSED */
endmodule

// First-word-fall-through FIFO: 2^LOG words of W bits in block RAM, read
// through a fixed two-stage pipeline (the block RAM's read register and
// output register, both always enabled: nothing combinational reaches the
// RAM's clock enables) into a skid buffer of SKID words in the fabric (the
// head register `dout` and SKID - 1 words behind it). A read is issued
// only against a credit (a skid slot neither held nor in flight), so the
// pipeline never stalls and `pop` touches fabric registers alone; SKID = 4
// covers the credit loop (issue, two RAM stages, head, credit back) at one
// word per cycle. `dout` is valid while `dvalid`, `pop` takes it; a word
// pushed in cycle t is valid from cycle t + SHELL_FIFO_LATENCY
// (seedlm::hw::shell), one word per cycle after.
// With SEEDLM_ECP5 defined (bitstreams/ecp5.sh), the two RAM stages are
// those of ceil(W / 18) DP16KDs in their 1024 x 18 configuration, port A
// writing, port B reading with REGMODE_B = "OUTREG" (LOG <= 10; W is never
// a multiple of 18 here: a power of two). Otherwise they are the read and
// output registers of an inferred memory.
module shell_fifo #(
    parameter integer W = 512,
    parameter integer LOG = 9
) (
    input  wire         clk,
    input  wire         flush,
    input  wire         push,
    input  wire [W-1:0] din,
    input  wire         pop,
    output reg  [W-1:0] dout,
    output reg          dvalid
);
    localparam [2:0] SKID = 3'd4;
    localparam [2:0] SKID_LAST = SKID - 3'd2; // the last slot behind the head
    reg [LOG:0] wp, rp;
    reg nempty;                         // wp != rp, registered
    reg [2:0] credits;                  // skid slots neither held nor in flight
    reg v1, v2;                         // a read in the RAM's first, second stage
    wire fetch = nempty && credits != 3'd0;
    wire [W-1:0] rd;                    // the RAM's output register: valid while v2
    reg [W-1:0] skid [0:SKID-2];
    reg [1:0] sw, sr;                   // skid write and read slots, 0..SKID-2
    reg [1:0] scnt;                     // words in skid (not counting dout)
    wire head_free = !dvalid || pop;
    wire from_skid = head_free && scnt != 2'd0;
    wire into_skid = v2 && !(head_free && scnt == 2'd0);
`ifdef SEEDLM_ECP5
    localparam integer NB = (W + 17) / 18;
    wire [NB*18-1:0] wide_in = {{(NB * 18 - W){1'b0}}, din};
    wire [NB*18-1:0] wide_out;
    wire [9:0] wa = {{(10 - LOG){1'b0}}, wp[LOG-1:0]};
    wire [9:0] ra = {{(10 - LOG){1'b0}}, rp[LOG-1:0]};
    assign rd = wide_out[W-1:0];
    genvar g;
    generate for (g = 0; g < NB; g = g + 1) begin : ebr
        // 1024 x 18: word address on AD13..AD4, AD1..AD0 the byte enables
        // of a write (Yosys' brams_map_16kd.v convention).
        DP16KD #(
            .DATA_WIDTH_A(18), .DATA_WIDTH_B(18),
            .REGMODE_A("NOREG"), .REGMODE_B("OUTREG"),
            .RESETMODE("SYNC"), .ASYNC_RESET_RELEASE("SYNC"),
            .CSDECODE_A("0b000"), .CSDECODE_B("0b000"),
            .WRITEMODE_A("NORMAL"), .WRITEMODE_B("NORMAL"), .GSR("AUTO")
        ) ram (
            .CLKA(clk), .CEA(push), .OCEA(1'b0), .WEA(push), .RSTA(1'b0), .CSA0(1'b0), .CSA1(1'b0),
            .CSA2(1'b0), .ADA0(1'b1), .ADA1(1'b1), .ADA2(1'b0), .ADA3(1'b0), .ADA4(wa[0]),
            .ADA5(wa[1]), .ADA6(wa[2]), .ADA7(wa[3]), .ADA8(wa[4]), .ADA9(wa[5]), .ADA10(wa[6]),
            .ADA11(wa[7]), .ADA12(wa[8]), .ADA13(wa[9]), .DIA0(wide_in[18 * g + 0]),
            .DIA1(wide_in[18 * g + 1]), .DIA2(wide_in[18 * g + 2]), .DIA3(wide_in[18 * g + 3]),
            .DIA4(wide_in[18 * g + 4]), .DIA5(wide_in[18 * g + 5]), .DIA6(wide_in[18 * g + 6]),
            .DIA7(wide_in[18 * g + 7]), .DIA8(wide_in[18 * g + 8]), .DIA9(wide_in[18 * g + 9]),
            .DIA10(wide_in[18 * g + 10]), .DIA11(wide_in[18 * g + 11]),
            .DIA12(wide_in[18 * g + 12]), .DIA13(wide_in[18 * g + 13]),
            .DIA14(wide_in[18 * g + 14]), .DIA15(wide_in[18 * g + 15]),
            .DIA16(wide_in[18 * g + 16]), .DIA17(wide_in[18 * g + 17]), .CLKB(clk), .CEB(1'b1),
            .OCEB(1'b1), .WEB(1'b0), .RSTB(1'b0), .CSB0(1'b0), .CSB1(1'b0), .CSB2(1'b0),
            .ADB0(1'b0), .ADB1(1'b0), .ADB2(1'b0), .ADB3(1'b0), .ADB4(ra[0]), .ADB5(ra[1]),
            .ADB6(ra[2]), .ADB7(ra[3]), .ADB8(ra[4]), .ADB9(ra[5]), .ADB10(ra[6]), .ADB11(ra[7]),
            .ADB12(ra[8]), .ADB13(ra[9]), .DIB0(1'b0), .DIB1(1'b0), .DIB2(1'b0), .DIB3(1'b0),
            .DIB4(1'b0), .DIB5(1'b0), .DIB6(1'b0), .DIB7(1'b0), .DIB8(1'b0), .DIB9(1'b0),
            .DIB10(1'b0), .DIB11(1'b0), .DIB12(1'b0), .DIB13(1'b0), .DIB14(1'b0), .DIB15(1'b0),
            .DIB16(1'b0), .DIB17(1'b0), .DOB0(wide_out[18 * g + 0]), .DOB1(wide_out[18 * g + 1]),
            .DOB2(wide_out[18 * g + 2]), .DOB3(wide_out[18 * g + 3]), .DOB4(wide_out[18 * g + 4]),
            .DOB5(wide_out[18 * g + 5]), .DOB6(wide_out[18 * g + 6]), .DOB7(wide_out[18 * g + 7]),
            .DOB8(wide_out[18 * g + 8]), .DOB9(wide_out[18 * g + 9]), .DOB10(wide_out[18 * g + 10]),
            .DOB11(wide_out[18 * g + 11]), .DOB12(wide_out[18 * g + 12]),
            .DOB13(wide_out[18 * g + 13]), .DOB14(wide_out[18 * g + 14]),
            .DOB15(wide_out[18 * g + 15]), .DOB16(wide_out[18 * g + 16]),
            .DOB17(wide_out[18 * g + 17])
        );
    end endgenerate
    /* verilator lint_off UNUSED */
    wire unused_hi = &{1'b0, wide_out[NB*18-1:W]};
    /* verilator lint_on UNUSED */
`else
    reg [W-1:0] mem [0:(1 << LOG) - 1];
    reg [W-1:0] q, o;
    assign rd = o;
    always @(posedge clk) begin
        if (push) mem[wp[LOG-1:0]] <= din;
        q <= mem[rp[LOG-1:0]];
        o <= q;
    end
`endif
    always @(posedge clk) begin
        if (into_skid) skid[sw] <= rd;
        if (from_skid) dout <= skid[sr];
        else if (head_free && v2) dout <= rd;
    end
    always @(posedge clk) begin
        if (flush) begin
            wp <= 0;
            rp <= 0;
            nempty <= 1'b0;
            credits <= SKID;
            v1 <= 1'b0;
            v2 <= 1'b0;
            sw <= 2'd0;
            sr <= 2'd0;
            scnt <= 2'd0;
            dvalid <= 1'b0;
        end else begin
            if (push) nempty <= 1'b1;
            else if (fetch) nempty <= wp != rp + 1'b1;
            if (push) wp <= wp + 1'b1;
            if (fetch) rp <= rp + 1'b1;
            credits <= credits - {2'b0, fetch} + {2'b0, pop && dvalid};
            v1 <= fetch;
            v2 <= v1;
            if (into_skid) sw <= sw == SKID_LAST[1:0] ? 2'd0 : sw + 2'd1;
            if (from_skid) sr <= sr == SKID_LAST[1:0] ? 2'd0 : sr + 2'd1;
            scnt <= scnt + {1'b0, into_skid} - {1'b0, from_skid};
            if (head_free) dvalid <= scnt != 2'd0 || v2;
        end
    end
endmodule
