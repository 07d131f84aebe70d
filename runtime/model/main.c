/* main.c - the command line of every model executable:
 *
 *   ./model INPUTS.npy -o OUTPUTS.npy [--weights F] [--set NAME=VALUE]...
 *           [--stats LEDGER.jsonl] [--labels LABELS.npy]
 *           [--force-exit K|never] [--force-gate NAME=then|else] [-q]
 *   ./model --info | --help | --version
 *
 * Reads a batch of inputs, runs the model, writes the outputs, the per-input
 * ledger, and a one-line summary on stderr.  Any bad file or argument is an
 * error naming it ("./model: error: x.npy: expected shape [N, 64] or [64],
 * found [10, 63]") and exit status 1; never a crash. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/kernels.h"
#include "sluice/ledger.h"
#include "sluice/model.h"
#include "sluice/npy.h"

#define SL_RUNTIME_VERSION "0.1.0"

typedef struct setting {
    const char *name;
    float value;
} setting;

typedef struct args {
    const char *input, *output, *weights, *stats, *labels;
    setting *sets;           /* --set, in order */
    int n_sets;
    const char *force_exit;  /* --force-exit */
    const char **force_gates; /* --force-gate NAME=ARM */
    int n_force_gates;
    bool quiet, info, help, version;
} args;

static const char *prog = "model";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static void usage(const sl_model_desc *d, FILE *out)
{
    fprintf(out,
            "usage: %s INPUTS.npy -o OUTPUTS.npy [options]\n"
            "       %s --info | --help | --version\n"
            "\n"
            "Runs model '%s' on a batch of inputs: a .npy of f32 shaped [N, %lld]\n"
            "(or one input, [%lld]); writes the outputs as .npy, [N, %lld].\n"
            "\n"
            "options:\n"
            "  -o FILE                 where to write the outputs (required)\n"
            "  --weights FILE          safetensors weights (default: %s)\n"
            "  --set NAME=VALUE        set a threshold, by name (repeatable)\n"
            "  --stats FILE            write per-input decisions and FLOPs as JSON Lines\n"
            "  --labels FILE           f32 class ids [N]: report accuracy (argmax of the outputs)\n"
            "  --force-exit K|never    leave at exit K whenever it is reached, or never exit\n"
            "  --force-gate NAME=ARM   always take ARM (then or else) of gate NAME\n"
            "  -q, --quiet             no summary on stderr\n"
            "  --info                  describe the model: shapes, weights, thresholds, exits\n"
            "  --help, --version\n"
            "\n"
            "SLUICE_ISA=scalar|avx2|avx512 forces a kernel level.\n",
            prog, prog, d->name, (long long)d->in_size, (long long)d->in_size,
            (long long)d->out_size,
            d->embedded_weights ? "the embedded weights"
            : d->default_weights ? d->default_weights : "none");
}

static const char *shape_str(const int64_t *shape, int rank, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

static void info(const sl_model_desc *d)
{
    char a[256], b[256];
    printf("model %s (compiled from %s)\n", d->name, d->source);
    printf("input  %s, output %s\n", shape_str(d->in_shape, d->in_rank, a, sizeof a),
           shape_str(d->out_shape, d->out_rank, b, sizeof b));
    printf("weights: %s\n", d->embedded_weights ? "embedded"
                            : d->default_weights ? d->default_weights : "(none by default)");
    for (int32_t i = 0; i < d->n_tensors; i++)
        printf("  %s f32%s\n", d->tensors[i].name,
               shape_str(d->tensors[i].shape, d->tensors[i].rank, a, sizeof a));
    printf("thresholds:%s\n", d->n_thresholds ? "" : " none");
    for (int32_t i = 0; i < d->n_thresholds; i++)
        printf("  %s = %g\n", d->threshold_names[i], (double)d->threshold_defaults[i]);
    printf("exits:%s\n", d->n_exits ? "" : " none");
    for (int32_t i = 0; i < d->n_exits; i++)
        printf("  %s (line %d)\n", d->exits[i].name, d->exits[i].line);
    printf("decisions:%s\n", d->n_decisions ? "" : " none");
    static const char *const kinds[] = {"gate", "route", "blocks"};
    for (int32_t i = 0; i < d->n_decisions; i++) {
        const sl_decision_desc *x = &d->decisions[i];
        printf("  %s %s (line %d): ", kinds[x->kind], x->name, x->line);
        if (x->kind == SL_DECISION_GATE)
            printf("then or else\n");
        else if (x->kind == SL_DECISION_ROUTE)
            printf("top %d of %d experts\n", x->count, x->choices);
        else
            printf("%d blocks\n", x->count);
    }
    printf("dense FLOPs: %.0f per input\n", d->dense_flops);
}

/* The value of "--flag VALUE" or "--flag=VALUE"; NULL if argv[*i] is not it. */
static const char *flag(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static bool parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || isnan(v) || fabs(v) > 3.4e38)
        return false;
    *out = (float)v;
    return true;
}

