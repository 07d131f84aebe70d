/* model.h - a compiled model: the descriptor sluicec emits, the environment
 * its generated code reads, and the C API that opens, runs and closes it.
 *
 * sluicec emits, for a model named M, a constant `const sl_model_desc
 * M_model` and one function (the descriptor points to it):
 *
 *   void M_tile(const sl_env *env, float *scratch, int64_t n, const void *x,
 *               const int32_t *tokens, float *y, int32_t *exits,
 *               int32_t *slots, double *flops);
 *       a tile of n rows (1 <= n <= desc->tile_rows): x [n * in_size]
 *       (float, or int32_t when in_elem is SL_ELEM_I32) -> y [n * out_size];
 *       tokens[i] row i's token count (NULL for a model without a token
 *       dimension; a sequence row is laid out at tokens_max tokens, the
 *       first tokens[i] of them real); exits[i] the exit row i left by
 *       (n_exits: the end), slots[i * n_slots ...] its decisions (-1 where
 *       not reached), flops[i] the FLOPs it executed.  scratch:
 *       desc->scratch_floats floats, 64-byte aligned, the tile's own (one
 *       per thread).  Every conditional region runs once over the rows that
 *       reach it; a row's results do not depend on the other rows of its
 *       tile.
 *
 * The runtime cuts a batch into tiles and runs them on its threads
 * (sl_model_run).  The layout of these structs is part of the ABI the code
 * generator writes (compiler/lower_desc.c); change both together and bump
 * SL_ABI_VERSION. */
#ifndef SLUICE_MODEL_H
#define SLUICE_MODEL_H

#include <stdint.h>
#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_ABI_VERSION 6
#define SL_MAX_RANK 4
#define SL_MAX_THREADS 256

/* A tensor the model expects in its weights file (PyTorch state_dict name). */
typedef struct sl_tensor_desc {
    const char *name;            /* "fc1.weight" */
    int32_t rank;
    int64_t shape[SL_MAX_RANK];  /* [out, in] for a dense weight */
} sl_tensor_desc;

typedef enum sl_decision_kind {
    SL_DECISION_GATE = 0,   /* one slot: 1 then-arm, 0 else-arm */
    SL_DECISION_ROUTE = 1,  /* k slots: the chosen experts, best first (per token: k
                               slots per token) */
    SL_DECISION_BLOCKS = 2, /* one slot per block: 1 active, 0 skipped */
    SL_DECISION_TOKENS = 3  /* k slots: the rows (tokens) a layer ran on, ascending */
} sl_decision_kind;

/* A decision site in the model; its ledger slots are [slot, slot + count),
 * or, decided per token (rows > 0, a route over tokens), count slots per
 * token: token t's at slot + t * count, for the input's tok_a * T + tok_c
 * real tokens of the rows laid out (T the input's token count; a matrix:
 * tok_a 0, tok_c = rows), or fewer after a tokens_above(): the tokens it
 * kept, those past them all -1 (not reached).  Token choice and expert
 * choice write every real token's slots (-2 for a choice not taken). */
typedef struct sl_decision_desc {
    int32_t kind;        /* sl_decision_kind */
    const char *name;    /* "gate0", the expert bank's or the layer's name */
    int32_t line, col;   /* position in the model file */
    int32_t slot;        /* first ledger slot */
    int32_t count;       /* slots used (per token) */
    int32_t choices;     /* 2 arms, experts in the bank, or blocks */
    int32_t tok_a;       /* per token: the real tokens, tok_a * T + tok_c */
    int64_t tok_c;
    int64_t rows;        /* per token: the tokens laid out; 0: decided per input */
    int32_t per_expert;  /* expert choice: each expert takes this many tokens, and a
                            token's count = choices slots hold the experts that took it
                            (the others SL_RT_DROPPED, -2); 0 otherwise */
} sl_decision_desc;

/* An exit; exits are numbered in source order. */
typedef struct sl_exit_desc {
    const char *name;    /* "exit0", ... */
    int32_t line, col;
} sl_exit_desc;

/* A dense layer the runtime packs when the model opens (sl_rt_dense_pack):
 * rows [row0, row0 + rows) of a weight tensor [out, in] and of its bias.  A
 * block-gated layer has one per block. */
typedef struct sl_dense_desc {
    int32_t weight;      /* index into tensors */
    int32_t bias;        /* index into tensors */
    int64_t row0, rows;  /* the output units packed */
    int32_t zero_skip;   /* 1: a call skips zero inputs, so the weights must be finite */
} sl_dense_desc;

