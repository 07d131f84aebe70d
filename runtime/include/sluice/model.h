/* model.h - a compiled model: the descriptor sluicec emits, the environment
 * its generated code reads, and the C API that opens, runs and closes it.
 *
 * sluicec emits, for a model named M, a constant `const sl_model_desc
 * M_model` and two functions (pointed to by the descriptor):
 *
 *   int32_t M_run1(const sl_env *env, const float *x, float *y,
 *                  int32_t *slots, double *flops);
 *       one input x (desc->in_size floats) -> one output y (out_size floats);
 *       fills slots[0..n_slots) with its decisions (-1 where a decision was
 *       not reached) and *flops with the FLOPs it executed; returns the index
 *       of the exit it left by, n_exits when it ran to the end.
 *
 *   void M_run(const sl_env *env, int64_t n, const float *x, float *y,
 *              int32_t *exits, int32_t *slots, double *flops);
 *       n inputs, row after row; exits[n], slots[n * n_slots], flops[n].
 *
 * The layout of these structs is part of the ABI the code generator writes
 * (compiler/lower_desc.c); change both together and bump SL_ABI_VERSION. */
#ifndef SLUICE_MODEL_H
#define SLUICE_MODEL_H

#include <stdint.h>
#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_ABI_VERSION 2
#define SL_MAX_RANK 4

/* A tensor the model expects in its weights file (PyTorch state_dict name). */
typedef struct sl_tensor_desc {
    const char *name;            /* "fc1.weight" */
    int32_t rank;
    int64_t shape[SL_MAX_RANK];  /* [out, in] for a dense weight */
} sl_tensor_desc;

typedef enum sl_decision_kind {
    SL_DECISION_GATE = 0,   /* one slot: 1 then-arm, 0 else-arm */
    SL_DECISION_ROUTE = 1,  /* k slots: the chosen experts, best first */
    SL_DECISION_BLOCKS = 2  /* one slot per block: 1 active, 0 skipped */
} sl_decision_kind;

/* A decision site in the model; its ledger slots are [slot, slot + count). */
typedef struct sl_decision_desc {
    int32_t kind;        /* sl_decision_kind */
    const char *name;    /* "gate0", the expert bank's or the layer's name */
    int32_t line, col;   /* position in the model file */
    int32_t slot;        /* first ledger slot */
    int32_t count;       /* slots used */
    int32_t choices;     /* 2 arms, experts in the bank, or blocks */
} sl_decision_desc;

/* An exit; exits are numbered in source order. */
typedef struct sl_exit_desc {
    const char *name;    /* "exit0", ... */
    int32_t line, col;
} sl_exit_desc;

/* What a run reads besides its input. */
typedef struct sl_env {
    const float *const *tensors; /* [n_tensors] in manifest order, then
                                    [n_transposed] transposed copies */
    const float *thresholds;     /* [n_thresholds] */
    const int32_t *force;        /* [1 + n_decisions]: see SL_FORCE_* */
    float *scratch;              /* [scratch_floats], 64-byte aligned, per thread */
} sl_env;

/* force[0], the exit knob: SL_FORCE_NONE, SL_FORCE_NEVER, or k >= 0 to leave
 * at exit k whenever it is reached (and at no exit before it).
 * force[1 + d] for gate decision d: SL_FORCE_NONE, 0 else-arm, 1 then-arm. */
#define SL_FORCE_NONE  (-1)
#define SL_FORCE_NEVER (-2)

typedef int32_t (*sl_run1_fn)(const sl_env *env, const float *x, float *y,
                              int32_t *slots, double *flops);
typedef void (*sl_run_fn)(const sl_env *env, int64_t n, const float *x, float *y,
                          int32_t *exits, int32_t *slots, double *flops);

typedef struct sl_model_desc {
    uint32_t abi_version;               /* SL_ABI_VERSION */
    const char *name;                   /* the model's name */
    const char *source;                 /* the model file it was compiled from */
    const char *default_weights;        /* weights path used when none is given; may be NULL */
    int32_t in_rank;
    int64_t in_shape[SL_MAX_RANK];
    int64_t in_size;                    /* floats per input */
    int32_t out_rank;
    int64_t out_shape[SL_MAX_RANK];
    int64_t out_size;                   /* floats per output */
    int32_t n_tensors;
    const sl_tensor_desc *tensors;
    int32_t n_transposed;               /* weights also needed transposed, for */
    const int32_t *transposed;          /* zero-skipping: indices into tensors (rank 2) */
    int32_t n_thresholds;
    const char *const *threshold_names;
    const float *threshold_defaults;
    int32_t n_exits;
    const sl_exit_desc *exits;
    int32_t n_decisions;
    const sl_decision_desc *decisions;
    int32_t n_slots;                    /* ledger slots per input */
    double dense_flops;                 /* FLOPs if every conditional region ran */
    int64_t scratch_floats;             /* scratch arena size */
    const unsigned char *embedded_weights; /* a whole safetensors file, or NULL */
    uint64_t embedded_size;
    sl_run1_fn run1;
    sl_run_fn run;
} sl_model_desc;

/* ---- the C API -------------------------------------------------------- */

typedef struct sl_model sl_model;

/* Per-input record of a batch: arrays of n (slots: n * desc->n_slots). */
typedef struct sl_ledger {
    int64_t n;
    int32_t *exits;
    int32_t *slots;
    double *flops;
} sl_ledger;

/* Open with weights from `weights_path`; NULL means the embedded weights if
 * any, else desc->default_weights.  Every tensor of the manifest is checked
 * (present, shape) and the error names the file, the tensor, expected vs found.
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

/* Run n inputs x [n * in_size] -> y [n * out_size]; ledger may be NULL,
 * else its arrays must hold n entries. */
int sl_model_run(sl_model *m, int64_t n, const float *x, float *y,
                 sl_ledger *ledger, sl_error *err);

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
