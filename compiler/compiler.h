/* compiler.h - the checker, the checked program (HIR), costs, lowering and
 * the driver's pieces.  One section per owning file.
 *
 * The checker (sema.c and the other files of sema.h) turns a model's AST
 * into a program: layers are instantiated with their shapes and inlined,
 * every value is a typed node, and control flow is a tree of regions: a
 * gate's arms, an exit's value, each expert of a route are regions of their
 * own, so lowering can put each behind a real branch. */
#ifndef SLUICE_COMPILER_H
#define SLUICE_COMPILER_H

#include "lang.h"

#define SL_MAX_RANK_HIR 4
#define SL_MAX_EXPERTS 4096      /* experts in one bank */
#define SL_MAX_LAYER_DEPTH 32    /* layers inside layers */

/* ---- types.c --------------------------------------------------------- */

typedef enum sl_elem { SL_F32, SL_I32, SL_BOOL } sl_elem;

/* A value's type.  A sequence's first dimension is its token count, known
 * per input at run time: tok_a * T + tok_c for the model's token count T
 * (tok_a >= 1); dims[0] is then its largest value, at T = tokens_max, so
 * dims size a row's storage.  Static types have tok_a == 0. */
typedef struct sl_ty {
    sl_elem elem;
    int rank;                         /* 0: a scalar */
    int64_t dims[SL_MAX_RANK_HIR];
    int32_t tok_a;                    /* a sequence: tokens = tok_a * T + tok_c */
    int64_t tok_c;
} sl_ty;

int64_t sl_ty_numel(sl_ty t);       /* elements, a sequence at its most tokens */
int64_t sl_ty_inner(sl_ty t);       /* elements per token (a sequence), else numel */
bool sl_ty_is_seq(sl_ty t);
bool sl_ty_equal(sl_ty a, sl_ty b);
sl_ty sl_ty_scalar(sl_elem e);
sl_ty sl_ty_vector(sl_elem e, int64_t n);
/* "f32[10]", "bool", "i32", "f32[T + 1, 64]" (arena string; T is the
 * model's token count as declared, c->tokens_name) */
const char *sl_ty_str(sl_ctx *c, sl_ty t);

/* FLOPs as a polynomial in the token count T: k + t*T + tt*T^2 (attention
 * is quadratic in its tokens).  A model without tokens has only k. */
typedef struct sl_flops { double k, t, tt; } sl_flops;
sl_flops sl_flops_add(sl_flops a, sl_flops b);
sl_flops sl_flops_scale(sl_flops a, double s);
/* A cost paid once per row of t: its rows (T's polynomial for a sequence)
 * times per_row, which must be a constant. */
sl_flops sl_flops_per_row(sl_ty t, sl_flops per_row);
double sl_flops_at(sl_flops f, double tokens);
bool sl_flops_is_zero(sl_flops f);
/* "1234", "1234 + 56*T", "1234 + 56*T + 7*T^2" (arena string) */
const char *sl_flops_str(sl_ctx *c, sl_flops f, const char *tokens_name);

/* ---- instances: the parameters a model holds (instances.c) ----------- */

typedef enum sl_pkind {
    SL_P_DENSE,       /* dense[in -> out] [blocks K] */
    SL_P_LAYERNORM,   /* layernorm[d] */
    SL_P_LAYER,       /* a layer written in Sluice */
    SL_P_BANK,        /* expert[N] of <kind>, list[N] of <kind> */
    SL_P_TENSOR,      /* vector[d], matrix[r, c]: a learned value (nn.Parameter) */
    SL_P_EMBEDDING,   /* embedding[vocab, d] */
    SL_P_ATTENTION,   /* attention[d, heads] [causal] */
    SL_P_BATCHNORM    /* batchnorm[d] */
} sl_pkind;

typedef struct sl_inst sl_inst;
struct sl_inst {
    sl_pkind kind;
    const char *name;       /* as declared: "fc1" */
    const char *path;       /* state_dict prefix: "ffn.3.fc1" */
    sl_span span;           /* the declaration */
    const char *kind_str;   /* "dense[64 -> 256]", "mlp[64, 128, 64]" */
    int64_t n_in, n_out;    /* DENSE: in, out; LAYERNORM, BATCHNORM, ATTENTION: d, d;
                               EMBEDDING: vocab, d */
    int64_t blocks;         /* DENSE: 0, or the number of blocks */
    int64_t heads;          /* ATTENTION */
    bool causal;            /* ATTENTION: a token attends to itself and those before */
    bool is_list;           /* BANK: declared list[N] (for loops), not expert[N] */
    /* Manifest indices (-1: unassigned): DENSE, LAYERNORM: weight, bias;
     * ATTENTION: in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias;
     * BATCHNORM: weight, bias, running_mean, running_var; EMBEDDING: weight;
     * TENSOR: the parameter itself */
    int w_tensor, b_tensor, w2_tensor, b2_tensor;
    const sl_unit *layer;   /* LAYER: its definition */
    int64_t *dims;          /* LAYER: values of its shape parameters */
    sl_inst **children;     /* LAYER: its params in order; BANK: its experts */
    int n_children;
    int threshold0;         /* LAYER: its thresholds' first index in the program */
    sl_ty in_ty, out_ty;    /* what applying it takes and gives; TENSOR: out_ty is the value.
                               A layer with a token count: in S, bound when applied */
    bool tokens_generic;    /* LAYER: declares `tokens S` */
    bool used;              /* applied somewhere (or an expert of a used bank) */
};

