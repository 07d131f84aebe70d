/* kernel_bench.c - the dense layer (sl_rt_dense_rows) against OpenBLAS and
 * against the FMA peak of the core it runs on.
 *
 *   kernel-bench [--quick] [--reps N] [--sizes 256,512,512x1024,...]
 *                [--batches 1,8,64,360] [--dense-only] [--attention-only]
 *                [--blas-core]
 *
 * A size is n (n x n weights) or n_in x n_out.  Every measurement is
 * interleaved with the ones it is compared to, round after round: the FMA
 * peak loop of each SIMD level next to that level's kernel, then OpenBLAS.
 * Each round times a batch of calls long enough for the clock (>= 20 ms);
 * the tables show medians over rounds, and each ratio is taken within a
 * round (kernel over the peak, or over OpenBLAS, measured seconds apart)
 * before its median, so a neighbour's load on this shared machine moves
 * both sides of it.  Inputs are hot: the same weights every call, as a
 * model's layers are when it runs batch after batch.  Both sides add the
 * bias: OpenBLAS by copying it into y and calling with beta = 1
 * (cblas_sgemv at batch 1, cblas_sgemm above), one thread.
 *
 * Sections: (1) GFLOP/s by shape and batch, with the fraction of the peak;
 * (2) time over a scattered subset of 360 rows against all of them; (3) a
 * row alone with zero-skipping against without, by fraction of zero
 * inputs; (4) attention (sl_rt_attention) by sequence length, at each
 * level, against the same peak.  --blas-core prints the OpenBLAS kernel
 * set in use and exits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/kernels.h"

#ifdef SLUICE_BENCH_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_PEAK 1
#endif

static int reps = 7;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[64];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static void *xalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "kernel-bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* n floats in [-1, 1), a fraction zero_frac of them exactly 0. */
static float *alloc_fill(int64_t n, unsigned seed, float zero_frac)
{
    float *p = xalloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        float u = (float)(seed >> 8) * 0x1p-24f;
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) * 0x1p-24f < zero_frac ? 0.0f : 2.0f * u - 1.0f;
    }
    return p;
}

/* ---- the FMA peak ------------------------------------------------------- */

/* Independent FMA chains, enough to cover the FMA latency (4 cycles) times
 * the FMA ports (2): 24 zmm chains (of 32 registers) for AVX-512, 12 ymm
 * (of 16) for AVX2.  acc = acc * a + c converges to c / (1 - a) = 1, far
 * from subnormals and overflow.  The result feeds a volatile sink, so the
 * loop stays. */
#define PEAK_ITERS 4096
static volatile float peak_sink;

#ifdef HAVE_PEAK
#define PEAK_LOOP(V, SET1, FMA, ADD, N)                                      \
    V a = SET1(0.999999f), c = SET1(1e-6f), acc[N];                          \
    for (int j = 0; j < N; j++)                                              \
        acc[j] = SET1(1.0f + 0.001f * (float)j);                             \
    for (int64_t i = 0; i < iters; i++) {                                    \
        _Pragma("GCC unroll 24") for (int j = 0; j < N; j++)                 \
            acc[j] = FMA(acc[j], a, c);                                      \
    }                                                                        \
    for (int j = 1; j < N; j++)                                              \
        acc[0] = ADD(acc[0], acc[j]);                                        \
    float out[sizeof(V) / sizeof(float)];                                    \
    memcpy(out, &acc[0], sizeof out);                                        \
    peak_sink = out[0];

__attribute__((target("avx512f"), noinline)) static void peak_zmm(int64_t iters)
{
    PEAK_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 24)
}

__attribute__((target("avx2,fma"), noinline)) static void peak_ymm(int64_t iters)
{
    PEAK_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 12)
}
#endif

/* ---- jobs: one contender each, timed in interleaved rounds -------------- */

enum { K_ROWS, K_PEAK_ZMM, K_PEAK_YMM, K_BLAS_GEMV, K_BLAS_GEMM, K_ATTENTION };

