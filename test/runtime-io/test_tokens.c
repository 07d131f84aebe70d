/* test_tokens.c - sequence models through the C API: sl_model_run_tokens
 * on fakeseq and fakeids (fake_seq.c).  Each input's token count is
 * honoured and recorded; inputs laid out at fewer, as many or more tokens
 * than tokens_max, padded with NaN, shuffled, alone or in batches, on any
 * number of threads give the same bits; bad counts and ids are refused
 * before anything runs; the ledger's records carry each input's tokens and
 * its own dense count.
 *
 *   test_tokens */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fake_model.h"
#include "sluice/ledger.h"

enum { T_MAX = 5, D = 2 }; /* fakeseq: f32[T, 2], T from 2 to 5 */

/* n sequences of tokens[i] tokens laid out at x_tokens each, padding NaN. */
static float *layout(const float *seqs, const int32_t *tokens, int64_t n, int64_t x_tokens)
{
    float *x = malloc((size_t)(n * x_tokens * D + 1) * sizeof *x);
    for (int64_t i = 0; i < n * x_tokens * D; i++)
        x[i] = NAN;
    for (int64_t i = 0; i < n; i++)
        memcpy(x + i * x_tokens * D, seqs + i * T_MAX * D, (size_t)tokens[i] * D * sizeof *x);
    return x;
}

static sl_model *open_model(const sl_model_desc *d)
{
    sl_error err;
    sl_model *m = sl_model_open(d, NULL, &err);
    CHECK(m != NULL);
    if (!m)
        printf("  %s\n", err.msg);
    return m;
}

/* Two sequences worked by hand (fake_seq.c's constants): one runs to the
 * end, one leaves at exit0; the padding (NaN) is never read. */
static void by_hand(sl_model *m)
{
    sl_error err;
    float x[2 * T_MAX * D], y[4];
    for (int i = 0; i < 2 * T_MAX * D; i++)
        x[i] = NAN;
    /* [[1, 0], [0, 1]]: h = (1.5, 0), (0, 0.75); s = 0.703125 < 1;
     * m = (0.75, 0.375); y = m + V m + c = (1.125, 0.8125). */
    memcpy(x, (float[]){1, 0, 0, 1}, 4 * sizeof *x);
    /* [[2, 0]] x 3: h = (2.5, 0.25) each; s = 6.3125 >= 1: y = m. */
    memcpy(x + T_MAX * D, (float[]){2, 0, 2, 0, 2, 0}, 6 * sizeof *x);
    int32_t tokens[2] = {2, 3};
    sl_ledger l;
    CHECK(sl_ledger_alloc(&l, &fakeseq_model, 2, &err) == 0);
    CHECK(sl_model_run_tokens(m, 2, x, T_MAX, tokens, y, &l, &err) == 0);
    CHECK(y[0] == 1.125f && y[1] == 0.8125f && y[2] == 2.5f && y[3] == 0.25f);
    CHECK(l.exits[0] == 1 && l.exits[1] == 0);
    CHECK(l.flops[0] == 40 && l.flops[1] == 60); /* 8 T + 4 T^2 (+ 8 at the end) */
    CHECK(l.tokens[0] == 2 && l.tokens[1] == 3);
    CHECK(sl_model_dense_flops(&fakeseq_model, 2) == 40);
    CHECK(sl_model_dense_flops(&fakeseq_model, 3) == 68);
    CHECK(sl_model_dense_flops(&fakeseq_model, 0) == 8);

    /* The records: tokens after input, each input's own dense count. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK(sl_ledger_write_jsonl(out, &fakeseq_model, &l, 0) == 0);
    fclose(out);
    CHECK_STR(text, "{\"input\": 0, \"tokens\": 2, \"exit\": \"end\", \"flops\": 40, "
                    "\"dense_flops\": 40}\n"
                    "{\"input\": 1, \"tokens\": 3, \"exit\": \"exit0\", \"flops\": 60, "
                    "\"dense_flops\": 68}\n");
    free(text);

    /* The summary: the mean of the inputs' dense counts. */
    int64_t counts[2];
    sl_summary s = {.exit_counts = counts};
    sl_ledger_summarize(&fakeseq_model, &l, 0, &s);
    CHECK(s.inputs == 2 && s.mean_flops == 50 && s.dense_flops == 54);
    CHECK(counts[0] == 1 && counts[1] == 1);
    sl_ledger_free(&l);
}

