/* fuzz_cmdline.c - a model executable's command-line parser
 * (runtime/model/cmdline.c) on argument lists made from the input: the
 * bytes split at NUL and newline into at most 64 arguments after argv[0].
 * What it accepts must hold together: every --set a name and a finite f32,
 * every --force-gate a name and an arm, --threads a count in range.  Its
 * messages go to /dev/null (sl_cli_stream: libFuzzer reads stderr). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "sluice/model.h" /* SL_MAX_THREADS */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sl_cli_stream)
        sl_cli_stream = fopen("/dev/null", "w");
    /* A copy with a NUL after every argument: each one its own allocation
     * too, so ASan sees a read past any argument's end. */
    char *argv[MAX_ARGS + 2] = {"model"};
    int argc = 1;
    size_t start = 0;
    for (size_t i = 0; i <= size && argc <= MAX_ARGS; i++) {
        if (i < size && data[i] != '\0' && data[i] != '\n')
            continue;
        size_t n = i - start;
        char *arg = malloc(n + 1);
        if (!arg)
            break;
        memcpy(arg, data + start, n);
        arg[n] = '\0';
        argv[argc++] = arg;
        start = i + 1;
    }
    argv[argc] = NULL;

    cmdline a = {0};
    if (sl_cmdline_parse(argc, argv, &a) == 0 && !a.help) {
        if (a.n_sets < 0 || a.n_sets > argc || a.n_gates < 0 || a.n_gates > argc)
            abort();
        for (int i = 0; i < a.n_sets; i++)
            if (a.sets[i].name_len < 1 || a.sets[i].name[a.sets[i].name_len] != '=' ||
                !isfinite(a.sets[i].value))
                abort();
        for (int i = 0; i < a.n_gates; i++)
            if (a.gates[i].name_len < 1 || a.gates[i].name[a.gates[i].name_len] != '=' ||
                (a.gates[i].arm != 0 && a.gates[i].arm != 1))
                abort();
        if (a.threads) {
            long t = strtol(a.threads, NULL, 10);
            if (t < 1 || t > SL_MAX_THREADS)
                abort();
        }
    }
    sl_cmdline_free(&a);
    for (int i = 1; i < argc; i++)
        free(argv[i]);
    return 0;
}