/* ---- hir.c: the checked program -------------------------------------- */

typedef enum sl_op {
    /* leaves */
    SL_OP_INPUT, SL_OP_CONST, SL_OP_THRESHOLD, SL_OP_ROUTE_ARG,
    SL_OP_TENSOR,     /* a learned vector or matrix (the weights' memory) */
    SL_OP_CONST_VEC,  /* a constant vector: zeros, ones, a literal of numbers */
    /* layers */
    SL_OP_DENSE, SL_OP_DENSE_BLOCKS, SL_OP_LAYERNORM, SL_OP_BATCHNORM, SL_OP_EMBED,
    SL_OP_ATTENTION,
    /* elementwise, cheap: fused into loops */
    SL_OP_NEG, SL_OP_NOT, SL_OP_TO_F32, SL_OP_RELU,
    SL_OP_ADD, SL_OP_SUB, SL_OP_MUL, SL_OP_DIV,
    SL_OP_LT, SL_OP_LE, SL_OP_GT, SL_OP_GE, SL_OP_EQ, SL_OP_NE,
    SL_OP_AND, SL_OP_OR,
    /* elementwise, transcendental: runtime kernels */
    SL_OP_GELU, SL_OP_GELU_TANH, SL_OP_SIGMOID, SL_OP_TANH, SL_OP_EXP, SL_OP_LOG,
    /* whole vector */
    SL_OP_SOFTMAX, SL_OP_LOG_SOFTMAX,
    /* reductions over the last dimension (per row of a matrix or sequence) */
    SL_OP_MAX, SL_OP_MIN, SL_OP_SUM, SL_OP_MEAN, SL_OP_ARGMAX, SL_OP_ENTROPY,
    SL_OP_MARGIN, SL_OP_INDEX,
    /* reductions over the first dimension (tokens) */
    SL_OP_POOL_MEAN, SL_OP_POOL_MAX, SL_OP_POOL_SUM,
    /* plumbing */
    SL_OP_TAKE,       /* one row (axis 0) or column (axis 1) of a matrix or sequence */
    SL_OP_SLICE,      /* a range of axis 0 or 1, from `index` */
    SL_OP_CONCAT,     /* args joined along axis 0, or the last axis (axis 1) */
    SL_OP_STACK,      /* [a, b, c] of scalars: a vector */
    SL_OP_TOPK_MASK,  /* bool vector: the k (index) largest */
    /* control */
    SL_OP_PHI, SL_OP_ROUTE,
    SL_OP_ROUTE_TOKENS, /* route blk(x) top k tokens by s: blk on x's k best rows (its one
                           region, reading `route_arg`, a [k, d] matrix), the rest kept */
    SL_OP_TOP_TOKENS,   /* top_tokens(x, s, k): x's k best rows; axis 1: and the mean of
                           the rest (top_tokens_merged).  With `where`,
                           tokens_above(x, s, t): the rows whose score passes t
                           (args[0]), or the best one, and they become the model's
                           tokens */
    SL_OP_COUNT
} sl_op;

const char *sl_op_str(sl_op op); /* "dense", "add", ... */

typedef struct sl_region sl_region;
typedef struct sl_node sl_node;

