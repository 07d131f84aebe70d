/* plan.c - what the lowering needs to know before it emits a line: which
 * values are one scalar for every row (uniform), which cheap values are
 * computed inside their user's loop (fused), where every other value lives
 * in a tile's scratch arena, which dense layers the runtime packs, and how
 * many rows a tile holds.
 *
 * Buffers are placed by liveness over the walk order, which is the order
 * the code runs in: a tile runs each region once, over the rows that reach
 * it, one region after another (a gate's then-arm, then its else-arm; each
 * expert in turn), never in a loop.  So a buffer is needed from the event
 * that defines it to the last event that reads it, and first fit over those
 * intervals gives the arena.  Sizes are in bytes per tile row: every
 * buffer holds one entry per row of the tile, so the arena is tile_rows
 * times the peak. */
#include <stdlib.h>

#include "lower.h"
#include "sluice/kernels.h" /* sl_rt_attention_scratch: the kernel's own count */

/* Scratch a tile may take before its row count is halved: the arena of a
 * tile is tile_rows * row_bytes, allocated once per thread. */
enum { MAX_TILE_ROWS = 512, SCRATCH_BUDGET = 16 << 20, ROW_ALIGN = 16 };

bool sl_plan_is_cheap(sl_op op)
{
    switch (op) {
    case SL_OP_NEG: case SL_OP_NOT: case SL_OP_TO_F32: case SL_OP_RELU:
    case SL_OP_ADD: case SL_OP_SUB: case SL_OP_MUL: case SL_OP_DIV:
    case SL_OP_LT: case SL_OP_LE: case SL_OP_GT: case SL_OP_GE: case SL_OP_EQ: case SL_OP_NE:
    case SL_OP_AND: case SL_OP_OR: case SL_OP_INDEX:
        return true;
    default:
        return false;
    }
}

/* Zero-skipping (never reading the weights of zero inputs) pays for a
 * dense layer fed by a ReLU, typically 40-90% zeros, of at least this many
 * inputs.  Below it the weights sit in L2 and listing the non-zeros costs
 * more than skipping saves unless sparsity is high (docs/performance.md,
 * "Zero-skipping crossover"). */
enum { ZSKIP_MIN_INPUTS = 512 };

bool sl_plan_zero_skips(const lower *l, const sl_node *n)
{
    return l->zero_skip && n->op == SL_OP_DENSE && n->a->op == SL_OP_RELU &&
           n->inst->n_in >= ZSKIP_MIN_INPUTS;
}

/* ---- the arena: first fit over byte ranges (per tile row) ---------------- */

typedef struct span { int64_t off, size; } span;

typedef struct arena_plan {
    SL_VEC(span) free;          /* by offset, coalesced */
    int64_t top, peak;
} arena_plan;