typedef struct job {
    int kind;
    const sl_dense_pack *p;      /* K_ROWS */
    const float *w, *b, *x;      /* w, b: OpenBLAS */
    float *y;
    const int32_t *rows;         /* K_ROWS: NULL for 0 .. n-1 */
    int64_t n, n_in, n_out;      /* rows (batch), shape */
    int zero_skip;
    sl_isa isa;                  /* K_ATTENTION: the level it runs at */
    int64_t d, heads;            /* K_ATTENTION: x is qkv, n tokens */
    int causal;
    float *scratch;
    double flops;                /* per call */
    int calls;                   /* per timed batch, calibrated */
    double t[64];                /* seconds per call, one per round */
} job;

static void job_call(const job *j)
{
    switch (j->kind) {
    case K_ROWS:
        sl_rt_dense_rows(j->p, j->x, j->n_in, j->y, j->n_out, j->rows, j->n, j->zero_skip);
        break;
    case K_ATTENTION:
        /* Switch only when needed: sl_rt_set_isa runs CPUID (slow in a VM). */
        if (sl_rt_isa() != j->isa)
            sl_rt_set_isa(j->isa, NULL);
        sl_rt_attention(j->x, 3 * j->d, j->y, j->d, j->n, j->d, j->heads, j->causal,
                        j->scratch);
        break;
#ifdef HAVE_PEAK
    case K_PEAK_ZMM:
        peak_zmm(PEAK_ITERS);
        break;
    case K_PEAK_YMM:
        peak_ymm(PEAK_ITERS);
        break;
#endif
#ifdef SLUICE_BENCH_OPENBLAS
    case K_BLAS_GEMV:
        memcpy(j->y, j->b, (size_t)j->n_out * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)j->n_out, (int)j->n_in, 1.0f, j->w,
                    (int)j->n_in, j->x, 1, 1.0f, j->y, 1);
        break;
    case K_BLAS_GEMM:
        for (int64_t r = 0; r < j->n; r++)
            memcpy(j->y + r * j->n_out, j->b, (size_t)j->n_out * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->n, (int)j->n_out,
                    (int)j->n_in, 1.0f, j->x, (int)j->n_in, j->w, (int)j->n_in, 1.0f, j->y,
                    (int)j->n_out);
        break;
#endif
    default:
        break;
    }
}

static job peak_job(sl_isa isa)
{
    int zmm = isa == SL_ISA_AVX512;
    return (job){.kind = zmm ? K_PEAK_ZMM : K_PEAK_YMM,
                 .flops = 2.0 * PEAK_ITERS * (zmm ? 24 * 16 : 12 * 8)};
}

/* Calibrate each job to >= 20 ms a batch, then run rounds, interleaved. */
static void run_jobs(job *jobs, int n)
{
    for (int k = 0; k < n; k++) {
        job *j = &jobs[k];
        job_call(j); /* warm: caches, pages */
        int calls = 1;
        for (;;) {
            double t0 = now();
            for (int c = 0; c < calls; c++)
                job_call(j);
            double dt = now() - t0;
            if (dt >= 0.02 || calls >= (1 << 24))
                break;
            calls = dt > 0 ? (int)fmin(calls * 2.0, calls * 0.025 / dt + 1) : calls * 2;
        }
        j->calls = calls;
    }
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < n; k++) {
            job *j = &jobs[k];
            double t0 = now();
            for (int c = 0; c < j->calls; c++)
                job_call(j);
            j->t[r] = (now() - t0) / j->calls;
        }
}

static double gflops(const job *j)
{
    double v[64];
    for (int r = 0; r < reps; r++)
        v[r] = j->flops / j->t[r] * 1e-9;
    return median(v, reps);
}

/* Median over rounds of a's rate over b's rate in the same round. */
static double rate_ratio(const job *a, const job *b)
{
    double v[64];
    for (int r = 0; r < reps; r++)
        v[r] = (a->flops / a->t[r]) / (b->flops / b->t[r]);
    return median(v, reps);
}

/* Median over rounds of a's time over b's time in the same round. */
static double time_ratio(const job *a, const job *b)
{
    double v[64];
    for (int r = 0; r < reps; r++)
        v[r] = a->t[r] / b->t[r];
    return median(v, reps);
}

static double job_median(const job *j)
{
    return median(j->t, reps);
}

/* ---- the sections ------------------------------------------------------- */

static sl_isa levels[SL_ISA_COUNT]; /* SIMD levels, best first (else scalar) */
static int n_levels;
static int have_peak;               /* levels are SIMD: a peak loop each */

static int64_t batches[16] = {1, 8, 64, 360};
static int n_batches = 4;

