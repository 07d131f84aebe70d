/* main.c - every model executable (its options parsed by cmdline.c):
 *
 *   ./model INPUTS.npy -o OUTPUTS.npy [--weights F] [--set NAME=VALUE]...
 *           [--stats LEDGER.jsonl] [--summary-json S.json] [--labels LABELS.npy]
 *           [--lengths LENGTHS.npy]
 *           [--force-exit K|NAME|never] [--force-gate NAME=then|else]...
 *           [--threads N] [--budget FLOPS] [-q]
 *   ./model --info | --help | --version
 *
 * Reads a batch of inputs, runs the model, writes the outputs, the per-input
 * ledger, and a summary on stderr (and, while a long run lasts, a progress
 * bar when stderr is a terminal).  A sequence model's inputs may be
 * shorter than its longest (the file's token length, or each input's from
 * --lengths).  A bad file or name is an error naming it
 * ("./model: error: x.npy: expected shape [N, 64] or [64], found [10, 63]")
 * and exit status 1, as is a malformed command line (as sluicec does); never
 * a crash.
 * docs/runtime.md describes it all. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/kernels.h"
#include "sluice/ledger.h"
#include "sluice/model.h"
#include "sluice/npy.h"
#include "sluice/text.h"
#include "cmdline.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif




static const char *tokens_name(const sl_model_desc *d)
{
    return d->tokens_name ? d->tokens_name : "T";
}

/* The input's shape as a file holds it: "[4, 4]", or "[N, 4, 4]" for a
 * batch; a sequence model's first dimension is its token count, "[N, T, 16]". */
static const char *input_str(const sl_model_desc *d, bool batch, char *buf, size_t cap)
{
    char one[256];
    sl_shape_str(d->in_shape, d->in_rank, one, sizeof one);
    const char *rest = one + 1; /* "4, 4]" */
    if (d->tokens_max > 0) {
        rest += strspn(rest, "0123456789"); /* ", 16]" or "]" */
        snprintf(buf, cap, "[%s%s%s", batch ? "N, " : "", tokens_name(d), rest);
    } else {
        snprintf(buf, cap, "[%s%s", batch ? (d->in_rank ? "N, " : "N") : "", rest);
    }
    return buf;
}

static const char *elem_str(const sl_model_desc *d)
{
    return d->in_elem == SL_ELEM_I32 ? "i32" : "f32";
}

/* The paragraph of the usage that says what the inputs are. */
static void usage_inputs(const sl_model_desc *d, FILE *out)
{
    char batch[300], one[300], outs[256];
    input_str(d, true, batch, sizeof batch);
    input_str(d, false, one, sizeof one);
    sl_shape_str(d->out_shape, d->out_rank, outs, sizeof outs);
    if (d->tokens_max == 0 && d->in_elem == SL_ELEM_F32) {
        fprintf(out,
                "Runs model '%s' on a batch of inputs, a .npy of float32 (or float64)\n"
                "shaped %s (or one input, %s), and writes the outputs as a .npy\n"
                "of float32 shaped [N, ...] with ... = %s.\n",
                d->name, batch, one, outs);
        return;
    }
    bool ids = d->in_elem == SL_ELEM_I32;
    fprintf(out,
            "Runs model '%s' on a batch of %s, a .npy of %s\n(%s) shaped %s (or one input, %s)",
            d->name, d->tokens_max > 0 ? "sequences" : "inputs", ids ? "token ids" : "float32",
            ids ? "any integer dtype" : "or float64", batch, one);
    if (d->tokens_max > 0)
        fprintf(out, " with %s from %lld to %lld", tokens_name(d), (long long)d->tokens_min,
                (long long)d->tokens_max);
    fprintf(out, ",\nand writes the outputs as a .npy of float32 shaped [N, ...] with ... = %s.\n",
            outs);
    if (d->id_limit > 0)
        fprintf(out, "Every id must lie from 0 to %lld.\n", (long long)d->id_limit - 1);
    if (d->tokens_max > 0)
        fprintf(out, "An input may have fewer tokens than the file's %s, the rest padding\n"
                "(not read): --lengths gives each input's count.\n", tokens_name(d));
}