static int64_t round_row(int64_t bytes) { return (bytes + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN; }

static int64_t take(sl_ctx *c, arena_plan *a, int64_t bytes)
{
    bytes = round_row(bytes);
    for (size_t i = 0; i < a->free.len; i++) {
        span *s = &a->free.items[i];
        if (s->size < bytes)
            continue;
        int64_t off = s->off;
        s->off += bytes;
        s->size -= bytes;
        if (s->size == 0) {
            for (size_t j = i + 1; j < a->free.len; j++)
                a->free.items[j - 1] = a->free.items[j];
            a->free.len--;
        }
        return off;
    }
    (void)c;
    int64_t off = a->top;
    a->top += bytes;
    if (a->top > a->peak)
        a->peak = a->top;
    return off;
}

static void give(sl_ctx *c, arena_plan *a, int64_t off, int64_t bytes)
{
    bytes = round_row(bytes);
    size_t i = 0;
    while (i < a->free.len && a->free.items[i].off < off)
        i++;
    span s = {off, bytes};
    SL_VEC_PUSH(&c->arena, &a->free, s); /* grow, then shift into place */
    for (size_t j = a->free.len - 1; j > i; j--)
        a->free.items[j] = a->free.items[j - 1];
    a->free.items[i] = s;
    if (i + 1 < a->free.len && a->free.items[i].off + a->free.items[i].size ==
                                   a->free.items[i + 1].off) {
        a->free.items[i].size += a->free.items[i + 1].size;
        for (size_t j = i + 2; j < a->free.len; j++)
            a->free.items[j - 1] = a->free.items[j];
        a->free.len--;
    }
    if (i > 0 && a->free.items[i - 1].off + a->free.items[i - 1].size == a->free.items[i].off) {
        a->free.items[i - 1].size += a->free.items[i].size;
        for (size_t j = i + 1; j < a->free.len; j++)
            a->free.items[j - 1] = a->free.items[j];
        a->free.len--;
        i--;
    }
    /* A free range at the top goes back to the top. */
    span *last = &a->free.items[a->free.len - 1];
    if (last->off + last->size == a->top) {
        a->top = last->off;
        a->free.len--;
    }
}

/* ---- the walks ------------------------------------------------------------ */

typedef struct planner {
    lower *l;
    plan *pl;
    const sl_region *region;    /* the region being walked */
    SL_VEC(const sl_region *) stack;
    const sl_region **region_of; /* per node */
    sl_node **user;             /* per node: its one node user, if it has one */
    int64_t ev;                 /* events so far: every hook is one */
    int item_no;
    int64_t *last_ev;           /* per node: the last event that reads it */
    int64_t *dies_next;         /* per node: the next node dying at the same event */
    int64_t *dies_head;         /* per event: the first node dying then; -1 */
    arena_plan arena;
    sl_node **nodes;            /* per id */
    SL_VEC(int) open;           /* numbers of the items entered and not yet left */
    int64_t list_rows;          /* the most rows a token list holds per tile row */
    int64_t rows;               /* entries per tile row of what is placed now: 1, or the
                                   tokens of a route over tokens inside its experts */
    SL_VEC(int64_t) rows_stack; /* ... of the items entered */
    int64_t *rows_of;           /* per node: its `rows` when placed */
} planner;

static int64_t row_bytes(const sl_node *n)
{
    return sl_ty_numel(n->ty) * (n->ty.elem == SL_BOOL ? 1 : 4);
}

/* The tokens a route over tokens runs its experts on, per tile row; 1
 * for anything else. */
static int64_t route_rows(const sl_node *n) { return n->per_token ? n->a->ty.dims[0] : 1; }

int64_t sl_plan_route_tokens_chosen(const sl_node *n)
{
    return n->where ? n->a->ty.dims[0] : n->index;
}

int64_t sl_plan_route_choices(const sl_node *n)
{
    return n->expert_choice ? n->inst->n_children : n->index;
}

/* Scratch for choosing per input (floats a row): expert choice's column
 * and top list, a capacity's counts. */
static int64_t route_scratch(const sl_node *n)
{
    if (n->expert_choice)
        return 2 * route_rows(n) + n->index;
    return n->inst->n_children;
}

int64_t sl_plan_route_width(const sl_node *n)
{
    return n->per_token ? n->ty.dims[1] : sl_ty_numel(n->ty);
}

static void push_region(planner *p, const sl_region *r)
{
    SL_VEC_PUSH(&p->l->c->arena, &p->stack, p->region);
    p->region = r;
}

static void pop_region(planner *p) { p->region = p->stack.items[--p->stack.len]; }

/* Pass 1: regions, users, uniform values, packs, items. */

static bool uniform_op(const plan *pl, const sl_node *n)
{
    switch (n->op) {
    case SL_OP_CONST: case SL_OP_THRESHOLD:
        return true;
    case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID: case SL_OP_TANH:
    case SL_OP_EXP: case SL_OP_LOG:
        return n->ty.rank == 0 && pl->uniform[n->a->id];
    default:
        return sl_plan_is_cheap(n->op) && n->op != SL_OP_INDEX &&
               (!n->a || pl->uniform[n->a->id]) && (!n->b || pl->uniform[n->b->id]);
    }
}

/* One pack per weight (per block of a block-gated layer); attention has
 * two: its in- and out-projections. */
static void add_pack(planner *p, int w, int b, int64_t rows)
{
    plan *pl = p->pl;
    if (pl->dense[w] >= 0)
        return;
    pl->dense[w] = (int)pl->packs.len;
    plan_dense d = {w, b, 0, rows, false};
    SL_VEC_PUSH(&p->l->c->arena, &pl->packs, d);
}

static void add_packs(planner *p, const sl_node *n)
{
    plan *pl = p->pl;
    const sl_inst *inst = n->inst;
    int w = inst->w_tensor;
    if (n->op == SL_OP_ATTENTION) {
        add_pack(p, inst->w_tensor, inst->b_tensor, 3 * inst->n_in);
        add_pack(p, inst->w2_tensor, inst->b2_tensor, inst->n_in);
        if (n->chosen_queries && pl->kv[w] < 0) { /* the other tokens' k, v only */
            pl->kv[w] = (int)pl->packs.len;
            plan_dense d = {w, inst->b_tensor, inst->n_in, 2 * inst->n_in, false};
            SL_VEC_PUSH(&p->l->c->arena, &pl->packs, d);
        }
        return;
    }
    if (pl->dense[w] < 0) {
        pl->dense[w] = (int)pl->packs.len;
        int64_t k = inst->blocks ? inst->blocks : 1, rows = inst->n_out / k;
        for (int64_t b = 0; b < k; b++) {
            plan_dense d = {w, inst->b_tensor, b * rows, rows, false};
            SL_VEC_PUSH(&p->l->c->arena, &pl->packs, d);
        }
    }
    if (sl_plan_zero_skips(p->l, n)) {
        int64_t k = inst->blocks ? inst->blocks : 1;
        for (int64_t b = 0; b < k; b++)
            pl->packs.items[pl->dense[w] + b].zero_skip = true;
    }
}

static void note_user(planner *p, sl_node *n, sl_node *operand)
{
    if (operand && operand->uses == 1)
        p->user[operand->id] = n;
}

static void first_enter(sl_walker *w, const sl_item *it)
{
    planner *p = w->data;
    p->item_no++;
    if (it->kind != SL_IT_NODE)
        return;
    sl_node *n = it->node;
    p->region_of[n->id] = p->region;
    note_user(p, n, n->a);
    note_user(p, n, n->b);
    p->pl->uniform[n->id] = uniform_op(p->pl, n);
    if (n->op == SL_OP_DENSE || n->op == SL_OP_DENSE_BLOCKS || n->op == SL_OP_ATTENTION)
        add_packs(p, n);
    /* dense over tokens lists them; attention needs its kernel's scratch */
    if ((n->op == SL_OP_DENSE || n->op == SL_OP_ATTENTION) && n->a->ty.rank == 2 &&
        n->a->ty.dims[0] > p->list_rows)
        p->list_rows = n->a->ty.dims[0];
    if (n->op == SL_OP_ATTENTION) {
        int64_t f = sl_rt_attention_scratch(n->ty.dims[0], n->inst->n_in, n->inst->heads);
        if (f < 0)
            sl_error(p->l->c, n->span, "attention over %lld tokens needs more scratch than "
                     "memory holds", (long long)n->ty.dims[0]);
        if (f > p->pl->attn_floats)
            p->pl->attn_floats = f;
    }
}

static void any_sub_enter(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    (void)it, (void)k;
    push_region(w->data, r);
}

static void any_sub_leave(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    (void)it, (void)k, (void)r;
    pop_region(w->data);
}

/* A cheap per-row value read only by one cheap per-row value of its shape,
 * in the same region, is computed inside that user's loop. */
static void decide_fusion(planner *p, int n_nodes, sl_node **nodes)
{
    plan *pl = p->pl;
    for (int i = 0; i < n_nodes; i++) {
        sl_node *n = nodes[i];
        if (!n)
            continue;
        sl_node *u = p->user[n->id];
        bool same_shape = u && u->ty.rank == n->ty.rank && u->ty.tok_a == n->ty.tok_a &&
                          u->ty.tok_c == n->ty.tok_c && sl_ty_numel(u->ty) == sl_ty_numel(n->ty);
        pl->fused[n->id] = !pl->uniform[n->id] && sl_plan_is_cheap(n->op) && n->uses == 1 &&
                           u && sl_plan_is_cheap(u->op) && !pl->uniform[u->id] && same_shape &&
                           p->region_of[u->id] == p->region_of[n->id];
    }
}

/* Pass 2: the last event reading each value.  A fused value is read where
 * its user is computed, and so are its own operands. */

static void read_at(planner *p, const sl_node *n, int64_t ev)
{
    if (!n)
        return;
    if (ev > p->last_ev[n->id])
        p->last_ev[n->id] = ev;
    if (p->pl->fused[n->id]) {
        read_at(p, n->a, ev);
        read_at(p, n->b, ev);
    }
}

static void live_enter(sl_walker *w, const sl_item *it)
{
    planner *p = w->data;
    int64_t ev = ++p->ev;
    switch (it->kind) {
    case SL_IT_NODE: {
        const sl_node *n = it->node;
        p->last_ev[n->id] = ev;
        if (p->pl->fused[n->id])
            break; /* read where its user is */
        /* a route reads its input until its last expert (or its layer) */
        if (n->op != SL_OP_ROUTE && n->op != SL_OP_ROUTE_TOKENS)
            read_at(p, n->a, ev);
        read_at(p, n->b, ev);
        for (int i = 0; i < n->n_args; i++)
            read_at(p, n->args[i], ev);
        break;
    }
    case SL_IT_GATE:
        read_at(p, it->cond, ev);
        for (size_t i = 0; i < it->phis.len; i++)
            p->last_ev[it->phis.items[i]->id] = ev;
        break;
    case SL_IT_EXIT:
        read_at(p, it->cond, ev);
        break;
    }
}

static void live_sub_enter(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    (void)it, (void)k, (void)r;
    ((planner *)w->data)->ev++;
}

static void live_sub_leave(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    (void)r;
    planner *p = w->data;
    int64_t ev = ++p->ev;
    if (it->kind == SL_IT_GATE) /* each arm copies its side of every merge */
        for (size_t i = 0; i < it->phis.len; i++)
            read_at(p, k == 0 ? it->phis.items[i]->a : it->phis.items[i]->b, ev);
    else if (it->kind == SL_IT_EXIT)
        read_at(p, it->value, ev);
    else
        read_at(p, it->node->expert_out[k], ev);
}

static void live_leave(sl_walker *w, const sl_item *it)
{
    planner *p = w->data;
    int64_t ev = ++p->ev;
    if (it->kind == SL_IT_NODE &&
        (it->node->op == SL_OP_ROUTE || it->node->op == SL_OP_ROUTE_TOKENS))
        read_at(p, it->node->a, ev);
}

/* Pass 3: the arena.  At each event: place what it defines, then release
 * what dies with it (so a result never shares memory with its operands). */

static bool has_buffer(const plan *pl, const sl_node *n)
{
    if (pl->uniform[n->id] || pl->fused[n->id])
        return false;
    /* the input, a learned value, a constant vector: where they are */
    return n->op != SL_OP_INPUT && n->op != SL_OP_ROUTE_ARG && n->op != SL_OP_TENSOR &&
           n->op != SL_OP_CONST_VEC;
}

static void place(planner *p, const sl_node *n)
{
    if (has_buffer(p->pl, n)) {
        p->rows_of[n->id] = p->rows;
        p->pl->off[n->id] = take(p->l->c, &p->arena, p->rows * row_bytes(n));
    }
}

static void release_dead(planner *p, int64_t ev)
{
    for (int64_t id = p->dies_head[ev]; id >= 0; id = p->dies_next[id])
        if (p->pl->off[id] >= 0)
            give(p->l->c, &p->arena, p->pl->off[id], p->rows_of[id] * row_bytes(p->nodes[id]));
}

static void place_enter(sl_walker *w, const sl_item *it)
{
    planner *p = w->data;
    int64_t ev = ++p->ev;
    SL_VEC_PUSH(&p->l->c->arena, &p->open, p->item_no);
    plan_item *pi = &p->pl->items[p->item_no++];
    sl_ctx *c = p->l->c;
    switch (it->kind) {
    case SL_IT_NODE: {
        const sl_node *n = it->node;
        place(p, n);
        if (n->op == SL_OP_ROUTE) {
            int64_t k = sl_plan_route_choices(n) * route_rows(n), d = sl_plan_route_width(n);
            pi->idx = take(c, &p->arena, 4 * k);
            pi->w = take(c, &p->arena, 4 * k);
            pi->list0 = take(c, &p->arena, 4 * k);
            pi->pos = take(c, &p->arena, 4 * k);
            pi->comb = take(c, &p->arena, 4 * k * d);
            if (n->per_token) /* its tokens; the choosing's scratch */
                pi->list1 = take(c, &p->arena, 4 * route_rows(n));
            if (n->expert_choice || n->capacity > 0)
                pi->aux = take(c, &p->arena, 4 * route_scratch(n));
        } else if (n->op == SL_OP_TOP_TOKENS && n->where) {
            /* the kept count: the rows' token counts to the tile's end */
            pi->idx = take(c, &p->arena, 4 * n->a->ty.dims[0]);
            pi->w = take(c, &p->arena, 4);
            give(c, &p->arena, pi->idx, 4 * n->a->ty.dims[0]);
        } else if (n->op == SL_OP_TOP_TOKENS) { /* only while it runs */
            pi->idx = take(c, &p->arena, 4 * n->index);
            pi->w = take(c, &p->arena, 4 * n->index);
            give(c, &p->arena, pi->w, 4 * n->index);
            give(c, &p->arena, pi->idx, 4 * n->index);
        } else if (n->op == SL_OP_ROUTE_TOKENS) { /* the chosen rows, gathered */
            const sl_node *arg = n->route_arg;
            pi->idx = take(c, &p->arena, 4 * sl_plan_route_tokens_chosen(n));
            pi->w = take(c, &p->arena, 4 * (n->where ? 1 : n->index)); /* where: the count */
            if (n->where) /* the rows that chose any */
                pi->list0 = take(c, &p->arena, 4);
            p->rows_of[arg->id] = p->rows;
            p->pl->off[arg->id] = take(c, &p->arena, p->rows * row_bytes(arg));
        } else if (n->op == SL_OP_DENSE_BLOCKS) {
            pi->list0 = take(c, &p->arena, 4);
            give(c, &p->arena, pi->list0, 4);
        } else if (n->op == SL_OP_ATTENTION) { /* only while it runs */
            int64_t rows = n->ty.dims[0], d = n->inst->n_in;
            pi->qkv = take(c, &p->arena, 4 * rows * 3 * d);
            pi->ctx = take(c, &p->arena, 4 * rows * d);
            give(c, &p->arena, pi->ctx, 4 * rows * d);
            give(c, &p->arena, pi->qkv, 4 * rows * 3 * d);
        }
        break;
    }
    case SL_IT_GATE:
        pi->list0 = take(c, &p->arena, 4);
        pi->list1 = take(c, &p->arena, 4);
        for (size_t i = 0; i < it->phis.len; i++)
            place(p, it->phis.items[i]);
        break;
    case SL_IT_EXIT:
        pi->list0 = take(c, &p->arena, 4);
        /* Rows that leave here do not come back from the gates around it. */
        for (size_t i = 0; i + 1 < p->open.len; i++)
            p->pl->items[p->open.items[i]].may_exit = true;
        break;
    }
    release_dead(p, ev);
}

static void place_sub(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    (void)it, (void)k, (void)r;
    planner *p = w->data;
    release_dead(p, ++p->ev);
}

/* An expert of a route over tokens: its values have a row per token. */
static void place_sub_enter(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    planner *p = w->data;
    SL_VEC_PUSH(&p->l->c->arena, &p->rows_stack, p->rows);
    if (it->kind == SL_IT_NODE)
        p->rows *= route_rows(it->node);
    place_sub(w, it, k, r);
}

static void place_sub_leave(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    planner *p = w->data;
    place_sub(w, it, k, r);
    p->rows = p->rows_stack.items[--p->rows_stack.len];
}

static void place_leave(sl_walker *w, const sl_item *it)
{
    planner *p = w->data;
    int64_t ev = ++p->ev;
    plan_item *pi = &p->pl->items[p->open.items[--p->open.len]];
    sl_ctx *c = p->l->c;
    if (it->kind == SL_IT_GATE) {
        give(c, &p->arena, pi->list0, 4);
        give(c, &p->arena, pi->list1, 4);
    } else if (it->kind == SL_IT_EXIT) {
        give(c, &p->arena, pi->list0, 4);
    } else if (it->node->op == SL_OP_ROUTE_TOKENS) {
        const sl_node *n = it->node, *arg = n->route_arg;
        give(c, &p->arena, p->pl->off[arg->id], p->rows_of[arg->id] * row_bytes(arg));
        if (n->where)
            give(c, &p->arena, pi->list0, 4);
        give(c, &p->arena, pi->w, 4 * (n->where ? 1 : n->index));
        give(c, &p->arena, pi->idx, 4 * sl_plan_route_tokens_chosen(n));
    } else if (it->node->op == SL_OP_ROUTE) {
        const sl_node *n = it->node;
        int64_t k = sl_plan_route_choices(n) * route_rows(n), d = sl_plan_route_width(n);
        if (n->expert_choice || n->capacity > 0)
            give(c, &p->arena, pi->aux, 4 * route_scratch(n));
        if (n->per_token)
            give(c, &p->arena, pi->list1, 4 * route_rows(n));
        give(c, &p->arena, pi->comb, 4 * k * d);
        give(c, &p->arena, pi->pos, 4 * k);
        give(c, &p->arena, pi->list0, 4 * k);
        give(c, &p->arena, pi->w, 4 * k);
        give(c, &p->arena, pi->idx, 4 * k);
    }
    release_dead(p, ev);
}

/* Every node of the program, by id (the walk meets each once). */
static void collect(sl_walker *w, const sl_item *it)
{
    sl_node **nodes = w->data;
    if (it->kind == SL_IT_NODE)
        nodes[it->node->id] = it->node;
    else if (it->kind == SL_IT_GATE)
        for (size_t i = 0; i < it->phis.len; i++)
            nodes[it->phis.items[i]->id] = it->phis.items[i];
}

void sl_plan(lower *l, int64_t tile_rows)
{
    const sl_program *prog = l->p;
    sl_arena *A = &l->c->arena;
    plan *pl = &l->pl;
    size_t nn = (size_t)prog->n_nodes + 1;
    pl->off = sl_arena_array(A, nn, sizeof *pl->off);
    pl->uniform = sl_arena_array(A, nn, sizeof *pl->uniform);
    pl->fused = sl_arena_array(A, nn, sizeof *pl->fused);
    pl->dense = sl_arena_array(A, prog->tensors.len + 1, sizeof *pl->dense);
    pl->kv = sl_arena_array(A, prog->tensors.len + 1, sizeof *pl->kv);
    for (size_t i = 0; i < nn; i++)
        pl->off[i] = -1;
    for (size_t i = 0; i < prog->tensors.len; i++)
        pl->dense[i] = pl->kv[i] = -1;

    planner p = {.l = l, .pl = pl, .region = prog->body};
    p.region_of = sl_arena_array(A, nn, sizeof *p.region_of);
    p.user = sl_arena_array(A, nn, sizeof *p.user);
    sl_walker w = {&p, first_enter, any_sub_enter, any_sub_leave, NULL};
    sl_walk_region(&w, prog->body);
    pl->n_items = p.item_no;
    pl->items = sl_arena_array(A, (size_t)pl->n_items + 1, sizeof *pl->items);

    sl_node **nodes = sl_arena_array(A, nn, sizeof *nodes);
    sl_walker cw = {nodes, collect, NULL, NULL, NULL};
    sl_walk_region(&cw, prog->body);
    decide_fusion(&p, prog->n_nodes, nodes);

    p.last_ev = sl_arena_array(A, nn, sizeof *p.last_ev);
    sl_walker lw = {&p, live_enter, live_sub_enter, live_sub_leave, live_leave};
    sl_walk_region(&lw, prog->body);
    int64_t n_ev = p.ev + 1;
    p.dies_head = sl_arena_array(A, (size_t)n_ev + 1, sizeof *p.dies_head);
    p.dies_next = sl_arena_array(A, nn, sizeof *p.dies_next);
    for (int64_t e = 0; e <= n_ev; e++)
        p.dies_head[e] = -1;
    for (int i = 0; i < prog->n_nodes; i++)
        if (nodes[i]) {
            p.dies_next[i] = p.dies_head[p.last_ev[i]];
            p.dies_head[p.last_ev[i]] = i;
        }

    /* The tile's row list, FLOP counters and token list live for the whole
     * tile. */
    pl->rows0 = take(l->c, &p.arena, 4);
    pl->flops0 = take(l->c, &p.arena, 8);
    if (p.list_rows)
        pl->tokens0 = take(l->c, &p.arena, 4 * p.list_rows);
    p.ev = 0;
    p.item_no = 0;
    p.nodes = nodes;
    p.rows = 1;
    p.rows_of = sl_arena_array(A, nn, sizeof *p.rows_of);
    sl_walker aw = {&p, place_enter, place_sub_enter, place_sub_leave, place_leave};
    sl_walk_region(&aw, prog->body);
    pl->row_bytes = p.arena.peak;

    if (tile_rows > 0) {
        l->tile_rows = tile_rows;
    } else {
        l->tile_rows = MAX_TILE_ROWS;
        while (l->tile_rows > 1 && l->tile_rows * pl->row_bytes > SCRATCH_BUDGET)
            l->tile_rows /= 2;
    }
    pl->tile_bytes = l->tile_rows * pl->row_bytes;
}