/* A ReLU a model compiled with -fzero-stats counts.  Per input, ledger slots
 * [slot, slot + 2): its outputs exactly zero, and the elements it computed
 * (0 when the input never ran it).  Over every run since the model opened
 * (or sl_model_reset_zero_counts), counters [unit0, unit0 + width): per
 * unit (element of a vector, column of a matrix or sequence) how many times
 * it was zero, and unit0 + width: the rows (tokens) that ran it. */
typedef struct sl_relu_desc {
    const char *name;    /* the dense layer it follows ("fc1"), else "relu@LINE:COL" */
    int32_t line, col;
    int32_t slot;
    int64_t width;       /* units */
    int64_t unit0;
    int64_t dense_out;   /* outputs of the dense layers reading it: each zero is
                            2 * dense_out FLOPs a kernel skipping zeros saves */
    int32_t zero_skip;   /* 1: those layers' kernel does skip zeros, for a row alone */
} sl_relu_desc;

/* What a run reads besides its input. */
typedef struct sl_env {
    const float *const *tensors;        /* [n_tensors] in manifest order */
    const struct sl_dense_pack *const *dense; /* [n_dense], as desc->dense lists them */
    const float *thresholds;            /* [n_thresholds] */
    const int32_t *force;               /* [1 + n_decisions]: see SL_FORCE_* */
    const double *budget;               /* FLOPs an input may spend; <= 0: no budget */
    int64_t *zero_units;                /* [n_zero_units]: -fzero-stats' counters, added to
                                           atomically; NULL without */
} sl_env;

/* force[0], the exit knob: SL_FORCE_NONE, SL_FORCE_NEVER, or k >= 0 to leave
 * at exit k whenever it is reached (and at no exit before it).
 * force[1 + d] for gate decision d: SL_FORCE_NONE, 0 else-arm, 1 then-arm. */
#define SL_FORCE_NONE  (-1)
#define SL_FORCE_NEVER (-2)

typedef void (*sl_tile_fn)(const sl_env *env, float *scratch, int64_t n, const void *x,
                           const int32_t *tokens, float *y, int32_t *exits, int32_t *slots,
                           double *flops);

/* The element type of the model's input. */
typedef enum sl_elem_kind { SL_ELEM_F32 = 0, SL_ELEM_I32 = 1 } sl_elem_kind;

typedef struct sl_model_desc {
    uint32_t abi_version;               /* SL_ABI_VERSION */
    const char *name;                   /* the model's name */
    const char *source;                 /* the model file it was compiled from */
    const char *default_weights;        /* weights path used when none is given; may be NULL */
    const char *in_name;                /* the input's name in the model file */
    int32_t in_elem;                    /* sl_elem_kind */
    int32_t in_rank;
    int64_t in_shape[SL_MAX_RANK];      /* a sequence's first dimension: tokens_max */
    int64_t in_size;                    /* elements per input (at tokens_max tokens) */
    /* The token dimension: a sequence model takes inputs of tokens_min to
     * tokens_max tokens (its first dimension); both 0 for a model without. */
    const char *tokens_name;            /* "T", as declared; NULL without */
    int64_t tokens_min, tokens_max;
    int64_t id_limit;                   /* i32 input: ids must lie in [0, id_limit); 0: unchecked */
    int32_t out_rank;
    int64_t out_shape[SL_MAX_RANK];
    int64_t out_size;                   /* floats per output */
    int32_t n_tensors;
    const sl_tensor_desc *tensors;
    int32_t n_dense;                    /* dense layers to pack at open */
    const sl_dense_desc *dense;
    int32_t n_thresholds;
    const char *const *threshold_names;
    const float *threshold_defaults;
    int32_t n_exits;
    const sl_exit_desc *exits;
    int32_t n_decisions;
    const sl_decision_desc *decisions;
    int32_t n_slots;                    /* ledger slots per input */
    /* FLOPs if every conditional region ran, for an input of T tokens:
     * dense_flops[0] + dense_flops[1] * T + dense_flops[2] * T * T (T = 0
     * without a token dimension); sl_model_dense_flops evaluates it. */
    double dense_flops[3];
    int64_t tile_rows;                  /* rows a tile holds at most */
    int64_t scratch_floats;             /* scratch arena of one tile (per thread) */
    const unsigned char *embedded_weights; /* a whole safetensors file, or NULL */
    uint64_t embedded_size;
    sl_tile_fn tile;
    int32_t n_relus;                    /* -fzero-stats: the ReLUs counted; 0 without */
    const sl_relu_desc *relus;
    int64_t n_zero_units;               /* the counters they use */
} sl_model_desc;

/* ---- the C API -------------------------------------------------------- */

typedef struct sl_model sl_model;