static void usage(const sl_model_desc *d, FILE *out)
{
    fprintf(out,
            "usage: %s INPUTS.npy -o OUTPUTS.npy [options]\n"
            "       %s --info | --help | --version\n"
            "\n",
            sl_cli_prog, sl_cli_prog);
    usage_inputs(d, out);
    fprintf(out,
            "\n"
            "options:\n"
            "  -o FILE                      where to write the outputs (required)\n"
            "  --weights FILE               safetensors weights (default: %s)\n"
            "  --set NAME=VALUE             set a threshold, by name (repeatable)\n"
            "  --stats FILE                 write each input's exit, decisions and FLOPs\n"
            "                               as JSON Lines\n"
            "  --labels FILE                a .npy of class ids [N]: report accuracy\n",
            d->embedded_weights ? "the embedded weights"
            : d->default_weights ? d->default_weights : "none, --weights is needed");
    if (d->tokens_max > 0)
        fprintf(out,
                "  --lengths FILE               a .npy of N integers, each input's token count\n"
                "                               (default: every input has the file's %s)\n",
                tokens_name(d));
    fprintf(out,
            "  --force-exit K|NAME|never    leave at exit K whenever it is reached, or never\n"
            "  --force-gate NAME=then|else  always take that arm of gate NAME (repeatable)\n"
            "  --summary-json FILE          the run's summary (the stderr lines) as JSON\n"
            "  --threads N                  run on N threads (default: SLUICE_THREADS, else\n"
            "                               every CPU); results are the same for any N\n"
            "  --budget FLOPS               leave by the first exit past which an input could\n"
            "                               spend more than FLOPS, and skip a layer of tokens\n"
            "                               that would pass it (anytime use; 0: none)\n"
            "  -q, --quiet                  no summary (and no progress bar) on stderr\n"
            "  --info                       describe the model: shapes, weights, thresholds,\n"
            "                               exits, decisions, dense FLOPs\n"
            "  --help                       this text\n"
            "  --version                    the model's and the runtime's versions\n"
            "\n"
            "Exit status: 0 on success, 1 on any error.\n");
}

static void info(const sl_model_desc *d)
{
    static const char *const kinds[] = {"gate", "route", "blocks", "tokens"};
    char a[256], b[256];
    printf("model %s (compiled from %s)\n", d->name, d->source ? d->source : "?");
    if (d->tokens_max == 0 && d->in_elem == SL_ELEM_F32) {
        printf("input:  f32%s\n", sl_shape_str(d->in_shape, d->in_rank, a, sizeof a));
    } else {
        printf("input:  %s: %s%s\n", d->in_name ? d->in_name : "?", elem_str(d),
               input_str(d, false, a, sizeof a));
        if (d->tokens_max > 0)
            printf("tokens: %s from %lld to %lld\n", tokens_name(d), (long long)d->tokens_min,
                   (long long)d->tokens_max);
        if (d->id_limit > 0)
            printf("ids:    0 to %lld\n", (long long)d->id_limit - 1);
    }
    printf("output: f32%s\n", sl_shape_str(d->out_shape, d->out_rank, b, sizeof b));
    if (d->embedded_weights)
        printf("weights: embedded (%llu bytes), %d tensors\n",
               (unsigned long long)d->embedded_size, d->n_tensors);
    else if (d->default_weights)
        printf("weights: %s (default), %d tensors\n", d->default_weights, d->n_tensors);
    else
        printf("weights: none by default (give --weights), %d tensors\n", d->n_tensors);
    for (int32_t i = 0; i < d->n_tensors; i++)
        printf("  %s %s\n", d->tensors[i].name,
               sl_shape_str(d->tensors[i].shape, d->tensors[i].rank, a, sizeof a));
    printf("thresholds:%s\n", d->n_thresholds ? "" : " none");
    for (int32_t i = 0; i < d->n_thresholds; i++)
        printf("  %s = %g\n", d->threshold_names[i], (double)d->threshold_defaults[i]);
    printf("exits:%s\n", d->n_exits ? "" : " none");
    for (int32_t i = 0; i < d->n_exits; i++)
        printf("  %d %s (line %d:%d)\n", i, d->exits[i].name, d->exits[i].line, d->exits[i].col);
    printf("decisions:%s\n", d->n_decisions ? "" : " none");
    for (int32_t i = 0; i < d->n_decisions; i++) {
        const sl_decision_desc *x = &d->decisions[i];
        const char *kind = x->kind >= 0 && x->kind <= 3 ? kinds[x->kind] : "?";
        printf("  %s %s (line %d:%d): ", kind, x->name, x->line, x->col);
        if (x->kind == SL_DECISION_GATE)
            printf("then or else");
        else if (x->kind == SL_DECISION_ROUTE)
            if (x->per_expert)
                printf("each of %d experts takes %d tokens", x->choices, x->per_expert);
            else
                printf("top %d of %d experts%s", x->count, x->choices, x->rows ? " per token" : "");
        else if (x->kind == SL_DECISION_TOKENS)
            printf("top %d tokens", x->count);
        else
            printf("%d blocks", x->count);
        int64_t last = x->slot + x->count * (x->rows ? x->rows : 1) - 1;
        if (last == x->slot)
            printf(", slot %d\n", x->slot);
        else
            printf(", slots %d-%lld\n", x->slot, (long long)last);
    }
    if (d->tokens_max > 0) { /* as sluicec --cost writes it: no zero terms */
        const char *t = tokens_name(d);
        const double *f = d->dense_flops;
        bool k = f[0] != 0 || (f[1] == 0 && f[2] == 0);
        printf("dense FLOPs: ");
        if (k)
            printf("%.0f", f[0]);
        if (f[1] != 0)
            printf("%s%.0f*%s", k ? " + " : "", f[1], t);
        if (f[2] != 0)
            printf("%s%.0f*%s^2", k || f[1] != 0 ? " + " : "", f[2], t);
        printf(" per input of %s tokens\n", t);
    } else
        printf("dense FLOPs: %.0f per input\n", d->dense_flops[0]);
    printf("tiles: up to %lld rows, %.1f KiB of scratch each (one per thread)\n",
           (long long)d->tile_rows, (double)d->scratch_floats * 4 / 1024);
}

