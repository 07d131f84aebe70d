/* test_model.c - the model C API, the ledger and the summary, on fakenet
 * (fake_model.c) and its fixtures: outputs and ledgers equal NumPy's
 * (gen_fixtures.py), every way of giving weights, every refusal.
 *
 *   test_model CORPUS_FAKE_DIR     (the messages name files relative to it) */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fake_model.h"
#include "sluice/ledger.h"
#include "sluice/npy.h"
#include "sluice/safetensors.h"

static sl_npy x; /* the 12 inputs */

/* The batch through m; outputs against y_NAME.npy (tolerance: the exps
 * may differ in the last bit), the ledger's JSON Lines against
 * ledger_NAME.jsonl, byte for byte. */
static void run_and_compare(sl_model *m, const char *name)
{
    sl_error err;
    sl_ledger l;
    float y[12 * 3];
    CHECK(sl_ledger_alloc(&l, &fakenet_model, 12, &err) == 0);
    CHECK(sl_model_run(m, 12, x.data, y, &l, &err) == 0);

    char path[256];
    snprintf(path, sizeof path, "y_%s.npy", name);
    sl_npy want;
    CHECK(sl_npy_read(path, &want, &err) == 0 && want.numel == 36);
    double worst = 0;
    for (int64_t i = 0; i < want.numel && i < 36; i++)
        worst = fmax(worst, fabs((double)y[i] - want.data[i]));
    CHECK(worst <= 1e-6);
    if (worst > 1e-6)
        printf("  %s: outputs differ from NumPy's by %g\n", name, worst);
    sl_npy_free(&want);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK(sl_ledger_write_jsonl(out, &fakenet_model, &l, 0) == 0);
    fclose(out);
    snprintf(path, sizeof path, "ledger_%s.jsonl", name);
    size_t wlen;
    unsigned char *wtext = slurp(path, &wlen);
    CHECK(wtext && wlen == len && memcmp(wtext, text, len) == 0);
    if (!(wtext && wlen == len && memcmp(wtext, text, len) == 0))
        printf("  %s: ledger differs from %s:\n%s", name, path, text);
    free(wtext);
    free(text);
    sl_ledger_free(&l);
}

