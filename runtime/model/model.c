/* model.c - the model C API: open a compiled model with its weights (every
 * tensor of its manifest checked, every dense layer packed), set thresholds,
 * force knobs and threads, run batches tile by tile on the threads, close.
 * Opening also chooses the kernel level (sl_rt_init), so a bad SLUICE_ISA is
 * an error the caller sees there, not a fatal one in the first kernel call. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/kernels.h"
#include "sluice/model.h"
#include "sluice/safetensors.h"
#include "sluice/text.h"
#include "pool.h"

struct sl_model {
    const sl_model_desc *desc;
    sl_st_file *weights;     /* owns the mapping the tensors point into */
    const float **tensors;   /* [n_tensors], as sl_env has them */
    sl_dense_pack **dense;   /* [n_dense], owned */
    float *thresholds;       /* [n_thresholds] */
    int32_t *force;          /* [1 + n_decisions], SL_FORCE_* */
    double budget;           /* FLOPs per input; 0: none */
    int64_t *zero_units;     /* [n_zero_units]: -fzero-stats' counters, or NULL */
    sl_pool *pool;           /* the threads */
    float **scratch;         /* [threads]: a tile's arena each, 64-byte aligned */
    size_t scratch_bytes;    /* of each, with the staging area */
    size_t stage_off;        /* sequences: where in it a tile's inputs are laid out again */
    sl_env env;              /* what generated code reads */
    sl_ledger own;           /* used when sl_model_run gets no ledger */
};

/* a and b equal once digits are dropped: "fc1.weight" and "fc2.weight" are
 * different layers, not a typo. */
static bool same_but_digits(const char *a, const char *b)
{
    for (;;) {
        while (*a >= '0' && *a <= '9')
            a++;
        while (*b >= '0' && *b <= '9')
            b++;
        if (*a != *b)
            return false;
        if (!*a)
            return true;
        a++, b++;
    }
}

/* A name in f that is probably the one meant by `want`: one with a prefix
 * ("module.fc1.weight", from a wrapped model's state_dict), one without
 * ("fc1.weight" for "model.fc1.weight"), else a near spelling (edit distance
 * at most 2, and a third of the name).  NULL if none. */
static const char *close_name(const sl_st_file *f, const char *want)
{
    size_t lw = strlen(want);
    for (int64_t i = 0; i < sl_st_count(f); i++) {
        const char *s = sl_st_at(f, i)->name;
        size_t ls = strlen(s);
        if (ls > lw && s[ls - lw - 1] == '.' && strcmp(s + ls - lw, want) == 0)
            return s;
        if (lw > ls && want[lw - ls - 1] == '.' && strcmp(want + lw - ls, s) == 0)
            return s;
    }
    const char *best = NULL;
    size_t best_d = lw / 3 < 2 ? lw / 3 : 2;
    for (int64_t i = 0; i < sl_st_count(f); i++) {
        const char *s = sl_st_at(f, i)->name;
        size_t d = sl_edit_distance(want, s);
        if (d <= best_d && (!best || d < sl_edit_distance(want, best)) && !same_but_digits(want, s))
            best = s;
    }
    return best;
}

int sl_weights_check_tensor(const sl_st_file *f, const sl_tensor_desc *want,
                            const sl_st_tensor **found, sl_error *err)
{
    char a[256], b[256];
    const sl_st_tensor *t = sl_st_find(f, want->name);
    if (!t) {
        const char *near = close_name(f, want->name);
        sl_shape_str(want->shape, want->rank, a, sizeof a);
        if (near)
            return sl_error_set(err, "%s: tensor '%s' (expected shape %s) is missing; did you "
                                "mean '%s'?", sl_st_name(f), want->name, a, near);
        return sl_error_set(err, "%s: tensor '%s' (expected shape %s) is missing", sl_st_name(f),
                            want->name, a);
    }
    if (!t->data)
        return sl_error_set(err, "%s: tensor '%s': expected a float dtype (F32, F16, BF16 or "
                            "F64), found %s", sl_st_name(f), want->name, t->dtype_name);
    /* Leading dimensions of 1 hold the same data: PyTorch keeps a class
     * token as [1, 1, d], a position table as [1, n, d]. */
    int lead = t->rank - want->rank;
    bool same = lead >= 0;
    for (int i = 0; same && i < lead; i++)
        same = t->shape[i] == 1;
    for (int i = 0; same && i < want->rank; i++)
        same = t->shape[lead + i] == want->shape[i];
    if (!same)
        return sl_error_set(err, "%s: tensor '%s': expected shape %s, found %s", sl_st_name(f),
                            want->name, sl_shape_str(want->shape, want->rank, a, sizeof a),
                            sl_shape_str(t->shape, t->rank, b, sizeof b));
    if (found)
        *found = t;
    return 0;
}

