/* ledger.c - per-input statistics as JSON Lines, and the run's summary. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sluice/ledger.h"

/* A JSON string: quotes, backslashes and control characters escaped; other
 * bytes (UTF-8) as they are. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Were all n slots reached?  (-1: not reached; a route over tokens marks
 * a choice not taken -2, SL_RT_DROPPED, which is reached.) */
static bool reached(const int32_t *v, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        if (v[j] == -1)
            return false;
    return n > 0;
}

/* [a, b, ...]: the n slots but those not taken. */
static void slot_list(FILE *out, const int32_t *v, int32_t n)
{
    fputc('[', out);
    bool first = true;
    for (int32_t j = 0; j < n; j++)
        if (v[j] >= 0) {
            fprintf(out, "%s%d", first ? "" : ", ", (int)v[j]);
            first = false;
        }
    fputc(']', out);
}

/* The real tokens of an input of `tokens` tokens that decision dec decides:
 * tok_a * T + tok_c of them, but fewer in a layer run on some tokens or
 * after tokens_above(): the trailing tokens it never decided (every slot
 * -1) are not the input's there. */
static int64_t decided_tokens(const sl_decision_desc *dec, const int32_t *v, int32_t tokens)
{
    int64_t n = (int64_t)dec->tok_a * tokens + dec->tok_c;
    n = n < 0 ? 0 : n > dec->rows ? dec->rows : n;
    while (n > 0) {
        const int32_t *last = v + (n - 1) * dec->count;
        int32_t j = 0;
        while (j < dec->count && last[j] == -1)
            j++;
        if (j < dec->count)
            break;
        n--;
    }
    return n;
}

/* , "gates": {"gate0": 1, ...}: the decisions of one kind; nothing when the
 * model has none of that kind.  A decision per token gives a list per
 * token, [[3, 1], [0, 2], ...], for the input's real tokens. */
static void decisions(FILE *out, const sl_model_desc *d, const int32_t *slots, int32_t tokens,
                      int32_t kind, const char *key)
{
    bool any = false;
    for (int32_t i = 0; i < d->n_decisions; i++) {
        const sl_decision_desc *dec = &d->decisions[i];
        if (dec->kind != kind)
            continue;
        fputs(any ? ", " : ", \"", out);
        if (!any) {
            fputs(key, out);
            fputs("\": {", out);
        }
        any = true;
        json_string(out, dec->name);
        fputs(": ", out);
        const int32_t *v = slots + dec->slot;
        if (dec->rows > 0) {
            int64_t n = decided_tokens(dec, v, tokens);
            if (!reached(v, n * dec->count)) {
                fputs("null", out);
                continue;
            }
            fputc('[', out);
            for (int64_t t = 0; t < n; t++) {
                fputs(t ? ", " : "", out);
                slot_list(out, v + t * dec->count, dec->count);
            }
            fputc(']', out);
        } else if (!reached(v, dec->count)) {
            fputs("null", out);
        } else if (kind == SL_DECISION_GATE) {
            fprintf(out, "%d", (int)v[0]);
        } else {
            slot_list(out, v, dec->count);
        }
    }
    if (any)
        fputc('}', out);
}

/* , "zeros": {"fc1": [21, 64], ...}: a -fzero-stats model's ReLUs, each
 * with its zero outputs and the elements it computed; null for one the
 * input never ran. */
static void zeros(FILE *out, const sl_model_desc *d, const int32_t *slots)
{
    for (int32_t i = 0; i < d->n_relus; i++) {
        const sl_relu_desc *r = &d->relus[i];
        fputs(i ? ", " : ", \"zeros\": {", out);
        json_string(out, r->name);
        const int32_t *v = slots + r->slot;
        if (v[1] > 0)
            fprintf(out, ": [%d, %d]", (int)v[0], (int)v[1]);
        else
            fputs(": null", out);
    }
    if (d->n_relus)
        fputc('}', out);
}

int sl_ledger_write_jsonl(FILE *out, const sl_model_desc *d, const sl_ledger *l,
                          int64_t first_index)
{
    for (int64_t i = 0; i < l->n; i++) {
        int32_t e = l->exits[i];
        fprintf(out, "{\"input\": %lld, ", (long long)(first_index + i));
        if (d->tokens_max > 0)
            fprintf(out, "\"tokens\": %d, ", l->tokens ? l->tokens[i] : 0);
        fputs("\"exit\": ", out);
        if (e >= 0 && e < d->n_exits)
            json_string(out, d->exits[e].name);
        else
            fputs("\"end\"", out);
        /* FLOPs are whole numbers carried in doubles. */
        fprintf(out, ", \"flops\": %.0f, \"dense_flops\": %.0f", l->flops[i],
                sl_model_dense_flops(d, l->tokens ? l->tokens[i] : 0));
        const int32_t *slots = l->slots + i * d->n_slots;
        int32_t tokens = l->tokens ? l->tokens[i] : 0;
        decisions(out, d, slots, tokens, SL_DECISION_GATE, "gates");
        decisions(out, d, slots, tokens, SL_DECISION_ROUTE, "routes");
        decisions(out, d, slots, tokens, SL_DECISION_BLOCKS, "blocks");
        decisions(out, d, slots, tokens, SL_DECISION_TOKENS, "selected");
        zeros(out, d, slots);
        fputs("}\n", out);
    }
    return ferror(out) ? -1 : 0;
}

