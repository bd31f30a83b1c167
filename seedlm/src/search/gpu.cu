// The CUDA seed search (compiled at run time by NVRTC; see gpu.rs).
//
// Defined by the host for each configuration: SL_C, SL_P (block shape),
// SL_N (cycle positions, 2^K - 1), SL_HALF (2^(K-1)), SL_UNIT (2^(K-1) - 1,
// a double literal), SL_MARGIN (fast::MARGIN, a double literal), SL_B
// (blocks per thread in the scan), SL_TOPK (bounds kept per block).
//
// Three kernels, in the order the host runs them:
//   scan      every position's f32 lower bound for SL_B blocks per thread;
//             keeps each block's SL_TOPK smallest bounds;
//   fit_first one thread per block: the exact f64 fit of its smallest bound,
//             which sets the block's threshold `error + MARGIN`;
//   fit_rest  one thread per (block, other kept position): the exact fit of
//             the position if its bound is within the threshold;
//   pick      one thread per block: the best fit; flags the block when a
//             position not fitted may still win;
//   rescan    one thread-block per flagged block: bounds every position
//             again and fits each one within the threshold.
//
// The exact fit (fit_window) is block.rs's `fit` operation for operation:
// every f64 multiply, add and subtract goes through the __d*_rn intrinsics,
// which the compiler never fuses, so it rounds exactly as the CPU does.

#define SL_CP (SL_C * SL_P)
#define SL_NL (SL_P * (SL_P + 1) / 2)
// Per-position record of the scan: the C values u[p + (i+1)P], then the
// NL entries of L^-1 (row-major lower), padded to a multiple of 4 floats.
#define SL_REC (((SL_C + SL_NL) + 3) / 4 * 4)
#define EXP_MIN (-8)
#define EXP_MAX 7
#define Q_MIN (-8)
#define Q_MAX 7
#define NO_SEED 0xffffffffu

// ---------------------------------------------------------------------------
// Exact f64 fit (block.rs: least_squares, fit, quantize, pow2, row_dot).

__device__ __forceinline__ double rn_mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double rn_add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double rn_sub(double a, double b) { return __dsub_rn(a, b); }

__device__ __forceinline__ double pow2(int e) {
    return __longlong_as_double((long long)(1023 + e) << 52);
}

__device__ __forceinline__ int quantize(double x) {
    // Rust f64::clamp (NaN passes through), then `as i32` (NaN -> 0, which
    // cvt.rzi does too).
    double lo = (double)Q_MIN - 1.0, hi = (double)Q_MAX + 1.0;
    if (x < lo) x = lo;
    if (x > hi) x = hi;
    int t = (int)x;
    double frac = rn_sub(x, (double)t);
    int r = t + (frac >= 0.5 ? 1 : 0) - (frac <= -0.5 ? 1 : 0);
    return r < Q_MIN ? Q_MIN : (r > Q_MAX ? Q_MAX : r);
}

struct FitResult {
    double err;
    int exp;
    int q[SL_P];
};

// Least squares by modified Gram-Schmidt, then the exponent rule: the CPU's
// `fit` for the centred window `u` (C*P ints, row-major C x P). `ud` holds
// the same window as `u / unit` and `sc[e + 8]` is `2^e / unit` (tables made
// by the same f64 divisions the CPU does).
__device__ FitResult fit_window(const int* __restrict__ u, const double* __restrict__ ud,
                                const double* __restrict__ sc, const double* w) {
    double qc[SL_P][SL_C];
    double r[SL_P][SL_P];
    bool keep[SL_P];
    for (int j = 0; j < SL_P; j++) {
        keep[j] = false;
        for (int k = 0; k < SL_P; k++) r[j][k] = 0.0;
        for (int i = 0; i < SL_C; i++) qc[j][i] = __ldg(ud + i * SL_P + j);
    }
    for (int j = 0; j < SL_P; j++) {
        double n0 = -0.0;
        for (int i = 0; i < SL_C; i++) n0 = rn_add(n0, rn_mul(qc[j][i], qc[j][i]));
        double norm0 = sqrt(n0);
        for (int k = 0; k < j; k++) {
            if (!keep[k]) continue;
            double d = -0.0;
            for (int i = 0; i < SL_C; i++) d = rn_add(d, rn_mul(qc[k][i], qc[j][i]));
            r[k][j] = d;
            for (int i = 0; i < SL_C; i++) qc[j][i] = rn_sub(qc[j][i], rn_mul(d, qc[k][i]));
        }
        double n1 = -0.0;
        for (int i = 0; i < SL_C; i++) n1 = rn_add(n1, rn_mul(qc[j][i], qc[j][i]));
        double norm = sqrt(n1);
        if (norm > rn_mul(1e-9, norm0) && norm > 0.0) {
            keep[j] = true;
            r[j][j] = norm;
            for (int i = 0; i < SL_C; i++) qc[j][i] = qc[j][i] / norm;
        }
    }
    double qtw[SL_P];
    for (int j = 0; j < SL_P; j++) {
        qtw[j] = 0.0;
        if (keep[j]) {
            double s = -0.0;
            for (int i = 0; i < SL_C; i++) s = rn_add(s, rn_mul(qc[j][i], w[i]));
            qtw[j] = s;
        }
    }
    double t[SL_P];
    for (int j = 0; j < SL_P; j++) t[j] = 0.0;
    for (int j = SL_P - 1; j >= 0; j--) {
        if (!keep[j]) continue;
        double s = -0.0;
        for (int k = j + 1; k < SL_P; k++)
            if (keep[k]) s = rn_add(s, rn_mul(r[j][k], t[k]));
        t[j] = rn_sub(qtw[j], s) / r[j][j];
    }

    double zero_err = -0.0;
    for (int i = 0; i < SL_C; i++) zero_err = rn_add(zero_err, rn_mul(w[i], w[i]));
    FitResult best;
    best.err = __longlong_as_double(0x7ff0000000000000LL);
    best.exp = EXP_MIN;
    for (int j = 0; j < SL_P; j++) best.q[j] = 0;
    for (int e = EXP_MIN; e <= EXP_MAX; e++) {
        double inv = pow2(-e);
        int q[SL_P];
        bool all_zero = true;
        for (int j = 0; j < SL_P; j++) {
            q[j] = quantize(rn_mul(t[j], inv));
            all_zero = all_zero && q[j] == 0;
        }
        double err;
        if (all_zero) {
            err = zero_err;
        } else {
            double scale = __ldg(sc + e - EXP_MIN);
            err = -0.0;
            for (int i = 0; i < SL_C; i++) {
                int dot = 0;
                for (int j = 0; j < SL_P; j++) dot += u[i * SL_P + j] * q[j];
                double d = rn_sub(w[i], rn_mul((double)dot, scale));
                err = rn_add(err, rn_mul(d, d));
            }
        }
        if (err < best.err) {
            best.err = err;
            best.exp = e;
            for (int j = 0; j < SL_P; j++) best.q[j] = q[j];
        }
    }
    return best;
}