/* Every tensor of the manifest against the open weights, m->tensors set:
 * every problem named in one message, so a file saved from the wrong model
 * is not fixed one tensor per run.  One problem reads as
 * sl_weights_check_tensor says it; several as
 *   w.safetensors: 3 tensors do not match the model: tensor 'fc1.weight':
 *   expected shape [64, 64], found [32, 64]; also 'fc2.bias', 'out.weight'
 * with as many names as the message holds, then "and N more". */
static int check_tensors(sl_model *m, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    int32_t bad = 0, *which = calloc((size_t)d->n_tensors + 1, sizeof *which);
    sl_error one;
    if (!which)
        return sl_error_set(err, "model '%s': out of memory", d->name);
    for (int32_t i = 0; i < d->n_tensors; i++) {
        const sl_st_tensor *t;
        if (sl_weights_check_tensor(m->weights, &d->tensors[i], &t, &one) == 0) {
            m->tensors[i] = t->data;
        } else {
            if (bad == 0)
                *err = one;
            which[bad++] = i;
        }
    }
    if (bad > 1) {
        const char *file = sl_st_name(m->weights);
        char first[sizeof one.msg];
        snprintf(first, sizeof first, "%s", err->msg + strlen(file) + 2); /* after "FILE: " */
        size_t len = (size_t)snprintf(err->msg, sizeof err->msg,
                                      "%s: %d tensors do not match the model: %s; also ", file,
                                      (int)bad, first);
        int32_t k = 1;
        for (; k < bad && len < sizeof err->msg; k++) {
            const char *name = d->tensors[which[k]].name;
            /* room for this name and, if others follow, ", and N more" */
            if (len + strlen(name) + 4 + (k + 1 < bad ? 24 : 0) >= sizeof err->msg)
                break;
            len += (size_t)snprintf(err->msg + len, sizeof err->msg - len, "%s'%s'",
                                    k > 1 ? ", " : "", name);
        }
        if (k < bad)
            snprintf(err->msg + len, sizeof err->msg - len, "%sand %d more", k > 1 ? ", " : "",
                     (int)(bad - k));
    }
    free(which);
    return bad ? -1 : 0;
}

static void free_threads(sl_model *m);

void sl_model_close(sl_model *m)
{
    if (!m)
        return;
    sl_st_close(m->weights);
    for (int32_t j = 0; m->dense && j < m->desc->n_dense; j++)
        sl_rt_dense_pack_free(m->dense[j]);
    free(m->dense);
    free(m->tensors);
    free(m->thresholds);
    free(m->force);
    free(m->zero_units);
    free_threads(m);
    sl_ledger_free(&m->own);
    free(m);
}