/* ---- a run ------------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the progress bar ------------------------------------------------------ */

/* A run that takes more than a second shows, on stderr when it is a
 * terminal, one line redrawn in place at most four times a second,
 *   vit_digits: [#######.............]  36% 26112/72000 inputs, 5.5e+04/s, 1 s left
 * and erases it when the run ends (blanks, not escape sequences: any
 * terminal).  Not with -q.  SLUICE_PROGRESS=never turns it off;
 * SLUICE_PROGRESS=always draws it from the start, terminal or not (for
 * tests and logs).  To have something to draw, the batch then runs in
 * chunks of about a tenth of a second each; a row's results are the same
 * bits in any batch (docs/runtime.md), so the outputs and the ledger are
 * those of one call. */
#define PROGRESS_DELAY 1.0     /* seconds before the bar appears */
#define PROGRESS_EVERY 0.25    /* seconds between drawings, at least */
#define PROGRESS_CHUNK 0.1     /* seconds a chunk should take */

typedef struct progress {
    bool on;                 /* run in chunks and draw: a terminal (or "always"), not -q */
    double delay;            /* seconds from the start before the first drawing */
    double t0, last;         /* the run's start; the last drawing (0: none yet) */
    int drawn;               /* columns the line on screen takes (0: none) */
} progress;

/* SLUICE_PROGRESS: unset, empty or "auto" (a terminal), "always" or "never";
 * anything else is an error (1, printed). */
static int progress_mode(const cmdline *a, progress *p)
{
    const char *v = getenv("SLUICE_PROGRESS");
    *p = (progress){0};
    if (!v || !*v || strcmp(v, "auto") == 0) {
        p->on = isatty(STDERR_FILENO) == 1;
        p->delay = PROGRESS_DELAY;
    } else if (strcmp(v, "always") == 0) {
        p->on = true;
    } else if (strcmp(v, "never") != 0) {
        return sl_cli_fail("SLUICE_PROGRESS='%s' is not auto, always or never", v);
    }
    if (a->quiet)
        p->on = false;
    return 0;
}

static int terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Blank the line drawn, the cursor back at its start. */
static void progress_erase(progress *p)
{
    if (p->drawn > 0)
        fprintf(stderr, "\r%*s\r", p->drawn, "");
    p->drawn = 0;
}