typedef struct shape {
    int64_t n_in, n_out;
} shape;

static sl_dense_pack *pack_at(sl_isa isa, const float *w, const float *b, int64_t n_in,
                              int64_t n_out)
{
    sl_error err;
    sl_dense_pack *p = NULL;
    if (sl_rt_set_isa(isa, &err) < 0 || !(p = sl_rt_dense_pack(w, b, n_in, n_out, &err))) {
        fprintf(stderr, "kernel-bench: %s\n", err.msg);
        exit(1);
    }
    return p;
}

static void print_shape(const shape *s)
{
    if (s->n_in == s->n_out)
        printf("| %lld |", (long long)s->n_in);
    else
        printf("| %lld -> %lld |", (long long)s->n_in, (long long)s->n_out);
}

/* The worst fraction of the peak at 64+ rows, per level (the target). */
static double worst_frac[SL_ISA_COUNT] = {2, 2, 2};

static void bench_dense(const shape *shapes, int n_shapes)
{
    printf("\n## Dense forward (sl_rt_dense_rows), GFLOP/s and fraction of one core's FMA "
           "peak (median of %d rounds)\n\n", reps);
    printf("Peak: an FMA-only loop (24 zmm chains for avx512, 12 ymm for avx2) run in the\n"
           "same rounds; \"of peak\" is the median over rounds of kernel / peak in that "
           "round.\n\n");
    printf("| shape | batch |");
    for (int l = 0; l < n_levels; l++)
        printf(" %s GFLOP/s |%s", sl_rt_isa_name(levels[l]), have_peak ? " of peak |" : "");
#ifdef SLUICE_BENCH_OPENBLAS
    printf(" OpenBLAS GFLOP/s |%s %s / OpenBLAS |", have_peak ? " of peak |" : "",
           sl_rt_isa_name(levels[0]));
#endif
    printf("\n|---|---|");
    for (int l = 0; l < n_levels; l++)
        printf(have_peak ? "---|---|" : "---|");
#ifdef SLUICE_BENCH_OPENBLAS
    printf(have_peak ? "---|---|---|" : "---|---|");
#endif
    printf("\n");
    enum { MAX_PEAKS = 64 * 64 };
    static double peak_all[SL_ISA_COUNT][MAX_PEAKS]; /* FLOP/s, every round */
    int n_peak = 0;
    for (int s = 0; s < n_shapes; s++) {
        int64_t n_in = shapes[s].n_in, n_out = shapes[s].n_out;
        float *w = alloc_fill(n_in * n_out, 1, 0), *b = alloc_fill(n_out, 2, 0);
        sl_dense_pack *packs[SL_ISA_COUNT];
        for (int l = 0; l < n_levels; l++)
            packs[l] = pack_at(levels[l], w, b, n_in, n_out);
        for (int bi = 0; bi < n_batches; bi++) {
            int64_t n = batches[bi];
            float *x = alloc_fill(n * n_in, 3, 0), *y = alloc_fill(n * n_out, 4, 0);
            double flops = 2.0 * (double)n * (double)n_in * (double)n_out;
            job jobs[2 * SL_ISA_COUNT + 1];
            int nj = 0, kern[SL_ISA_COUNT], peak[SL_ISA_COUNT];
            for (int l = 0; l < n_levels; l++) {
                if (have_peak) {
                    peak[l] = nj;
                    jobs[nj++] = peak_job(levels[l]);
                }
                kern[l] = nj;
                jobs[nj++] = (job){.kind = K_ROWS, .p = packs[l], .x = x, .y = y, .n = n,
                                   .n_in = n_in, .n_out = n_out, .flops = flops};
            }
#ifdef SLUICE_BENCH_OPENBLAS
            int blas = nj;
            jobs[nj++] = (job){.kind = n == 1 ? K_BLAS_GEMV : K_BLAS_GEMM, .w = w, .b = b,
                               .x = x, .y = y, .n = n, .n_in = n_in, .n_out = n_out,
                               .flops = flops};
#endif
            run_jobs(jobs, nj);
            print_shape(&shapes[s]);
            printf(" %lld |", (long long)n);
            for (int l = 0; l < n_levels; l++) {
                printf(" %.1f |", gflops(&jobs[kern[l]]));
                if (have_peak) {
                    double f = rate_ratio(&jobs[kern[l]], &jobs[peak[l]]);
                    printf(" %.0f%% |", 100 * f);
                    if (n >= 64 && f < worst_frac[l])
                        worst_frac[l] = f;
                    for (int r = 0; r < reps && n_peak + r < MAX_PEAKS; r++)
                        peak_all[l][n_peak + r] = jobs[peak[l]].flops / jobs[peak[l]].t[r];
                }
            }
            if (have_peak && n_peak + reps <= MAX_PEAKS)
                n_peak += reps;
#ifdef SLUICE_BENCH_OPENBLAS
            printf(" %.1f |", gflops(&jobs[blas]));
            if (have_peak)
                printf(" %.0f%% |", 100 * rate_ratio(&jobs[blas], &jobs[peak[0]]));
            printf(" %.2f |", rate_ratio(&jobs[kern[0]], &jobs[blas]));
#endif
            printf("\n");
            fflush(stdout);
            free(x);
            free(y);
        }
        for (int l = 0; l < n_levels; l++)
            sl_rt_dense_pack_free(packs[l]);
        free(w);
        free(b);
    }
    if (!have_peak)
        return;
    printf("\n");
    for (int l = 0; l < n_levels && n_peak > 0; l++) {
        qsort(peak_all[l], (size_t)n_peak, sizeof(double), cmp_double);
        printf("- %s FMA peak over all rounds: median %.1f GFLOP/s (%.1f to %.1f)\n",
               sl_rt_isa_name(levels[l]), peak_all[l][n_peak / 2] * 1e-9,
               peak_all[l][0] * 1e-9, peak_all[l][n_peak - 1] * 1e-9);
    }
    for (int l = 0; l < n_levels; l++)
        if (worst_frac[l] <= 1.5)
            printf("- target \"GEMM >= 80%% of the FMA peak at 64+ rows\", %s: lowest %.0f%% "
                   "-> %s\n", sl_rt_isa_name(levels[l]), 100 * worst_frac[l],
                   worst_frac[l] >= 0.8 ? "met" : "NOT met");
}