/* Results of one run, to compare bit for bit. */
typedef struct result {
    float *y;
    sl_ledger l;
} result;

static void run(sl_model *m, const float *seqs, const int32_t *tokens, int64_t n,
                int64_t x_tokens, bool pass_tokens, result *r)
{
    sl_error err;
    float *x = layout(seqs, tokens, n, x_tokens);
    r->y = malloc((size_t)(n * 2 + 1) * sizeof *r->y);
    CHECK(sl_ledger_alloc(&r->l, &fakeseq_model, n, &err) == 0);
    int rc = sl_model_run_tokens(m, n, x, x_tokens, pass_tokens ? tokens : NULL, r->y, &r->l,
                                 &err);
    CHECK(rc == 0);
    if (rc != 0)
        printf("  %s\n", err.msg);
    free(x);
}

/* Row i of a equals row j of b, every bit. */
static bool same_row(const result *a, int64_t i, const result *b, int64_t j)
{
    return memcmp(a->y + 2 * i, b->y + 2 * j, 2 * sizeof *a->y) == 0 &&
           a->l.exits[i] == b->l.exits[j] && a->l.flops[i] == b->l.flops[j] &&
           a->l.tokens[i] == b->l.tokens[j];
}

static void free_result(result *r)
{
    free(r->y);
    sl_ledger_free(&r->l);
}

/* 40 sequences of 2 to 4 tokens (k/16 values: every sum is exact, and
 * some leave at exit0): laid out at 4, 5 (tokens_max: no copy) and 9
 * tokens, shuffled, alone, on 1 to 3 threads: the same bits. */
static void layouts(sl_model *m)
{
    enum { N = 40 };
    float seqs[N * T_MAX * D];
    int32_t tokens[N], order[N];
    srand(7);
    for (int i = 0; i < N * T_MAX * D; i++)
        seqs[i] = (float)(rand() % 65 - 32) / 16;
    for (int i = 0; i < N; i++) {
        tokens[i] = 2 + rand() % 3;
        order[i] = i;
    }
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    result base, r;
    CHECK(sl_model_set_threads(m, 1, NULL) == 0);
    run(m, seqs, tokens, N, 4, true, &base);
    int exits = 0;
    for (int i = 0; i < N; i++) {
        CHECK(base.l.tokens[i] == tokens[i]);
        CHECK(base.l.flops[i] == 8.0 * tokens[i] + 4.0 * tokens[i] * tokens[i] +
                                     (base.l.exits[i] ? 8 : 0));
        exits += base.l.exits[i] == 0;
    }
    CHECK(exits > 3 && exits < N - 3); /* both ways taken */

    for (int threads = 1; threads <= 3; threads++) {
        CHECK(sl_model_set_threads(m, threads, NULL) == 0);
        for (int64_t x_tokens = 4; x_tokens <= 9; x_tokens += x_tokens == 5 ? 4 : 1) {
            run(m, seqs, tokens, N, x_tokens, true, &r);
            for (int i = 0; i < N; i++)
                CHECK(same_row(&r, i, &base, i));
            free_result(&r);
        }
        /* Shuffled. */
        float shuffled[N * T_MAX * D];
        int32_t stokens[N];
        for (int i = 0; i < N; i++) {
            memcpy(shuffled + i * T_MAX * D, seqs + order[i] * T_MAX * D,
                   T_MAX * D * sizeof *seqs);
            stokens[i] = tokens[order[i]];
        }
        run(m, shuffled, stokens, N, T_MAX, true, &r);
        for (int i = 0; i < N; i++)
            CHECK(same_row(&r, i, &base, order[i]));
        free_result(&r);
        /* Each alone, laid out at exactly its length, tokens NULL. */
        for (int i = 0; i < N; i += 3) {
            run(m, seqs + i * T_MAX * D, tokens + i, 1, tokens[i], false, &r);
            CHECK(same_row(&r, 0, &base, i));
            free_result(&r);
        }
    }
    free_result(&base);
}

