// Stand-alone Verilator testbench of seedlm_accel (class Vaccel): an AXI4
// memory model with read/write latency, random backpressure and error
// injection, and an AXI4-Lite master that runs one job.
//
// usage: tb DIR  (DIR/mem.bin: device memory image from address 0;
//                 DIR/job.txt: "key value" lines, see below; writes
//                 DIR/out.bin, the memory after the job, and prints
//                 "status S error E cycles C job_cycles J").
// job.txt keys: rlat, wlat (cycles), stall (percent of cycles a channel
// is not ready/valid), seed, err_lo err_hi (byte range answered with
// SLVERR), timeout (cycles), then any number of "reg OFFSET VALUE"
// (written in order), then "start" (START, poll until DONE, print).
// Also: "kick" (START only), "wait N" (cycles), "poll" (poll, print),
// "read OFFSET" (print a register).
#include "Vaccel.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static Vaccel* top;
static std::vector<uint8_t> mem;
static uint64_t cycle = 0;
static uint64_t rng_state = 1;
static int stall_pct = 0;
static uint64_t err_lo = 1, err_hi = 0;
static uint64_t rlat = 0, wlat = 0;

static uint32_t rnd() {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}
static bool go() { return (int)(rnd() % 100) >= stall_pct; }

static const int DWW = sizeof(top->m_axi_rdata) / 4;  // 32-bit words per beat
static const int DB = DWW * 4;

struct RdReq { uint64_t addr; int beats; uint64_t at; };
struct WrReq { uint64_t addr; };
struct WBeat { std::vector<uint8_t> data; std::vector<uint8_t> strb; };
static std::deque<RdReq> rq;
static std::deque<WrReq> awq;
static std::deque<WBeat> wq;
static std::deque<std::pair<uint64_t, int>> bq;  // (ready cycle, resp)
static int rbeat = 0;
static bool rvalid_cur = false;

static bool bad(uint64_t a) { return a >= err_lo && a < err_hi; }

static void drive_r() {
    rvalid_cur = false;
    top->m_axi_rvalid = 0;
    if (rq.empty() || rq.front().at > cycle || !go()) return;
    RdReq& r = rq.front();
    uint64_t a = r.addr + (uint64_t)rbeat * DB;
    for (int w = 0; w < DWW; w++) {
        uint32_t v = 0;
        for (int b = 0; b < 4; b++) {
            uint64_t x = a + w * 4 + b;
            v |= (uint32_t)(x < mem.size() ? mem[x] : 0) << (8 * b);
        }
        top->m_axi_rdata[w] = v;
    }
    bool hit = a < err_hi && a + DB > err_lo;  // the beat overlaps the error range
    top->m_axi_rresp = (hit || a + DB > mem.size()) ? 2 : 0;
    top->m_axi_rlast = rbeat + 1 == r.beats;
    top->m_axi_rid = 0;
    top->m_axi_rvalid = 1;
    rvalid_cur = true;
}

static void tick() {
    // Handshakes as the DUT sees them at this edge.
    bool ar = top->m_axi_arvalid && top->m_axi_arready;
    bool r = rvalid_cur && top->m_axi_rready;
    bool aw = top->m_axi_awvalid && top->m_axi_awready;
    bool w = top->m_axi_wvalid && top->m_axi_wready;
    bool b = top->m_axi_bvalid && top->m_axi_bready;
    if (ar) {
        uint64_t a = top->m_axi_araddr;
        int n = top->m_axi_arlen + 1;
        if (((a & 4095) + (uint64_t)n * DB) > 4096) { printf("FAIL burst crosses 4K at %llx\n", (unsigned long long)a); exit(2); }
        if (a % DB) { printf("FAIL unaligned read %llx\n", (unsigned long long)a); exit(2); }
        rq.push_back({a, n, cycle + rlat});
    }
    if (aw) awq.push_back({top->m_axi_awaddr});
    if (w) {
        WBeat wb;
        wb.data.resize(DB);
        wb.strb.resize(DB);
        for (int i = 0; i < DWW; i++) for (int k = 0; k < 4; k++) wb.data[i * 4 + k] = top->m_axi_wdata[i] >> (8 * k);
        // wstrb width DB bits: up to 128 bits (VlWide for > 64).
        const uint32_t* sp = (const uint32_t*)&top->m_axi_wstrb;
        for (int i = 0; i < DB; i++) wb.strb[i] = (sp[i / 32] >> (i % 32)) & 1;
        wq.push_back(wb);
    }
    if (b) bq.pop_front();
    top->aclk = 1;
    top->eval();
    cycle++;
    if (r) {
        rbeat++;
        if (rbeat == rq.front().beats) { rq.pop_front(); rbeat = 0; }
    }
    while (!awq.empty() && !wq.empty()) {
        uint64_t a = awq.front().addr;
        WBeat& wb = wq.front();
        int resp = 0;
        for (int i = 0; i < DB; i++) if (wb.strb[i]) {
            uint64_t x = a + i;
            if (x >= mem.size() || bad(x)) resp = 2; else mem[x] = wb.data[i];
        }
        bq.push_back({cycle + wlat, resp});
        awq.pop_front();
        wq.pop_front();
    }
    // Inputs for the next edge.
    top->m_axi_arready = go();
    top->m_axi_awready = go();
    top->m_axi_wready = go();
    drive_r();
    top->m_axi_bvalid = 0;
    if (!bq.empty() && bq.front().first <= cycle && go()) {
        top->m_axi_bvalid = 1;
        top->m_axi_bresp = bq.front().second;
        top->m_axi_bid = 0;
    }
    top->aclk = 0;
    top->eval();
}

