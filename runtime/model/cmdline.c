/* cmdline.c - a model executable's command line: the options parsed (each
 * value checked as far as it can be without the model: numbers, NAME=VALUE
 * forms, thread counts), and the executable's error messages. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "sluice/model.h" /* SL_MAX_THREADS */

const char *sl_cli_prog = "model";
FILE *sl_cli_stream;

static FILE *stream(void) { return sl_cli_stream ? sl_cli_stream : stderr; }

static void verror(const char *fmt, va_list ap)
{
    fprintf(stream(), "%s: error: ", sl_cli_prog);
    vfprintf(stream(), fmt, ap);
    fputc('\n', stream());
}

int sl_cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
    return 1;
}

int sl_cli_usage_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
    fprintf(stream(), "%s: note: run '%s --help' for the options\n", sl_cli_prog, sl_cli_prog);
    return 1;
}

/* ---- the command line ------------------------------------------------------- */

/* The value of "--flag VALUE" or "--flag=VALUE" (and "-oVALUE" for short
 * flags) at argv[*i]; NULL if argv[*i] is another option.  *missing is set
 * when the flag is there but its value is not. */
static const char *flag(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=' && name[1] == '-')
        return arg + n + 1;
    if (arg[n] != '\0')
        return name[1] == '-' ? NULL : arg + n;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* A finite f32 into *out: 0, or why s is none: 1 not a number (NaN
 * included), 2 out of f32's range, 3 infinite. */
static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || isnan(v))
        return 1;
    if (isinf(v) && errno != ERANGE)
        return 3;
    if (fabs(v) > 3.4028234663852886e38)
        return 2;
    *out = (float)v; /* underflow (1e-99) rounds to 0, as in PyTorch */
    return 0;
}

/* NAME=VALUE: the name's length, or 0 if there is no '=' or no name. */
static int split(const char *v)
{
    const char *eq = strchr(v, '=');
    return eq && eq != v ? (int)(eq - v) : 0;
}

static int parse_set(cmdline *a, const char *v)
{
    int n = split(v);
    float value;
    if (!n)
        return sl_cli_usage_fail("--set takes NAME=VALUE, found '%s'", v);
    switch (parse_float(v + n + 1, &value)) {
    case 1:
        return sl_cli_usage_fail("--set %s: '%s' is not a number", v, v + n + 1);
    case 2:
        return sl_cli_usage_fail("--set %s: %s is out of the range of f32 (about 3.4e38)", v,
                          v + n + 1);
    case 3:
        return sl_cli_usage_fail("--set %s: '%s' is not a finite number", v, v + n + 1);
    }
    a->sets[a->n_sets++] = (setting){v, n, value};
    return 0;
}

static int parse_gate(cmdline *a, const char *v)
{
    int n = split(v);
    if (!n)
        return sl_cli_usage_fail("--force-gate takes NAME=then or NAME=else, found '%s'", v);
    const char *arm = v + n + 1;
    if (strcmp(arm, "then") != 0 && strcmp(arm, "else") != 0)
        return sl_cli_usage_fail("--force-gate %s: the arm is 'then' or 'else', found '%s'", v, arm);
    a->gates[a->n_gates++] = (gate_force){v, n, strcmp(arm, "then") == 0};
    return 0;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "-help") == 0;
}

/* --threads N: 1 to SL_MAX_THREADS. */
static int check_threads(const char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < 1 || n > SL_MAX_THREADS)
        return sl_cli_usage_fail("--threads takes a number from 1 to %d, found '%s'", SL_MAX_THREADS,
                          v);
    return 0;
}

int sl_cmdline_parse(int argc, char **argv, cmdline *a)
{
    /* --help wins over everything else on the line, mistakes included. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help(argv[i])) {
            a->help = true;
            return 0;
        }
    a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
    a->gates = calloc((size_t)argc + 1, sizeof *a->gates);
    if (!a->sets || !a->gates)
        return sl_cli_fail("out of memory");
    const struct {
        const char *name;
        const char **dest;    /* NULL: parsed here */
        const char *what;     /* the value, for "missing" */
    } valued[] = {
        {"-o", &a->output, "a file name"},
        {"--weights", &a->weights, "a safetensors file"},
        {"--stats", &a->stats, "a file name"},
        {"--summary-json", &a->summary, "a file name"},
        {"--labels", &a->labels, "a .npy file"},
        {"--lengths", &a->lengths, "a .npy file"},
        {"--force-exit", &a->force_exit, "an exit's number or name, or 'never'"},
        {"--threads", &a->threads, "a number of threads"},
        {"--budget", &a->budget, "a number of FLOPs"},
        {"--set", NULL, "NAME=VALUE"},
        {"--force-gate", NULL, "NAME=then or NAME=else"},
    };
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options && arg[0] == '-' && arg[1] != '\0') {
            if (strcmp(arg, "--") == 0) {
                options = false;
                continue;
            }
            bool matched = false, missing = false;
            for (size_t k = 0; k < sizeof valued / sizeof *valued && !matched; k++) {
                const char *v = flag(argc, argv, &i, valued[k].name, &missing);
                if (missing)
                    return sl_cli_usage_fail("argument to '%s' is missing (expected %s)", valued[k].name,
                                      valued[k].what);
                if (!v)
                    continue;
                matched = true;
                if (valued[k].dest)
                    *valued[k].dest = v;
                else if (strcmp(valued[k].name, "--set") == 0 && parse_set(a, v) != 0)
                    return 1;
                else if (strcmp(valued[k].name, "--force-gate") == 0 && parse_gate(a, v) != 0)
                    return 1;
            }
            if (matched)
                continue;
            if (is_help(arg))
                a->help = true;
            else if (strcmp(arg, "--version") == 0)
                a->version = true;
            else if (strcmp(arg, "--info") == 0)
                a->info = true;
            else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0)
                a->quiet = true;
            else
                return sl_cli_usage_fail("unknown argument: '%s'", arg);
        } else if (!a->input) {
            a->input = arg;
        } else {
            return sl_cli_usage_fail("more than one input file: '%s' and '%s'", a->input, arg);
        }
    }
    if (a->threads && check_threads(a->threads) != 0)
        return 1;
    return 0;
}

void sl_cmdline_free(cmdline *a)
{
    free(a->sets);
    free(a->gates);
}