// Best so far of one block: lexicographic minimum of (err, seed).
struct Best {
    double err;
    unsigned seed;
    int exp;
    int q[SL_P];
};

__device__ __forceinline__ void best_init(Best& b) {
    b.err = __longlong_as_double(0x7ff0000000000000LL);
    b.seed = NO_SEED;
    b.exp = EXP_MIN;
    for (int j = 0; j < SL_P; j++) b.q[j] = 0;
}

__device__ __forceinline__ bool better(double err, unsigned seed, const Best& b) {
    return err < b.err || (err == b.err && seed < b.seed);
}

// Fits the seed at cycle position `pos` and keeps it if it is better.
struct Tables {
    const int* centred;  // the extended centred cycle
    const double* ud;    // centred / unit, f64
    const double* sc;    // 2^e / unit for e = EXP_MIN..EXP_MAX
};

__device__ void offer(const Tables& tb, unsigned pos, const double* w, Best& b) {
    FitResult f = fit_window(tb.centred + pos + 1, tb.ud + pos + 1, tb.sc, w);
    const int* centred = tb.centred;
    unsigned seed = (unsigned)(centred[pos] + SL_HALF);
    if (better(f.err, seed, b)) {
        b.err = f.err;
        b.seed = seed;
        b.exp = f.exp;
        for (int j = 0; j < SL_P; j++) b.q[j] = f.q[j];
    }
}

// ---------------------------------------------------------------------------
// Blocks: normalisation and results.

// 2^k with ||w 2^k||^2 in [0.5, 2): k from the binary exponent of ||w||^2.
// Returns false for an all-zero block.
__device__ bool normalise(const float* __restrict__ w, double* w64, float* wn, double* ww, int* k) {
    double ss = -0.0;
    for (int i = 0; i < SL_C; i++) {
        w64[i] = (double)w[i];
        ss = rn_add(ss, rn_mul(w64[i], w64[i]));
    }
    if (ss == 0.0) return false;
    int e;
    frexp(ss, &e);  // ss = m 2^e, m in [0.5, 1)
    *k = -(e >> 1);
    double s = ldexp(1.0, *k);
    for (int i = 0; i < SL_C; i++) wn[i] = (float)rn_mul(w64[i], s);
    *ww = ldexp(ss, 2 * *k);
    return true;
}

// A block's result as two words: the error's bits, and
// seed (bits 0-23) | exp + 8 (24-27) | q_j & 15 (28 + 4j) | flag (63), the
// flag meaning that a position the scan did not keep may still win.
__device__ __forceinline__ unsigned long long pack(const Best& b, bool flag) {
    unsigned long long x = (unsigned long long)(b.seed & 0xffffffu);
    x |= (unsigned long long)(b.exp - EXP_MIN) << 24;
    for (int j = 0; j < SL_P; j++) x |= (unsigned long long)(b.q[j] & 15) << (28 + 4 * j);
    return x | (flag ? 1ull << 63 : 0ull);
}

__device__ __forceinline__ void unpack(unsigned long long err, unsigned long long x, Best& b) {
    b.err = __longlong_as_double((long long)err);
    b.seed = (unsigned)(x & 0xffffffu);
    b.exp = (int)((x >> 24) & 15) + EXP_MIN;
    for (int j = 0; j < SL_P; j++) b.q[j] = (int)((x >> (28 + 4 * j)) & 15) - (((x >> (28 + 4 * j)) & 8) ? 16 : 0);
}

__device__ __forceinline__ void put(unsigned long long* o, const Best& b, bool flag) {
    o[0] = (unsigned long long)__double_as_longlong(b.err);
    o[1] = pack(b, flag);
}

// ---------------------------------------------------------------------------
// f32 bounds.

// z(m) = sum_i u[m + 1 + iP] w_i, i ascending, one rounding per fma; the
// scan's sliding form uses the same values in the same order.
__device__ __forceinline__ float z_at(const float* __restrict__ u, unsigned m, const float* wn) {
    float z = u[m + 1] * wn[0];
    for (int i = 1; i < SL_C; i++) z = fmaf(u[m + 1 + i * SL_P], wn[i], z);
    return z;
}

// ||L^-1 b||^2 for b = (z_0 .. z_{P-1}), L^-1 row-major lower.
__device__ __forceinline__ float proj(const float* l, const float* z) {
    float s = 0.0f;
    int at = 0;
#pragma unroll
    for (int j = 0; j < SL_P; j++) {
        float y = l[at] * z[0];
        at++;
#pragma unroll
        for (int k = 1; k <= j; k++) {
            y = fmaf(l[at], z[k], y);
            at++;
        }
        s = fmaf(y, y, s);
    }
    return s;
}

// ||Q^T w||^2 for an ill-conditioned window with orthonormal basis Q (f32,
// column j at q[j*C .. (j+1)*C]).
__device__ __forceinline__ float proj_q(const float* __restrict__ q, const float* wn) {
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < SL_P; j++) {
        float y = q[j * SL_C] * wn[0];
#pragma unroll
        for (int i = 1; i < SL_C; i++) y = fmaf(q[j * SL_C + i], wn[i], y);
        s = fmaf(y, y, s);
    }
    return s;
}

// Inserts (v, pos) into the ascending list (tb, tp) of SL_TOPK entries if v
// is below its last entry.
__device__ __forceinline__ void top_insert(float* tb, unsigned* tp, float v, unsigned pos) {
    if (!(v < tb[SL_TOPK - 1])) return;
    int j = SL_TOPK - 1;
    while (j > 0 && tb[j - 1] > v) {
        tb[j] = tb[j - 1];
        tp[j] = tp[j - 1];
        j--;
    }
    tb[j] = v;
    tp[j] = pos;
}

// ---------------------------------------------------------------------------
// Kernels of the data-free search (the weighted search's are below).
#if !SL_WEIGHTED

