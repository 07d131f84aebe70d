/* lower_emit.h - what the lowering files share while they emit a tile's
 * code: the function being built, its frames (row lists), loops, runtime
 * calls, and where a value's elements are.  Internal to compiler/:
 * lower_emit.c has these helpers, lower_ops.c the operations, lower.c the
 * control flow (frames, gates, exits, routes) and the tile itself. */
#ifndef SLUICE_LOWER_EMIT_H
#define SLUICE_LOWER_EMIT_H

#include "lower.h"

typedef struct frame frame;

/* The function being built. */
typedef struct emit {
    lower *l;
    LLVMValueRef fn;
    LLVMValueRef scratch, x, tokens, y, exits, slots, flops_out; /* the tile's arguments */
    LLVMValueRef tensors, dense, thresholds, force;      /* from the env */
    LLVMValueRef budget;        /* double: FLOPs an input may spend; <= 0: no budget */
    LLVMValueRef zero_units;    /* int64_t *: -fzero-stats' counters (env) */
    sl_flops *ahead;            /* per exit: the most spent after passing it (a budget) */
    bool *has_ahead;
    LLVMValueRef *vals;         /* per node: a uniform value's SSA scalar; a constant
                                   vector's global */
    const sl_node **alias;      /* per node: ROUTE_ARG -> the route's input */
    LLVMValueRef every;         /* in a route of tokens `attending all`: every row's token
                                   count (tokens holds the chosen ones'); else NULL */
    frame *fr;                  /* the frame being run */
    int item_no;                /* items entered so far (plan.items) */
    SL_VEC(struct open_item *) open; /* items entered and not yet left */
} emit;

/* A region's rows: the list of tile rows it runs over, and their count. */
struct frame {
    LLVMValueRef rows;          /* i32 *: ascending tile row numbers */
    LLVMValueRef count;         /* i64 alloca */
    LLVMBasicBlockRef skip;     /* where the region's code is jumped over to */
    sl_flops pending;           /* FLOPs each of its rows ran since the last flush */
    int64_t row_tokens;         /* 0: rows are the tile's; else token ids r * row_tokens + t
                                   of tile row r (the experts of a route over tokens) */
    frame *parent;
};

/* A counted loop over [0, n): returns the index; close with em_loop_end.
 * The count is checked first, so n may be 0. */
typedef struct loop {
    LLVMValueRef i, phi, n;
    LLVMBasicBlockRef head, done;
} loop;

/* A loop over a row list: returns the row (i64); em_rows_end closes it. */
typedef struct rows_loop {
    loop lp;
    LLVMValueRef row;
} rows_loop;

/* ---- constants, blocks, memory ---------------------------------------- */

LLVMValueRef em_i64(lower *l, int64_t v);
LLVMValueRef em_i32(lower *l, int32_t v);
LLVMValueRef em_f32(lower *l, double v);
LLVMBasicBlockRef em_block(emit *e, const char *name);
void em_at(emit *e, LLVMBasicBlockRef bb);
LLVMValueRef em_gep(lower *l, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef idx,
                    const char *name);
LLVMValueRef em_entry_alloca(lower *l, LLVMTypeRef t, const char *name);
LLVMValueRef em_load(lower *l, LLVMTypeRef t, LLVMValueRef p, const char *name);
/* base[i] of element type t: its address, its value, a store to it. */
LLVMValueRef em_at_index(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i);
LLVMValueRef em_load_at(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i);
void em_store_at(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v);
/* r * stride + plus (i64); plus may be NULL. */
LLVMValueRef em_row_index(lower *l, LLVMValueRef r, int64_t stride, LLVMValueRef plus);
void em_add_to(lower *l, LLVMValueRef p, LLVMValueRef v);      /* *p += v (i64) */
/* list[*count] = v (as i32), ++*count (an i64 alloca); returns the old count. */
LLVMValueRef em_push(lower *l, LLVMValueRef list, LLVMValueRef count, LLVMValueRef v);
LLVMValueRef em_list_row(lower *l, LLVMValueRef list, LLVMValueRef i); /* list[i], as i64 */
/* Scratch bytes at a plan offset (bytes per tile row). */
LLVMValueRef em_scratch_at(emit *e, int64_t off, const char *name);
/* A runtime function, declared on first use, and a call of it. */
LLVMValueRef em_rt(lower *l, rt_fn f);
LLVMValueRef em_call(lower *l, rt_fn f, LLVMValueRef *args, unsigned n, const char *name);

