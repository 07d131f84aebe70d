/* lower.h - shared state of the lowering files (plan.c: what lives where
 * in a tile's scratch; lower.c, lower_ops.c, lower_emit.c: the model's
 * code; lower_desc.c: its descriptor).  Internal to compiler/. */
#ifndef SLUICE_LOWER_H
#define SLUICE_LOWER_H

#include <llvm-c/Core.h>

#include "compiler.h"

typedef enum rt_fn {
    RT_DENSE_ROWS, RT_LAYERNORM, RT_GELU, RT_GELU_TANH, RT_SIGMOID, RT_TANH, RT_EXP, RT_LOG,
    RT_SOFTMAX, RT_LOG_SOFTMAX, RT_MAX, RT_MIN, RT_SUM, RT_ARGMAX, RT_ENTROPY, RT_MARGIN,
    RT_TOPK, RT_ROWS_MERGE, RT_ROWS_SORT, RT_ROWS_BY_EXPERT, RT_ATTENTION,
    RT_ROUTE_CAPACITY, RT_EXPERT_CHOICE, RT_SWITCH_WEIGHTS, RT_MEAN_REST, RT_COUNT
} rt_fn;

/* Where a tile's values live.  Every per-row value has a buffer of
 * tile_rows rows in the scratch arena, at offset tile_rows * off (off in
 * bytes per row), row r at r * its row size: "tile coordinates", so a
 * region running over some of the rows reads and writes them in place. */
typedef struct plan_item {
    int64_t list0, list1;       /* GATE: then and else row lists; EXIT: the leaving rows;
                                   ROUTE: the bucketed rows; DENSE_BLOCKS: a block's rows */
    int64_t idx, w, pos, comb;  /* ROUTE: top-k indices, their weights, bucket positions,
                                   the chosen experts' outputs [rows][k][d] */
    int64_t qkv, ctx;           /* ATTENTION: q, k, v of every token; the heads' output */
    int64_t aux;                /* ROUTE over tokens: expert choice's or a capacity's scratch */
    bool may_exit;              /* an exit inside (GATE: rows may not come back) */
} plan_item;

/* A dense layer the runtime packs at open (sl_dense_desc). */
typedef struct plan_dense {
    int weight, bias;           /* tensor indices */
    int64_t row0, rows;         /* the output units packed */
    bool zero_skip;             /* some call skips zero inputs */
} plan_dense;

typedef struct plan {
    int64_t *off;               /* per node: its buffer's offset per row; -1: none */
    bool *uniform;              /* per node: one value for every row (an SSA scalar) */
    bool *fused;                /* per node: computed inside its user's loop, not stored */
    plan_item *items;           /* per item, in walk order */
    int n_items;
    int64_t rows0, flops0;      /* the tile's row list and FLOP counters */
    int64_t tokens0;            /* the token list of a dense call over rows (token_list) */
    int64_t row_bytes;          /* scratch bytes per tile row, at the peak */
    int64_t tile_bytes;         /* tile_rows * row_bytes: where the tile-wide area starts */
    int64_t attn_floats;        /* the tile-wide area: attention's scratch, for the longest */
    int *dense;                 /* per tensor: first sl_dense_desc of its weight; -1 */
    int *kv;                    /* per tensor: an attention in-projection's k, v rows
                                   [d, 3d) packed alone (chosen_queries); -1 */
    SL_VEC(plan_dense) packs;   /* what the runtime packs, in order */
} plan;

typedef struct lower {
    sl_ctx *c;
    const sl_program *p;
    bool zero_skip;             /* -fzero-skip: dense layers after a ReLU may skip zeros */
    bool zero_stats;            /* -fzero-stats: count every ReLU's zeros (p->relus) */
    int64_t tile_rows;          /* rows of a tile (a compile-time constant) */
    plan pl;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;           /* where code goes */
    LLVMBuilderRef alloca_b;    /* the entry block, before its branch */
    LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
    LLVMTypeRef rt_ty[RT_COUNT];
    LLVMValueRef rt[RT_COUNT];  /* runtime functions, declared on first use */
    LLVMValueRef tile;          /* the entry point */
} lower;

/* plan.c: the plan of a program: uniform and fused values, every buffer's
 * place (liveness over the walk order, first fit), the dense packs, and
 * the tile's row count, chosen so a tile's scratch stays near budget_bytes
 * (tile_rows > 0 forces it). */
void sl_plan(lower *l, int64_t tile_rows);
bool sl_plan_is_cheap(sl_op op);
bool sl_plan_zero_skips(const lower *l, const sl_node *n);
/* A route's choices per row (token): k, or with expert choice a slot per
 * expert; and the floats of one row (one token, over tokens) of its output. */
int64_t sl_plan_route_choices(const sl_node *n);
/* A route of tokens' chosen rows per row at the most: k, or with `where`
 * every row of its input. */
int64_t sl_plan_route_tokens_chosen(const sl_node *n);
int64_t sl_plan_route_width(const sl_node *n);

/* lower_stats.c (-fzero-stats), before lowering: the ReLUs to count, their
 * ledger slots (after the decisions') and their counters (p->relus). */
void sl_zero_stats_plan(lower *l, sl_program *p);

/* lower.c */
void sl_lower_model(lower *l);
/* lower_desc.c: the constant sl_model_desc `<name>_model`; embedded may be
 * NULL.  For executables also `sluice_main_model` pointing at it.  False
 * (an internal error reported) when its layout differs from model.h's. */
bool sl_lower_desc(lower *l, const unsigned char *embedded, size_t embedded_size, bool for_exe);

#endif