// Each thread: SL_B consecutive blocks, every position. Writes the blocks'
// SL_TOPK smallest bounds (normalised units) and positions, ascending.
extern "C" __global__ void __launch_bounds__(128) scan(
    const float* __restrict__ w, unsigned nblocks, const float* __restrict__ u,
    const float4* __restrict__ rec, const unsigned* __restrict__ ill_pos,
    const float* __restrict__ ill_q, unsigned nill, float* __restrict__ top_b,
    unsigned* __restrict__ top_p, float* __restrict__ all_b) {
    unsigned first = (blockIdx.x * blockDim.x + threadIdx.x) * SL_B;
    if (first >= nblocks) return;
    float wn[SL_B][SL_C];
    float ww[SL_B];
    float lim[SL_B];
    float z[SL_B][SL_P];
    float tb[SL_B][SL_TOPK];
    unsigned tp[SL_B][SL_TOPK];
#pragma unroll
    for (int b = 0; b < SL_B; b++) {
        double w64[SL_C], ww64;
        int k;
        unsigned blk = first + b;
        bool live = blk < nblocks && normalise(w + (size_t)blk * SL_C, w64, wn[b], &ww64, &k);
        if (!live)
            for (int i = 0; i < SL_C; i++) wn[b][i] = 0.0f;
        ww[b] = live ? (float)ww64 : 0.0f;
        // Dead lanes never insert.
        lim[b] = live ? __int_as_float(0x7f800000) : -__int_as_float(0x7f800000);
        for (int t = 0; t < SL_TOPK; t++) {
            tb[b][t] = __int_as_float(0x7f800000);
            tp[b][t] = 0;
        }
#pragma unroll
        for (int j = 0; j + 1 < SL_P; j++) z[b][j + 1] = z_at(u, j, wn[b]);
    }
#pragma unroll SL_UNROLL
    for (unsigned p = 0; p < SL_N; p++) {
        float r[SL_REC];
#pragma unroll
        for (int v = 0; v < SL_REC / 4; v++) {
            float4 x = __ldg(rec + (size_t)p * (SL_REC / 4) + v);
            r[4 * v] = x.x;
            r[4 * v + 1] = x.y;
            r[4 * v + 2] = x.z;
            r[4 * v + 3] = x.w;
        }
        bool hit = false;
        float bound[SL_B];
#pragma unroll
        for (int b = 0; b < SL_B; b++) {
#pragma unroll
            for (int j = 0; j + 1 < SL_P; j++) z[b][j] = z[b][j + 1];
            float zn = r[0] * wn[b][0];
#pragma unroll
            for (int i = 1; i < SL_C; i++) zn = fmaf(r[i], wn[b][i], zn);
            z[b][SL_P - 1] = zn;
            bound[b] = ww[b] - proj(r + SL_C, z[b]);
            hit = hit || bound[b] < lim[b];
        }
        if (all_b != nullptr) {
            for (int b = 0; b < SL_B; b++)
                if (first + b < nblocks) all_b[(size_t)(first + b) * SL_N + p] = bound[b];
        }
        if (hit) {
#pragma unroll
            for (int b = 0; b < SL_B; b++) {
                if (bound[b] < lim[b]) {
                    top_insert(tb[b], tp[b], bound[b], p);
                    lim[b] = tb[b][SL_TOPK - 1];
                }
            }
        }
    }
    // Ill-conditioned windows: the bound from an orthonormal basis.
    for (unsigned k = 0; k < nill; k++) {
        const float* q = ill_q + (size_t)k * SL_CP;
#pragma unroll
        for (int b = 0; b < SL_B; b++) {
            float v = ww[b] - proj_q(q, wn[b]);
            if (v < lim[b]) {
                top_insert(tb[b], tp[b], v, ill_pos[k]);
                lim[b] = tb[b][SL_TOPK - 1];
            }
            if (all_b != nullptr && first + b < nblocks)
                all_b[(size_t)(first + b) * SL_N + ill_pos[k]] = v;
        }
    }
#pragma unroll
    for (int b = 0; b < SL_B; b++) {
        unsigned blk = first + b;
        if (blk >= nblocks) continue;
        for (int t = 0; t < SL_TOPK; t++) {
            top_b[(size_t)blk * SL_TOPK + t] = tb[b][t];
            top_p[(size_t)blk * SL_TOPK + t] = tp[b][t];
        }
    }
}

// Candidate records: per block SL_TOPK slots of two words (put/unpack), the
// unfitted ones with seed 0.

// One thread per block: the all-zero block's result, or the exact fit of
// the smallest bound (and of the windows with dependent columns) in slot 0,
// and the threshold (normalised) for the other kept positions.
extern "C" __global__ void fit_first(
    const float* __restrict__ w, unsigned nblocks, const int* __restrict__ centred,
    const double* __restrict__ ud, const double* __restrict__ sc,
    const unsigned* __restrict__ top_p, const unsigned* __restrict__ dep_pos, unsigned ndep,
    unsigned long long* __restrict__ cand, double* __restrict__ thr) {
    unsigned blk = blockIdx.x * blockDim.x + threadIdx.x;
    if (blk >= nblocks) return;
    Tables t = {centred, ud, sc};
    double w64[SL_C], ww;
    float wn[SL_C];
    int k;
    Best b;
    best_init(b);
    if (!normalise(w + (size_t)blk * SL_C, w64, wn, &ww, &k)) {
        b.err = 0.0;
        b.seed = 1;
        thr[blk] = -__longlong_as_double(0x7ff0000000000000LL);
    } else {
        for (unsigned d = 0; d < ndep; d++) offer(t, dep_pos[d], w64, b);
        offer(t, top_p[(size_t)blk * SL_TOPK], w64, b);
        thr[blk] = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
    }
    put(cand + (size_t)blk * SL_TOPK * 2, b, false);
}

// One thread per (block, kept position 1..SL_TOPK-1): the exact fit of the
// position if its bound is within the block's threshold from fit_first.
extern "C" __global__ void fit_rest(
    const float* __restrict__ w, unsigned nblocks, const int* __restrict__ centred,
    const double* __restrict__ ud, const double* __restrict__ sc,
    const float* __restrict__ top_b, const unsigned* __restrict__ top_p,
    const double* __restrict__ thr, unsigned long long* __restrict__ cand) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (size_t)nblocks * (SL_TOPK - 1)) return;
    unsigned blk = (unsigned)(id / (SL_TOPK - 1));
    unsigned slot = (unsigned)(id % (SL_TOPK - 1)) + 1;
    size_t at = (size_t)blk * SL_TOPK + slot;
    Best b;
    best_init(b);
    if ((double)top_b[at] <= thr[blk]) {
        Tables t = {centred, ud, sc};
        double w64[SL_C];
        for (int i = 0; i < SL_C; i++) w64[i] = (double)w[(size_t)blk * SL_C + i];
        offer(t, top_p[at], w64, b);
    } else {
        b.seed = 0;  // not fitted (no seed is 0)
    }
    put(cand + at * 2, b, false);
}

