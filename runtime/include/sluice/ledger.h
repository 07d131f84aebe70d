/* ledger.h - per-input statistics: JSON Lines records and the run summary.
 *
 * One record per input, keys in this order (tokens only for a sequence
 * model, gates/routes/blocks/selected only when the model has decisions of
 * that kind):
 *   {"input": 0, "tokens": 12, "exit": "exit1", "flops": 17290,
 *    "dense_flops": 45678, "gates": {"gate0": 1}, "routes": {"ffn": [3, 5]},
 *    "blocks": {"fc1": [1, 0]}, "selected": {"blk": [0, 3, 4]}}
 * (a route over tokens: one list of experts per token; selected: the tokens
 * a layer ran on, ascending), and for a model compiled with -fzero-stats
 *    "zeros": {"fc1": [21, 64]}
 * (per ReLU: its outputs exactly zero and the elements it computed)
 * dense_flops is the input's own (at its token count).
 * exit: the exit's name, or "end"; a gate: 1 then-arm, 0 else-arm; a route:
 * the chosen experts, best first; blocks: 1 active, 0 skipped; null for a
 * decision the input did not reach (any of its slots -1).  The format is
 * documented in docs/runtime.md. */
#ifndef SLUICE_LEDGER_H
#define SLUICE_LEDGER_H

#include <stdio.h>

#include "sluice/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write the records of inputs [0, l->n) numbered from first_index; -1 if
 * the stream reports an error. */
int sl_ledger_write_jsonl(FILE *out, const sl_model_desc *d, const sl_ledger *l,
                          int64_t first_index);

typedef struct sl_summary {
    int64_t inputs;
    double mean_flops;       /* executed, per input */
    double dense_flops;      /* per input, every conditional region run (the mean over
                                the inputs' token counts) */
    double ratio;            /* mean_flops / dense_flops (1 when dense_flops is 0) */
    double seconds;          /* time spent running the model */
    double inputs_per_s;     /* inputs / seconds; 0 when seconds is 0 */
    double accuracy;         /* fraction right, in [0, 1]; negative when not measured */
    int64_t *exit_counts;    /* [n_exits + 1], the last "end"; caller-owned or NULL */
} sl_summary;

/* Fill s from a batch's ledger; s->exit_counts, if not NULL, must hold
 * n_exits + 1 entries.  accuracy is set to -1 (the caller may fill it). */
void sl_ledger_summarize(const sl_model_desc *d, const sl_ledger *l, double seconds,
                         sl_summary *s);

/* The summary as model executables print it: one line,
 *   digits_ee: 360 inputs, 23.1 kFLOPs mean executed of 45.7 kFLOPs dense
 *   (50.6%), accuracy 0.9722, 1.92e+05 inputs/s [avx2 kernels, 2 threads]
 * (accuracy only when measured, inputs/s only when timed, the bracket -
 * how it ran - only when `how` is not NULL) and, when the model has exits and
 * s->exit_counts is set, a second,
 *   digits_ee: exits: exit0 201, exit1 97, end 62
 * With no inputs, one line only: "digits_ee: 0 inputs, nothing run (45.7
 * kFLOPs dense per input)". */
void sl_ledger_print_summary(FILE *out, const sl_model_desc *d, const sl_summary *s,
                             const char *how);

/* The summary as one JSON object (the executable's --summary-json):
 *   {"model": "digits_ee", "inputs": 360, "mean_flops": 24510.2,
 *    "dense_flops": 100081, "ratio": 0.2449, "seconds": 0.0061,
 *    "inputs_per_s": 58900, "accuracy": 0.9639, "exits": {"exit0": 252, ...,
 *    "end": 29}, "kernels": "avx512", "threads": 2}
 * accuracy null when not measured, exits {} without s->exit_counts.
 * -1 if the stream reports an error. */
int sl_summary_write_json(FILE *out, const sl_model_desc *d, const sl_summary *s,
                          const char *kernels, int threads);

#ifdef __cplusplus
}
#endif
#endif