/* ---- loops and frames ------------------------------------------------- */

LLVMValueRef em_loop_begin(emit *e, loop *lp, LLVMValueRef n, const char *name);
void em_loop_end(emit *e, loop *lp);
LLVMValueRef em_rows_begin(emit *e, rows_loop *r, LLVMValueRef list, LLVMValueRef count,
                           const char *name);
void em_rows_end(emit *e, rows_loop *r);
LLVMValueRef em_frame_count(emit *e);
/* Every token of every row of the frame, ascending, as flat indices
 * r * most + o into a value of type t (most: its rows at the most), into
 * list (i32 *); their number into *count (an i64 alloca). */
void em_token_list(emit *e, sl_ty t, LLVMValueRef list, LLVMValueRef count);
/* The same past each row's first past[r] tokens (i32 per tile row). */
void em_token_list_past(emit *e, sl_ty t, LLVMValueRef past, LLVMValueRef list,
                        LLVMValueRef count);
/* Row r's token count (i64). */
LLVMValueRef em_row_tokens(emit *e, LLVMValueRef r);
/* How many rows (tokens) row r of a value of type t has: tok_a * T + tok_c,
 * or its fixed first dimension. */
LLVMValueRef em_extent(emit *e, sl_ty t, LLVMValueRef r);
/* counter[r] += f at row r's token count (in a frame of tokens, to the
 * tile row holding token r); the frame's pending FLOPs to every row of it. */
void em_add_row_flops(emit *e, LLVMValueRef acc, LLVMValueRef r, sl_flops f);
void em_flush_flops(emit *e);

/* ---- values ----------------------------------------------------------- */

LLVMTypeRef em_elem_ty(lower *l, const sl_node *n);
/* Where n's rows are: the input, the weights of a learned value, a
 * constant vector's global, or a scratch buffer; row r at r * stride
 * elements (stride 0: the same for every row). */
LLVMValueRef em_base(emit *e, const sl_node *n);
int64_t em_row_stride(const emit *e, const sl_node *n);
LLVMValueRef em_row_ptr(emit *e, const sl_node *n, LLVMValueRef r);
/* Element i of row r of n (a scalar, a vector, or a matrix read flat).
 * Bools come back as i1. */
LLVMValueRef em_element(emit *e, const sl_node *n, LLVMValueRef r, LLVMValueRef i);
/* The element of n that goes with element (o, j) of a result of type res
 * (o its row, j the element within): n broadcast as docs/language.md says. */
LLVMValueRef em_element_at(emit *e, const sl_node *n, sl_ty res, LLVMValueRef r,
                           LLVMValueRef o, LLVMValueRef j);
void em_store_element(emit *e, const sl_node *n, LLVMValueRef r, LLVMValueRef i, LLVMValueRef v);
/* Elements per row of a result's loops: a matrix's columns, 1 for a value
 * per token, the whole of a vector. */
int64_t em_res_inner(sl_ty t);
/* One element of a cheap operation on scalar values (i1, i32 or float). */
LLVMValueRef em_scalar_op(lower *l, const sl_node *n, LLVMValueRef a, LLVMValueRef b);

/* ---- lower_ops.c ------------------------------------------------------ */

/* A node over the frame's rows (uniform values: once). */
void sl_lower_node(emit *e, const sl_node *n, const plan_item *pi);

/* ---- lower_stats.c ---------------------------------------------------- */

/* After a counted ReLU (p->relus) is computed: add each row's zeros and
 * elements to its ledger slots and each unit's zeros to the counters. */
void sl_lower_zero_stats(emit *e, const sl_node *n);

#endif