/* Per-input record of a batch: arrays of n (slots: n * desc->n_slots). */
typedef struct sl_ledger {
    int64_t n;
    int32_t *exits;
    int32_t *slots;
    double *flops;
    int32_t *tokens;     /* each input's token count (0 without a token dimension) */
} sl_ledger;

/* Open with weights from `weights_path`; NULL means the embedded weights if
 * any, else desc->default_weights.  Every tensor of the manifest is checked
 * (present, shape) and the error names the file, the tensor, expected vs found
 * (with several bad tensors: how many, the first in full, the others by name).
 * Opening also chooses the kernel level (sl_rt_init): a bad SLUICE_ISA, or
 * a level this CPU lacks, fails here rather than exiting in a later run. */
sl_model *sl_model_open(const sl_model_desc *desc, const char *weights_path, sl_error *err);
void sl_model_close(sl_model *m); /* NULL is fine */
const sl_model_desc *sl_model_desc_of(const sl_model *m);

/* Thresholds by name; unknown names are an error listing the known ones. */
int sl_model_set_threshold(sl_model *m, const char *name, float value, sl_error *err);
int sl_model_get_threshold(const sl_model *m, const char *name, float *value, sl_error *err);
/* The force knobs (testing, calibration): see SL_FORCE_*. */
int sl_model_force_exit(sl_model *m, int32_t exit_or_knob, sl_error *err);
int sl_model_force_gate(sl_model *m, const char *gate_name, int32_t arm_or_knob, sl_error *err);

/* A compute budget (anytime use): every input leaves by the first exit of
 * the model's body at which going on could take it past `flops` executed
 * FLOPs before it can leave again (the dearest way, statically); 0 turns
 * it off.  An exit in a gate's arm never leaves for the budget, and an
 * input whose first chance to leave is already past it spends what it
 * must.  Negative, NaN or infinite budgets are an error. */
int sl_model_set_budget(sl_model *m, double flops, sl_error *err);

/* A model compiled with -fzero-stats: its per-unit counters (desc->relus
 * says where each ReLU's are), summed over every run since it opened or
 * since the last reset; NULL for a model compiled without. */
const int64_t *sl_model_zero_counts(const sl_model *m);
void sl_model_reset_zero_counts(sl_model *m);

/* Threads that sl_model_run uses: n >= 1, or 0 for the default (the
 * environment variable SLUICE_THREADS if set, else the CPUs this process
 * may run on).  The pool's threads are made here, once, not per run.
 * Results are the same bits for every thread count. */
int sl_model_set_threads(sl_model *m, int n, sl_error *err);
int sl_model_threads(const sl_model *m);

/* Run n inputs x [n * in_size] -> y [n * out_size]; x holds floats, or
 * int32_t for a model whose in_elem is SL_ELEM_I32 (token ids).  ledger may
 * be NULL, else its arrays must hold n entries.  The batch is cut into
 * tiles run on the model's threads; a row's outputs, decisions and FLOPs
 * are the same bits whatever else is in the batch (docs/runtime.md,
 * "Batches").  One sl_model runs one batch at a time.  For a sequence
 * model this is sl_model_run_tokens with x_tokens = tokens_max and every
 * input that long. */
int sl_model_run(sl_model *m, int64_t n, const void *x, float *y,
                 sl_ledger *ledger, sl_error *err);

/* Run n sequences laid out at x_tokens tokens each: input i is
 * x[i * x_tokens * token_size ...] with token_size = in_size / tokens_max,
 * and only its first tokens[i] tokens are read (tokens NULL: all x_tokens).
 * Each count must lie in [tokens_min, tokens_max] and not pass x_tokens;
 * an id outside [0, id_limit) in a read token is an error naming the input
 * and the token, and nothing runs. */
int sl_model_run_tokens(sl_model *m, int64_t n, const void *x, int64_t x_tokens,
                        const int32_t *tokens, float *y, sl_ledger *ledger, sl_error *err);

/* The dense FLOPs of an input of `tokens` tokens (desc->dense_flops). */
double sl_model_dense_flops(const sl_model_desc *d, int64_t tokens);

int sl_ledger_alloc(sl_ledger *l, const sl_model_desc *desc, int64_t n, sl_error *err);
void sl_ledger_free(sl_ledger *l);

/* One tensor of a manifest against an open safetensors file: present, a
 * float dtype, the expected shape.  The message names the file, the tensor,
 * and what was expected against what was found.  sl_model_open uses it, and
 * so does sluicec (--verify-weights, --embed-weights). */
struct sl_st_file;
struct sl_st_tensor;
int sl_weights_check_tensor(const struct sl_st_file *f, const sl_tensor_desc *want,
                            const struct sl_st_tensor **found, sl_error *err);

/* Runs the executable's command line (runtime/model/main.c). */
int sl_main(const sl_model_desc *desc, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