struct sl_node {
    sl_op op;
    sl_ty ty;
    sl_span span;           /* the source it came from */
    int id;                 /* unique in the program, from 0 */
    sl_node *a, *b;         /* operands (PHI: then, else; ROUTE: input, scores;
                               DENSE_BLOCKS: input, mask) */
    sl_inst *inst;          /* DENSE*, LAYERNORM, ROUTE (the bank) */
    double value;           /* CONST: the value (bool as 0/1) */
    int64_t index;          /* INDEX: the element; THRESHOLD: which; ROUTE, TOPK_MASK: k;
                               TAKE: the row or column, negative from the end; SLICE: the
                               start */
    int axis;               /* TAKE, SLICE, CONCAT: 0 the first dimension, 1 the last */
    sl_node **args;         /* CONCAT, STACK: the operands */
    int n_args;
    float *cvals;           /* CONST_VEC: the elements */
    int decision;           /* DENSE_BLOCKS, ROUTE: index into program decisions */
    sl_region **experts;    /* ROUTE: one region per expert, reading `route_arg` */
    sl_node **expert_out;   /* ROUTE: each expert region's result */
    sl_node *route_arg;     /* ROUTE: the expert regions' input */
    bool per_token;         /* ROUTE: every row of its matrix or sequence input routed on
                               its own (the expert regions' rows are tokens) */
    bool scaled;            /* ROUTE_TOKENS: chosen rows x + s * (out - x), not out */
    bool where;             /* ROUTE_TOKENS: the rows where b (bool per row) holds, however
                               many, not the top `index` */
    bool attending;         /* ROUTE_TOKENS with `where`: `attending all`, the layer's
                               attention sees every token (check_attending.c) */
    bool all_tokens;        /* in such a layer: computed on every token, not only the
                               chosen (an attention reads it) */
    bool chosen_queries;    /* ATTENTION in such a layer, not all_tokens: the chosen
                               tokens' queries against every token's keys and values */
    int epoch;              /* the model's token count it was made under: 0 the input's,
                               one more after each tokens_above() (TOP_TOKENS with where) */
    bool switched;          /* ROUTE: weights softmax(scores) at the chosen, not renormalised */
    bool expert_choice;     /* ROUTE over tokens: each expert takes its `index` best tokens */
    double capacity;        /* ROUTE over tokens, token choice: the experts' capacity factor */
    sl_flops flops;         /* static FLOPs of this node (DENSE_BLOCKS: per active block) */
    int uses;               /* operand uses, for fusion */
};

typedef enum sl_item_kind { SL_IT_NODE, SL_IT_GATE, SL_IT_EXIT } sl_item_kind;

typedef struct sl_item {
    sl_item_kind kind;
    sl_span span;
    sl_node *node;          /* NODE: compute it */
    sl_node *cond;          /* GATE; EXIT: NULL when unconditional */
    sl_region *then_r;      /* GATE */
    sl_region *else_r;      /* GATE (empty when there is no else) */
    int decision;           /* GATE: index into program decisions */
    SL_VEC(sl_node *) phis; /* GATE: values that merge after it */
    sl_region *value_r;     /* EXIT: computes the value, only when taken */
    sl_node *value;         /* EXIT */
    int exit_index;         /* EXIT */
} sl_item;

struct sl_region {
    SL_VEC(sl_item) items;  /* in execution order */
};

typedef enum sl_decision_kind_c {
    SL_DEC_GATE = 0, SL_DEC_ROUTE = 1, SL_DEC_BLOCKS = 2, /* = runtime sl_decision_kind */
    SL_DEC_TOKENS = 3
} sl_decision_kind_c;

typedef struct sl_decision {
    sl_decision_kind_c kind;
    const char *name;       /* "gate0", the bank's or the layer's path */
    sl_span span;
    int slot, count, choices;
    /* A per-token route: count slots for each of `rows` rows (its input's
     * most), of which tok_a * T + tok_c are real; rows 0: one set. */
    int64_t rows, tok_c;
    int32_t tok_a;
    int32_t per_expert;     /* expert choice: the tokens each expert takes; else 0 */
    bool where;             /* TOKENS: the rows where a condition holds (count: the most) */
} sl_decision;

typedef struct sl_tensor {
    const char *name;       /* "fc1.weight" */
    int rank;
    int64_t shape[SL_MAX_RANK_HIR];
    sl_inst *inst;          /* owner */
} sl_tensor;

typedef struct sl_threshold {
    const char *name;       /* a layer's: its instance's path first ("blocks.0.t") */
    float value;            /* default */
    sl_span span;
    bool used;
    const sl_inst *owner;   /* the layer instance declaring it; NULL: the model */
} sl_threshold;

typedef struct sl_exit {
    const char *name;       /* "exit0" */
    sl_span span;
} sl_exit;

/* A ReLU counted by -fzero-stats (lower_stats.c).  Per input, ledger
 * slots [slot, slot + 2) hold the exact zeros it produced and the elements
 * it computed (0 0 when the input never ran it); the model's counters
 * [unit0, unit0 + width) count per unit (element of a vector, column of a
 * matrix or sequence) the zeros over every row run, and unit0 + width the
 * rows run. */
typedef struct sl_relu_stat {
    const sl_node *node;
    const char *name;       /* the dense layer it follows ("fc1"), else "relu@12:7" */
    sl_span span;
    int64_t width;          /* units */
    int slot;
    int64_t unit0;
    int64_t dense_out;      /* outputs of the dense layers reading it: a zero input
                               is 2 * dense_out FLOPs a zero-skipping kernel saves */
    bool zero_skip;         /* those layers skip zero inputs (for a row alone) */
} sl_relu_stat;