/* Redraw after `done` of `n` inputs, unless it is too soon. */
static void progress_draw(progress *p, const sl_model_desc *d, int64_t done, int64_t n, double t)
{
    double spent = t - p->t0;
    /* Nothing after the last chunk: it would be erased at once. */
    if (!p->on || done >= n || spent < p->delay ||
        (p->last > 0 && t - p->last < PROGRESS_EVERY))
        return;
    p->last = t;
    double frac = n > 0 ? (double)done / (double)n : 1.0;
    double rate = spent > 0 ? (double)done / spent : 0;
    /* One column short of the width: a line that fills it wraps on some
     * terminals, and "\r" then no longer returns to its start. */
    char line[512];
    int cols = terminal_columns() - 1;
    if (cols >= (int)sizeof line)
        cols = (int)sizeof line - 1;
    /* The bar's width depends on the name, n and the terminal, not on the
     * counts or the rate: it does not jump.  24 columns are kept for the
     * rate and the time left; with fewer than 10 for it, no bar. */
    int widest = snprintf(line, sizeof line, "%s:  100%% %lld/%lld inputs", d->name,
                          (long long)n, (long long)n);
    int bar = cols - widest - 24 - 3;
    if (bar > 40)
        bar = 40;
    int len = snprintf(line, sizeof line, "%s: ", d->name);
    if (bar >= 10 && len > 0 && len + bar + 3 < (int)sizeof line) {
        int fill = (int)(frac * bar);
        line[len++] = '[';
        for (int i = 0; i < bar; i++)
            line[len++] = i < fill ? '#' : '.';
        line[len++] = ']';
        line[len++] = ' ';
        line[len] = '\0';
    }
    if (len > 0 && len < (int)sizeof line)
        len += snprintf(line + len, sizeof line - (size_t)len, "%3.0f%% %lld/%lld inputs",
                        100 * frac, (long long)done, (long long)n);
    if (rate > 0 && len > 0 && len < (int)sizeof line)
        snprintf(line + len, sizeof line - (size_t)len, ", %.2g/s, %.0f s left", rate,
                 (double)(n - done) / rate);
    int w = (int)strlen(line);
    if (w > cols && cols > 0) /* a narrow terminal: cut the line */
        line[w = cols] = '\0';
    /* Blanks over what is left of a wider line drawn before. */
    fprintf(stderr, "\r%s%*s", line, p->drawn > w ? p->drawn - w : 0, "");
    if (p->drawn < w)
        p->drawn = w;
    fflush(stderr);
}

/* --force-exit K|NAME|never -> a knob; -3 if it is none of those. */
static int32_t exit_knob(const sl_model_desc *d, const char *s)
{
    if (strcmp(s, "never") == 0)
        return SL_FORCE_NEVER;
    for (int32_t i = 0; i < d->n_exits; i++)
        if (strcmp(d->exits[i].name, s) == 0)
            return i;
    char *end;
    errno = 0;
    long k = strtol(s, &end, 10);
    if (end != s && !*end && errno == 0 && k >= 0 && k <= INT32_MAX)
        return (int32_t)k;
    return -3;
}

/* Apply --set, --force-exit, --force-gate, --threads and --budget. */
static int configure(sl_model *m, const cmdline *a)
{
    const sl_model_desc *d = sl_model_desc_of(m);
    sl_error err;
    char name[256];
    if (a->threads && sl_model_set_threads(m, atoi(a->threads), &err) != 0)
        return sl_cli_fail("--threads %s: %s", a->threads, err.msg);
    if (a->budget) {
        char *end;
        double f = strtod(a->budget, &end);
        if (end == a->budget || *end != '\0' || sl_model_set_budget(m, f, &err) != 0)
            return sl_cli_fail("--budget takes a number of FLOPs, 0 or more; found '%s'", a->budget);
    }
    for (int i = 0; i < a->n_sets; i++) {
        snprintf(name, sizeof name, "%.*s", a->sets[i].name_len, a->sets[i].name);
        if (sl_model_set_threshold(m, name, a->sets[i].value, &err) != 0)
            return sl_cli_fail("--set %s: %s", a->sets[i].name, err.msg);
    }
    if (a->force_exit) {
        int32_t knob = exit_knob(d, a->force_exit);
        if (knob == -3)
            return sl_cli_fail("--force-exit takes an exit's number or name, or 'never'; found '%s'",
                        a->force_exit);
        if (sl_model_force_exit(m, knob, &err) != 0)
            return sl_cli_fail("--force-exit %s: %s", a->force_exit, err.msg);
    }
    for (int i = 0; i < a->n_gates; i++) {
        snprintf(name, sizeof name, "%.*s", a->gates[i].name_len, a->gates[i].name);
        if (sl_model_force_gate(m, name, a->gates[i].arm, &err) != 0)
            return sl_cli_fail("--force-gate %s: %s", a->gates[i].name, err.msg);
    }
    return 0;
}