static int parse_set(args *a, const char *v)
{
    const char *eq = strchr(v, '=');
    float value;
    if (!eq || eq == v)
        return fail("--set takes NAME=VALUE, not '%s'", v);
    if (!parse_float(eq + 1, &value))
        return fail("--set %.*s: '%s' is not a number", (int)(eq - v), v, eq + 1);
    char *name = strndup(v, (size_t)(eq - v));
    if (!name)
        return fail("out of memory");
    a->sets[a->n_sets++] = (setting){name, value};
    return 0;
}

static int parse_args(int argc, char **argv, args *a)
{
    a->sets = calloc((size_t)argc, sizeof *a->sets);
    a->force_gates = calloc((size_t)argc, sizeof *a->force_gates);
    if (!a->sets || !a->force_gates)
        return fail("out of memory");
    /* Options with a value, "--opt VALUE" or "--opt=VALUE". */
    const struct {
        const char *name;
        const char **dest;
    } valued[] = {
        {"-o", &a->output},          {"--weights", &a->weights}, {"--stats", &a->stats},
        {"--labels", &a->labels},    {"--force-exit", &a->force_exit},
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        bool missing = false, matched = false;
        for (size_t k = 0; k < sizeof valued / sizeof *valued && !matched; k++)
            if ((v = flag(argc, argv, &i, valued[k].name, &missing)) || missing) {
                matched = true;
                *valued[k].dest = v;
            }
        if (!matched && ((v = flag(argc, argv, &i, "--set", &missing)) || missing)) {
            matched = true;
            if (v && parse_set(a, v) != 0)
                return 1;
        }
        if (!matched && ((v = flag(argc, argv, &i, "--force-gate", &missing)) || missing)) {
            matched = true;
            if (v)
                a->force_gates[a->n_force_gates++] = v;
        }
        if (missing)
            return fail("%s needs a value (see %s --help)", arg, prog);
        if (matched)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            a->help = true;
        else if (strcmp(arg, "--version") == 0)
            a->version = true;
        else if (strcmp(arg, "--info") == 0)
            a->info = true;
        else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0)
            a->quiet = true;
        else if (arg[0] == '-' && arg[1] != '\0')
            return fail("unknown option '%s' (see %s --help)", arg, prog);
        else if (!a->input)
            a->input = arg;
        else
            return fail("more than one input file ('%s' and '%s')", a->input, arg);
    }
    return 0;
}

static void free_args(args *a)
{
    for (int i = 0; i < a->n_sets; i++)
        free((char *)a->sets[i].name);
    free(a->sets);
    free(a->force_gates);
}