/* The counts a descriptor gives, sane before anything is sized from them. */
static int check_desc(const sl_model_desc *d, sl_error *err)
{
    if (d->n_tensors < 0 || d->n_thresholds < 0 || d->n_exits < 0 || d->n_decisions < 0 ||
        d->n_slots < 0 || d->scratch_floats < 0 || d->in_size < 0 || d->out_size < 0 ||
        !d->tile || d->tile_rows < 1 || d->n_dense < 0 || (d->n_dense && !d->dense) ||
        (d->in_elem != SL_ELEM_F32 && d->in_elem != SL_ELEM_I32) || d->tokens_min < 0 ||
        d->tokens_max < d->tokens_min || d->id_limit < 0 ||
        (d->tokens_max > 0 && (d->tokens_min < 1 || d->in_rank < 1 ||
                               d->in_shape[0] != d->tokens_max || d->in_size % d->tokens_max)))
        return sl_error_set(err, "model '%s': the descriptor is malformed", d->name);
    for (int32_t j = 0; j < d->n_dense; j++) {
        const sl_dense_desc *dd = &d->dense[j];
        if (dd->weight < 0 || dd->weight >= d->n_tensors || dd->bias < 0 ||
            dd->bias >= d->n_tensors || d->tensors[dd->weight].rank != 2 ||
            d->tensors[dd->bias].rank != 1 || dd->row0 < 0 || dd->rows < 1 ||
            dd->row0 + dd->rows > d->tensors[dd->weight].shape[0] ||
            d->tensors[dd->bias].shape[0] != d->tensors[dd->weight].shape[0])
            return sl_error_set(err, "model '%s': the descriptor is malformed", d->name);
    }
    for (int32_t j = 0; j < d->n_decisions; j++) {
        const sl_decision_desc *x = &d->decisions[j];
        int64_t sets = x->rows > 0 ? x->rows : 1;
        if (x->slot < 0 || x->count < 1 || x->rows < 0 || x->tok_a < 0 ||
            x->slot + x->count * sets > d->n_slots)
            return sl_error_set(err, "model '%s': the descriptor is malformed", d->name);
    }
    if (d->n_relus < 0 || (d->n_relus && !d->relus) || d->n_zero_units < 0)
        return sl_error_set(err, "model '%s': the descriptor is malformed", d->name);
    for (int32_t j = 0; j < d->n_relus; j++) {
        const sl_relu_desc *r = &d->relus[j];
        if (!r->name || r->slot < 0 || r->slot + 2 > d->n_slots || r->width < 1 ||
            r->unit0 < 0 || r->unit0 + r->width + 1 > d->n_zero_units)
            return sl_error_set(err, "model '%s': the descriptor is malformed", d->name);
    }
    return 0;
}

/* Zero-skipping never reads a zero input's weights, so it would turn the
 * NaN a dense layer gives for 0 * inf (or 0 * NaN) into a number: such
 * weights are refused rather than answered differently. */
static int check_finite(const sl_model *m, const sl_tensor_desc *t, const float *w,
                        sl_error *err)
{
    int64_t rows = t->shape[0], cols = t->shape[1];
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(w[i]))
            return sl_error_set(err, "%s: tensor '%s' holds %g at [%lld, %lld]; the model was "
                                "compiled to skip the weights of zero inputs, which would "
                                "hide it: recompile it with -fno-zero-skip",
                                sl_st_name(m->weights), t->name, (double)w[i],
                                (long long)(i / cols), (long long)(i % cols));
    return 0;
}

/* Every dense layer packed once, here, for the kernel level in use, so a
 * run only reads (docs/kernels.md, "The dense kernel"). */
static int pack_dense(sl_model *m, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    for (int32_t j = 0; j < d->n_dense; j++) {
        const sl_dense_desc *dd = &d->dense[j];
        const sl_tensor_desc *t = &d->tensors[dd->weight];
        const float *w = m->tensors[dd->weight], *b = m->tensors[dd->bias];
        if (dd->zero_skip && check_finite(m, t, w, err) != 0)
            return -1;
        int64_t n_in = t->shape[1];
        sl_error e;
        m->dense[j] = sl_rt_dense_pack(w + dd->row0 * n_in, b + dd->row0, n_in, dd->rows, &e);
        if (!m->dense[j])
            return sl_error_set(err, "model '%s': tensor '%s': %s", d->name, t->name, e.msg);
    }
    return 0;
}

/* The CPUs this process may run on (its affinity mask), at least 1. */
static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = CPU_COUNT(&set);
#endif
    return n < 1 ? 1 : n > SL_MAX_THREADS ? SL_MAX_THREADS : (int)n;
}

