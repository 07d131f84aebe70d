/* capi_enc.c - a sequence model from C: the library and header
 * `sluicec --emit=lib` writes for Inputs/enc/enc.slu (tokens T min 1 max 6,
 * input f32[T, 4], two exits), and the runtime's .npy reader and writer.
 *
 *   capi_enc X.npy LENS.npy
 *
 * X is [N, 6, 4] (laid out at the model's max), LENS each input's count.
 * Writes into the working directory, for the test to compare with the
 * executable's files byte for byte:
 *   y_lens.npy, l_lens.jsonl  sl_model_run_tokens at the file's layout, LENS
 *   y_long.npy                the same inputs laid out at 9 tokens (more than
 *                             the max), NaN padding
 *   y_run.npy                 sl_model_run: every input at 6 tokens
 *   y_t4.npy                  the inputs cut to 4 tokens, laid out at 4, no
 *                             counts (each has 4)
 * and prints what each call did. The inputs of at most 3 tokens, laid out at
 * 3 (shorter than the max), must give the bits of y_lens.npy's rows; so must
 * every layout of the same inputs, and the ledger must match.
 * Exit status 0 unless a call that must succeed failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"
#include "sluice/ledger.h"
#include "sluice/npy.h"

static int failed;

#define MUST(call)                                                                  \
    do {                                                                            \
        if ((call) != 0) {                                                          \
            printf("FAILED: %s: %s\n", #call, err.msg);                            \
            failed = 1;                                                             \
        }                                                                           \
    } while (0)

enum { D = ENC_IN_SIZE / ENC_TOKENS_MAX }; /* features per token */

/* x [n, from, D] laid out again at `to` tokens: the first min(from, to)
 * tokens copied, the rest NaN. */
static float *relayout(const float *x, int64_t n, int64_t from, int64_t to)
{
    float *y = malloc((size_t)(n * to * D) * sizeof *y);
    for (int64_t i = 0; i < n * to * D; i++)
        y[i] = NAN;
    for (int64_t i = 0; i < n; i++)
        memcpy(y + i * to * D, x + i * from * D, (size_t)((from < to ? from : to) * D) * sizeof *y);
    return y;
}

static void write_y(const char *path, const float *y, int64_t n)
{
    sl_error err;
    int64_t shape[2] = {n, ENC_OUT_SIZE};
    MUST(sl_npy_write(path, y, 2, shape, &err));
}

static const char *same(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)(n * ENC_OUT_SIZE) * sizeof *a) == 0 ? "same bits" : "DIFFERENT";
}

static void print_ledger(const char *what, const sl_ledger *l)
{
    printf("%s: tokens", what);
    for (int64_t i = 0; i < l->n; i++)
        printf(" %d", (int)l->tokens[i]);
    printf("; exits");
    for (int64_t i = 0; i < l->n; i++)
        printf(" %d", (int)l->exits[i]);
    printf("\n");
}