/* "24.5 kFLOPs" */
static const char *flops_str(double f, char *buf, size_t cap)
{
    if (f >= 1e9)
        snprintf(buf, cap, "%.1f GFLOPs", f / 1e9);
    else if (f >= 1e6)
        snprintf(buf, cap, "%.1f MFLOPs", f / 1e6);
    else if (f >= 1e3)
        snprintf(buf, cap, "%.1f kFLOPs", f / 1e3);
    else
        snprintf(buf, cap, "%.0f FLOPs", f);
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Apply --set, --force-exit and --force-gate. */
static int configure(sl_model *m, const args *a)
{
    sl_error err;
    for (int i = 0; i < a->n_sets; i++)
        if (sl_model_set_threshold(m, a->sets[i].name, a->sets[i].value, &err) != 0)
            return fail("--set: %s", err.msg);
    if (a->force_exit) {
        int32_t knob;
        char *end;
        long k = strtol(a->force_exit, &end, 10);
        if (strcmp(a->force_exit, "never") == 0)
            knob = SL_FORCE_NEVER;
        else if (end != a->force_exit && !*end && k >= 0 && k < INT32_MAX)
            knob = (int32_t)k;
        else
            return fail("--force-exit takes an exit number or 'never', not '%s'", a->force_exit);
        if (sl_model_force_exit(m, knob, &err) != 0)
            return fail("--force-exit: %s", err.msg);
    }
    for (int i = 0; i < a->n_force_gates; i++) {
        const char *v = a->force_gates[i], *eq = strchr(v, '=');
        int32_t arm;
        if (!eq || eq == v)
            return fail("--force-gate takes NAME=then or NAME=else, not '%s'", v);
        if (strcmp(eq + 1, "then") == 0)
            arm = 1;
        else if (strcmp(eq + 1, "else") == 0)
            arm = 0;
        else
            return fail("--force-gate %.*s: the arm is 'then' or 'else', not '%s'",
                        (int)(eq - v), v, eq + 1);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
        if (sl_model_force_gate(m, name, arm, &err) != 0)
            return fail("--force-gate: %s", err.msg);
    }
    return 0;
}

/* The batch: [N, in...] or exactly [in...] (one input, *single = true). */
static int check_inputs(const sl_model_desc *d, const char *path, const sl_npy *x, int64_t *n,
                        bool *single)
{
    bool batch = x->rank == d->in_rank + 1;
    for (int i = 0; batch && i < d->in_rank; i++)
        batch = x->shape[i + 1] == d->in_shape[i];
    bool one = x->rank == d->in_rank;
    for (int i = 0; one && i < d->in_rank; i++)
        one = x->shape[i] == d->in_shape[i];
    if (!batch && !one) {
        char want[256], got[256];
        shape_str(d->in_shape, d->in_rank, want, sizeof want);
        return fail("%s: expected shape [N, %s] or %s, found %s", path, want + 1, want,
                    shape_str(x->shape, x->rank, got, sizeof got));
    }
    *single = !batch;
    *n = batch ? x->shape[0] : 1;
    return 0;
}

static int run(const sl_model_desc *d, const args *a)
{
    sl_error err;
    if (!a->input)
        return fail("no input file (usage: %s INPUTS.npy -o OUTPUTS.npy; see --help)", prog);
    if (!a->output)
        return fail("no output file: give -o OUTPUTS.npy");

    sl_model *m = sl_model_open(d, a->weights, &err);
    if (!m)
        return fail("%s", err.msg);
    int rc = configure(m, a);
    sl_npy x = {0}, labels = {0};
    sl_ledger ledger = {0};
    float *y = NULL;
    int64_t *exit_counts = NULL;
    int64_t n = 0;
    bool single = false;
    if (rc == 0 && sl_npy_read(a->input, &x, &err) != 0)
        rc = fail("%s", err.msg);
    if (rc == 0)
        rc = check_inputs(d, a->input, &x, &n, &single);
    if (rc == 0 && a->labels) {
        if (sl_npy_read(a->labels, &labels, &err) != 0)
            rc = fail("%s", err.msg);
        else if (labels.rank != 1 || labels.shape[0] != n) {
            char got[256];
            rc = fail("%s: expected shape [%lld] (a label per input), found %s", a->labels,
                      (long long)n, shape_str(labels.shape, labels.rank, got, sizeof got));
        }
    }
    if (rc == 0) {
        size_t out = (size_t)n * (size_t)d->out_size;
        y = malloc(out ? out * sizeof *y : 1);
        exit_counts = calloc((size_t)d->n_exits + 1, sizeof *exit_counts);
        if (!y || !exit_counts)
            rc = fail("out of memory for %lld outputs", (long long)n);
    }
    if (rc == 0 && sl_ledger_alloc(&ledger, d, n, &err) != 0)
        rc = fail("%s", err.msg);

    double seconds = 0;
    if (rc == 0) {
        double t0 = now();
        if (sl_model_run(m, n, x.data, y, &ledger, &err) != 0)
            rc = fail("%s", err.msg);
        seconds = now() - t0;
    }
    if (rc == 0) {
        int64_t shape[SL_MAX_RANK + 1];
        int32_t rank = 0;
        if (!single)
            shape[rank++] = n;
        for (int i = 0; i < d->out_rank; i++)
            shape[rank++] = d->out_shape[i];
        if (sl_npy_write(a->output, y, rank, shape, &err) != 0)
            rc = fail("%s", err.msg);
    }
    if (rc == 0 && a->stats) {
        FILE *f = fopen(a->stats, "w");
        if (!f) {
            rc = fail("%s: cannot create: %s", a->stats, strerror(errno));
        } else {
            int w = sl_ledger_write_jsonl(f, d, &ledger, 0);
            if (fclose(f) != 0 || w != 0)
                rc = fail("%s: cannot write: %s", a->stats, strerror(errno));
        }
    }
    if (rc == 0 && !a->quiet) {
        sl_summary s = {.exit_counts = exit_counts};
        sl_ledger_summarize(d, &ledger, seconds, &s);
        char mean[32], dense[32];
        fprintf(stderr, "%s: %lld input%s, %s mean executed of %s dense (%.1f%%)", d->name,
                (long long)s.inputs, s.inputs == 1 ? "" : "s",
                flops_str(s.mean_flops, mean, sizeof mean),
                flops_str(s.dense_flops, dense, sizeof dense),
                s.dense_flops > 0 ? 100.0 * s.mean_flops / s.dense_flops : 100.0);
        if (a->labels) {
            int64_t right = 0;
            for (int64_t i = 0; i < n; i++) {
                const float *row = y + i * d->out_size;
                int64_t best = 0;
                for (int64_t j = 1; j < d->out_size; j++)
                    if (row[j] > row[best])
                        best = j;
                right += (double)best == (double)labels.data[i];
            }
            fprintf(stderr, ", accuracy %.4f", n ? (double)right / (double)n : 0.0);
        }
        if (seconds > 0)
            fprintf(stderr, ", %.3g inputs/s", (double)n / seconds);
        fprintf(stderr, " [%s kernels]\n", sl_rt_isa_name(sl_rt_isa()));
        if (d->n_exits) {
            fprintf(stderr, "%s: exits:", d->name);
            for (int32_t i = 0; i <= d->n_exits; i++)
                fprintf(stderr, "%s %s %lld", i ? "," : "", i < d->n_exits ? d->exits[i].name : "end",
                        (long long)exit_counts[i]);
            fputc('\n', stderr);
        }
    }
    free(exit_counts);
    free(y);
    sl_ledger_free(&ledger);
    sl_npy_free(&labels);
    sl_npy_free(&x);
    sl_model_close(m);
    return rc;
}

int sl_main(const sl_model_desc *d, int argc, char **argv)
{
    if (argc > 0 && argv[0])
        prog = argv[0];
    args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc == 0) {
        if (a.help)
            usage(d, stdout);
        else if (a.version)
            printf("%s: model %s, Sluice runtime %s (ABI %d)\n", prog, d->name,
                   SL_RUNTIME_VERSION, SL_ABI_VERSION);
        else if (a.info)
            info(d);
        else
            rc = run(d, &a);
    }
    free_args(&a);
    return rc;
}