/* The input file, read as the model's element type: floats, or token ids. */
typedef struct inputs {
    sl_npy f;                /* an f32 model's */
    sl_npy_i32 ids;          /* an i32 model's */
    int32_t rank;
    const int64_t *shape;
    const void *data;
} inputs;

static int read_inputs(const sl_model_desc *d, const char *path, inputs *x)
{
    sl_error err;
    if (d->in_elem == SL_ELEM_I32) {
        if (sl_npy_read_i32(path, &x->ids, &err) != 0)
            return sl_cli_fail("%s", err.msg);
        x->rank = x->ids.rank;
        x->shape = x->ids.shape;
        x->data = x->ids.data;
    } else {
        if (sl_npy_read(path, &x->f, &err) != 0)
            return sl_cli_fail("%s", err.msg);
        x->rank = x->f.rank;
        x->shape = x->f.shape;
        x->data = x->f.data;
    }
    return 0;
}

static void free_inputs(inputs *x)
{
    sl_npy_free(&x->f);
    sl_npy_i32_free(&x->ids);
}

/* shape (from the file's dimension `first` on) is the model's input; a
 * sequence model's token count may be any from tokens_min to tokens_max. */
static bool is_input(const sl_model_desc *d, int32_t rank, const int64_t *shape, int first)
{
    if (rank != d->in_rank + first)
        return false;
    for (int i = 0; i < d->in_rank; i++) {
        int64_t n = shape[first + i];
        if (i == 0 && d->tokens_max > 0 ? n < d->tokens_min || n > d->tokens_max
                                        : n != d->in_shape[i])
            return false;
    }
    return true;
}

/* The inputs: [N, in...] (a batch) or exactly [in...] (one input, *single);
 * *x_tokens, a sequence model's tokens per input in the file. */
static int check_inputs(const sl_model_desc *d, const char *path, const inputs *x, int64_t *n,
                        bool *single, int64_t *x_tokens)
{
    bool batch = is_input(d, x->rank, x->shape, 1);
    if (!batch && !is_input(d, x->rank, x->shape, 0)) {
        char want[300], want1[300], got[256], range[128] = "";
        if (d->tokens_max > 0)
            snprintf(range, sizeof range, " with %s from %lld to %lld", tokens_name(d),
                     (long long)d->tokens_min, (long long)d->tokens_max);
        return sl_cli_fail("%s: expected shape %s or %s%s, found %s", path,
                    input_str(d, true, want, sizeof want), input_str(d, false, want1, sizeof want1),
                    range, sl_shape_str(x->shape, x->rank, got, sizeof got));
    }
    *single = !batch;
    *n = batch ? x->shape[0] : 1;
    *x_tokens = d->tokens_max > 0 ? x->shape[batch] : 0;
    return 0;
}

/* One integer per input: [N], or [] or [1] for one input; `what` names
 * them ("label", "length"). */
static int check_per_input(const char *path, const sl_npy_i32 *v, int64_t n, bool single,
                           const char *what)
{
    if ((v->rank == 1 && v->shape[0] == n) || (single && v->rank == 0))
        return 0;
    char got[256];
    sl_shape_str(v->shape, v->rank, got, sizeof got);
    if (single)
        return sl_cli_fail("%s: expected shape [] or [1] (the one input's %s), found %s", path, what,
                    got);
    return sl_cli_fail("%s: expected shape [%lld] (one %s per input), found %s", path, (long long)n,
                what, got);
}

/* --labels: one class id per input, each in [0, out_size). */
static int check_labels(const sl_model_desc *d, const char *path, const sl_npy_i32 *l,
                        int64_t n, bool single)
{
    if (check_per_input(path, l, n, single, "label") != 0)
        return 1;
    for (int64_t i = 0; i < n; i++)
        if (l->data[i] < 0 || l->data[i] >= d->out_size)
            return sl_cli_fail("%s: input %lld: label %d is not a class of the model's %lld outputs "
                        "(0 to %lld)", path, (long long)i, l->data[i], (long long)d->out_size,
                        (long long)d->out_size - 1);
    return 0;
}

