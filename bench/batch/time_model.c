/* time_model.c - time one Sluice model in-process, for bench/run-batch.
 *
 * Linked against a model built with `sluicec --emit=lib -O2 M.slu -o
 * DIR/libM.a`; which model is chosen at compile time:
 *
 *   cc -O2 -I runtime/include -DSL_MODEL_DESC=M_model \
 *      bench/batch/time_model.c DIR/libM.a -ljansson -lm -lpthread
 *
 *   time_model [--force-exit never] [--set NAME=VALUE]... WEIGHTS INPUTS.npy
 *
 * INPUTS.npy is [N, in_size].  At start the harness runs the N inputs as
 * one batch and one by one, and prints one line:
 *
 *   info model=M n=N threads=yes|no mean_flops=F dense_flops=D invariant=yes|no exits=a,b,...
 *
 * mean_flops is the ledger's mean over the N inputs; invariant says whether
 * the batch run, the one-by-one runs and (with threads) the batch run on
 * two threads gave the same outputs, exits, decisions and FLOPs, bit for
 * bit (the batch-invariance promise).  Then it
 * reads commands on stdin, one per line, and answers each with one line:
 *
 *   run BATCH THREADS MIN_SECONDS  ->  us US_PER_INPUT passes P
 *                                      na REASON      (threads refused)
 *   quit
 *
 * (by hand: printf 'run 1 1 0.5\nrun 360 1 0.5\n' | time_model W.safetensors X.npy)
 *
 * A pass runs ceil(N / BATCH) calls of sl_model_run over BATCH rows each,
 * the inputs tiled cyclically (BATCH 1: the N inputs one per call; BATCH N:
 * one call).  After one untimed pass, passes repeat until MIN_SECONDS have
 * gone by (at least one); the answer is the time per input over them. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/model.h"
#include "sluice/npy.h"

#ifndef SL_MODEL_DESC
#error "compile with -DSL_MODEL_DESC=<model>_model"
#endif

extern const sl_model_desc SL_MODEL_DESC;


static void die(const char *what, const char *msg)
{
    fprintf(stderr, "time_model: error: %s%s%s\n", what, msg ? ": " : "", msg ? msg : "");
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory", NULL);
    return p;
}

static int same_row(const sl_model_desc *d, const float *ya, const sl_ledger *a, int64_t i,
                    const float *yb, const sl_ledger *b, int64_t j)
{
    return memcmp(ya + i * d->out_size, yb + j * d->out_size, (size_t)d->out_size * sizeof(float)) == 0 &&
           a->exits[i] == b->exits[j] && a->flops[i] == b->flops[j] &&
           memcmp(a->slots + i * d->n_slots, b->slots + j * d->n_slots,
                  (size_t)d->n_slots * sizeof(int32_t)) == 0;
}

/* The N inputs as one batch on one thread, one by one, and (when the
 * runtime has threads) as one batch on two threads: the same bits
 * everywhere?  `all` gets the ledger of the one-thread batch. */
static int batch_invariant(sl_model *m, const sl_model_desc *d, const float *x, int64_t n,
                           sl_ledger *all, int threads)
{
    sl_error err;
    size_t ybytes = (size_t)(n * d->out_size) * sizeof(float);
    float *y_all = xmalloc(ybytes), *y_two = xmalloc(ybytes);
    float *y_one = xmalloc((size_t)d->out_size * sizeof(float));
    sl_ledger one, two;
    if (sl_ledger_alloc(&one, d, 1, &err) != 0 || sl_ledger_alloc(&two, d, n, &err) != 0)
        die("ledger", err.msg);
    if (sl_model_set_threads(m, 1, &err) != 0 || sl_model_run(m, n, x, y_all, all, &err) != 0)
        die("run", err.msg);
    int same = 1;
    for (int64_t i = 0; i < n; i++) {
        if (sl_model_run(m, 1, x + i * d->in_size, y_one, &one, &err) != 0)
            die("run", err.msg);
        same &= same_row(d, y_one, &one, 0, y_all, all, i);
    }
    if (threads) {
        if (sl_model_set_threads(m, 2, &err) != 0 || sl_model_run(m, n, x, y_two, &two, &err) != 0)
            die("run", err.msg);
        for (int64_t i = 0; i < n; i++)
            same &= same_row(d, y_two, &two, i, y_all, all, i);
    }
    sl_ledger_free(&two);
    sl_ledger_free(&one);
    free(y_one);
    free(y_two);
    free(y_all);
    return same;
}