// One thread per block: the lexicographic minimum of (err, seed) over the
// fitted slots; flags the block if a kept position that was not fitted, or
// one not kept (bound >= the last kept one), is within the final threshold.
extern "C" __global__ void pick(
    const float* __restrict__ w, unsigned nblocks, const float* __restrict__ top_b,
    const unsigned long long* __restrict__ cand, unsigned long long* __restrict__ out) {
    unsigned blk = blockIdx.x * blockDim.x + threadIdx.x;
    if (blk >= nblocks) return;
    const unsigned long long* c = cand + (size_t)blk * SL_TOPK * 2;
    Best b;
    unpack(c[0], c[1], b);
    for (int t = 1; t < SL_TOPK; t++) {
        Best x;
        unpack(c[2 * t], c[2 * t + 1], x);
        if (x.seed != 0 && better(x.err, x.seed, b)) b = x;
    }
    double w64[SL_C], ww;
    float wn[SL_C];
    int k;
    bool flag = false;
    if (normalise(w + (size_t)blk * SL_C, w64, wn, &ww, &k)) {
        double thr = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
        const float* tb = top_b + (size_t)blk * SL_TOPK;
        flag = (double)tb[SL_TOPK - 1] <= thr;
        for (int t = 1; t < SL_TOPK; t++)
            flag = flag || ((c[2 * t + 1] & 0xffffffu) == 0 && (double)tb[t] <= thr);
    }
    put(out + (size_t)blk * 2, b, flag);
}

#define RESCAN_THREADS 256
#define RESCAN_CAP 2048

