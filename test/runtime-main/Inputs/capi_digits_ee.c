/* capi_digits_ee.c - the model C API, used as an application would: the
 * library and header `sluicec --emit=lib` writes for
 * examples/early_exit/digits_ee.slu, and the runtime's .npy reader.
 *
 *   capi_digits_ee INPUTS.npy BAD_WEIGHTS
 *
 * Prints what each call did, for FileCheck; exit status 0 unless a call that
 * must succeed failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digits_ee.h"
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

/* How many inputs left at each exit (the last: "end"). */
static void tally(const char *what, const sl_ledger *l)
{
    int64_t counts[DIGITS_EE_N_EXITS + 1] = {0};
    double flops = 0;
    for (int64_t i = 0; i < l->n; i++) {
        counts[l->exits[i] >= 0 && l->exits[i] < DIGITS_EE_N_EXITS ? l->exits[i]
                                                                     : DIGITS_EE_N_EXITS]++;
        flops += l->flops[i];
    }
    printf("%s: exit0 %lld, exit1 %lld, exit2 %lld, end %lld, flops %.0f\n", what,
           (long long)counts[0], (long long)counts[1], (long long)counts[2],
           (long long)counts[3], flops);
}

int main(int argc, char **argv)
{
    sl_error err;
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUTS.npy BAD_WEIGHTS\n", argv[0]);
        return 2;
    }

    /* A weights file that does not open: NULL, and the reason. */
    sl_model *bad = digits_ee_open(argv[2], &err);
    printf("open %s: %s\n", bad ? "succeeded" : "failed", bad ? "" : err.msg);
    sl_model_close(bad);
    sl_model_close(NULL); /* allowed */

    sl_model *m = digits_ee_open(NULL, &err); /* the default weights */
    if (!m) {
        printf("FAILED: digits_ee_open(NULL): %s\n", err.msg);
        return 1;
    }
    const sl_model_desc *d = sl_model_desc_of(m);
    printf("model %s: in %lld, out %lld, %d exits, %d tensors\n", d->name,
           (long long)d->in_size, (long long)d->out_size, d->n_exits, d->n_tensors);

    sl_npy x;
    if (sl_npy_read(argv[1], &x, &err) != 0) {
        printf("FAILED: sl_npy_read: %s\n", err.msg);
        sl_model_close(m);
        return 1;
    }
    int64_t n = x.shape[0];
    float *y = malloc((size_t)n * DIGITS_EE_OUT_SIZE * sizeof *y);
    sl_ledger ledger;
    MUST(sl_ledger_alloc(&ledger, d, n, &err));

    MUST(sl_model_run(m, n, x.data, y, &ledger, &err));
    tally("defaults", &ledger);
    printf("first record: ");
    fflush(stdout);
    sl_ledger l1 = ledger;
    l1.n = 1;
    sl_ledger_write_jsonl(stdout, d, &l1, 0);

    float t1 = 0;
    MUST(sl_model_set_threshold(m, "t1", 0.5f, &err));
    MUST(sl_model_get_threshold(m, "t1", &t1, &err));
    printf("t1 = %g\n", (double)t1);
    MUST(sl_model_run(m, n, x.data, y, &ledger, &err));
    tally("t1 0.5", &ledger);

    if (sl_model_set_threshold(m, "t7", 0.5f, &err) != 0)
        printf("set t7: %s\n", err.msg);

    MUST(sl_model_force_exit(m, 2, &err));
    MUST(sl_model_run(m, n, x.data, y, &ledger, &err));
    tally("force exit 2", &ledger);
    MUST(sl_model_force_exit(m, SL_FORCE_NEVER, &err));
    MUST(sl_model_run(m, n, x.data, y, &ledger, &err));
    tally("force never", &ledger);
    if (sl_model_force_exit(m, 3, &err) != 0)
        printf("force exit 3: %s\n", err.msg);
    if (sl_model_force_gate(m, "gate0", 1, &err) != 0)
        printf("force gate0: %s\n", err.msg);
    MUST(sl_model_force_exit(m, SL_FORCE_NONE, &err));

    /* Without a ledger the model keeps its own; a ledger too small is refused. */
    MUST(sl_model_run(m, n, x.data, y, NULL, &err));
    sl_ledger small;
    MUST(sl_ledger_alloc(&small, d, 2, &err));
    if (sl_model_run(m, n, x.data, y, &small, &err) != 0)
        printf("small ledger: %s\n", err.msg);
    /* One input, through the same call. */
    MUST(sl_model_run(m, 1, x.data, y, &small, &err));
    printf("one input: exit %d, flops %.0f\n", (int)small.exits[0], small.flops[0]);

    sl_ledger_free(&small);
    sl_ledger_free(&ledger);
    sl_npy_free(&x);
    free(y);
    sl_model_close(m);
    printf("closed\n");
    return failed;
}