/* SLUICE_THREADS if set (a number from 1 to SL_MAX_THREADS), else the CPUs. */
static int default_threads(sl_error *err)
{
    const char *v = getenv("SLUICE_THREADS");
    if (!v || !*v)
        return online_cpus();
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > SL_MAX_THREADS)
        return sl_error_set(err, "SLUICE_THREADS='%s' is not a number of threads (1 to %d)", v,
                            SL_MAX_THREADS);
    return (int)n;
}

static void free_threads(sl_model *m)
{
    sl_pool_free(m->pool);
    m->pool = NULL;
    for (int t = 0; m->scratch && t < SL_MAX_THREADS && m->scratch[t]; t++)
        free(m->scratch[t]);
    free(m->scratch);
    m->scratch = NULL;
}

int sl_model_set_threads(sl_model *m, int n, sl_error *err)
{
    if (n < 0 || n > SL_MAX_THREADS)
        return sl_error_set(err, "model '%s': %d threads (expected 1 to %d, or 0 for the "
                            "default)", m->desc->name, n, SL_MAX_THREADS);
    if (n == 0 && (n = default_threads(err)) < 0)
        return -1;
    if (m->pool && sl_pool_threads(m->pool) == n)
        return 0;
    free_threads(m);
    m->scratch = calloc((size_t)n + 1, sizeof *m->scratch);
    if (!m->scratch)
        return sl_error_set(err, "model '%s': out of memory for %d threads", m->desc->name, n);
    for (int t = 0; t < n; t++) {
        if (!(m->scratch[t] = aligned_alloc(64, m->scratch_bytes))) {
            free_threads(m);
            return sl_error_set(err, "model '%s': out of memory for the scratch arenas of %d "
                                "threads (%zu bytes each)", m->desc->name, n, m->scratch_bytes);
        }
        memset(m->scratch[t], 0, m->scratch_bytes);
    }
    if (!(m->pool = sl_pool_new(n, err))) {
        free_threads(m);
        return -1;
    }
    return 0;
}

int sl_model_threads(const sl_model *m) { return m->pool ? sl_pool_threads(m->pool) : 0; }

static sl_st_file *open_weights(const sl_model_desc *d, const char *path, sl_error *err)
{
    if (path)
        return sl_st_open(path, err);
    if (d->embedded_weights)
        return sl_st_open_mem(d->embedded_weights, (size_t)d->embedded_size,
                              "<embedded weights>", err);
    if (d->default_weights)
        return sl_st_open(d->default_weights, err);
    sl_error_set(err, "model '%s' has no embedded or default weights, and no weights file was "
                 "given", d->name);
    return NULL;
}