// One thread-block per flagged block (`which` lists them; results to
// `res`, two words each): every position's bound; the positions within the
// threshold (from pick) are listed, then fitted in parallel. If the list
// overflows, each thread fits its positions within its own (shrinking)
// threshold instead.
extern "C" __global__ void __launch_bounds__(RESCAN_THREADS) rescan(
    const float* __restrict__ w, const unsigned* __restrict__ which,
    const float* __restrict__ u, const float4* __restrict__ rec,
    const int* __restrict__ centred, const double* __restrict__ ud,
    const double* __restrict__ sc, const unsigned* __restrict__ ill_pos,
    const float* __restrict__ ill_q, unsigned nill, const unsigned long long* __restrict__ out,
    unsigned long long* __restrict__ res) {
    __shared__ unsigned s_list[RESCAN_CAP];
    __shared__ unsigned s_cnt;
    __shared__ double s_err[RESCAN_THREADS];
    __shared__ unsigned s_seed[RESCAN_THREADS];
    __shared__ unsigned s_who[RESCAN_THREADS];
    unsigned blk = which[blockIdx.x];
    Tables t = {centred, ud, sc};
    double w64[SL_C], ww;
    float wn[SL_C];
    int k;
    normalise(w + (size_t)blk * SL_C, w64, wn, &ww, &k);
    float wwf = (float)ww;
    Best b;
    unpack(out[(size_t)blk * 2], out[(size_t)blk * 2 + 1], b);
    const double thr0 = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
    if (threadIdx.x == 0) s_cnt = 0;
    __syncthreads();
    // Pass 1: list the positions within thr0.
    for (unsigned p = threadIdx.x; p < SL_N + nill; p += RESCAN_THREADS) {
        float v;
        unsigned pos;
        if (p < SL_N) {
            pos = p;
            float zz[SL_P];
            for (int j = 0; j < SL_P; j++) zz[j] = z_at(u, p + j, wn);
            float r[SL_REC];
            for (int q = 0; q < SL_REC / 4; q++) {
                float4 x = __ldg(rec + (size_t)p * (SL_REC / 4) + q);
                r[4 * q] = x.x;
                r[4 * q + 1] = x.y;
                r[4 * q + 2] = x.z;
                r[4 * q + 3] = x.w;
            }
            v = wwf - proj(r + SL_C, zz);
        } else {
            pos = ill_pos[p - SL_N];
            v = wwf - proj_q(ill_q + (size_t)(p - SL_N) * SL_CP, wn);
        }
        if ((double)v <= thr0) {
            unsigned i = atomicAdd(&s_cnt, 1u);
            if (i < RESCAN_CAP) s_list[i] = pos;
        }
    }
    __syncthreads();
    unsigned cnt = s_cnt;
    if (cnt <= RESCAN_CAP) {
        // Pass 2: fit the listed positions, one per thread at a time.
        for (unsigned i = threadIdx.x; i < cnt; i += RESCAN_THREADS) offer(t, s_list[i], w64, b);
    } else {
        // Too many (e.g. every seed ties): fit within a shrinking threshold.
        for (unsigned p = threadIdx.x; p < SL_N + nill; p += RESCAN_THREADS) {
            float v;
            unsigned pos;
            if (p < SL_N) {
                pos = p;
                float zz[SL_P];
                for (int j = 0; j < SL_P; j++) zz[j] = z_at(u, p + j, wn);
                float r[SL_REC];
                for (int q = 0; q < SL_REC / 4; q++) {
                    float4 x = __ldg(rec + (size_t)p * (SL_REC / 4) + q);
                    r[4 * q] = x.x;
                    r[4 * q + 1] = x.y;
                    r[4 * q + 2] = x.z;
                    r[4 * q + 3] = x.w;
                }
                v = wwf - proj(r + SL_C, zz);
            } else {
                pos = ill_pos[p - SL_N];
                v = wwf - proj_q(ill_q + (size_t)(p - SL_N) * SL_CP, wn);
            }
            if ((double)v <= rn_add(ldexp(b.err, 2 * k), SL_MARGIN)) offer(t, pos, w64, b);
        }
    }
    // Reduce (err, seed) over the thread-block.
    s_err[threadIdx.x] = b.err;
    s_seed[threadIdx.x] = b.seed;
    s_who[threadIdx.x] = threadIdx.x;
    __syncthreads();
    for (int step = RESCAN_THREADS / 2; step > 0; step >>= 1) {
        if (threadIdx.x < step) {
            unsigned a = threadIdx.x, c = threadIdx.x + step;
            if (s_err[c] < s_err[a] || (s_err[c] == s_err[a] && s_seed[c] < s_seed[a])) {
                s_err[a] = s_err[c];
                s_seed[a] = s_seed[c];
                s_who[a] = s_who[c];
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == s_who[0]) put(res + (size_t)blockIdx.x * 2, b, false);
}
#endif  // !SL_WEIGHTED

// ---------------------------------------------------------------------------
// The weighted search of the calibrated mode (SL_WEIGHTED = 1; weighted.rs).
//
// Per column group the host uploads the metric factor A (C x C f64,
// row-major, scaled as weighted.rs's Metric) and per block: `pre` (f32:
// the normalised M w, the normalised A^T w, ||A^T w||^2 normalised) and `zk`
// (f64: z = A^T w exactly as the CPU computes it, then k, the block's
// normalisation exponent). Zero blocks and blocks the metric does not see
// stay on the host. Kernels, in order:
//   wtables    one thread per position: the window's L^-1 for G = V^T V,
//              V = A^T U (or, for windows outside the trace limit, an f32
//              orthonormal basis of V, or the dependent list);
//   wscan      the scan of `scan`, each thread over one segment of the
//              cycle (`nseg` segments: a column group is a few thousand
//              blocks, too few to fill the GPU a whole cycle per thread);
//   wfit_first, wfit_rest, wpick, wrescan: as fit_first ... rescan, over
//              the `nseg * SL_TOPK` kept slots of each block, with the
//              weighted exact fit.
#if SL_WEIGHTED
#define SL_PRE (2 * SL_C + 1)
#define SL_ZK (SL_C + 1)
#if SL_NEIGH
#define SL_STEPS 3
#else
#define SL_STEPS 1
#endif

// V = A^T U for a window (`ud` the window / unit, row-major C x P):
// weighted.rs's Metric::transform, `at` summing from +0.0 in row order.
__device__ __forceinline__ void transform(const double* __restrict__ a, const double* __restrict__ ud,
                                          double v[SL_P][SL_C]) {
    for (int j = 0; j < SL_P; j++) {
        double x[SL_C];
        for (int i = 0; i < SL_C; i++) x[i] = __ldg(ud + i * SL_P + j);
        for (int k = 0; k < SL_C; k++) {
            double o = 0.0;
            for (int i = 0; i < SL_C; i++) o = rn_add(o, rn_mul(__ldg(a + i * SL_C + k), x[i]));
            v[j][k] = o;
        }
    }
}

// weighted.rs's `fit`, operation for operation (least_squares, then every
// exponent's rounded vector and, with SL_NEIGH, its 3^P neighbours).
__device__ FitResult fit_weighted(const double* __restrict__ ud, const double* __restrict__ a,
                                  const double* z) {
    double v[SL_P][SL_C];
    transform(a, ud, v);
    double qc[SL_P][SL_C];
    double r[SL_P][SL_P];
    bool keep[SL_P];
    for (int j = 0; j < SL_P; j++) {
        keep[j] = false;
        for (int k = 0; k < SL_P; k++) r[j][k] = 0.0;
        for (int i = 0; i < SL_C; i++) qc[j][i] = v[j][i];
    }
    for (int j = 0; j < SL_P; j++) {
        double n0 = -0.0;
        for (int i = 0; i < SL_C; i++) n0 = rn_add(n0, rn_mul(qc[j][i], qc[j][i]));
        double norm0 = sqrt(n0);
        for (int k = 0; k < j; k++) {
            if (!keep[k]) continue;
            double d = -0.0;
            for (int i = 0; i < SL_C; i++) d = rn_add(d, rn_mul(qc[k][i], qc[j][i]));
            r[k][j] = d;
            for (int i = 0; i < SL_C; i++) qc[j][i] = rn_sub(qc[j][i], rn_mul(d, qc[k][i]));
        }
        double n1 = -0.0;
        for (int i = 0; i < SL_C; i++) n1 = rn_add(n1, rn_mul(qc[j][i], qc[j][i]));
        double norm = sqrt(n1);
        if (norm > rn_mul(1e-9, norm0) && norm > 0.0) {
            keep[j] = true;
            r[j][j] = norm;
            for (int i = 0; i < SL_C; i++) qc[j][i] = qc[j][i] / norm;
        }
    }
    double qtz[SL_P];
    for (int j = 0; j < SL_P; j++) {
        qtz[j] = 0.0;
        if (keep[j]) {
            double s = -0.0;
            for (int i = 0; i < SL_C; i++) s = rn_add(s, rn_mul(qc[j][i], z[i]));
            qtz[j] = s;
        }
    }
    double t[SL_P];
    for (int j = 0; j < SL_P; j++) t[j] = 0.0;
    for (int j = SL_P - 1; j >= 0; j--) {
        if (!keep[j]) continue;
        double s = -0.0;
        for (int k = j + 1; k < SL_P; k++)
            if (keep[k]) s = rn_add(s, rn_mul(r[j][k], t[k]));
        t[j] = rn_sub(qtz[j], s) / r[j][j];
    }

    double zz = -0.0;
    for (int i = 0; i < SL_C; i++) zz = rn_add(zz, rn_mul(z[i], z[i]));
    FitResult best;
    best.err = __longlong_as_double(0x7ff0000000000000LL);
    best.exp = EXP_MIN;
    for (int j = 0; j < SL_P; j++) best.q[j] = 0;
    int count = 1;
    for (int j = 0; j < SL_P; j++) count *= SL_STEPS;
    for (int e = EXP_MIN; e <= EXP_MAX; e++) {
        double inv = pow2(-e), s = pow2(e);
        int base[SL_P];
        for (int j = 0; j < SL_P; j++) base[j] = quantize(rn_mul(t[j], inv));
        for (int kk = 0; kk < count; kk++) {
            int q[SL_P];
            int rest = kk;
            bool all_zero = true;
            for (int j = SL_P - 1; j >= 0; j--) {
                int d = SL_STEPS == 3 ? rest % 3 - 1 : 0;
                rest /= SL_STEPS;
                int x = base[j] + d;
                q[j] = x < Q_MIN ? Q_MIN : (x > Q_MAX ? Q_MAX : x);
                all_zero = all_zero && q[j] == 0;
            }
            double err;
            if (all_zero) {
                err = zz;
            } else {
                err = -0.0;
                for (int i = 0; i < SL_C; i++) {
                    double rr = -0.0;
                    for (int j = 0; j < SL_P; j++) rr = rn_add(rr, rn_mul(v[j][i], (double)q[j]));
                    double d = rn_sub(z[i], rn_mul(rr, s));
                    err = rn_add(err, rn_mul(d, d));
                }
            }
            if (err < best.err) {
                best.err = err;
                best.exp = e;
                for (int j = 0; j < SL_P; j++) best.q[j] = q[j];
            }
        }
    }
    return best;
}

__device__ void woffer(const int* __restrict__ centred, const double* __restrict__ ud,
                       const double* __restrict__ a, unsigned pos, const double* z, Best& b) {
    FitResult f = fit_weighted(ud + pos + 1, a, z);
    unsigned seed = (unsigned)(centred[pos] + SL_HALF);
    if (better(f.err, seed, b)) {
        b.err = f.err;
        b.seed = seed;
        b.exp = f.exp;
        for (int j = 0; j < SL_P; j++) b.q[j] = f.q[j];
    }
}

// One thread per position: the scan record (the C entries of `scan`'s rec,
// then L^-1 of G = V^T V, or zeros), as fast.rs's factor_with(Trace):
// windows whose G is not numerically positive definite or has
// tr(G^-1) > linv_max get an orthonormal basis (ill list) or, when their
// columns are dependent, go to the dependent list (counts[0], counts[1]).
extern "C" __global__ void wtables(const float* __restrict__ u, const double* __restrict__ ud,
                                   const double* __restrict__ a, double linv_max,
                                   float* __restrict__ rec, unsigned* __restrict__ ill_pos,
                                   float* __restrict__ ill_q, unsigned* __restrict__ dep_pos,
                                   unsigned* __restrict__ counts) {
    unsigned p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= SL_N) return;
    float* r = rec + (size_t)p * SL_REC;
    for (int i = 0; i < SL_C; i++) r[i] = u[p + (i + 1) * SL_P];
    for (int i = SL_C; i < SL_REC; i++) r[i] = 0.0f;
    double v[SL_P][SL_C];
    transform(a, ud + p + 1, v);
    double g[SL_P][SL_P], l[SL_P][SL_P], inv[SL_P][SL_P];
    for (int j = 0; j < SL_P; j++)
        for (int k = 0; k < SL_P; k++) {
            double s = 0.0;
            for (int i = 0; i < SL_C; i++) s += v[j][i] * v[k][i];
            g[j][k] = s;
            l[j][k] = 0.0;
            inv[j][k] = 0.0;
        }
    bool ok = true;
    for (int j = 0; j < SL_P && ok; j++)
        for (int k = 0; k <= j; k++) {
            double s = g[j][k];
            for (int m = 0; m < k; m++) s -= l[j][m] * l[k][m];
            if (k == j) {
                if (!(s > 0.0)) {
                    ok = false;
                    break;
                }
                l[j][j] = sqrt(s);
            } else {
                l[j][k] = s / l[k][k];
            }
        }
    if (ok) {
        double tr = 0.0;
        for (int c = 0; c < SL_P; c++)
            for (int j = c; j < SL_P; j++) {
                double s = j == c ? 1.0 : 0.0;
                for (int m = c; m < j; m++) s -= l[j][m] * inv[m][c];
                inv[j][c] = s / l[j][j];
                tr += inv[j][c] * inv[j][c];
            }
        ok = !(tr > linv_max) && tr == tr;
    }
    if (ok) {
        int at = SL_C;
        for (int j = 0; j < SL_P; j++)
            for (int k = 0; k <= j; k++) r[at++] = (float)inv[j][k];
        return;
    }
    // fast.rs's orthonormal: modified Gram-Schmidt, two passes.
    double q[SL_P][SL_C];
    for (int j = 0; j < SL_P; j++) {
        double x[SL_C];
        double n0 = 0.0;
        for (int i = 0; i < SL_C; i++) {
            x[i] = v[j][i];
            n0 += x[i] * x[i];
        }
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < j; k++) {
                double d = 0.0;
                for (int i = 0; i < SL_C; i++) d += q[k][i] * x[i];
                for (int i = 0; i < SL_C; i++) x[i] -= d * q[k][i];
            }
        double n1 = 0.0;
        for (int i = 0; i < SL_C; i++) n1 += x[i] * x[i];
        double norm = sqrt(n1);
        if (!(norm > 1e-9 * sqrt(n0))) {
            dep_pos[atomicAdd(counts + 1, 1u)] = p;
            return;
        }
        for (int i = 0; i < SL_C; i++) q[j][i] = x[i] / norm;
    }
    unsigned at = atomicAdd(counts, 1u);
    ill_pos[at] = p;
    for (int j = 0; j < SL_P; j++)
        for (int i = 0; i < SL_C; i++) ill_q[(size_t)at * SL_CP + j * SL_C + i] = (float)q[j][i];
}

