/* dlopen_model.c - a model's shared library (sluicec --emit=shared) used
 * the way ctypes uses it: dlopen, then every function and the descriptor
 * by name.  Runs the inputs of an .npy file and prints each input's exit
 * and FLOPs, then the outputs' sum.
 *
 *   dlopen_model LIB.so INPUTS.npy [BUDGET] */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice/model.h"
#include "sluice/npy.h"

#define FIND(lib, name) find(lib, #name)

static void *find(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "dlopen_model: %s\n", dlerror());
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen_model: %s\n", dlerror());
        return 1;
    }
    const sl_model_desc *d = *(const sl_model_desc *const *)FIND(lib, sluice_main_model);
    sl_model *(*open)(const sl_model_desc *, const char *, sl_error *) = FIND(lib, sl_model_open);
    int (*run)(sl_model *, int64_t, const void *, float *, sl_ledger *, sl_error *) =
        FIND(lib, sl_model_run);
    int (*budget)(sl_model *, double, sl_error *) = FIND(lib, sl_model_set_budget);
    int (*ledger_alloc)(sl_ledger *, const sl_model_desc *, int64_t, sl_error *) =
        FIND(lib, sl_ledger_alloc);
    void (*ledger_free)(sl_ledger *) = FIND(lib, sl_ledger_free);
    int (*npy_read)(const char *, sl_npy *, sl_error *) = FIND(lib, sl_npy_read);
    void (*npy_free)(sl_npy *) = FIND(lib, sl_npy_free);
    void (*close)(sl_model *) = FIND(lib, sl_model_close);

    sl_error err;
    sl_npy x;
    sl_model *m = open(d, NULL, &err);
    if (!m || npy_read(argv[2], &x, &err) != 0) {
        fprintf(stderr, "dlopen_model: %s\n", err.msg);
        return 1;
    }
    if (argc > 3 && budget(m, atof(argv[3]), &err) != 0) {
        fprintf(stderr, "dlopen_model: %s\n", err.msg);
        return 1;
    }
    int64_t n = x.shape[0];
    float *y = malloc((size_t)(n * d->out_size) * sizeof *y);
    sl_ledger l;
    if (!y || ledger_alloc(&l, d, n, &err) != 0 || run(m, n, x.data, y, &l, &err) != 0) {
        fprintf(stderr, "dlopen_model: %s\n", err.msg);
        return 1;
    }
    printf("model %s, ABI %u, %lld inputs\n", d->name, d->abi_version, (long long)n);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        printf("%s %.0f\n", l.exits[i] < d->n_exits ? d->exits[l.exits[i]].name : "end",
               l.flops[i]);
        for (int64_t j = 0; j < d->out_size; j++)
            sum += y[i * d->out_size + j];
    }
    printf("sum %.6f\n", sum);
    ledger_free(&l);
    npy_free(&x);
    free(y);
    close(m);
    dlclose(lib);
    return 0;
}