/* Scattered subsets of 360 rows (ascending lists, as the generated code
 * makes them), at the best level. */
static void bench_subset(const shape *shapes, int n_shapes)
{
    enum { ROWS = 360, NF = 4 };
    static const int den[NF] = {8, 4, 2, 1};
    printf("\n## A subset of 360 rows (%s), scattered rows, median of %d rounds\n\n",
           sl_rt_isa_name(levels[0]), reps);
    printf("| shape | rows | time (us) | time / all rows | ideal | GFLOP/s |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int s = 0; s < n_shapes; s++) {
        int64_t n_in = shapes[s].n_in, n_out = shapes[s].n_out;
        float *w = alloc_fill(n_in * n_out, 1, 0), *b = alloc_fill(n_out, 2, 0);
        float *x = alloc_fill(ROWS * n_in, 3, 0), *y = alloc_fill(ROWS * n_out, 4, 0);
        sl_dense_pack *p = pack_at(levels[0], w, b, n_in, n_out);
        int32_t lists[NF][ROWS];
        job jobs[NF];
        unsigned seed = 12345;
        for (int f = 0; f < NF; f++) {
            /* Selection sampling: ROWS / den rows of ROWS, ascending. */
            int64_t need = ROWS / den[f], got = 0;
            for (int64_t r = 0; r < ROWS && got < need; r++) {
                seed = seed * 1664525u + 1013904223u;
                if ((int64_t)((seed >> 8) % (uint64_t)(ROWS - r)) < need - got)
                    lists[f][got++] = (int32_t)r;
            }
            jobs[f] = (job){.kind = K_ROWS, .p = p, .x = x, .y = y, .rows = lists[f],
                            .n = need, .n_in = n_in, .n_out = n_out,
                            .flops = 2.0 * (double)need * (double)n_in * (double)n_out};
        }
        run_jobs(jobs, NF);
        for (int f = 0; f < NF; f++) {
            print_shape(&shapes[s]);
            printf(" %lld (%s) | %.1f | %.3f | %.3f | %.1f |\n", (long long)jobs[f].n,
                   den[f] == 1 ? "all" : den[f] == 2 ? "1/2" : den[f] == 4 ? "1/4" : "1/8",
                   job_median(&jobs[f]) * 1e6, time_ratio(&jobs[f], &jobs[NF - 1]),
                   1.0 / den[f], gflops(&jobs[f]));
        }
        fflush(stdout);
        sl_rt_dense_pack_free(p);
        free(w);
        free(b);
        free(x);
        free(y);
    }
}