// The segment [*start, *end) of the cycle of segment `seg` of `nseg`.
__device__ __forceinline__ void segment(unsigned seg, unsigned nseg, unsigned* start, unsigned* end) {
    unsigned len = (SL_N + nseg - 1) / nseg;
    *start = min(seg * len, (unsigned)SL_N);
    *end = min(*start + len, (unsigned)SL_N);
}

// Thread (group of SL_B blocks, segment): as `scan` over the segment's
// positions, and the ill windows k = seg mod nseg. Top lists at
// top_b[(block * nseg + seg) * SL_TOPK].
extern "C" __global__ void __launch_bounds__(128) wscan(
    const float* __restrict__ pre, unsigned nblocks, unsigned nseg, const float* __restrict__ u,
    const float4* __restrict__ rec, const unsigned* __restrict__ ill_pos,
    const float* __restrict__ ill_q, const unsigned* __restrict__ counts,
    float* __restrict__ top_b, unsigned* __restrict__ top_p, float* __restrict__ all_b) {
    unsigned id = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned groups = (nblocks + SL_B - 1) / SL_B;
    if (id >= groups * nseg) return;
    unsigned first = (id % groups) * SL_B, seg = id / groups;
    unsigned start, end;
    segment(seg, nseg, &start, &end);
    float wn[SL_B][SL_C];
    float zn[SL_B][SL_C];
    float ww[SL_B];
    float lim[SL_B];
    float z[SL_B][SL_P];
    float tb[SL_B][SL_TOPK];
    unsigned tp[SL_B][SL_TOPK];
#pragma unroll
    for (int b = 0; b < SL_B; b++) {
        unsigned blk = first + b;
        bool live = blk < nblocks;
        const float* x = pre + (size_t)(live ? blk : 0) * SL_PRE;
        for (int i = 0; i < SL_C; i++) {
            wn[b][i] = live ? x[i] : 0.0f;
            zn[b][i] = live ? x[SL_C + i] : 0.0f;
        }
        ww[b] = live ? x[2 * SL_C] : 0.0f;
        lim[b] = live ? __int_as_float(0x7f800000) : -__int_as_float(0x7f800000);
        for (int t = 0; t < SL_TOPK; t++) {
            tb[b][t] = __int_as_float(0x7f800000);
            tp[b][t] = 0;
        }
#pragma unroll
        for (int j = 0; j + 1 < SL_P; j++) z[b][j + 1] = z_at(u, start + j, wn[b]);
    }
#pragma unroll SL_UNROLL
    for (unsigned p = start; p < end; p++) {
        float r[SL_REC];
#pragma unroll
        for (int v = 0; v < SL_REC / 4; v++) {
            float4 x = __ldg(rec + (size_t)p * (SL_REC / 4) + v);
            r[4 * v] = x.x;
            r[4 * v + 1] = x.y;
            r[4 * v + 2] = x.z;
            r[4 * v + 3] = x.w;
        }
        bool hit = false;
        float bound[SL_B];
#pragma unroll
        for (int b = 0; b < SL_B; b++) {
#pragma unroll
            for (int j = 0; j + 1 < SL_P; j++) z[b][j] = z[b][j + 1];
            float zn1 = r[0] * wn[b][0];
#pragma unroll
            for (int i = 1; i < SL_C; i++) zn1 = fmaf(r[i], wn[b][i], zn1);
            z[b][SL_P - 1] = zn1;
            bound[b] = ww[b] - proj(r + SL_C, z[b]);
            hit = hit || bound[b] < lim[b];
        }
        // A window without a factor (ill or dependent: its record's L^-1,
        // whose first entry is 1/l_00 > 0 otherwise, is zeros) is dumped by
        // the ill loop below, in the thread of segment k mod nseg: writing
        // it here too would race with that thread.
        if (all_b != nullptr && r[SL_C] != 0.0f) {
            for (int b = 0; b < SL_B; b++)
                if (first + b < nblocks) all_b[(size_t)(first + b) * SL_N + p] = bound[b];
        }
        if (hit) {
#pragma unroll
            for (int b = 0; b < SL_B; b++) {
                if (bound[b] < lim[b]) {
                    top_insert(tb[b], tp[b], bound[b], p);
                    lim[b] = tb[b][SL_TOPK - 1];
                }
            }
        }
    }
    unsigned nill = counts[0];
    for (unsigned k = seg; k < nill; k += nseg) {
        const float* q = ill_q + (size_t)k * SL_CP;
#pragma unroll
        for (int b = 0; b < SL_B; b++) {
            float v = ww[b] - proj_q(q, zn[b]);
            if (v < lim[b]) {
                top_insert(tb[b], tp[b], v, ill_pos[k]);
                lim[b] = tb[b][SL_TOPK - 1];
            }
            if (all_b != nullptr && first + b < nblocks)
                all_b[(size_t)(first + b) * SL_N + ill_pos[k]] = v;
        }
    }
#pragma unroll
    for (int b = 0; b < SL_B; b++) {
        unsigned blk = first + b;
        if (blk >= nblocks) continue;
        size_t at = ((size_t)blk * nseg + seg) * SL_TOPK;
        for (int t = 0; t < SL_TOPK; t++) {
            top_b[at + t] = tb[b][t];
            top_p[at + t] = tp[b][t];
        }
    }
}

