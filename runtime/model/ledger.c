/* ledger.c - per-input statistics as JSON Lines, and the run's summary. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sluice/ledger.h"

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* "gates", "routes" or "blocks": the decisions of one kind, as an object. */
static void decisions(FILE *out, const sl_model_desc *d, const int32_t *slots, int kind,
                      const char *key)
{
    bool any = false;
    for (int32_t i = 0; i < d->n_decisions; i++) {
        const sl_decision_desc *dec = &d->decisions[i];
        if (dec->kind != kind)
            continue;
        fprintf(out, any ? ", " : ", \"%s\": {", key);
        any = true;
        json_string(out, dec->name);
        fputs(": ", out);
        const int32_t *v = slots + dec->slot;
        bool reached = true;
        for (int32_t j = 0; j < dec->count; j++)
            reached &= v[j] >= 0;
        if (!reached) {
            fputs("null", out);
        } else if (kind == SL_DECISION_GATE) {
            fprintf(out, "%d", v[0]);
        } else {
            fputc('[', out);
            for (int32_t j = 0; j < dec->count; j++)
                fprintf(out, "%s%d", j ? ", " : "", v[j]);
            fputc(']', out);
        }
    }
    if (any)
        fputc('}', out);
}

int sl_ledger_write_jsonl(FILE *out, const sl_model_desc *d, const sl_ledger *l,
                          int64_t first_index)
{
    for (int64_t i = 0; i < l->n; i++) {
        int32_t e = l->exits[i];
        fprintf(out, "{\"input\": %lld, \"exit\": ", (long long)(first_index + i));
        if (e >= 0 && e < d->n_exits)
            json_string(out, d->exits[e].name);
        else
            fputs("\"end\"", out);
        fprintf(out, ", \"flops\": %.0f, \"dense_flops\": %.0f", l->flops[i], d->dense_flops);
        const int32_t *slots = l->slots + i * d->n_slots;
        decisions(out, d, slots, SL_DECISION_GATE, "gates");
        decisions(out, d, slots, SL_DECISION_ROUTE, "routes");
        decisions(out, d, slots, SL_DECISION_BLOCKS, "blocks");
        fputs("}\n", out);
    }
    return ferror(out) ? -1 : 0;
}

void sl_ledger_summarize(const sl_model_desc *d, const sl_ledger *l, double seconds,
                         sl_summary *s)
{
    double total = 0;
    if (s->exit_counts)
        memset(s->exit_counts, 0, ((size_t)d->n_exits + 1) * sizeof *s->exit_counts);
    for (int64_t i = 0; i < l->n; i++) {
        total += l->flops[i];
        if (s->exit_counts) {
            int32_t e = l->exits[i];
            s->exit_counts[e >= 0 && e < d->n_exits ? e : d->n_exits]++;
        }
    }
    s->inputs = l->n;
    s->mean_flops = l->n ? total / (double)l->n : 0;
    s->dense_flops = d->dense_flops;
    s->seconds = seconds;
}