static void happy_path(void)
{
    sl_error err;
    sl_model *m = sl_model_open(&fakenet_model, "weights.safetensors", &err);
    CHECK(m != NULL);
    if (!m) {
        printf("  %s\n", err.msg);
        return;
    }
    CHECK(sl_model_desc_of(m) == &fakenet_model);
    run_and_compare(m, "default");

    float t;
    CHECK(sl_model_get_threshold(m, "t1", &t, &err) == 0 && t == 0.8f);
    CHECK(sl_model_set_threshold(m, "t1", 0.95f, &err) == 0);
    CHECK(sl_model_get_threshold(m, "t1", &t, &err) == 0 && t == 0.95f);
    run_and_compare(m, "t1");
    CHECK(sl_model_set_threshold(m, "t1", 0.8f, &err) == 0);
    CHECK(sl_model_set_threshold(m, "tg", 0.05f, &err) == 0);
    CHECK(sl_model_set_threshold(m, "tb", 0.3f, &err) == 0);
    run_and_compare(m, "tg");
    CHECK(sl_model_set_threshold(m, "tg", 0.5f, &err) == 0);
    CHECK(sl_model_set_threshold(m, "tb", 0.5f, &err) == 0);

    CHECK(sl_model_force_exit(m, SL_FORCE_NEVER, &err) == 0);
    run_and_compare(m, "never");
    CHECK(sl_model_force_gate(m, "gate0", 0, &err) == 0);
    run_and_compare(m, "else");
    CHECK(sl_model_force_gate(m, "gate0", SL_FORCE_NONE, &err) == 0);
    CHECK(sl_model_force_exit(m, 0, &err) == 0);
    run_and_compare(m, "exit0");
    CHECK(sl_model_force_exit(m, SL_FORCE_NONE, &err) == 0);
    CHECK(sl_model_force_gate(m, "gate0", 1, &err) == 0);
    run_and_compare(m, "then");
    CHECK(sl_model_force_gate(m, "gate0", SL_FORCE_NONE, &err) == 0);
    run_and_compare(m, "default");

    /* Refusals name what exists. */
    CHECK(sl_model_set_threshold(m, "t9", 1, &err) == -1);
    CHECK_STR(err.msg, "model 'fakenet' has no threshold 't9' (its thresholds: t1, tg, tb)");
    CHECK(sl_model_get_threshold(m, "", &t, &err) == -1);
    CHECK_STR(err.msg, "model 'fakenet' has no threshold '' (its thresholds: t1, tg, tb)");
    CHECK(sl_model_force_exit(m, 1, &err) == -1);
    CHECK_STR(err.msg, "model 'fakenet' has no exit 1 (its exits are 0 to 0)");
    CHECK(sl_model_force_exit(m, -7, &err) == -1);
    CHECK(sl_model_force_gate(m, "fc3", 1, &err) == -1);
    CHECK_STR(err.msg, "model 'fakenet' has no gate 'fc3' (its gates: gate0)");
    CHECK(sl_model_force_gate(m, "gate0", 2, &err) == -1);
    CHECK_STR(err.msg, "gate 'gate0': arm 2 is not 0 (else), 1 (then) or -1 (decide)");

    /* No ledger: the model keeps its own, growing it as batches grow. */
    float y[36];
    CHECK(sl_model_run(m, 1, x.data, y, NULL, &err) == 0);
    CHECK(sl_model_run(m, 12, x.data, y, NULL, &err) == 0);
    CHECK(sl_model_run(m, 0, NULL, NULL, NULL, &err) == 0);
    sl_ledger small;
    CHECK(sl_ledger_alloc(&small, &fakenet_model, 2, &err) == 0);
    CHECK(sl_model_run(m, 3, x.data, y, &small, &err) == -1);
    CHECK_STR(err.msg, "model 'fakenet': the ledger holds 2 inputs, the batch has 3");
    sl_ledger_free(&small);
    CHECK(sl_model_run(m, -1, x.data, y, NULL, &err) == -1);
    CHECK_STR(err.msg, "model 'fakenet': cannot run -1 inputs");
    sl_model_close(m);
    sl_model_close(NULL);
}

/* F16, BF16, F64 and a state_dict with extra tensors: the same weights
 * (k/64 is exact in all of them), so the same outputs. */
static void other_weight_files(void)
{
    static const char *const files[] = {"weights_f16.safetensors", "weights_bf16.safetensors",
                                        "weights_f64.safetensors", "weights_extra.safetensors"};
    for (int i = 0; i < 4; i++) {
        sl_error err;
        sl_model *m = sl_model_open(&fakenet_model, files[i], &err);
        CHECK(m != NULL);
        if (!m) {
            printf("  %s\n", err.msg);
            continue;
        }
        run_and_compare(m, "default");
        sl_model_close(m);
    }
}