sl_model *sl_model_open(const sl_model_desc *d, const char *weights_path, sl_error *err)
{
    if (!d) {
        sl_error_set(err, "no model descriptor");
        return NULL;
    }
    /* First: with another ABI, nothing past abi_version can be trusted. */
    if (d->abi_version != SL_ABI_VERSION) {
        sl_error_set(err, "the model was compiled for runtime ABI %u, this runtime has ABI %u; "
                     "recompile it", d->abi_version, SL_ABI_VERSION);
        return NULL;
    }
    if (check_desc(d, err) != 0)
        return NULL;
    if (sl_rt_init(err) != 0)
        return NULL;
    sl_model *m = calloc(1, sizeof *m);
    if (!m) {
        sl_error_set(err, "model '%s': out of memory", d->name);
        return NULL;
    }
    m->desc = d;
    /* A model without parameters needs no weights, unless a file is named. */
    bool needs_weights = d->n_tensors > 0 || weights_path;
    if (needs_weights && !(m->weights = open_weights(d, weights_path, err))) {
        sl_model_close(m);
        return NULL;
    }
    size_t nt = (size_t)d->n_tensors, nth = (size_t)d->n_thresholds;
    size_t nforce = 1 + (size_t)d->n_decisions;
    size_t scratch = d->scratch_floats > 0 ? (size_t)d->scratch_floats : 1;
    if (__builtin_mul_overflow(scratch, sizeof(float), &m->scratch_bytes) ||
        m->scratch_bytes > SIZE_MAX - 63) {
        sl_error_set(err, "model '%s': a scratch arena of %lld floats is too large", d->name,
                     (long long)d->scratch_floats);
        sl_model_close(m);
        return NULL;
    }
    m->scratch_bytes = (m->scratch_bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    if (d->tokens_max > 0) {
        /* A tile of sequences given at another length is copied to
         * tokens_max tokens per input (the layout the tile reads). */
        size_t stage;
        m->stage_off = m->scratch_bytes;
        if (__builtin_mul_overflow((size_t)d->tile_rows, (size_t)d->in_size * 4, &stage) ||
            stage > SIZE_MAX - 64 - m->scratch_bytes) {
            sl_error_set(err, "model '%s': a tile of inputs is too large", d->name);
            sl_model_close(m);
            return NULL;
        }
        m->scratch_bytes += (stage + 63) / 64 * 64;
    }
    m->tensors = calloc(nt + 1, sizeof *m->tensors);
    m->dense = calloc((size_t)d->n_dense + 1, sizeof *m->dense);
    m->thresholds = calloc(nth ? nth : 1, sizeof *m->thresholds);
    m->force = calloc(nforce, sizeof *m->force);
    if (d->n_zero_units > 0)
        m->zero_units = calloc((size_t)d->n_zero_units, sizeof *m->zero_units);
    if (!m->tensors || !m->dense || !m->thresholds || !m->force ||
        (d->n_zero_units > 0 && !m->zero_units)) {
        sl_error_set(err, "model '%s': out of memory", d->name);
        sl_model_close(m);
        return NULL;
    }
    if (check_tensors(m, err) != 0) {
        sl_model_close(m);
        return NULL;
    }
    if (pack_dense(m, err) != 0 || sl_model_set_threads(m, 0, err) != 0) {
        sl_model_close(m);
        return NULL;
    }
    for (size_t i = 0; i < nth; i++)
        m->thresholds[i] = d->threshold_defaults[i];
    for (size_t i = 0; i < nforce; i++)
        m->force[i] = SL_FORCE_NONE;
    m->env = (sl_env){m->tensors, (const sl_dense_pack *const *)m->dense, m->thresholds,
                      m->force, &m->budget, m->zero_units};
    return m;
}

const int64_t *sl_model_zero_counts(const sl_model *m) { return m->zero_units; }

void sl_model_reset_zero_counts(sl_model *m)
{
    if (m->zero_units)
        memset(m->zero_units, 0, (size_t)m->desc->n_zero_units * sizeof *m->zero_units);
}

const sl_model_desc *sl_model_desc_of(const sl_model *m) { return m->desc; }

/* The i-th name of some kind in a descriptor, or NULL to skip it. */
typedef const char *(*name_fn)(const sl_model_desc *d, int32_t i);

/* "a, b, c": the names of entries [0, n) into buf. */
static void name_list(char *buf, size_t cap, int32_t n, name_fn name, const sl_model_desc *d)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < n; i++) {
        const char *s = name(d, i);
        if (!s)
            continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", s);
        if (len >= cap)
            break;
    }
}

static const char *threshold_name(const sl_model_desc *d, int32_t i)
{
    return d->threshold_names[i];
}

static const char *gate_name(const sl_model_desc *d, int32_t i)
{
    return d->decisions[i].kind == SL_DECISION_GATE ? d->decisions[i].name : NULL;
}

static int find_threshold(const sl_model *m, const char *name, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    for (int32_t i = 0; i < d->n_thresholds; i++)
        if (strcmp(d->threshold_names[i], name) == 0)
            return i;
    if (d->n_thresholds == 0)
        return sl_error_set(err, "model '%s' has no thresholds (asked for '%s')", d->name, name);
    char known[512];
    name_list(known, sizeof known, d->n_thresholds, threshold_name, d);
    return sl_error_set(err, "model '%s' has no threshold '%s' (its thresholds: %s)", d->name,
                        name, known);
}

int sl_model_set_threshold(sl_model *m, const char *name, float value, sl_error *err)
{
    int i = find_threshold(m, name, err);
    if (i < 0)
        return -1;
    m->thresholds[i] = value;
    return 0;
}