/* A row alone, zero_skip 1 over zero_skip 0, by fraction of zero inputs,
 * at the best level (square shapes only). */
static void bench_zskip(const shape *shapes, int n_shapes)
{
    static const float zfrac[] = {0.0f, 0.25f, 0.5f, 0.75f, 0.9f};
    enum { NZ = sizeof zfrac / sizeof zfrac[0] };
    printf("\n## A row alone: zero-skipping over no skipping (%s), by fraction of inputs "
           "exactly 0, median of %d rounds\n\n", sl_rt_isa_name(levels[0]), reps);
    printf("(< 1: zero-skipping is faster; no-skip time in us in parentheses)\n\n| n |");
    for (int z = 0; z < NZ; z++)
        printf(" %.2f |", zfrac[z]);
    printf("\n|---|");
    for (int z = 0; z < NZ; z++)
        printf("---|");
    printf("\n");
    for (int s = 0; s < n_shapes; s++) {
        int64_t n_in = shapes[s].n_in, n_out = shapes[s].n_out;
        if (n_in != n_out)
            continue;
        float *w = alloc_fill(n_in * n_out, 1, 0), *b = alloc_fill(n_out, 2, 0);
        float *y = alloc_fill(n_out, 4, 0);
        sl_dense_pack *p = pack_at(levels[0], w, b, n_in, n_out);
        float *xs[NZ];
        job jobs[2 * NZ];
        for (int z = 0; z < NZ; z++) {
            xs[z] = alloc_fill(n_in, 3, zfrac[z]);
            for (int zs = 0; zs < 2; zs++)
                jobs[2 * z + zs] = (job){.kind = K_ROWS, .p = p, .x = xs[z], .y = y, .n = 1,
                                         .n_in = n_in, .n_out = n_out, .zero_skip = zs,
                                         .flops = 2.0 * (double)n_in * (double)n_out};
        }
        run_jobs(jobs, 2 * NZ);
        printf("| %lld |", (long long)n_in);
        for (int z = 0; z < NZ; z++)
            printf(" %.2f (%.1f) |", time_ratio(&jobs[2 * z + 1], &jobs[2 * z]),
                   job_median(&jobs[2 * z]) * 1e6);
        printf("\n");
        fflush(stdout);
        for (int z = 0; z < NZ; z++)
            free(xs[z]);
        sl_rt_dense_pack_free(p);
        free(w);
        free(b);
        free(y);
    }
}

/* Attention over one sequence at each level, next to that level's peak:
 * d 64, 4 heads (dh 16), causal or not.  FLOPs as docs/kernels.md counts
 * them: 2 n^2 d for the scores, n^2 heads for the softmax, 2 n^2 d for the
 * weighted sum (causal counted as the full square too). */
static void bench_attention(void)
{
    static const int64_t ns[] = {16, 64, 256};
    const int64_t d = 64, heads = 4;
    printf("\n## Attention (sl_rt_attention), d %lld, %lld heads, GFLOP/s and fraction of the "
           "FMA peak (median of %d rounds)\n\n", (long long)d, (long long)heads, reps);
    printf("FLOPs: 4 n^2 d + n^2 heads, causal counted as the full square.\n\n");
    printf("| n | causal | us per call (%s) |", sl_rt_isa_name(levels[0]));
    for (int l = 0; l < n_levels; l++)
        printf(" %s GFLOP/s |%s", sl_rt_isa_name(levels[l]), have_peak ? " of peak |" : "");
    printf("\n|---|---|---|");
    for (int l = 0; l < n_levels; l++)
        printf(have_peak ? "---|---|" : "---|");
    printf("\n");
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int causal = 0; causal < 2; causal++) {
            int64_t n = ns[i];
            float *qkv = alloc_fill(n * 3 * d, 5, 0), *y = alloc_fill(n * d, 6, 0);
            float *scratch = xalloc((size_t)sl_rt_attention_scratch(n, d, heads) * sizeof(float));
            job jobs[2 * SL_ISA_COUNT];
            int nj = 0, kern[SL_ISA_COUNT], peak[SL_ISA_COUNT];
            for (int l = 0; l < n_levels; l++) {
                if (have_peak) {
                    peak[l] = nj;
                    jobs[nj++] = peak_job(levels[l]);
                }
                kern[l] = nj;
                jobs[nj++] = (job){.kind = K_ATTENTION, .isa = levels[l], .x = qkv, .y = y,
                                   .n = n, .d = d, .heads = heads, .causal = causal,
                                   .scratch = scratch,
                                   .flops = (double)n * (double)n * (4.0 * d + heads)};
            }
            run_jobs(jobs, nj);
            printf("| %lld | %d | %.2f |", (long long)n, causal, job_median(&jobs[kern[0]]) * 1e6);
            for (int l = 0; l < n_levels; l++) {
                printf(" %.1f |", gflops(&jobs[kern[l]]));
                if (have_peak)
                    printf(" %.0f%% |", 100 * rate_ratio(&jobs[kern[l]], &jobs[peak[l]]));
            }
            printf("\n");
            fflush(stdout);
            free(qkv);
            free(y);
            free(scratch);
        }
}

