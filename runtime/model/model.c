/* model.c - the model C API: open a compiled model with its weights (every
 * tensor of its manifest checked), set thresholds and force knobs, run
 * batches, close. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/kernels.h"
#include "sluice/model.h"
#include "sluice/safetensors.h"

struct sl_model {
    const sl_model_desc *desc;
    sl_st_file *weights;     /* owns the mapping the tensors point into */
    const float **tensors;   /* [n_tensors], manifest order */
    float *thresholds;       /* [n_thresholds] */
    int32_t *force;          /* [1 + n_decisions] */
    float *scratch;          /* [scratch_floats], 64-byte aligned */
    sl_env env;              /* what generated code reads */
    sl_ledger own;           /* used when sl_model_run gets no ledger */
};

static const char *shape_str(const int64_t *shape, int rank, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

/* Edit distance, for "did you mean" (names are short; longer ones are skipped). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 128 || lb > 128)
        return (size_t)-1;
    size_t row[129];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int sl_weights_check_tensor(const sl_st_file *f, const sl_tensor_desc *want,
                            const sl_st_tensor **found, sl_error *err)
{
    char a[256], b[256];
    const sl_st_tensor *t = sl_st_find(f, want->name);
    if (!t) {
        const char *best = NULL;
        size_t best_d = strlen(want->name) / 3 + 1;
        for (int64_t i = 0; i < sl_st_count(f); i++) {
            size_t d = distance(want->name, sl_st_at(f, i)->name);
            if (d < best_d) {
                best = sl_st_at(f, i)->name;
                best_d = d;
            }
        }
        if (best)
            return sl_error_set(err, "%s: tensor '%s' (expected shape %s) is missing; the file "
                                "has '%s'", sl_st_name(f), want->name,
                                shape_str(want->shape, want->rank, a, sizeof a), best);
        return sl_error_set(err, "%s: tensor '%s' (expected shape %s) is missing", sl_st_name(f),
                            want->name, shape_str(want->shape, want->rank, a, sizeof a));
    }
    if (!t->data)
        return sl_error_set(err, "%s: tensor '%s': expected F32, F16 or BF16, found %s",
                            sl_st_name(f), want->name, t->dtype_name);
    bool same = t->rank == want->rank;
    for (int i = 0; same && i < want->rank; i++)
        same = t->shape[i] == want->shape[i];
    if (!same)
        return sl_error_set(err, "%s: tensor '%s': expected shape %s, found %s", sl_st_name(f),
                            want->name, shape_str(want->shape, want->rank, a, sizeof a),
                            shape_str(t->shape, t->rank, b, sizeof b));
    if (found)
        *found = t;
    return 0;
}

void sl_model_close(sl_model *m)
{
    if (!m)
        return;
    sl_st_close(m->weights);
    free(m->tensors);
    free(m->thresholds);
    free(m->force);
    free(m->scratch);
    sl_ledger_free(&m->own);
    free(m);
}

sl_model *sl_model_open(const sl_model_desc *d, const char *weights_path, sl_error *err)
{
    if (d->abi_version != SL_ABI_VERSION) {
        sl_error_set(err, "model '%s' was compiled for runtime ABI %u, this runtime has %u; "
                     "recompile it", d->name, d->abi_version, SL_ABI_VERSION);
        return NULL;
    }
    if (sl_rt_init(err) != 0)
        return NULL;
    sl_model *m = calloc(1, sizeof *m);
    if (!m) {
        sl_error_set(err, "out of memory opening model '%s'", d->name);
        return NULL;
    }
    m->desc = d;
    if (weights_path)
        m->weights = sl_st_open(weights_path, err);
    else if (d->embedded_weights)
        m->weights = sl_st_open_mem(d->embedded_weights, (size_t)d->embedded_size,
                                    "<embedded weights>", err);
    else if (d->default_weights)
        m->weights = sl_st_open(d->default_weights, err);
    else
        sl_error_set(err, "model '%s' has no default weights; give a weights file", d->name);
    if (!m->weights) {
        sl_model_close(m);
        return NULL;
    }
    size_t nt = (size_t)d->n_tensors, nth = (size_t)d->n_thresholds;
    size_t nforce = 1 + (size_t)d->n_decisions;
    size_t scratch = d->scratch_floats > 0 ? (size_t)d->scratch_floats : 1;
    size_t scratch_bytes = (scratch * sizeof(float) + 63) / 64 * 64;
    m->tensors = calloc(nt ? nt : 1, sizeof *m->tensors);
    m->thresholds = calloc(nth ? nth : 1, sizeof *m->thresholds);
    m->force = malloc(nforce * sizeof *m->force);
    m->scratch = aligned_alloc(64, scratch_bytes);
    if (!m->tensors || !m->thresholds || !m->force || !m->scratch) {
        sl_error_set(err, "out of memory opening model '%s'", d->name);
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
    for (size_t i = 0; i < nth; i++)
        m->thresholds[i] = d->threshold_defaults[i];
    for (size_t i = 0; i < nforce; i++)
        m->force[i] = SL_FORCE_NONE;
    memset(m->scratch, 0, scratch_bytes);
    m->env = (sl_env){m->tensors, m->thresholds, m->force, m->scratch};
    return m;
}

const sl_model_desc *sl_model_desc_of(const sl_model *m) { return m->desc; }

static int find_threshold(const sl_model *m, const char *name, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    for (int32_t i = 0; i < d->n_thresholds; i++)
        if (strcmp(d->threshold_names[i], name) == 0)
            return i;
    char known[512] = "";
    size_t n = 0;
    for (int32_t i = 0; i < d->n_thresholds && n < sizeof known; i++)
        n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
                              d->threshold_names[i]);
    if (d->n_thresholds == 0)
        sl_error_set(err, "unknown threshold '%s': model '%s' has no thresholds", name, d->name);
    else
        sl_error_set(err, "unknown threshold '%s' (model '%s' has: %s)", name, d->name, known);
    return -1;
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
    if (knob != SL_FORCE_NONE && knob != SL_FORCE_NEVER && (knob < 0 || knob >= m->desc->n_exits))
        return sl_error_set(err, "no exit %d: model '%s' has %d exit%s", knob, m->desc->name,
                            m->desc->n_exits, m->desc->n_exits == 1 ? "" : "s");
    m->force[0] = knob;
    return 0;
}

int sl_model_force_gate(sl_model *m, const char *gate, int32_t arm, sl_error *err)
{
    const sl_model_desc *d = m->desc;
    if (arm != SL_FORCE_NONE && arm != 0 && arm != 1)
        return sl_error_set(err, "gate '%s': arm %d is not 0 (else), 1 (then) or -1 (decide)",
                            gate, arm);
    for (int32_t i = 0; i < d->n_decisions; i++)
        if (d->decisions[i].kind == SL_DECISION_GATE && strcmp(d->decisions[i].name, gate) == 0) {
            m->force[1 + i] = arm;
            return 0;
        }
    return sl_error_set(err, "unknown gate '%s' in model '%s'", gate, d->name);
}

int sl_ledger_alloc(sl_ledger *l, const sl_model_desc *d, int64_t n, sl_error *err)
{
    memset(l, 0, sizeof *l);
    size_t rows = n > 0 ? (size_t)n : 1;
    size_t slots = (size_t)(d->n_slots > 0 ? d->n_slots : 1);
    if (rows > SIZE_MAX / slots / sizeof(int32_t))
        return sl_error_set(err, "a ledger of %lld inputs is too large", (long long)n);
    l->exits = calloc(rows, sizeof *l->exits);
    l->slots = calloc(rows * slots, sizeof *l->slots);
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
    free(l->exits);
    free(l->slots);
    free(l->flops);
    memset(l, 0, sizeof *l);
}

int sl_model_run(sl_model *m, int64_t n, const float *x, float *y, sl_ledger *ledger,
                 sl_error *err)
{
    if (n < 0)
        return sl_error_set(err, "cannot run %lld inputs", (long long)n);
    if (!ledger) {
        if (m->own.n < n) {
            sl_ledger_free(&m->own);
            if (sl_ledger_alloc(&m->own, m->desc, n, err) != 0)
                return -1;
        }
        ledger = &m->own;
    } else if (ledger->n < n) {
        return sl_error_set(err, "the ledger holds %lld inputs, the batch has %lld",
                            (long long)ledger->n, (long long)n);
    }
    m->desc->run(&m->env, n, x, y, ledger->exits, ledger->slots, ledger->flops);
    return 0;
}