int sl_model_get_threshold(const sl_model *m, const char *name, float *value, sl_error *err)
{
    int i = find_threshold(m, name, err);
    if (i < 0)
        return -1;
    *value = m->thresholds[i];
    return 0;
}

int sl_model_force_exit(sl_model *m, int32_t knob, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    if (knob != SL_FORCE_NONE && knob != SL_FORCE_NEVER && (knob < 0 || knob >= d->n_exits)) {
        if (d->n_exits == 0)
            return sl_error_set(err, "model '%s' has no exits (asked for exit %d)", d->name,
                                knob);
        return sl_error_set(err, "model '%s' has no exit %d (its exits are 0 to %d)", d->name,
                            knob, d->n_exits - 1);
    }
    m->force[0] = knob;
    return 0;
}

int sl_model_set_budget(sl_model *m, double flops, sl_error *err)
{
    if (!(flops >= 0) || isinf(flops))
        return sl_error_set(err, "a compute budget is a number of FLOPs, 0 or more (0: none), "
                            "not %g", flops);
    m->budget = flops;
    return 0;
}

int sl_model_force_gate(sl_model *m, const char *gate, int32_t arm, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    if (arm != SL_FORCE_NONE && arm != 0 && arm != 1)
        return sl_error_set(err, "gate '%s': arm %d is not 0 (else), 1 (then) or %d (decide)",
                            gate, arm, SL_FORCE_NONE);
    bool any = false;
    for (int32_t i = 0; i < d->n_decisions; i++) {
        if (d->decisions[i].kind != SL_DECISION_GATE)
            continue;
        any = true;
        if (strcmp(d->decisions[i].name, gate) == 0) {
            m->force[1 + i] = arm;
            return 0;
        }
    }
    if (!any)
        return sl_error_set(err, "model '%s' has no gates (asked for '%s')", d->name, gate);
    char known[512];
    name_list(known, sizeof known, d->n_decisions, gate_name, d);
    return sl_error_set(err, "model '%s' has no gate '%s' (its gates: %s)", d->name, gate, known);
}

int sl_ledger_alloc(sl_ledger *l, const sl_model_desc *d, int64_t n, sl_error *err)
{
    memset(l, 0, sizeof *l);
    if (n < 0)
        return sl_error_set(err, "a ledger of %lld inputs", (long long)n);
    size_t rows = n > 0 ? (size_t)n : 1;
    size_t slots = (size_t)(d->n_slots > 0 ? d->n_slots : 1), cells;
    if (__builtin_mul_overflow(rows, slots, &cells))
        return sl_error_set(err, "a ledger of %lld inputs is too large", (long long)n);
    l->exits = calloc(rows, sizeof *l->exits); /* calloc checks the products */
    l->slots = calloc(cells, sizeof *l->slots);
    l->flops = calloc(rows, sizeof *l->flops);
    l->tokens = calloc(rows, sizeof *l->tokens);
    if (!l->exits || !l->slots || !l->flops || !l->tokens) {
        sl_ledger_free(l);
        return sl_error_set(err, "out of memory for a ledger of %lld inputs", (long long)n);
    }
    l->n = n;
    return 0;
}

void sl_ledger_free(sl_ledger *l)
{
    if (!l)
        return;
    free(l->exits);
    free(l->slots);
    free(l->flops);
    free(l->tokens);
    memset(l, 0, sizeof *l);
}

/* A batch's tiles: as many as it takes to hold every row in tiles of at
 * most tile_rows, and at least one per thread (when there are rows enough),
 * all of about the same size.  A row's results do not depend on its tile,
 * so the cut only changes the speed. */
typedef struct batch {
    const sl_model *m;
    int64_t n, per_tile;
    const char *x;           /* the inputs as given */
    int64_t x_tokens;        /* sequences: tokens per input in x (tokens_max: no copy) */
    const int32_t *tokens;   /* sequences: each input's count; else NULL */
    float *y;
    sl_ledger *ledger;
} batch;

enum { ELEM_BYTES = 4 }; /* an input element, f32 or i32 alike */