// The slot of a block's smallest kept bound (the first of the lowest
// segment holding it).
__device__ __forceinline__ unsigned first_slot(const float* tb, unsigned nseg) {
    unsigned best = 0;
    for (unsigned s = 1; s < nseg; s++)
        if (tb[s * SL_TOPK] < tb[best]) best = s * SL_TOPK;
    return best;
}

__device__ __forceinline__ void load_z(const double* __restrict__ zk, unsigned blk, double* z, int* k) {
    for (int i = 0; i < SL_C; i++) z[i] = zk[(size_t)blk * SL_ZK + i];
    *k = (int)zk[(size_t)blk * SL_ZK + SL_C];
}

// One thread per block: fits the dependent windows and the smallest kept
// bound; the block's threshold.
extern "C" __global__ void wfit_first(
    const double* __restrict__ zk, unsigned nblocks, unsigned nseg, const int* __restrict__ centred,
    const double* __restrict__ ud, const double* __restrict__ a, const float* __restrict__ top_b,
    const unsigned* __restrict__ top_p, const unsigned* __restrict__ dep_pos,
    const unsigned* __restrict__ counts, unsigned long long* __restrict__ cand,
    double* __restrict__ thr) {
    unsigned blk = blockIdx.x * blockDim.x + threadIdx.x;
    if (blk >= nblocks) return;
    double z[SL_C];
    int k;
    load_z(zk, blk, z, &k);
    size_t base = (size_t)blk * nseg * SL_TOPK;
    unsigned f = first_slot(top_b + base, nseg);
    Best b;
    best_init(b);
    unsigned ndep = counts[1];
    for (unsigned d = 0; d < ndep; d++) woffer(centred, ud, a, dep_pos[d], z, b);
    woffer(centred, ud, a, top_p[base + f], z, b);
    thr[blk] = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
    put(cand + (base + f) * 2, b, false);
}

// One thread per (block, slot other than the first): the exact fit of the
// slot's position if its bound is within the block's threshold.
extern "C" __global__ void wfit_rest(
    const double* __restrict__ zk, unsigned nblocks, unsigned nseg, const int* __restrict__ centred,
    const double* __restrict__ ud, const double* __restrict__ a, const float* __restrict__ top_b,
    const unsigned* __restrict__ top_p, const double* __restrict__ thr,
    unsigned long long* __restrict__ cand) {
    size_t slots = (size_t)nseg * SL_TOPK;
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (size_t)nblocks * slots) return;
    unsigned blk = (unsigned)(id / slots);
    unsigned slot = (unsigned)(id % slots);
    size_t base = (size_t)blk * slots;
    if (slot == first_slot(top_b + base, nseg)) return;
    Best b;
    best_init(b);
    if ((double)top_b[base + slot] <= thr[blk]) {
        double z[SL_C];
        int k;
        load_z(zk, blk, z, &k);
        woffer(centred, ud, a, top_p[base + slot], z, b);
    } else {
        b.seed = 0;
    }
    put(cand + (base + slot) * 2, b, false);
}