void sl_ledger_summarize(const sl_model_desc *d, const sl_ledger *l, double seconds,
                         sl_summary *s)
{
    double total = 0, dense = 0;
    if (s->exit_counts)
        memset(s->exit_counts, 0, ((size_t)d->n_exits + 1) * sizeof *s->exit_counts);
    for (int64_t i = 0; i < l->n; i++) {
        total += l->flops[i];
        dense += sl_model_dense_flops(d, l->tokens ? l->tokens[i] : 0);
        if (s->exit_counts) {
            int32_t e = l->exits[i];
            s->exit_counts[e >= 0 && e < d->n_exits ? e : d->n_exits]++;
        }
    }
    s->inputs = l->n;
    s->mean_flops = l->n ? total / (double)l->n : 0;
    /* a sequence model's inputs differ: their mean dense count */
    s->dense_flops = l->n ? dense / (double)l->n : sl_model_dense_flops(d, d->tokens_max);
    s->ratio = s->dense_flops > 0 ? s->mean_flops / s->dense_flops : 1;
    s->seconds = seconds;
    s->inputs_per_s = seconds > 0 ? (double)l->n / seconds : 0;
    s->accuracy = -1;
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
        snprintf(buf, cap, "%.4g FLOPs", f); /* a mean need not be whole */
    return buf;
}

void sl_ledger_print_summary(FILE *out, const sl_model_desc *d, const sl_summary *s,
                             const char *how)
{
    char mean[32], dense[32];
    if (s->inputs == 0) { /* no mean, no accuracy, no rate: nothing ran */
        fprintf(out, "%s: 0 inputs, nothing run (%s dense per input)", d->name,
                flops_str(s->dense_flops, dense, sizeof dense));
        if (how)
            fprintf(out, " [%s]", how);
        fputc('\n', out);
        return;
    }
    fprintf(out, "%s: %lld input%s, %s mean executed of %s dense (%.1f%%)", d->name,
            (long long)s->inputs, s->inputs == 1 ? "" : "s",
            flops_str(s->mean_flops, mean, sizeof mean),
            flops_str(s->dense_flops, dense, sizeof dense), 100.0 * s->ratio);
    if (s->accuracy >= 0)
        fprintf(out, ", accuracy %.4f", s->accuracy);
    if (s->inputs_per_s > 0)
        fprintf(out, ", %.3g inputs/s", s->inputs_per_s);
    if (how)
        fprintf(out, " [%s]", how);
    fputc('\n', out);
    if (d->n_exits > 0 && s->exit_counts) {
        fprintf(out, "%s: exits:", d->name);
        for (int32_t i = 0; i <= d->n_exits; i++)
            fprintf(out, "%s %s %lld", i ? "," : "", i < d->n_exits ? d->exits[i].name : "end",
                    (long long)s->exit_counts[i]);
        fputc('\n', out);
    }
}

int sl_summary_write_json(FILE *out, const sl_model_desc *d, const sl_summary *s,
                          const char *kernels, int threads)
{
    fputs("{\"model\": ", out);
    json_string(out, d->name);
    fprintf(out, ", \"inputs\": %lld, \"mean_flops\": %.17g, \"dense_flops\": %.17g, "
            "\"ratio\": %.17g, \"seconds\": %.9g, \"inputs_per_s\": %.9g, \"accuracy\": ",
            (long long)s->inputs, s->mean_flops, s->dense_flops, s->ratio, s->seconds,
            s->inputs_per_s);
    if (s->accuracy < 0)
        fputs("null", out);
    else
        fprintf(out, "%.17g", s->accuracy);
    fputs(", \"exits\": {", out);
    for (int32_t e = 0; s->exit_counts && e <= d->n_exits; e++) {
        fputs(e ? ", " : "", out);
        json_string(out, e < d->n_exits ? d->exits[e].name : "end");
        fprintf(out, ": %lld", (long long)s->exit_counts[e]);
    }
    fputs("}, \"kernels\": ", out);
    json_string(out, kernels ? kernels : "?");
    fprintf(out, ", \"threads\": %d}\n", threads);
    return ferror(out) ? -1 : 0;
}