static void bad_weights(void)
{
    static const struct {
        const char *file, *msg;
    } cases[] = {
        {"missing.safetensors",
         "missing.safetensors: tensor 'fc3.bias' (expected shape [4]) is missing"},
        {"misspelled.safetensors", "misspelled.safetensors: tensor 'fc3.bias' (expected shape "
                                   "[4]) is missing; did you mean 'fc3.biases'?"},
        /* every tensor bad: how many, the first in full, the others by name */
        {"prefixed.safetensors",
         "prefixed.safetensors: 18 tensors do not match the model: tensor 'fc1.weight' "
         "(expected shape [6, 4]) is missing; did you mean 'module.fc1.weight'?; also "
         "'fc1.bias', 'head.weight', 'head.bias', 'arm_then.weight', 'arm_then.bias', "
         "'arm_else.weight', 'arm_else.bias', 'policy.weight', 'policy.bias', 'fc3.weight', "
         "'fc3.bias', 'router.weight', 'router.bias', 'experts.0.weight', 'experts.0.bias', "
         "'experts.1.weight', 'experts.1.bias'"},
        {"transposed.safetensors",
         "transposed.safetensors: tensor 'fc1.weight': expected shape [6, 4], found [4, 6]"},
        {"int_bias.safetensors", "int_bias.safetensors: tensor 'fc1.bias': expected a float "
                                 "dtype (F32, F16, BF16 or F64), found I32"},
        {"broken_header.safetensors", "broken_header.safetensors: header is not valid JSON: "
                                      "']' expected near ':' (at byte 14 of the header)"},
        {"truncated.safetensors", "truncated.safetensors: tensor 'experts.1.bias': data_offsets "
                                  "[856, 868] run past the end of the data section (858 bytes)"},
        {"no-such.safetensors", "no-such.safetensors: cannot open: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_error err = {""};
        CHECK(sl_model_open(&fakenet_model, cases[i].file, &err) == NULL);
        CHECK_STR(err.msg, cases[i].msg);
    }
}

/* A descriptor whose tile records the environment and scratch it is given. */
static const sl_env *seen_env;
static const float *seen_scratch;
static void probe_tile(const sl_env *env, float *scratch, int64_t n, const void *in,
                       const int32_t *tokens, float *out, int32_t *exits, int32_t *slots,
                       double *flops)
{
    seen_env = env;
    seen_scratch = scratch;
    fakenet_model.tile(env, scratch, n, in, tokens, out, exits, slots, flops);
}

static void weight_sources(void)
{
    sl_error err;
    sl_model_desc d = fakenet_model;
    float y[36];

    /* Nothing to load. */
    d.default_weights = NULL;
    CHECK(sl_model_open(&d, NULL, &err) == NULL);
    CHECK_STR(err.msg, "model 'fakenet' has no embedded or default weights, and no weights "
                       "file was given");

    /* The default path; a given path wins over it. */
    d.default_weights = "weights.safetensors";
    sl_model *m = sl_model_open(&d, NULL, &err);
    CHECK(m != NULL);
    sl_model_close(m);
    d.default_weights = "no-such.safetensors";
    CHECK(sl_model_open(&d, NULL, &err) == NULL);
    CHECK_STR(err.msg, "no-such.safetensors: cannot open: No such file or directory");
    m = sl_model_open(&d, "weights.safetensors", &err);
    CHECK(m != NULL);
    sl_model_close(m);

    /* Embedded weights win over the default path. */
    size_t len;
    unsigned char *buf = slurp("weights.safetensors", &len);
    d.embedded_weights = buf;
    d.embedded_size = len;
    d.tile = probe_tile;
    m = sl_model_open(&d, NULL, &err);
    CHECK(m != NULL);
    if (m) {
        sl_ledger l;
        CHECK(sl_ledger_alloc(&l, &d, 12, &err) == 0);
        CHECK(sl_model_run(m, 12, x.data, y, &l, &err) == 0);
        CHECK(l.exits[1] == 0 && l.flops[1] == 84); /* as ledger_default.jsonl */
        sl_ledger_free(&l);
        /* What generated code reads. */
        const sl_env *env = seen_env;
        CHECK((uintptr_t)seen_scratch % 64 == 0);
        CHECK(env && env->thresholds[0] == 0.8f && env->thresholds[2] == 0.5f);
        CHECK(env && env->force[0] == SL_FORCE_NONE && env->force[1] == SL_FORCE_NONE &&
              env->force[3] == SL_FORCE_NONE);
        /* Tensors in manifest order, F32 used in place from the buffer. */
        CHECK(env && (const unsigned char *)env->tensors[0] >= buf &&
              (const unsigned char *)env->tensors[17] < buf + len);
        CHECK(env && env->tensors[1] == env->tensors[0] + 24); /* fc1.bias after fc1.weight */
        sl_model_close(m);
    }
    /* Broken embedded weights are named as such. */
    d.embedded_size = 7;
    CHECK(sl_model_open(&d, NULL, &err) == NULL);
    CHECK_STR(err.msg, "<embedded weights>: 7 bytes, too short for a safetensors file (the "
                       "header length alone is 8 bytes)");
    free(buf);

    d = fakenet_model;
    d.abi_version = SL_ABI_VERSION + 1;
    CHECK(sl_model_open(&d, "weights.safetensors", &err) == NULL);
    char want[128];
    snprintf(want, sizeof want, "the model was compiled for runtime ABI %d, this runtime has "
             "ABI %d; recompile it", SL_ABI_VERSION + 1, SL_ABI_VERSION);
    CHECK_STR(err.msg, want);
    d = fakenet_model;
    d.n_slots = -1;
    CHECK(sl_model_open(&d, "weights.safetensors", &err) == NULL);
    CHECK_STR(err.msg, "model 'fakenet': the descriptor is malformed");
}

static void summary(void)
{
    sl_error err;
    sl_model *m = sl_model_open(&fakenet_model, "weights.safetensors", &err);
    CHECK(m != NULL);
    if (!m)
        return;
    sl_ledger l;
    float y[36];
    CHECK(sl_ledger_alloc(&l, &fakenet_model, 12, &err) == 0);
    CHECK(sl_model_run(m, 12, x.data, y, &l, &err) == 0);
    int64_t counts[2];
    sl_summary s = {.exit_counts = counts};
    sl_ledger_summarize(&fakenet_model, &l, 0.01, &s);
    CHECK(s.inputs == 12 && s.mean_flops == 164 && s.dense_flops == 268);
    CHECK(counts[0] == 6 && counts[1] == 6);
    CHECK(fabs(s.ratio - 164.0 / 268) < 1e-12 && fabs(s.inputs_per_s - 1200) < 1e-6);
    CHECK(s.accuracy < 0);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    sl_ledger_print_summary(out, &fakenet_model, &s, NULL);
    s.accuracy = 0.75;
    s.seconds = s.inputs_per_s = 0;
    sl_ledger_print_summary(out, &fakenet_model, &s, "scalar kernels, 1 thread");
    fclose(out);
    CHECK_STR(text, "fakenet: 12 inputs, 164 FLOPs mean executed of 268 FLOPs dense (61.2%), "
                    "1.2e+03 inputs/s\n"
                    "fakenet: exits: exit0 6, end 6\n"
                    "fakenet: 12 inputs, 164 FLOPs mean executed of 268 FLOPs dense (61.2%), "
                    "accuracy 0.7500 [scalar kernels, 1 thread]\n"
                    "fakenet: exits: exit0 6, end 6\n");
    free(text);

    /* Records numbered from first_index; names escaped for JSON; a model
     * without decisions has no gates/routes/blocks keys. */
    sl_model_desc d = fakenet_model;
    sl_exit_desc odd = {"say \"hi\"\\\n\x01", 1, 1};
    d.exits = &odd;
    d.n_decisions = 0;
    d.dense_flops[0] = 1e12;
    sl_ledger two = {2, l.exits, l.slots, l.flops, l.tokens};
    text = NULL;
    out = open_memstream(&text, &len);
    CHECK(sl_ledger_write_jsonl(out, &d, &two, 40) == 0);
    fclose(out);
    CHECK_STR(text, "{\"input\": 40, \"exit\": \"end\", \"flops\": 220, "
                    "\"dense_flops\": 1000000000000}\n"
                    "{\"input\": 41, \"exit\": \"say \\\"hi\\\"\\\\\\n\\u0001\", \"flops\": 84, "
                    "\"dense_flops\": 1000000000000}\n");
    free(text);

    /* A ledger of nothing. */
    sl_ledger none;
    CHECK(sl_ledger_alloc(&none, &fakenet_model, 0, &err) == 0 && none.n == 0);
    sl_summary z = {.exit_counts = counts};
    sl_ledger_summarize(&fakenet_model, &none, 0, &z);
    CHECK(z.inputs == 0 && z.mean_flops == 0 && counts[0] == 0 && counts[1] == 0);
    sl_ledger_free(&none);
    sl_ledger_free(&l);
    sl_model_close(m);
}

/* Threads: the same bits for every count, and tiles (5 rows) spread over
 * them; counts out of range, and a bad SLUICE_THREADS, refused. */
static void threads(void)
{
    sl_error err;
    sl_model *m = sl_model_open(&fakenet_model, "weights.safetensors", &err);
    CHECK(m != NULL);
    if (!m)
        return;
    float y1[36], y[36];
    sl_ledger l1, l;
    CHECK(sl_ledger_alloc(&l1, &fakenet_model, 12, &err) == 0);
    CHECK(sl_ledger_alloc(&l, &fakenet_model, 12, &err) == 0);
    CHECK(sl_model_set_threads(m, 1, &err) == 0 && sl_model_threads(m) == 1);
    CHECK(sl_model_run(m, 12, x.data, y1, &l1, &err) == 0);
    for (int t = 2; t <= 4; t++) {
        CHECK(sl_model_set_threads(m, t, &err) == 0 && sl_model_threads(m) == t);
        for (int64_t n = 1; n <= 12; n++) { /* fewer rows than threads, too */
            memset(y, 0xff, sizeof y);
            CHECK(sl_model_run(m, n, x.data, y, &l, &err) == 0);
            CHECK(memcmp(y, y1, (size_t)n * 3 * sizeof *y) == 0);
            CHECK(memcmp(l.exits, l1.exits, (size_t)n * sizeof *l.exits) == 0);
            CHECK(memcmp(l.slots, l1.slots, (size_t)n * 4 * sizeof *l.slots) == 0);
            CHECK(memcmp(l.flops, l1.flops, (size_t)n * sizeof *l.flops) == 0);
        }
    }
    CHECK(sl_model_set_threads(m, -1, &err) == -1);
    CHECK_STR(err.msg, "model 'fakenet': -1 threads (expected 1 to 256, or 0 for the default)");
    CHECK(sl_model_set_threads(m, 257, &err) == -1);
    CHECK(sl_model_threads(m) == 4); /* a refusal changes nothing */
    setenv("SLUICE_THREADS", "3", 1);
    CHECK(sl_model_set_threads(m, 0, &err) == 0 && sl_model_threads(m) == 3);
    setenv("SLUICE_THREADS", "three", 1);
    CHECK(sl_model_set_threads(m, 0, &err) == -1);
    CHECK_STR(err.msg, "SLUICE_THREADS='three' is not a number of threads (1 to 256)");
    CHECK(sl_model_open(&fakenet_model, "weights.safetensors", &err) == NULL);
    CHECK_STR(err.msg, "SLUICE_THREADS='three' is not a number of threads (1 to 256)");
    unsetenv("SLUICE_THREADS");
    sl_ledger_free(&l1);
    sl_ledger_free(&l);
    sl_model_close(m);
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) != 0) {
        fprintf(stderr, "usage: test_model CORPUS_FAKE_DIR\n");
        return 2;
    }
    sl_error err;
    if (sl_npy_read("x.npy", &x, &err) != 0 || x.numel != 48) {
        printf("x.npy: %s\n", err.msg);
        return 1;
    }
    happy_path();
    other_weight_files();
    bad_weights();
    weight_sources();
    summary();
    threads();
    sl_npy_free(&x);
    return check_report("test_model");
}