/* --lengths: each input's token count, one the model takes and the file
 * holds (x_tokens per input). */
static int check_lengths(const sl_model_desc *d, const cmdline *a, const sl_npy_i32 *l, int64_t n,
                         bool single, int64_t x_tokens)
{
    if (l->rank == 1 && l->shape[0] != n && !single)
        return sl_cli_fail("%s: expected %lld lengths (one per input), found %lld", a->lengths,
                    (long long)n, (long long)l->shape[0]);
    if (check_per_input(a->lengths, l, n, single, "length") != 0)
        return 1;
    for (int64_t i = 0; i < n; i++) {
        int32_t t = l->data[i];
        if (t < d->tokens_min || t > d->tokens_max)
            return sl_cli_fail("%s: input %lld has %d token%s; the model takes %lld to %lld", a->lengths,
                        (long long)i, t, t == 1 ? "" : "s", (long long)d->tokens_min,
                        (long long)d->tokens_max);
        if (t > x_tokens)
            return sl_cli_fail("%s: input %lld has %d token%s, but %s holds %lld per input", a->lengths,
                        (long long)i, t, t == 1 ? "" : "s", a->input, (long long)x_tokens);
    }
    return 0;
}

/* The fraction of rows whose argmax (the first on ties) equals the label. */
static double accuracy(const sl_model_desc *d, const float *y, const sl_npy_i32 *labels,
                       int64_t n)
{
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = y + i * d->out_size;
        int64_t best = 0;
        for (int64_t j = 1; j < d->out_size; j++)
            if (row[j] > row[best])
                best = j;
        right += best == labels->data[i];
    }
    return n ? (double)right / (double)n : -1; /* -1: not measured */
}

/* p and q are one file that a run would both read and write (or write
 * twice): the same existing plain file, or the same path not yet there.
 * Devices and pipes may repeat (-o /dev/null --stats /dev/null). */
static bool same_file(const char *p, const char *q)
{
    struct stat sp, sq;
    if (stat(p, &sp) != 0)
        return strcmp(p, q) == 0;
    return S_ISREG(sp.st_mode) && stat(q, &sq) == 0 && sp.st_dev == sq.st_dev &&
           sp.st_ino == sq.st_ino;
}

/* The file names a run uses: none empty; nothing it writes is something it
 * reads, and its two outputs are two files (as cc refuses "input file is
 * the same as output file"). */
static int check_paths(const cmdline *a)
{
    const struct {
        const char *flag, *path;
        bool written;
    } files[] = {
        {"the input", a->input, false},   {"--labels", a->labels, false},
        {"--lengths", a->lengths, false}, {"--weights", a->weights, false},
        {"-o", a->output, true},          {"--stats", a->stats, true},
        {"--summary-json", a->summary, true},
    };
    size_t n = sizeof files / sizeof *files;
    for (size_t i = 0; i < n; i++)
        if (files[i].path && !*files[i].path)
            return sl_cli_usage_fail("%s file name is empty", files[i].flag);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (files[i].path && files[j].path && (files[i].written || files[j].written) &&
                same_file(files[i].path, files[j].path))
                return sl_cli_usage_fail("%s and %s name the same file '%s'", files[i].flag,
                                  files[j].flag, files[j].path);
    return 0;
}

/* The model over the n inputs of x: one call, or with the bar in chunks,
 * each a view into x, y and the ledger.  A chunk is a multiple of the rows
 * the threads take at once (a tile each), sized from the rate so far to
 * last about PROGRESS_CHUNK, and at most twice the last. */