static void run_tile(void *ctx, int thread, int64_t t)
{
    const batch *b = ctx;
    const sl_model *m = b->m;
    const sl_model_desc *d = m->desc;
    int64_t i = t * b->per_tile, n = b->n - i < b->per_tile ? b->n - i : b->per_tile;
    const char *x = b->x + (size_t)i * (size_t)d->in_size * ELEM_BYTES;
    if (d->tokens_max > 0 && b->x_tokens != d->tokens_max) {
        /* Lay the tile's inputs out at tokens_max tokens, as the tile reads
         * them; only the tokens an input has are copied (the rest are not read). */
        size_t tok = (size_t)(d->in_size / d->tokens_max) * ELEM_BYTES;
        char *stage = (char *)m->scratch[thread] + m->stage_off;
        const char *src = b->x + (size_t)i * (size_t)b->x_tokens * tok;
        for (int64_t r = 0; r < n; r++)
            memcpy(stage + (size_t)r * (size_t)d->tokens_max * tok,
                   src + (size_t)r * (size_t)b->x_tokens * tok, (size_t)b->tokens[i + r] * tok);
        x = stage;
    }
    d->tile(&m->env, m->scratch[thread], n, x, b->tokens ? b->tokens + i : NULL,
            b->y + i * d->out_size, b->ledger->exits + i, b->ledger->slots + i * d->n_slots,
            b->ledger->flops + i);
    for (int64_t r = 0; b->ledger->tokens && r < n; r++)
        b->ledger->tokens[i + r] = b->tokens ? b->tokens[i + r] : 0;
}

/* The pool as the kernels' workers (sl_rt_workers). */
typedef struct fan {
    void (*fn)(void *arg, int64_t i);
    void *arg;
} fan;

static void fan_item(void *ctx, int thread, int64_t i)
{
    (void)thread;
    const fan *f = ctx;
    f->fn(f->arg, i);
}

static void pool_fan_out(void *self, void (*fn)(void *arg, int64_t i), void *arg, int64_t n)
{
    fan f = {fn, arg};
    sl_pool_run(self, fan_item, &f, n);
}

static void run_tiles(sl_model *m, batch *b)
{
    int64_t n = b->n;
    if (n == 0)
        return;
    /* Fewer rows than threads (a batch of one, above all): one tile, its
     * big dense layers cut between the threads by output panels, so the
     * idle threads add their memory bandwidth.  With a row per thread or
     * more, a tile per thread is faster: no hand-off per layer (measured:
     * docs/performance.md, "Threads"). */
    if (n < sl_pool_threads(m->pool)) {
        sl_rt_workers w = {pool_fan_out, m->pool, sl_pool_threads(m->pool)};
        b->per_tile = n;
        sl_rt_set_workers(&w);
        run_tile(b, 0, 0);
        sl_rt_set_workers(NULL);
        return;
    }
    int64_t rows = m->desc->tile_rows, threads = sl_pool_threads(m->pool);
    int64_t tiles = (n + rows - 1) / rows;
    if (tiles < threads)
        tiles = n < threads ? n : threads;
    b->per_tile = (n + tiles - 1) / tiles;
    tiles = (n + b->per_tile - 1) / b->per_tile;
    sl_pool_run(m->pool, run_tile, b, tiles);
}

double sl_model_dense_flops(const sl_model_desc *d, int64_t tokens)
{
    double t = (double)tokens;
    return d->dense_flops[0] + (d->dense_flops[1] + d->dense_flops[2] * t) * t;
}

/* Every id an input's tokens hold lies in [0, id_limit): an embedding
 * reads its table at them. */