int main(int argc, char **argv)
{
    sl_error err;
    if (argc != 3) {
        fprintf(stderr, "usage: %s X.npy LENS.npy\n", argv[0]);
        return 2;
    }
    sl_model *m = enc_open(NULL, &err);
    if (!m) {
        printf("FAILED: enc_open(NULL): %s\n", err.msg);
        return 1;
    }
    const sl_model_desc *d = sl_model_desc_of(m);
    printf("model %s: in %d (%d tokens of %d), out %d, exits %d, tokens %s from %d to %d\n",
           d->name, ENC_IN_SIZE, ENC_TOKENS_MAX, D, ENC_OUT_SIZE, ENC_N_EXITS,
           d->tokens_name, ENC_TOKENS_MIN, ENC_TOKENS_MAX);
    printf("desc: in_size %lld, in_shape [%lld, %lld], tokens %lld to %lld\n",
           (long long)d->in_size, (long long)d->in_shape[0], (long long)d->in_shape[1],
           (long long)d->tokens_min, (long long)d->tokens_max);
    printf("dense flops: T=1 %.0f, T=6 %.0f\n", sl_model_dense_flops(d, 1),
           sl_model_dense_flops(d, 6));

    sl_npy x;
    sl_npy_i32 lens;
    if (sl_npy_read(argv[1], &x, &err) != 0 || sl_npy_read_i32(argv[2], &lens, &err) != 0) {
        printf("FAILED: reading the inputs: %s\n", err.msg);
        return 1;
    }
    int64_t n = x.shape[0], xt = x.shape[1];
    if (x.rank != 3 || xt != ENC_TOKENS_MAX || x.shape[2] != D || lens.numel != n) {
        printf("FAILED: expected x [N, %d, %d] and N lengths\n", ENC_TOKENS_MAX, D);
        return 1;
    }
    float *y = malloc((size_t)(n * ENC_OUT_SIZE) * sizeof *y);
    float *y2 = malloc((size_t)(n * ENC_OUT_SIZE) * sizeof *y2);
    sl_ledger l, l2;
    MUST(sl_ledger_alloc(&l, d, n, &err));
    MUST(sl_ledger_alloc(&l2, d, n, &err));

    /* Each input its own count, at the file's layout (the max). */
    MUST(sl_model_run_tokens(m, n, x.data, xt, lens.data, y, &l, &err));
    write_y("y_lens.npy", y, n);
    FILE *f = fopen("l_lens.jsonl", "w");
    if (!f || sl_ledger_write_jsonl(f, d, &l, 0) != 0 || fclose(f) != 0) {
        printf("FAILED: writing l_lens.jsonl\n");
        failed = 1;
    }
    print_ledger("lengths", &l);

    /* Laid out at 9 tokens, more than the model takes, NaN after each input. */
    float *xl = relayout(x.data, n, xt, 9);
    MUST(sl_model_run_tokens(m, n, xl, 9, lens.data, y2, &l2, &err));
    write_y("y_long.npy", y2, n);
    printf("at 9 tokens: %s, ledger %s\n", same(y, y2, n),
           memcmp(l.exits, l2.exits, (size_t)n * sizeof *l.exits) == 0 &&
                   memcmp(l.flops, l2.flops, (size_t)n * sizeof *l.flops) == 0 &&
                   memcmp(l.tokens, l2.tokens, (size_t)n * sizeof *l.tokens) == 0
               ? "same"
               : "DIFFERENT");

    /* The inputs of at most 3 tokens, gathered and laid out at 3. */
    float *xs = malloc((size_t)(n * 3 * D) * sizeof *xs);
    float *ys = malloc((size_t)(n * ENC_OUT_SIZE) * sizeof *ys);
    int32_t *ts = malloc((size_t)n * sizeof *ts);
    int64_t ns = 0, diff = 0;
    for (int64_t i = 0; i < n; i++)
        if (lens.data[i] <= 3) {
            for (int64_t k = 0; k < 3 * D; k++)
                xs[ns * 3 * D + k] = k < lens.data[i] * D ? x.data[i * xt * D + k] : NAN;
            ts[ns++] = lens.data[i];
        }
    MUST(sl_model_run_tokens(m, ns, xs, 3, ts, ys, &l2, &err));
    for (int64_t i = 0, j = 0; i < n; i++)
        if (lens.data[i] <= 3) {
            diff += memcmp(ys + j * ENC_OUT_SIZE, y + i * ENC_OUT_SIZE,
                           ENC_OUT_SIZE * sizeof *y) != 0 ||
                    l2.exits[j] != l.exits[i] || l2.flops[j] != l.flops[i] ||
                    l2.tokens[j] != l.tokens[i];
            j++;
        }
    printf("at 3 tokens: %lld inputs, %lld differ\n", (long long)ns, (long long)diff);

    /* sl_model_run: every input at the max; the same as run_tokens without
     * counts. */
    MUST(sl_model_run(m, n, x.data, y, &l, &err));
    write_y("y_run.npy", y, n);
    print_ledger("sl_model_run", &l);
    MUST(sl_model_run_tokens(m, n, x.data, xt, NULL, y2, &l2, &err));
    printf("run_tokens without counts: %s\n", same(y, y2, n));

    /* Cut to 4 tokens and laid out at 4, no counts: each input has 4. */
    float *x4 = relayout(x.data, n, xt, 4);
    MUST(sl_model_run_tokens(m, n, x4, 4, NULL, y2, &l2, &err));
    write_y("y_t4.npy", y2, n);
    print_ledger("at 4 tokens", &l2);

    /* Counts the model refuses: nothing runs, the outputs are left alone. */
    int32_t bad[3] = {2, 0, 3};
    float sentinel[3 * ENC_OUT_SIZE];
    for (int i = 0; i < 3 * ENC_OUT_SIZE; i++)
        sentinel[i] = -7.0f;
    float yb[3 * ENC_OUT_SIZE];
    memcpy(yb, sentinel, sizeof yb);
    if (sl_model_run_tokens(m, 3, x.data, xt, bad, yb, NULL, &err) != 0)
        printf("count 0: %s\n", err.msg);
    bad[1] = 7;
    if (sl_model_run_tokens(m, 3, xl, 9, bad, yb, NULL, &err) != 0)
        printf("count 7: %s\n", err.msg);
    bad[1] = 4;
    if (sl_model_run_tokens(m, 3, xs, 3, bad, yb, NULL, &err) != 0)
        printf("count 4 of 3: %s\n", err.msg);
    if (sl_model_run_tokens(m, 3, xl, 9, NULL, yb, NULL, &err) != 0)
        printf("9 tokens, no counts: %s\n", err.msg);
    printf("outputs after the refused runs: %s\n",
           memcmp(yb, sentinel, sizeof yb) == 0 ? "untouched" : "WRITTEN");

    sl_ledger_free(&l);
    sl_ledger_free(&l2);
    sl_npy_free(&x);
    sl_npy_i32_free(&lens);
    free(y);
    free(y2);
    free(xl);
    free(xs);
    free(ys);
    free(ts);
    free(x4);
    sl_model_close(m);
    printf("closed\n");
    return failed;
}