typedef struct sl_program {
    const sl_unit *model;
    const char *name;
    const char *source_path;
    const char *weights_path;   /* default weights, absolute; NULL if none */
    const char *in_name, *out_name;
    sl_ty in_ty, out_ty;
    const char *tokens_name;    /* the token count's name; NULL: no token dimension */
    int64_t tokens_min, tokens_max;
    int64_t id_limit;           /* i32 input: the smallest table an embedding looks its ids up in */
    sl_region *body;
    sl_inst **params;           /* the model's own params, in order */
    int n_params;
    SL_VEC(sl_tensor) tensors;  /* the weight manifest */
    SL_VEC(sl_threshold) thresholds;
    SL_VEC(sl_exit) exits;
    SL_VEC(sl_decision) decisions;
    int n_slots;                /* ledger slots */
    int n_nodes;
    SL_VEC(sl_relu_stat) relus; /* -fzero-stats: the ReLUs counted, in walk order */
    int64_t n_zero_units;       /* counters they use */
} sl_program;

/* ---- region.c: the one walk over the region tree ---------------------- */

/* An item's sub-regions: a gate's arms (0 then, 1 else), an exit's value
 * region (0), a route's experts (one per expert of the bank); none for
 * other nodes. */
int sl_item_subregions(const sl_item *it);
const sl_region *sl_item_subregion(const sl_item *it, int k);

/* sl_walk_region visits a region's items in execution order: enter(item),
 * then for each sub-region k: sub_enter, its items (recursively), sub_leave;
 * then leave(item).  Any hook may be NULL; `data` is the pass's own. */
typedef struct sl_walker sl_walker;
struct sl_walker {
    void *data;
    void (*enter)(sl_walker *w, const sl_item *it);
    void (*sub_enter)(sl_walker *w, const sl_item *it, int k, const sl_region *r);
    void (*sub_leave)(sl_walker *w, const sl_item *it, int k, const sl_region *r);
    void (*leave)(sl_walker *w, const sl_item *it);
};
void sl_walk_region(sl_walker *w, const sl_region *r);

/* Print the program (--emit=hir). */
void sl_hir_dump(sl_ctx *c, const sl_program *p, FILE *out);

/* ---- sema.c ---------------------------------------------------------- */

/* Load imports, check the module's model, build the program.  NULL after
 * errors (reported).  A module without a model is checked for its layers'
 * declarations only and returns NULL without errors: *has_model tells. */
sl_program *sl_check(sl_ctx *c, sl_module *m, bool *has_model);

/* ---- manifest.c ------------------------------------------------------ */

/* Give every used parameter its tensors, in declaration order. */
void sl_manifest_build(sl_ctx *c, sl_program *p);
void sl_manifest_print(const sl_program *p, FILE *out);

/* ---- cost.c ---------------------------------------------------------- */

typedef struct sl_cost_range { double lo, hi; } sl_cost_range;

/* Attention's FLOPs in parts (docs/language.md, "Cost"): per token whose
 * q is projected (2*d*d + d), whose k and v are (2*d*2d + 2d), whose
 * output is (2*d*d + d), per (query, key) pair attended (q.k and the
 * weighted v, 2*d each, and the softmax, 1 per head). */
typedef struct sl_attention_cost {
    double per_q, per_kv, per_out, per_pair;
} sl_attention_cost;
sl_attention_cost sl_cost_attention(const sl_inst *attention);
/* The layer of `route blk(x) tokens where c` (attending all or not) on K
 * of an input's T tokens: c + k*K + t*T + kk*K^2 + kt*K*T + tt*T^2 FLOPs
 * (its experts, if it routes, counted all: an upper bound).  The compute
 * budget and --cost use it. */
typedef struct sl_layer_cost { double c, k, t, kk, kt, tt; } sl_layer_cost;
sl_layer_cost sl_cost_tokens_layer(const sl_node *route);

sl_flops sl_cost_dense(const sl_program *p);        /* every region run */
sl_flops sl_cost_region_dense(const sl_region *r);
/* For a compute budget: for each exit in the model's own body (not in a
 * gate's arm), the most an input can spend after passing it before it
 * leaves by the next exit or the end, that exit's test and value included
 * (the dense count of what lies between: an upper bound); ahead[i] for
 * exit i, *has[i] false for exits elsewhere.  Arrays of p->exits.len. */
void sl_cost_exits_ahead(const sl_program *p, sl_flops *ahead, bool *has);
/* Print every path's static cost (--cost), for inputs of `tokens` tokens
 * (a sequence model; 0: tokens_max) with the formulas in T. */
void sl_cost_print(sl_ctx *c, const sl_program *p, int64_t tokens, FILE *out);

#endif