// One thread per block: the best fit over the slots; flags the block when a
// position not fitted may be within the final threshold (a kept one not
// fitted, or one a segment did not keep).
extern "C" __global__ void wpick(
    const double* __restrict__ zk, unsigned nblocks, unsigned nseg, const float* __restrict__ top_b,
    const unsigned long long* __restrict__ cand, unsigned long long* __restrict__ out) {
    unsigned blk = blockIdx.x * blockDim.x + threadIdx.x;
    if (blk >= nblocks) return;
    size_t slots = (size_t)nseg * SL_TOPK;
    const float* tb = top_b + (size_t)blk * slots;
    const unsigned long long* c = cand + (size_t)blk * slots * 2;
    unsigned f = first_slot(tb, nseg);
    Best b;
    unpack(c[2 * f], c[2 * f + 1], b);
    for (unsigned t = 0; t < slots; t++) {
        if (t == f) continue;
        Best x;
        unpack(c[2 * t], c[2 * t + 1], x);
        if (x.seed != 0 && better(x.err, x.seed, b)) b = x;
    }
    int k = (int)zk[(size_t)blk * SL_ZK + SL_C];
    double thr = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
    bool flag = false;
    for (unsigned t = 0; t < slots; t++) {
        bool last = t % SL_TOPK == SL_TOPK - 1;
        bool unfitted = t != f && (c[2 * t + 1] & 0xffffffu) == 0;
        flag = flag || ((last || unfitted) && (double)tb[t] <= thr);
    }
    put(out + (size_t)blk * 2, b, flag);
}

#define RESCAN_THREADS 256
#define RESCAN_CAP 2048

// The bound of position p (< SL_N + nill) for the weighted rescan.
__device__ __forceinline__ float wbound(unsigned p, const float* __restrict__ u,
                                        const float4* __restrict__ rec,
                                        const unsigned* __restrict__ ill_pos,
                                        const float* __restrict__ ill_q, const float* wn,
                                        const float* zn, float ww, unsigned* pos) {
    if (p < SL_N) {
        *pos = p;
        float zz[SL_P];
        for (int j = 0; j < SL_P; j++) zz[j] = z_at(u, p + j, wn);
        float r[SL_REC];
        for (int q = 0; q < SL_REC / 4; q++) {
            float4 x = __ldg(rec + (size_t)p * (SL_REC / 4) + q);
            r[4 * q] = x.x;
            r[4 * q + 1] = x.y;
            r[4 * q + 2] = x.z;
            r[4 * q + 3] = x.w;
        }
        return ww - proj(r + SL_C, zz);
    }
    *pos = ill_pos[p - SL_N];
    return ww - proj_q(ill_q + (size_t)(p - SL_N) * SL_CP, zn);
}

// `rescan` for the weighted search.
extern "C" __global__ void __launch_bounds__(RESCAN_THREADS) wrescan(
    const float* __restrict__ pre, const double* __restrict__ zk, const unsigned* __restrict__ which,
    const float* __restrict__ u, const float4* __restrict__ rec, const int* __restrict__ centred,
    const double* __restrict__ ud, const double* __restrict__ a, const unsigned* __restrict__ ill_pos,
    const float* __restrict__ ill_q, const unsigned* __restrict__ counts,
    const unsigned long long* __restrict__ out, unsigned long long* __restrict__ res) {
    __shared__ unsigned s_list[RESCAN_CAP];
    __shared__ unsigned s_cnt;
    __shared__ double s_err[RESCAN_THREADS];
    __shared__ unsigned s_seed[RESCAN_THREADS];
    __shared__ unsigned s_who[RESCAN_THREADS];
    unsigned blk = which[blockIdx.x];
    float wn[SL_C], zn[SL_C];
    const float* x = pre + (size_t)blk * SL_PRE;
    for (int i = 0; i < SL_C; i++) {
        wn[i] = x[i];
        zn[i] = x[SL_C + i];
    }
    float ww = x[2 * SL_C];
    double z[SL_C];
    int k;
    load_z(zk, blk, z, &k);
    unsigned nill = counts[0];
    Best b;
    unpack(out[(size_t)blk * 2], out[(size_t)blk * 2 + 1], b);
    const double thr0 = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
    if (threadIdx.x == 0) s_cnt = 0;
    __syncthreads();
    for (unsigned p = threadIdx.x; p < SL_N + nill; p += RESCAN_THREADS) {
        unsigned pos;
        float v = wbound(p, u, rec, ill_pos, ill_q, wn, zn, ww, &pos);
        if ((double)v <= thr0) {
            unsigned i = atomicAdd(&s_cnt, 1u);
            if (i < RESCAN_CAP) s_list[i] = pos;
        }
    }
    __syncthreads();
    unsigned cnt = s_cnt;
    if (cnt <= RESCAN_CAP) {
        for (unsigned i = threadIdx.x; i < cnt; i += RESCAN_THREADS) woffer(centred, ud, a, s_list[i], z, b);
    } else {
        for (unsigned p = threadIdx.x; p < SL_N + nill; p += RESCAN_THREADS) {
            unsigned pos;
            float v = wbound(p, u, rec, ill_pos, ill_q, wn, zn, ww, &pos);
            if ((double)v <= rn_add(ldexp(b.err, 2 * k), SL_MARGIN)) woffer(centred, ud, a, pos, z, b);
        }
    }
    s_err[threadIdx.x] = b.err;
    s_seed[threadIdx.x] = b.seed;
    s_who[threadIdx.x] = threadIdx.x;
    __syncthreads();
    for (int step = RESCAN_THREADS / 2; step > 0; step >>= 1) {
        if (threadIdx.x < step) {
            unsigned a0 = threadIdx.x, c = threadIdx.x + step;
            if (s_err[c] < s_err[a0] || (s_err[c] == s_err[a0] && s_seed[c] < s_seed[a0])) {
                s_err[a0] = s_err[c];
                s_seed[a0] = s_seed[c];
                s_who[a0] = s_who[c];
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == s_who[0]) put(res + (size_t)blockIdx.x * 2, b, false);
}
#endif  // SL_WEIGHTED