static int run_batch(sl_model *m, const sl_model_desc *d, int64_t n, const void *x,
                     int64_t x_tokens, const int32_t *lengths, float *y, sl_ledger *ledger,
                     progress *p, sl_error *err)
{
    bool seq = d->tokens_max > 0;
    if (!p->on || n <= 1)
        return seq ? sl_model_run_tokens(m, n, x, x_tokens, lengths, y, ledger, err)
                   : sl_model_run(m, n, x, y, ledger, err);
    /* Elements per input in x (4 bytes each: f32 or i32 ids). */
    int64_t stride = seq ? x_tokens * (d->in_size / d->tokens_max) : d->in_size;
    int64_t step = d->tile_rows * sl_model_threads(m), chunk = step;
    if (step < 1)
        chunk = step = 1;
    int64_t done = 0;
    while (done < n) {
        int64_t k = chunk < n - done ? chunk : n - done;
        sl_ledger part = {k, ledger->exits + done, ledger->slots + done * d->n_slots,
                          ledger->flops + done, ledger->tokens + done};
        const char *xk = (const char *)x + done * stride * 4;
        float *yk = y + done * d->out_size;
        int rc = seq ? sl_model_run_tokens(m, k, xk, x_tokens, lengths ? lengths + done : NULL,
                                           yk, &part, err)
                     : sl_model_run(m, k, xk, yk, &part, err);
        if (rc != 0) {
            /* What a run refuses (an id out of range) is refused before
             * any row runs, and the message numbers the inputs of the
             * call: the whole batch again names the input as the file
             * numbers it. */
            progress_erase(p);
            return seq ? sl_model_run_tokens(m, n, x, x_tokens, lengths, y, ledger, err)
                       : sl_model_run(m, n, x, y, ledger, err);
        }
        done += k;
        double t = now();
        progress_draw(p, d, done, n, t);
        if (t > p->t0) {
            double want = (double)done / (t - p->t0) * PROGRESS_CHUNK;
            int64_t next = want < (double)(2 * chunk) ? (int64_t)want : 2 * chunk;
            chunk = next < step ? step : next / step * step;
        }
    }
    progress_erase(p);
    return 0;
}

