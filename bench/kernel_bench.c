/* kernel_bench.c - dense-layer kernels against OpenBLAS, side by side.
 *
 *   kernel-bench [--quick] [--reps N] [--sizes 256,512,...] [--batches 1,8,64]
 *                [--dense-only] [--blas-core]
 *
 * Every measurement is interleaved with the ones it is compared to (sluice
 * at each SIMD level, then OpenBLAS, round after round), each round times a
 * batch of calls long enough for the clock (>= 20 ms), and the table shows
 * the median over rounds.  Inputs are hot: the same weights every call, so
 * sizes that fit a cache run from it, as a model's layers do when they are
 * called again and again.  Both sides add the bias: OpenBLAS by copying it
 * into y and calling with beta = 1.  OpenBLAS runs one thread.
 *
 * Sections: (1) dense GFLOP/s at n x n, batch 1, 8, 64; (2) the rows subset
 * at 1/8, 1/4, 1/2 and all blocks active; (3) zero-skipping vs dense GEMV
 * by input sparsity, with the crossover.  --blas-core prints the OpenBLAS
 * kernel set in use and exits. */
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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *alloc_fill(int64_t n, unsigned seed, float zero_frac)
{
    float *p = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "kernel-bench: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        float u = (float)(seed >> 8) * 0x1p-24f;
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) * 0x1p-24f < zero_frac ? 0.0f : 2.0f * u - 1.0f;
    }
    return p;
}

/* One contender: a call on its own data, timed in batches. */
typedef struct job {
    const char *name;
    sl_isa isa;         /* sluice level, or SL_ISA_COUNT for OpenBLAS */
    int kind;           /* enum below */
    const float *w, *wt, *b, *x;
    float *y;
    int64_t batch, n_in, n_out, n_blocks;
    const uint8_t *active;
    int calls;          /* per timed batch, calibrated */
    double t[64];       /* seconds per call, one per round */
} job;

enum { K_DENSE, K_BATCH, K_BLOCKS, K_ZSKIP, K_BLAS_GEMV, K_BLAS_GEMM };

static void job_call(job *j)
{
    switch (j->kind) {
    case K_DENSE:
        sl_rt_dense(j->w, j->b, j->x, j->y, j->n_in, j->n_out);
        break;
    case K_BATCH:
        sl_rt_dense_batch(j->w, j->b, j->x, j->y, j->batch, j->n_in, j->n_out);
        break;
    case K_BLOCKS:
        sl_rt_dense_blocks(j->w, j->b, j->x, j->y, j->n_in, j->n_out, j->n_blocks, j->active);
        break;
    case K_ZSKIP:
        sl_rt_dense_zskip(j->wt, j->b, j->x, j->y, j->n_in, j->n_out);
        break;
#ifdef SLUICE_BENCH_OPENBLAS
    case K_BLAS_GEMV:
        memcpy(j->y, j->b, (size_t)j->n_out * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)j->n_out, (int)j->n_in, 1.0f, j->w,
                    (int)j->n_in, j->x, 1, 1.0f, j->y, 1);
        break;
    case K_BLAS_GEMM:
        for (int64_t r = 0; r < j->batch; r++)
            memcpy(j->y + r * j->n_out, j->b, (size_t)j->n_out * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->batch, (int)j->n_out,
                    (int)j->n_in, 1.0f, j->x, (int)j->n_in, j->w, (int)j->n_in, 1.0f, j->y,
                    (int)j->n_out);
        break;
#endif
    }
}

static void job_select(const job *j)
{
    if (j->isa < SL_ISA_COUNT) {
        sl_error err;
        if (sl_rt_set_isa(j->isa, &err) < 0) {
            fprintf(stderr, "kernel-bench: %s\n", err.msg);
            exit(1);
        }
    }
}

/* Calibrate each job to >= 20 ms a batch, then run rounds, interleaved. */
static void run_jobs(job *jobs, int n)
{
    for (int k = 0; k < n; k++) {
        job *j = &jobs[k];
        job_select(j);
        job_call(j); /* warm: caches, pages, lazy init */
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
            job_select(j);
            double t0 = now();
            for (int c = 0; c < j->calls; c++)
                job_call(j);
            j->t[r] = (now() - t0) / j->calls;
        }
}

static double job_median(job *j)
{
    double v[64];
    memcpy(v, j->t, (size_t)reps * sizeof *v);
    return median(v, reps);
}

static sl_isa levels[SL_ISA_COUNT]; /* SIMD levels, best first */
static int n_levels;

static int64_t batches[16] = {1, 8, 64};
static int n_batches = 3;