static int check_ids(const sl_model_desc *d, const batch *b, sl_error *err)
{
    if (d->in_elem != SL_ELEM_I32 || d->id_limit <= 0)
        return 0;
    int64_t per_tok = d->tokens_max > 0 ? d->in_size / d->tokens_max : d->in_size;
    for (int64_t i = 0; i < b->n; i++) {
        int64_t count = d->tokens_max > 0 ? b->tokens[i] : 1;
        int64_t stride = d->tokens_max > 0 ? b->x_tokens * per_tok : d->in_size;
        const int32_t *x = (const int32_t *)b->x + i * stride;
        for (int64_t j = 0; j < count * per_tok; j++)
            if (x[j] < 0 || x[j] >= d->id_limit) {
                if (d->tokens_max > 0)
                    return sl_error_set(err, "model '%s': input '%s': input %lld, token %lld: "
                                        "id %d is out of range (0 to %lld)", d->name, d->in_name,
                                        (long long)i, (long long)(j / per_tok), x[j],
                                        (long long)d->id_limit - 1);
                return sl_error_set(err, "model '%s': input '%s': input %lld, element %lld: id "
                                    "%d is out of range (0 to %lld)", d->name, d->in_name,
                                    (long long)i, (long long)j, x[j], (long long)d->id_limit - 1);
            }
    }
    return 0;
}

static int run_batch(sl_model *m, batch *b, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    if (b->n < 0)
        return sl_error_set(err, "model '%s': cannot run %lld inputs", d->name, (long long)b->n);
    if (b->n > 0 && (!b->x || !b->y))
        return sl_error_set(err, "model '%s': no input or output buffer", d->name);
    if (!b->ledger) {
        if (m->own.n < b->n || !m->own.exits) {
            sl_ledger_free(&m->own);
            if (sl_ledger_alloc(&m->own, d, b->n, err) != 0)
                return -1;
        }
        b->ledger = &m->own;
    } else if (b->ledger->n < b->n) {
        return sl_error_set(err, "model '%s': the ledger holds %lld inputs, the batch has %lld",
                            d->name, (long long)b->ledger->n, (long long)b->n);
    }
    if (check_ids(d, b, err) != 0)
        return -1;
    run_tiles(m, b);
    return 0;
}

int sl_model_run(sl_model *m, int64_t n, const void *x, float *y, sl_ledger *ledger,
                 sl_error *err)
{
    if (m->desc->tokens_max > 0)
        return sl_model_run_tokens(m, n, x, m->desc->tokens_max, NULL, y, ledger, err);
    batch b = {m, n, 0, x, 0, NULL, y, ledger};
    return run_batch(m, &b, err);
}

int sl_model_run_tokens(sl_model *m, int64_t n, const void *x, int64_t x_tokens,
                        const int32_t *tokens, float *y, sl_ledger *ledger, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    if (d->tokens_max <= 0)
        return sl_error_set(err, "model '%s' has no token dimension; run it with sl_model_run",
                            d->name);
    if (x_tokens < 1)
        return sl_error_set(err, "model '%s': inputs of %lld tokens", d->name,
                            (long long)x_tokens);
    for (int64_t i = 0; tokens && i < n; i++) {
        if (tokens[i] < d->tokens_min || tokens[i] > d->tokens_max)
            return sl_error_set(err, "model '%s': input %lld has %d token%s; the model takes %lld "
                                "to %lld", d->name, (long long)i, tokens[i], tokens[i] == 1 ? "" : "s",
                                (long long)d->tokens_min, (long long)d->tokens_max);
        if (tokens[i] > x_tokens)
            return sl_error_set(err, "model '%s': input %lld has %d token%s, but the inputs hold "
                                "%lld each", d->name, (long long)i, tokens[i], tokens[i] == 1 ? "" : "s",
                                (long long)x_tokens);
    }
    int32_t *all = NULL;
    if (!tokens) {
        if (x_tokens < d->tokens_min || x_tokens > d->tokens_max)
            return sl_error_set(err, "model '%s': inputs of %lld tokens; the model takes %lld "
                                "to %lld", d->name, (long long)x_tokens,
                                (long long)d->tokens_min, (long long)d->tokens_max);
        if (n > 0 && !(all = malloc((size_t)n * sizeof *all)))
            return sl_error_set(err, "model '%s': out of memory", d->name);
        for (int64_t i = 0; i < n; i++)
            all[i] = (int32_t)x_tokens;
        tokens = all;
    }
    batch b = {m, n, 0, x, x_tokens, tokens, y, ledger};
    int rc = run_batch(m, &b, err);
    free(all);
    return rc;
}