/* µs per input at this batch size; *passes gets the timed passes. */
static double time_batch(sl_model *m, const sl_model_desc *d, const float *x, int64_t n,
                         int64_t batch, double min_seconds, int *passes)
{
    sl_error err;
    int64_t calls = (n + batch - 1) / batch, rows = calls * batch;
    float *xt = xmalloc((size_t)(rows * d->in_size) * sizeof(float));
    float *y = xmalloc((size_t)(batch * d->out_size) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) /* tile the inputs */
        memcpy(xt + r * d->in_size, x + (r % n) * d->in_size, (size_t)d->in_size * sizeof(float));
    sl_ledger l;
    if (sl_ledger_alloc(&l, d, batch, &err) != 0)
        die("ledger", err.msg);
    double t0 = 0, elapsed = 0;
    int p;
    for (p = -1; p < 1 || elapsed < min_seconds; p++) { /* pass -1: warm-up */
        if (p == 0)
            t0 = now();
        for (int64_t c = 0; c < calls; c++)
            if (sl_model_run(m, batch, xt + c * batch * d->in_size, y, &l, &err) != 0)
                die("run", err.msg);
        if (p >= 0)
            elapsed = now() - t0;
    }
    *passes = p;
    sl_ledger_free(&l);
    free(y);
    free(xt);
    return elapsed / ((double)p * (double)rows) * 1e6;
}

int main(int argc, char **argv)
{
    const sl_model_desc *d = &SL_MODEL_DESC;
    sl_error err;
    const char *pos[2];
    int npos = 0, force_never = 0;
    const char *sets[64];
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force-exit") == 0 && i + 1 < argc && strcmp(argv[i + 1], "never") == 0)
            force_never = 1, i++;
        else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && nsets < 64)
            sets[nsets++] = argv[++i];
        else if (argv[i][0] != '-' && npos < 2)
            pos[npos++] = argv[i];
        else
            die("usage: time_model [--force-exit never] [--set NAME=VALUE]... WEIGHTS INPUTS.npy",
                NULL);
    }
    if (npos != 2)
        die("usage: time_model [--force-exit never] [--set NAME=VALUE]... WEIGHTS INPUTS.npy", NULL);

    sl_model *m = sl_model_open(d, pos[0], &err);
    if (!m)
        die("open", err.msg);
    for (int i = 0; i < nsets; i++) {
        char name[256];
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i] || (size_t)(eq - sets[i]) >= sizeof name)
            die("--set wants NAME=VALUE, not", sets[i]);
        memcpy(name, sets[i], (size_t)(eq - sets[i]));
        name[eq - sets[i]] = '\0';
        if (sl_model_set_threshold(m, name, strtof(eq + 1, NULL), &err) != 0)
            die("--set", err.msg);
    }
    if (force_never && sl_model_force_exit(m, SL_FORCE_NEVER, &err) != 0)
        die("--force-exit", err.msg);

    sl_npy in;
    if (sl_npy_read(pos[1], &in, &err) != 0)
        die("inputs", err.msg);
    if (in.rank != 2 || in.shape[1] != d->in_size || in.shape[0] < 1)
        die(pos[1], "expected inputs of shape [N, in_size]");
    int64_t n = in.shape[0];

    sl_ledger all;
    if (sl_ledger_alloc(&all, d, n, &err) != 0)
        die("ledger", err.msg);
    int threads = sl_model_set_threads(m, 2, &err) == 0;
    int invariant = batch_invariant(m, d, in.data, n, &all, threads);
    double flops = 0;
    int64_t *hist = calloc((size_t)d->n_exits + 1, sizeof *hist);
    if (!hist)
        die("out of memory", NULL);
    for (int64_t i = 0; i < n; i++) {
        flops += all.flops[i];
        hist[all.exits[i]]++;
    }
    printf("info model=%s n=%lld threads=%s mean_flops=%.1f dense_flops=%.1f invariant=%s exits=",
           d->name, (long long)n, threads ? "yes" : "no", flops / (double)n,
           d->dense_flops[0], invariant ? "yes" : "no");
    for (int32_t k = 0; k <= d->n_exits; k++)
        printf("%s%lld", k ? "," : "", (long long)hist[k]);
    printf("\n");
    fflush(stdout);
    free(hist);
    sl_ledger_free(&all);

    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long long batch;
        int threads, passes;
        double min_seconds;
        if (strncmp(line, "quit", 4) == 0)
            break;
        if (sscanf(line, "run %lld %d %lf", &batch, &threads, &min_seconds) != 3 || batch < 1 ||
            threads < 1) {
            printf("error bad command\n");
        } else if (sl_model_set_threads(m, threads, &err) != 0) {
            printf("na %s\n", err.msg);
        } else {
            double us = time_batch(m, d, in.data, n, batch, min_seconds, &passes);
            printf("us %.4f passes %d\n", us, passes);
        }
        fflush(stdout);
    }
    sl_npy_free(&in);
    sl_model_close(m);
    return 0;
}