static void bench_dense(const int64_t *sizes, int n_sizes)
{
    printf("\n## Dense forward, n x n weights, GFLOP/s (median of %d rounds)\n\n", reps);
    printf("| n | batch |");
    for (int l = 0; l < n_levels; l++)
        printf(" sluice %s |", sl_rt_isa_name(levels[l]));
#ifdef SLUICE_BENCH_OPENBLAS
    printf(" OpenBLAS | sluice/OpenBLAS |\n|---|---|");
#else
    printf("\n|---|---|");
#endif
    for (int l = 0; l < n_levels; l++)
        printf("---|");
#ifdef SLUICE_BENCH_OPENBLAS
    printf("---|---|");
#endif
    printf("\n");
    for (int s = 0; s < n_sizes; s++)
        for (int bi = 0; bi < n_batches; bi++) {
            int64_t n = sizes[s], batch = batches[bi];
            float *w = alloc_fill(n * n, 1, 0), *b = alloc_fill(n, 2, 0);
            float *x = alloc_fill(batch * n, 3, 0), *y = alloc_fill(batch * n, 4, 0);
            job jobs[SL_ISA_COUNT + 1];
            int nj = 0;
            for (int l = 0; l < n_levels; l++)
                jobs[nj++] = (job){.name = "sluice", .isa = levels[l],
                                   .kind = batch == 1 ? K_DENSE : K_BATCH, .w = w, .b = b,
                                   .x = x, .y = y, .batch = batch, .n_in = n, .n_out = n};
#ifdef SLUICE_BENCH_OPENBLAS
            jobs[nj++] = (job){.name = "openblas", .isa = SL_ISA_COUNT,
                               .kind = batch == 1 ? K_BLAS_GEMV : K_BLAS_GEMM, .w = w, .b = b,
                               .x = x, .y = y, .batch = batch, .n_in = n, .n_out = n};
#endif
            run_jobs(jobs, nj);
            double flops = 2.0 * (double)batch * (double)n * (double)n;
            printf("| %lld | %lld |", (long long)n, (long long)batch);
            for (int k = 0; k < nj; k++)
                printf(" %.1f |", flops / job_median(&jobs[k]) * 1e-9);
#ifdef SLUICE_BENCH_OPENBLAS
            /* The best sluice level (the one dispatch picks) over OpenBLAS. */
            printf(" %.2f |", job_median(&jobs[nj - 1]) / job_median(&jobs[0]));
#endif
            printf("\n");
            fflush(stdout);
            free(w);
            free(b);
            free(x);
            free(y);
        }
}

static void bench_blocks(const int64_t *sizes, int n_sizes)
{
    printf("\n## Rows subset (sl_rt_dense_blocks, 8 blocks, batch 1), best level\n\n");
    printf("| n | active | time (us) | time / all-active time | GFLOP/s on active rows |\n");
    printf("|---|---|---|---|---|\n");
    for (int s = 0; s < n_sizes; s++) {
        int64_t n = sizes[s];
        float *w = alloc_fill(n * n, 1, 0), *b = alloc_fill(n, 2, 0);
        float *x = alloc_fill(n, 3, 0), *y = alloc_fill(n, 4, 0);
        /* Active blocks spread out (1/8: block 3; 1/4: 1, 5; ...), so the
         * kernel cannot ride one contiguous range. */
        static const uint8_t pats[4][8] = {{0, 0, 0, 1, 0, 0, 0, 0},
                                           {0, 1, 0, 0, 0, 1, 0, 0},
                                           {1, 0, 1, 0, 1, 0, 1, 0},
                                           {1, 1, 1, 1, 1, 1, 1, 1}};
        static const char *names[4] = {"1/8", "1/4", "1/2", "8/8"};
        static const double frac[4] = {0.125, 0.25, 0.5, 1.0};
        job jobs[4];
        for (int p = 0; p < 4; p++)
            jobs[p] = (job){.name = "blocks", .isa = levels[0], .kind = K_BLOCKS,
                            .w = w, .b = b, .x = x, .y = y, .n_in = n, .n_out = n,
                            .n_blocks = 8, .active = pats[p]};
        run_jobs(jobs, 4);
        double all = job_median(&jobs[3]);
        for (int p = 0; p < 4; p++) {
            double t = job_median(&jobs[p]);
            printf("| %lld | %s | %.1f | %.3f (ideal %.3f) | %.1f |\n", (long long)n, names[p],
                   t * 1e6, t / all, frac[p], 2.0 * frac[p] * n * n / t * 1e-9);
        }
        fflush(stdout);
        free(w);
        free(b);
        free(x);
        free(y);
    }
}