static int run(const sl_model_desc *d, const cmdline *a)
{
    if (!a->input)
        return sl_cli_usage_fail("no input file (expected INPUTS.npy)");
    if (!a->output)
        return sl_cli_usage_fail("no output file: give -o OUTPUTS.npy");
    if (check_paths(a) != 0)
        return 1;
    progress bar;
    if (progress_mode(a, &bar) != 0)
        return 1;
    if (a->lengths && d->tokens_max == 0) {
        char shape[256];
        return sl_cli_usage_fail("--lengths: model '%s' has no token dimension (its input is %s%s)",
                          d->name, elem_str(d),
                          sl_shape_str(d->in_shape, d->in_rank, shape, sizeof shape));
    }

    sl_error err;
    sl_model *m = sl_model_open(d, a->weights, &err);
    if (!m) {
        sl_cli_fail("%s", err.msg);
        if (!a->weights && !d->embedded_weights && d->default_weights &&
            access(d->default_weights, R_OK) != 0)
            fprintf(stderr, "%s: note: that is the model's default weights file; give "
                    "another with --weights FILE\n", sl_cli_prog);
        return 1;
    }
    int rc = configure(m, a);
    inputs x = {0};
    sl_npy_i32 labels = {0}, lengths = {0};
    sl_ledger ledger = {0};
    float *y = NULL;
    int64_t *exit_counts = NULL;
    int64_t n = 0, x_tokens = 0;
    bool single = false;
    if (rc == 0)
        rc = read_inputs(d, a->input, &x);
    if (rc == 0)
        rc = check_inputs(d, a->input, &x, &n, &single, &x_tokens);
    if (rc == 0 && a->lengths) {
        if (sl_npy_read_i32(a->lengths, &lengths, &err) != 0)
            rc = sl_cli_fail("%s", err.msg);
        else
            rc = check_lengths(d, a, &lengths, n, single, x_tokens);
    }
    if (rc == 0 && a->labels) {
        if (sl_npy_read_i32(a->labels, &labels, &err) != 0)
            rc = sl_cli_fail("%s", err.msg);
        else
            rc = check_labels(d, a->labels, &labels, n, single);
    }
    if (rc == 0) {
        size_t outs; /* n * out_size floats: n comes from a file */
        if (__builtin_mul_overflow((size_t)n, (size_t)d->out_size, &outs) ||
            outs > SIZE_MAX / sizeof *y)
            rc = sl_cli_fail("%s: %lld inputs are too many", a->input, (long long)n);
        else if (!(y = malloc(outs ? outs * sizeof *y : 1)) ||
                 !(exit_counts = calloc((size_t)d->n_exits + 1, sizeof *exit_counts)))
            rc = sl_cli_fail("out of memory for %lld outputs", (long long)n);
    }
    if (rc == 0 && sl_ledger_alloc(&ledger, d, n, &err) != 0)
        rc = sl_cli_fail("%s", err.msg);
    /* Both output files are created before the run, so that a path that
     * cannot be written fails before the work is done, and appear only
     * together at the end: a failed run leaves neither (outfile.h). */
    sl_outfile out = {0}, stats = {0}, summary = {0};
    if (rc == 0 && sl_outfile_open(&out, a->output, &err) != 0)
        rc = sl_cli_fail("%s", err.msg);
    if (rc == 0 && a->stats && sl_outfile_open(&stats, a->stats, &err) != 0)
        rc = sl_cli_fail("%s", err.msg);
    if (rc == 0 && a->summary && sl_outfile_open(&summary, a->summary, &err) != 0)
        rc = sl_cli_fail("%s", err.msg);

    double seconds = 0;
    if (rc == 0) {
        double t0 = now(); /* the model's run only: no I/O */
        bar.t0 = t0;
        int ran = run_batch(m, d, n, x.data, x_tokens, lengths.data, y, &ledger, &bar, &err);
        /* What the checks above leave to the run: ids out of range. */
        if (ran != 0)
            rc = d->in_elem == SL_ELEM_I32 ? sl_cli_fail("%s: %s", a->input, err.msg)
                                           : sl_cli_fail("%s", err.msg);
        seconds = now() - t0;
    }
    if (rc == 0) {
        int64_t shape[SL_MAX_RANK + 1];
        int32_t rank = 0;
        if (!single)
            shape[rank++] = n;
        for (int i = 0; i < d->out_rank; i++)
            shape[rank++] = d->out_shape[i];
        if (sl_npy_write_to(&out, y, rank, shape, &err) != 0)
            rc = sl_cli_fail("%s", err.msg);
    }
    if (rc == 0 && a->stats &&
        sl_outfile_finish(&stats, sl_ledger_write_jsonl(stats.f, d, &ledger, 0) == 0, &err) != 0)
        rc = sl_cli_fail("%s", err.msg);
    sl_summary s = {.exit_counts = exit_counts};
    int threads = sl_model_threads(m);
    if (rc == 0) {
        sl_ledger_summarize(d, &ledger, seconds, &s);
        if (a->labels)
            s.accuracy = accuracy(d, y, &labels, n);
    }
    if (rc == 0 && a->summary &&
        sl_outfile_finish(&summary, sl_summary_write_json(summary.f, d, &s,
                                                          sl_rt_isa_name(sl_rt_isa()),
                                                          threads) == 0, &err) != 0)
        rc = sl_cli_fail("%s", err.msg);
    if (rc == 0 && (sl_outfile_commit(&out, &err) != 0 || sl_outfile_commit(&stats, &err) != 0 ||
                    sl_outfile_commit(&summary, &err) != 0))
        rc = sl_cli_fail("%s", err.msg);
    sl_outfile_discard(&out);
    sl_outfile_discard(&stats);
    sl_outfile_discard(&summary);
    if (rc == 0 && !a->quiet) {
        char how[64];
        snprintf(how, sizeof how, "%s kernels, %d thread%s", sl_rt_isa_name(sl_rt_isa()),
                 threads, threads == 1 ? "" : "s");
        sl_ledger_print_summary(stderr, d, &s, how);
    }
    free(exit_counts);
    free(y);
    sl_ledger_free(&ledger);
    sl_npy_i32_free(&labels);
    sl_npy_i32_free(&lengths);
    free_inputs(&x);
    sl_model_close(m);
    return rc;
}

int sl_main(const sl_model_desc *d, int argc, char **argv)
{
    if (argc > 0 && argv[0])
        sl_cli_prog = argv[0];
    if (!d || d->abi_version != SL_ABI_VERSION) {
        fprintf(stderr, "%s: error: the model was compiled for runtime ABI %u, this runtime has "
                "ABI %u; recompile it\n", sl_cli_prog, d ? d->abi_version : 0u, SL_ABI_VERSION);
        return 1;
    }
    cmdline a = {0};
    int rc = sl_cmdline_parse(argc, argv, &a);
    if (rc == 0) {
        if (a.help)
            usage(d, stdout);
        else if (a.version)
            printf("%s: model %s, Sluice runtime %s (ABI %d)\n", sl_cli_prog, d->name, SLUICE_VERSION,
                   SL_ABI_VERSION);
        else if (a.info)
            info(d);
        else
            rc = run(d, &a);
    }
    sl_cmdline_free(&a);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
        rc = sl_cli_fail("cannot write to standard output: %s", strerror(errno));
    return rc;
}