static void axil_write(uint32_t off, uint32_t v) {
    top->s_axil_awaddr = off;
    top->s_axil_wdata = v;
    top->s_axil_wstrb = 0xF;
    top->s_axil_awvalid = 1;
    top->s_axil_wvalid = 1;
    top->s_axil_bready = 1;
    top->eval();
    int n = 0;
    while (!(top->s_axil_awready)) { tick(); if (++n > 1000) { printf("FAIL axil write hang\n"); exit(2); } }
    tick();
    top->s_axil_awvalid = 0;
    top->s_axil_wvalid = 0;
    while (!top->s_axil_bvalid) tick();
    tick();
    top->s_axil_bready = 0;
}

static uint32_t axil_read(uint32_t off) {
    top->s_axil_araddr = off;
    top->s_axil_arvalid = 1;
    top->s_axil_rready = 1;
    top->eval();
    int n = 0;
    while (!top->s_axil_arready) { tick(); if (++n > 1000) { printf("FAIL axil read hang\n"); exit(2); } }
    tick();
    top->s_axil_arvalid = 0;
    while (!top->s_axil_rvalid) tick();
    uint32_t v = top->s_axil_rdata;
    tick();
    top->s_axil_rready = 0;
    return v;
}

int main(int argc, char** argv) {
    if (argc < 2) { fprintf(stderr, "usage: tb DIR\n"); return 1; }
    std::string dir = argv[1];
    Verilated::commandArgs(1, argv);
    top = new Vaccel;
    {
        std::ifstream f(dir + "/mem.bin", std::ios::binary);
        mem.assign(std::istreambuf_iterator<char>(f), {});
    }
    top->aclk = 0;
    top->aresetn = 0;
    top->eval();
    for (int i = 0; i < 4; i++) tick();
    top->aresetn = 1;
    tick();
    std::ifstream jf(dir + "/job.txt");
    std::string line;
    uint64_t timeout = 10000000;
    while (std::getline(jf, line)) {
        std::istringstream s(line);
        std::string k;
        s >> k;
        if (k == "rlat") s >> rlat;
        else if (k == "wlat") s >> wlat;
        else if (k == "stall") s >> stall_pct;
        else if (k == "seed") s >> rng_state;
        else if (k == "err") s >> err_lo >> err_hi;
        else if (k == "timeout") s >> timeout;
        else if (k == "reg") { uint32_t o, v; s >> o >> v; axil_write(o, v); }
        else if (k == "kick") axil_write(0x100, 1);   // START without polling
        else if (k == "wait") { uint64_t n; s >> n; for (uint64_t i = 0; i < n; i++) tick(); }
        else if (k == "start" || k == "poll") {
            if (k == "start") axil_write(0x100, 1);
            uint64_t t0 = cycle;
            uint32_t st;
            while (true) {
                st = axil_read(0x104);
                if ((st & 2) && !(st & 1)) break;
                if (cycle - t0 > timeout) { printf("FAIL timeout status %x\n", st); return 3; }
            }
            uint32_t e = axil_read(0x108);
            uint64_t jc = axil_read(0x138) | (uint64_t)axil_read(0x13C) << 32;
            uint64_t ec = axil_read(0x10) | (uint64_t)axil_read(0x14) << 32;
            printf("status %u error %u cycles %llu job_cycles %llu engine_cycles %llu irq %u\n", st, e,
                   (unsigned long long)(cycle - t0), (unsigned long long)jc, (unsigned long long)ec,
                   (unsigned)top->irq);
            axil_write(0x100, 4);
        } else if (k == "read") {
            uint32_t o; s >> o;
            printf("read %u %u\n", o, axil_read(o));
        }
    }
    {
        std::ofstream f(dir + "/out.bin", std::ios::binary);
        f.write((const char*)mem.data(), mem.size());
    }
    top->final();
    delete top;
    return 0;
}
