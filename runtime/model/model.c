/* model.c - the model C API: open a compiled model with its weights (every
 * tensor of its manifest checked), set thresholds and force knobs, run
 * batches, close.  Opening also chooses the kernel level (sl_rt_init), so a
 * bad SLUICE_ISA is an error the caller sees there, not a fatal one in the
 * first kernel call. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/kernels.h"
#include "sluice/model.h"
#include "sluice/safetensors.h"
#include "sluice/text.h"

struct sl_model {
    const sl_model_desc *desc;
    sl_st_file *weights;     /* owns the mapping the tensors point into */
    const float **tensors;   /* [n_tensors + n_transposed], as sl_env has them */
    float **transposed;      /* [n_transposed], owned */
    float *thresholds;       /* [n_thresholds] */
    int32_t *force;          /* [1 + n_decisions], SL_FORCE_* */
    float *scratch;          /* [scratch_floats], 64-byte aligned */
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
        return sl_error_set(err, "%s: tensor '%s': expected a float dtype (F32, F16 or BF16), "
                            "found %s", sl_st_name(f), want->name, t->dtype_name);
    bool same = t->rank == want->rank;
    for (int i = 0; same && i < want->rank; i++)
        same = t->shape[i] == want->shape[i];
    if (!same)
        return sl_error_set(err, "%s: tensor '%s': expected shape %s, found %s", sl_st_name(f),
                            want->name, sl_shape_str(want->shape, want->rank, a, sizeof a),
                            sl_shape_str(t->shape, t->rank, b, sizeof b));
    if (found)
        *found = t;
    return 0;
}

void sl_model_close(sl_model *m)
{
    if (!m)
        return;
    sl_st_close(m->weights);
    for (int32_t j = 0; m->transposed && j < m->desc->n_transposed; j++)
        free(m->transposed[j]);
    free(m->transposed);
    free(m->tensors);
    free(m->thresholds);
    free(m->force);
    free(m->scratch);
    sl_ledger_free(&m->own);
    free(m);
}

/* The counts a descriptor gives, sane before anything is sized from them. */
static int check_desc(const sl_model_desc *d, sl_error *err)
{
    if (d->n_tensors < 0 || d->n_thresholds < 0 || d->n_exits < 0 || d->n_decisions < 0 ||
        d->n_slots < 0 || d->scratch_floats < 0 || d->in_size < 0 || d->out_size < 0 ||
        (!d->run && !d->run1) || d->n_transposed < 0 || (d->n_transposed && !d->transposed))
        return sl_error_set(err, "model '%s': the descriptor is malformed", d->name);
    for (int32_t j = 0; j < d->n_transposed; j++) {
        int32_t t = d->transposed[j];
        if (t < 0 || t >= d->n_tensors || d->tensors[t].rank != 2)
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

/* The transposed copies zero-skipping layers read ([in, out] of an [out,
 * in] weight), made once here so a run never transposes. */
static int make_transposed(sl_model *m, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    for (int32_t j = 0; j < d->n_transposed; j++) {
        const sl_tensor_desc *t = &d->tensors[d->transposed[j]];
        int64_t rows = t->shape[0], cols = t->shape[1];
        if (check_finite(m, t, m->tensors[d->transposed[j]], err) != 0)
            return -1;
        size_t bytes = (size_t)(rows * cols) * sizeof(float);
        m->transposed[j] = aligned_alloc(64, (bytes + 63) / 64 * 64); /* dims >= 1 */
        if (!m->transposed[j])
            return sl_error_set(err, "model '%s': out of memory for the transposed copy of "
                                "'%s'", d->name, t->name);
        sl_rt_transpose(m->tensors[d->transposed[j]], m->transposed[j], rows, cols);
        m->tensors[d->n_tensors + j] = m->transposed[j];
    }
    return 0;
}

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
    size_t scratch = d->scratch_floats > 0 ? (size_t)d->scratch_floats : 1, scratch_bytes;
    if (__builtin_mul_overflow(scratch, sizeof(float), &scratch_bytes) ||
        scratch_bytes > SIZE_MAX - 63) {
        sl_error_set(err, "model '%s': a scratch arena of %lld floats is too large", d->name,
                     (long long)d->scratch_floats);
        sl_model_close(m);
        return NULL;
    }
    scratch_bytes = (scratch_bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    size_t ntr = (size_t)d->n_transposed;
    m->tensors = calloc(nt + ntr + 1, sizeof *m->tensors);
    m->transposed = calloc(ntr + 1, sizeof *m->transposed);
    m->thresholds = calloc(nth ? nth : 1, sizeof *m->thresholds);
    m->force = calloc(nforce, sizeof *m->force);
    m->scratch = aligned_alloc(64, scratch_bytes);
    if (!m->tensors || !m->transposed || !m->thresholds || !m->force || !m->scratch) {
        sl_error_set(err, "model '%s': out of memory", d->name);
        sl_model_close(m);
        return NULL;
    }
    for (size_t i = 0; i < nt; i++) {
        const sl_st_tensor *t;
        if (sl_weights_check_tensor(m->weights, &d->tensors[i], &t, err) != 0) {
            sl_model_close(m);
            return NULL;
        }
        m->tensors[i] = t->data;
    }
    if (make_transposed(m, err) != 0) {
        sl_model_close(m);
        return NULL;
    }
    for (size_t i = 0; i < nth; i++)
        m->thresholds[i] = d->threshold_defaults[i];
    for (size_t i = 0; i < nforce; i++)
        m->force[i] = SL_FORCE_NONE;
    memset(m->scratch, 0, scratch_bytes);
    m->env = (sl_env){m->tensors, m->thresholds, m->force, m->scratch};
    return m;
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
    if (!l->exits || !l->slots || !l->flops) {
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
    memset(l, 0, sizeof *l);
}

int sl_model_run(sl_model *m, int64_t n, const float *x, float *y, sl_ledger *ledger,
                 sl_error *err)
{
    const sl_model_desc *d = m->desc;
    if (n < 0)
        return sl_error_set(err, "model '%s': cannot run %lld inputs", d->name, (long long)n);
    if (n > 0 && (!x || !y))
        return sl_error_set(err, "model '%s': no input or output buffer", d->name);
    if (!ledger) {
        if (m->own.n < n || !m->own.exits) {
            sl_ledger_free(&m->own);
            if (sl_ledger_alloc(&m->own, d, n, err) != 0)
                return -1;
        }
        ledger = &m->own;
    } else if (ledger->n < n) {
        return sl_error_set(err, "model '%s': the ledger holds %lld inputs, the batch has %lld",
                            d->name, (long long)ledger->n, (long long)n);
    }
    if (d->run) {
        d->run(&m->env, n, x, y, ledger->exits, ledger->slots, ledger->flops);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) /* a descriptor with only the one-input entry */
        ledger->exits[i] = d->run1(&m->env, x + i * d->in_size, y + i * d->out_size,
                                   ledger->slots + i * d->n_slots, &ledger->flops[i]);
    return 0;
}