/* "256,512x1024" -> {256, 256}, {512, 1024}; at most 16, each >= 1. */
static int parse_shapes(char *p, shape *out)
{
    int n = 0;
    while (*p && n < 16) {
        int64_t a = strtoll(p, &p, 10), c = a;
        if (*p == 'x')
            c = strtoll(p + 1, &p, 10);
        if (a >= 1 && c >= 1)
            out[n++] = (shape){a, c};
        if (*p != ',')
            break;
        p++;
    }
    return n;
}

static int parse_list(char *p, int64_t *out)
{
    int n = 0;
    while (*p && n < 16) {
        int64_t v = strtoll(p, &p, 10);
        if (v >= 1)
            out[n++] = v;
        if (*p != ',')
            break;
        p++;
    }
    return n;
}

int main(int argc, char **argv)
{
    int dense_only = 0, attention_only = 0;
    shape shapes[16] = {{256, 256},   {512, 512},   {1024, 1024},
                        {4096, 4096}, {512, 1024},  {1024, 512}};
    int n_shapes = 6;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            reps = 3;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 64)
                reps = 7;
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            n_shapes = parse_shapes(argv[++i], shapes);
        } else if (!strcmp(argv[i], "--batches") && i + 1 < argc) {
            n_batches = parse_list(argv[++i], batches);
        } else if (!strcmp(argv[i], "--dense-only")) {
            dense_only = 1;
        } else if (!strcmp(argv[i], "--attention-only")) {
            attention_only = 1;
        } else if (!strcmp(argv[i], "--blas-core")) {
#ifdef SLUICE_BENCH_OPENBLAS
            printf("%s\n", openblas_get_corename());
#else
            printf("none\n");
#endif
            return 0;
        } else {
            fprintf(stderr, "usage: kernel-bench [--quick] [--reps N] "
                            "[--sizes 256,512,512x1024,...] [--batches 1,8,64,360] "
                            "[--dense-only] [--attention-only] [--blas-core]\n");
            return 2;
        }
    }
    sl_error err;
    if (sl_rt_init(&err) < 0) {
        fprintf(stderr, "kernel-bench: %s\n", err.msg);
        return 1;
    }
    sl_isa picked = sl_rt_isa();
    for (int l = SL_ISA_COUNT - 1; l > SL_ISA_SCALAR; l--)
        if (sl_rt_isa_supported((sl_isa)l))
            levels[n_levels++] = (sl_isa)l;
#ifdef HAVE_PEAK
    have_peak = n_levels > 0;
#endif
    if (n_levels == 0)
        levels[n_levels++] = SL_ISA_SCALAR;
#ifdef SLUICE_BENCH_OPENBLAS
    openblas_set_num_threads(1);
    printf("- OpenBLAS: %s kernels, 1 thread\n", openblas_get_corename());
#else
    printf("- OpenBLAS: not built in (scripts/install-deps --bench)\n");
#endif
    printf("- sluice: dispatch picks %s\n", sl_rt_isa_name(picked));
    if (attention_only) {
        bench_attention();
        return 0;
    }
    bench_dense(shapes, n_shapes);
    if (dense_only)
        return 0;
    bench_subset(shapes, n_shapes);
    bench_zskip(shapes, n_shapes);
    bench_attention();
    return 0;
}