static void bench_zskip(const int64_t *sizes, int n_sizes)
{
    static const float zfrac[] = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f,
                                  0.6f, 0.7f, 0.8f, 0.9f, 0.95f, 0.99f};
    enum { NZ = sizeof zfrac / sizeof zfrac[0] };
    printf("\n## Zero-skipping (sl_rt_dense_zskip) vs dense GEMV, batch 1, best level\n\n");
    printf("zskip time / dense time, by fraction of inputs exactly 0 (< 1: zskip faster);\n"
           "crossover: the sparsity above which zskip stays faster (interpolated)\n\n");
    printf("| n |");
    for (int z = 0; z < NZ; z++)
        printf(" %.2f |", zfrac[z]);
    printf(" crossover |\n|---|");
    for (int z = 0; z < NZ; z++)
        printf("---|");
    printf("---|\n");
    for (int s = 0; s < n_sizes; s++) {
        int64_t n = sizes[s];
        float *w = alloc_fill(n * n, 1, 0), *wt = alloc_fill(n * n, 1, 0);
        float *b = alloc_fill(n, 2, 0), *y = alloc_fill(n, 4, 0);
        sl_rt_transpose(w, wt, n, n);
        float *xs[NZ];
        job jobs[2 * NZ];
        for (int z = 0; z < NZ; z++) {
            xs[z] = alloc_fill(n, 3, zfrac[z]);
            jobs[2 * z] = (job){.name = "dense", .isa = levels[0], .kind = K_DENSE,
                                .w = w, .b = b, .x = xs[z], .y = y, .n_in = n, .n_out = n};
            jobs[2 * z + 1] = (job){.name = "zskip", .isa = levels[0],
                                    .kind = K_ZSKIP, .wt = wt, .b = b, .x = xs[z], .y = y,
                                    .n_in = n, .n_out = n};
        }
        run_jobs(jobs, 2 * NZ);
        printf("| %lld |", (long long)n);
        double ratio[NZ];
        for (int z = 0; z < NZ; z++) {
            ratio[z] = job_median(&jobs[2 * z + 1]) / job_median(&jobs[2 * z]);
            printf(" %.2f |", ratio[z]);
        }
        /* The crossover: where the ratio last crosses 1 going up in
         * sparsity (noise can dip it below 1 earlier), interpolated. */
        int z1 = NZ;
        while (z1 > 0 && ratio[z1 - 1] < 1.0)
            z1--;
        if (z1 == NZ)
            printf(" none |\n");
        else if (z1 == 0)
            printf(" 0 (always) |\n");
        else
            printf(" %.2f |\n", zfrac[z1 - 1] + (zfrac[z1] - zfrac[z1 - 1]) *
                                                    (ratio[z1 - 1] - 1.0) /
                                                    (ratio[z1 - 1] - ratio[z1]));
        fflush(stdout);
        for (int z = 0; z < NZ; z++)
            free(xs[z]);
        free(w);
        free(wt);
        free(b);
        free(y);
    }
}

/* "256,512" -> {256, 512}; at most 16, each >= 1. */
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
    int dense_only = 0;
    int64_t sizes[16] = {256, 512, 1024, 4096};
    int n_sizes = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            reps = 3;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 64)
                reps = 7;
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            n_sizes = parse_list(argv[++i], sizes);
        } else if (!strcmp(argv[i], "--batches") && i + 1 < argc) {
            n_batches = parse_list(argv[++i], batches);
        } else if (!strcmp(argv[i], "--dense-only")) {
            dense_only = 1;
        } else if (!strcmp(argv[i], "--blas-core")) {
#ifdef SLUICE_BENCH_OPENBLAS
            printf("%s\n", openblas_get_corename());
#else
            printf("none\n");
#endif
            return 0;
        } else {
            fprintf(stderr, "usage: kernel-bench [--quick] [--reps N] [--sizes 256,512,...] "
                            "[--batches 1,8,64] [--dense-only]\n");
            return 2;
        }
    }
    sl_error err;
    if (sl_rt_init(&err) < 0) {
        fprintf(stderr, "kernel-bench: %s\n", err.msg);
        return 1;
    }
    for (int l = 0; l < SL_ISA_COUNT; l++)
        if (sl_rt_isa_supported((sl_isa)l) && l != SL_ISA_SCALAR)
            levels[n_levels++] = (sl_isa)l;
    if (n_levels == 0)
        levels[n_levels++] = SL_ISA_SCALAR;
    /* Best level first: it is the one the ratio column uses. */
    for (int l = 0; l < n_levels / 2; l++) {
        sl_isa t = levels[l];
        levels[l] = levels[n_levels - 1 - l];
        levels[n_levels - 1 - l] = t;
    }
#ifdef SLUICE_BENCH_OPENBLAS
    openblas_set_num_threads(1);
    printf("- OpenBLAS: %s kernels, 1 thread\n", openblas_get_corename());
#else
    printf("- OpenBLAS: not built in (scripts/install-deps --bench)\n");
#endif
    printf("- sluice: dispatch picks %s\n", sl_rt_isa_name(sl_rt_isa()));
    bench_dense(sizes, n_sizes);
    if (dense_only)
        return 0;
    bench_blocks(sizes, n_sizes);
    bench_zskip(sizes, n_sizes);
    return 0;
}