/* tokens NULL: every input has x_tokens; sl_model_run: tokens_max each. */
static void whole_inputs(sl_model *m)
{
    sl_error err;
    float x[3 * T_MAX * D], y[6], y2[6];
    for (int i = 0; i < 3 * T_MAX * D; i++)
        x[i] = (float)(i % 7) / 8;
    sl_ledger l;
    CHECK(sl_ledger_alloc(&l, &fakeseq_model, 3, &err) == 0);
    CHECK(sl_model_run_tokens(m, 3, x, 3, NULL, y, &l, &err) == 0);
    CHECK(l.tokens[0] == 3 && l.tokens[1] == 3 && l.tokens[2] == 3);
    CHECK(l.flops[0] == 60 || l.flops[0] == 68);
    CHECK(sl_model_run(m, 3, x, y, &l, &err) == 0);
    CHECK(l.tokens[0] == 5 && l.tokens[2] == 5);
    CHECK(sl_model_run_tokens(m, 3, x, T_MAX, (int32_t[]){5, 5, 5}, y2, &l, &err) == 0);
    CHECK(memcmp(y, y2, sizeof y) == 0);
    /* No ledger: the model's own. An empty batch. */
    CHECK(sl_model_run_tokens(m, 3, x, T_MAX, NULL, y2, NULL, &err) == 0);
    CHECK(memcmp(y, y2, sizeof y) == 0);
    CHECK(sl_model_run_tokens(m, 0, NULL, 4, NULL, NULL, NULL, &err) == 0);
    sl_ledger_free(&l);
}

/* Counts the model does not take, or the layout does not hold: refused,
 * and nothing runs (the outputs keep their sentinel). */
