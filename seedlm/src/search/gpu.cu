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
//   fit_top   one thread per block: exact f64 fits of the kept positions in
//             increasing bound order; flags the block when a position it
//             did not keep could still win;
//   rescan    one thread-block per flagged block: bounds every position
//             again and fits each one under the (shrinking) threshold.
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
// `fit` for the centred window `u` (C*P ints, row-major C x P).
__device__ FitResult fit_window(const int* __restrict__ u, const double* w) {
    double qc[SL_P][SL_C];
    double r[SL_P][SL_P];
    bool keep[SL_P];
    for (int j = 0; j < SL_P; j++) {
        keep[j] = false;
        for (int k = 0; k < SL_P; k++) r[j][k] = 0.0;
        for (int i = 0; i < SL_C; i++) qc[j][i] = (double)u[i * SL_P + j] / SL_UNIT;
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
            double scale = pow2(e) / SL_UNIT;
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
__device__ void offer(const int* __restrict__ centred, unsigned pos, const double* w, Best& b) {
    FitResult f = fit_window(centred + pos + 1, w);
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

// Result record of one block, written by fit_top and rescan.
struct Out {
    double err;
    unsigned seed;
    int exp;
    int q[8];
    int flagged;  // 1: a position not kept by the scan may still win
    int pad;
};

__device__ void write_out(Out* o, const Best& b, int flagged) {
    o->err = b.err;
    o->seed = b.seed;
    o->exp = b.exp;
    for (int j = 0; j < 8; j++) o->q[j] = j < SL_P ? b.q[j] : 0;
    o->flagged = flagged;
}

// The all-zero block: seed 1, the lowest exponent, zero mantissas, error 0.
__device__ void zero_out(Out* o) {
    Best b;
    best_init(b);
    b.err = 0.0;
    b.seed = 1;
    write_out(o, b, 0);
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
// Kernels.

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

// One thread per block: fits the kept positions (and the windows with
// dependent columns) in increasing bound order while the bound is within
// the threshold; flags the block if its last kept bound is within it too.
extern "C" __global__ void fit_top(
    const float* __restrict__ w, unsigned nblocks, const int* __restrict__ centred,
    const float* __restrict__ top_b, const unsigned* __restrict__ top_p,
    const unsigned* __restrict__ dep_pos, unsigned ndep, Out* __restrict__ out) {
    unsigned blk = blockIdx.x * blockDim.x + threadIdx.x;
    if (blk >= nblocks) return;
    double w64[SL_C], ww;
    float wn[SL_C];
    int k;
    if (!normalise(w + (size_t)blk * SL_C, w64, wn, &ww, &k)) {
        zero_out(out + blk);
        return;
    }
    Best b;
    best_init(b);
    for (unsigned d = 0; d < ndep; d++) offer(centred, dep_pos[d], w64, b);
    const float* tb = top_b + (size_t)blk * SL_TOPK;
    const unsigned* tp = top_p + (size_t)blk * SL_TOPK;
    for (int t = 0; t < SL_TOPK; t++) {
        double thr = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
        if ((double)tb[t] > thr) break;
        offer(centred, tp[t], w64, b);
    }
    double thr = rn_add(ldexp(b.err, 2 * k), SL_MARGIN);
    write_out(out + blk, b, (double)tb[SL_TOPK - 1] > thr ? 0 : 1);
}

#define RESCAN_THREADS 256

// One thread-block per flagged block (`which` lists them): every position's
// bound, and the exact fit of each one within the threshold, which starts
// at the block's best from fit_top and shrinks per thread.
extern "C" __global__ void __launch_bounds__(RESCAN_THREADS) rescan(
    const float* __restrict__ w, const unsigned* __restrict__ which,
    const float* __restrict__ u, const float4* __restrict__ rec,
    const int* __restrict__ centred, const unsigned* __restrict__ ill_pos,
    const float* __restrict__ ill_q, unsigned nill, Out* __restrict__ out) {
    unsigned blk = which[blockIdx.x];
    double w64[SL_C], ww;
    float wn[SL_C];
    int k;
    normalise(w + (size_t)blk * SL_C, w64, wn, &ww, &k);
    float wwf = (float)ww;
    Out* o = out + blk;
    Best b;
    best_init(b);
    b.err = o->err;
    b.seed = o->seed;
    b.exp = o->exp;
    for (int j = 0; j < SL_P; j++) b.q[j] = o->q[j];
    for (unsigned p = threadIdx.x; p < SL_N; p += RESCAN_THREADS) {
        float zz[SL_P];
        for (int j = 0; j < SL_P; j++) zz[j] = z_at(u, p + j, wn);
        float r[SL_REC];
        for (int v = 0; v < SL_REC / 4; v++) {
            float4 x = __ldg(rec + (size_t)p * (SL_REC / 4) + v);
            r[4 * v] = x.x;
            r[4 * v + 1] = x.y;
            r[4 * v + 2] = x.z;
            r[4 * v + 3] = x.w;
        }
        float v = wwf - proj(r + SL_C, zz);
        if ((double)v <= rn_add(ldexp(b.err, 2 * k), SL_MARGIN)) offer(centred, p, w64, b);
    }
    for (unsigned i = threadIdx.x; i < nill; i += RESCAN_THREADS) {
        float v = wwf - proj_q(ill_q + (size_t)i * SL_CP, wn);
        if ((double)v <= rn_add(ldexp(b.err, 2 * k), SL_MARGIN)) offer(centred, ill_pos[i], w64, b);
    }
    // Reduce (err, seed) over the thread-block.
    __shared__ double s_err[RESCAN_THREADS];
    __shared__ unsigned s_seed[RESCAN_THREADS];
    __shared__ unsigned s_who[RESCAN_THREADS];
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
    if (threadIdx.x == s_who[0]) write_out(o, b, 0);
}
