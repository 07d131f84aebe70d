/* lower.h - shared state of the lowering files (lower.c: the model's code;
 * lower_desc.c: its descriptor).  Internal to compiler/. */
#ifndef SLUICE_LOWER_H
#define SLUICE_LOWER_H

#include <llvm-c/Core.h>

#include "compiler.h"

typedef enum rt_fn {
    RT_DENSE, RT_LAYERNORM, RT_GELU, RT_GELU_TANH, RT_SIGMOID, RT_TANH, RT_EXP, RT_LOG,
    RT_SOFTMAX, RT_LOG_SOFTMAX, RT_MAX, RT_MIN, RT_SUM, RT_ARGMAX, RT_ENTROPY, RT_MARGIN,
    RT_TOPK, RT_DENSE_ZSKIP, RT_COUNT
} rt_fn;

typedef struct lower {
    sl_ctx *c;
    const sl_program *p;
    bool zero_skip;             /* -fzero-skip: dense layers after a ReLU may skip zeros */
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;           /* where code goes */
    LLVMBuilderRef alloca_b;    /* the entry block, before its branch */
    LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
    LLVMTypeRef rt_ty[RT_COUNT];
    LLVMValueRef rt[RT_COUNT];  /* runtime kernels, declared on first use */

    /* the function being built (run1) */
    LLVMValueRef fn;
    LLVMValueRef x, y, slots, flops_out;          /* its arguments */
    LLVMValueRef tensors, thresholds, force, scratch; /* loaded from the env */
    LLVMValueRef flops;         /* i64 alloca: FLOPs executed so far */
    bool dead;                  /* the current block has returned */

    /* per node, by id */
    LLVMValueRef *vals;         /* scalar: its SSA value; vector: a pointer to it */
    int64_t *buf;               /* byte offset of its scratch buffer, -1: none */
    bool *fused;                /* computed inside its user's loop, not stored */
    sl_node **user;             /* its only user, if it has one node user */
    const sl_region **region_of;
    int64_t scratch_bytes;

    /* Weights the runtime transposes once at open, for zero-skipping: the
     * copy of tensor t is env->tensors[n_tensors + transposed_slot[t]]. */
    int *transposed_slot;       /* per tensor; -1: no copy */
    SL_VEC(int) transposed;     /* the tensors copied, in slot order */

    LLVMValueRef run1, run;     /* the entry points */
} lower;

/* lower.c */
void sl_lower_model(lower *l);
/* lower_desc.c: the constant sl_model_desc `<name>_model`; embedded may be
 * NULL.  For executables also `sluice_main_model` pointing at it. */
void sl_lower_desc(lower *l, const unsigned char *embedded, size_t embedded_size, bool for_exe);

#endif
