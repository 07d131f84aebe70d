/* ledger.h - per-input statistics: JSON Lines records and the run summary.
 *
 * One record per input, keys in this order (gates/routes/blocks only when
 * the model has decisions of that kind):
 *   {"input": 0, "exit": "exit1", "flops": 17290, "dense_flops": 45678,
 *    "gates": {"gate0": 1}, "routes": {"ffn": [3, 5]}, "blocks": {"fc1": [1, 0]}}
 * exit: the exit's name, or "end"; a gate: 1 then-arm, 0 else-arm; a route:
 * the chosen experts, best first; blocks: 1 active, 0 skipped; null for a
 * decision the input did not reach. */
#ifndef SLUICE_LEDGER_H
#define SLUICE_LEDGER_H

#include <stdio.h>

#include "sluice/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write the records of inputs [0, l->n) numbered from first_index. */
int sl_ledger_write_jsonl(FILE *out, const sl_model_desc *d, const sl_ledger *l,
                          int64_t first_index);

typedef struct sl_summary {
    int64_t inputs;
    double mean_flops;       /* executed, per input */
    double dense_flops;
    double seconds;          /* time spent running the model */
    int64_t *exit_counts;    /* [n_exits + 1], the last "end"; caller-owned or NULL */
} sl_summary;

/* Fill s (exit_counts must hold n_exits + 1 entries, or be NULL). */
void sl_ledger_summarize(const sl_model_desc *d, const sl_ledger *l, double seconds,
                         sl_summary *s);

#ifdef __cplusplus
}
#endif
#endif