static void bad_counts(sl_model *m)
{
    sl_error err;
    float x[3 * 9 * D], y[6];
    for (int i = 0; i < 3 * 9 * D; i++)
        x[i] = 1;
    for (int i = 0; i < 6; i++)
        y[i] = -7;
    static const struct {
        int64_t x_tokens;
        int32_t tokens[3];
        bool null_tokens;
        const char *msg;
    } cases[] = {
        {5, {2, 5, 1}, false, "model 'fakeseq': input 2 has 1 token; the model takes 2 to 5"},
        {9, {6, 2, 2}, false, "model 'fakeseq': input 0 has 6 tokens; the model takes 2 to 5"},
        {5, {2, -1, 2}, false, "model 'fakeseq': input 1 has -1 tokens; the model takes 2 to 5"},
        {3, {2, 4, 2}, false, "model 'fakeseq': input 1 has 4 tokens, but the inputs hold 3 "
                              "each"},
        {1, {0}, true, "model 'fakeseq': inputs of 1 tokens; the model takes 2 to 5"},
        {6, {0}, true, "model 'fakeseq': inputs of 6 tokens; the model takes 2 to 5"},
        {0, {2, 2, 2}, false, "model 'fakeseq': inputs of 0 tokens"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err.msg[0] = '\0';
        CHECK(sl_model_run_tokens(m, 3, x, cases[i].x_tokens,
                                  cases[i].null_tokens ? NULL : cases[i].tokens, y, NULL,
                                  &err) == -1);
        CHECK_STR(err.msg, cases[i].msg);
    }
    for (int i = 0; i < 6; i++)
        CHECK(y[i] == -7);

    /* A model without a token dimension. */
    sl_model_desc d = fakeseq_model;
    d.tokens_min = d.tokens_max = 0;
    d.tokens_name = NULL;
    sl_model *flat = open_model(&d);
    if (flat) {
        CHECK(sl_model_run_tokens(flat, 1, x, 5, NULL, y, NULL, &err) == -1);
        CHECK_STR(err.msg, "model 'fakeseq' has no token dimension; run it with sl_model_run");
        sl_model_close(flat);
    }
    /* A descriptor whose token range or shape disagree. */
    d = fakeseq_model;
    d.in_shape[0] = 4;
    CHECK(sl_model_open(&d, NULL, &err) == NULL);
    CHECK_STR(err.msg, "model 'fakeseq': the descriptor is malformed");
    d = fakeseq_model;
    d.tokens_min = 0;
    CHECK(sl_model_open(&d, NULL, &err) == NULL);
}

/* fakeids: token ids, checked in the tokens each input has (not the
 * padding); the message names the input and the token. */
static void ids(void)
{
    enum { I_MAX = 8 };
    sl_model *m = open_model(&fakeids_model);
    if (!m)
        return;
    sl_error err;
    /* Laid out at 4 tokens: [1, 2, 3, pad], [9, pad...], [0, 0, 0, 0]. */
    int32_t x[3 * 4] = {1, 2, 3, 99, 9, -5, 1000, 12, 0, 0, 0, 0};
    int32_t tokens[3] = {3, 1, 4};
    float y[6];
    sl_ledger l;
    CHECK(sl_ledger_alloc(&l, &fakeids_model, 3, &err) == 0);
    CHECK(sl_model_run_tokens(m, 3, x, 4, tokens, y, &l, &err) == 0);
    /* emb[k] = (k / 4, 1 - k / 8), averaged */
    CHECK(y[0] == 0.5f && y[1] == 0.75f && y[2] == 2.25f && y[3] == -0.125f);
    CHECK(y[4] == 0 && y[5] == 1);
    CHECK(l.flops[0] == 8 && l.flops[1] == 4 && l.flops[2] == 10);
    CHECK(l.tokens[0] == 3 && l.tokens[1] == 1 && l.tokens[2] == 4);
    CHECK(l.exits[0] == 0); /* the end: fakeids has no exits */

    /* The same ids at tokens_max (8) and alone give the same bits. */
    int32_t wide[3 * I_MAX];
    float y8[6], y1[2];
    for (int i = 0; i < 3 * I_MAX; i++)
        wide[i] = -1; /* never read: only the tokens an input has are checked */
    for (int i = 0; i < 3; i++)
        memcpy(wide + i * I_MAX, x + i * 4, (size_t)tokens[i] * sizeof *x);
    CHECK(sl_model_run_tokens(m, 3, wide, I_MAX, tokens, y8, NULL, &err) == 0);
    CHECK(memcmp(y, y8, sizeof y) == 0);
    CHECK(sl_model_run_tokens(m, 1, x, 3, NULL, y1, NULL, &err) == 0);
    CHECK(memcmp(y, y1, sizeof y1) == 0);

    /* Out of range: the first bad id, by input and token; nothing runs. */
    for (int i = 0; i < 6; i++)
        y[i] = -7;
    tokens[1] = 3; /* now reads -5 at input 1, token 1 */
    CHECK(sl_model_run_tokens(m, 3, x, 4, tokens, y, &l, &err) == -1);
    CHECK_STR(err.msg, "model 'fakeids': input 'ids': input 1, token 1: id -5 is out of range "
                       "(0 to 9)");
    x[5] = 9;
    CHECK(sl_model_run_tokens(m, 3, x, 4, tokens, y, &l, &err) == -1);
    CHECK_STR(err.msg, "model 'fakeids': input 'ids': input 1, token 2: id 1000 is out of range "
                       "(0 to 9)");
    CHECK(sl_model_run_tokens(m, 3, x, 4, NULL, y, &l, &err) == -1);
    CHECK_STR(err.msg, "model 'fakeids': input 'ids': input 0, token 3: id 99 is out of range "
                       "(0 to 9)");
    x[3] = 10;
    CHECK(sl_model_run_tokens(m, 1, x, 4, NULL, y, &l, &err) == -1);
    CHECK_STR(err.msg, "model 'fakeids': input 'ids': input 0, token 3: id 10 is out of range "
                       "(0 to 9)");
    for (int i = 0; i < 6; i++)
        CHECK(y[i] == -7);
    /* id_limit 0: unchecked. */
    sl_model_desc d = fakeids_model;
    d.id_limit = 0;
    sl_model *free_ids = open_model(&d);
    x[3] = 3;
    if (free_ids) {
        CHECK(sl_model_run_tokens(free_ids, 1, (int32_t[]){1, 2, 3}, 3, NULL, y, NULL, &err) ==
              0);
        CHECK(y[0] == 0.5f);
        sl_model_close(free_ids);
    }
    sl_ledger_free(&l);
    sl_model_close(m);
}

int main(void)
{
    unsetenv("SLUICE_THREADS");
    sl_model *m = open_model(&fakeseq_model);
    if (m) {
        by_hand(m);
        layouts(m);
        whole_inputs(m);
        bad_counts(m);
        sl_model_close(m);
    }
    ids();
    return check_report("test_tokens");
}
