/* hir.c - printing the checked program (--emit=hir): every node with its
 * type and FLOPs, every region indented under its gate, exit or expert.
 * The tree is walked by sl_walk_region (region.c); this file only prints
 * what the walk enters and leaves. */
#include <stdio.h>
#include <string.h>

#include "compiler.h"

static const char *const op_names[SL_OP_COUNT] = {
    [SL_OP_INPUT] = "input", [SL_OP_CONST] = "const", [SL_OP_THRESHOLD] = "threshold",
    [SL_OP_ROUTE_ARG] = "route_arg", [SL_OP_DENSE] = "dense",
    [SL_OP_DENSE_BLOCKS] = "dense_blocks", [SL_OP_LAYERNORM] = "layernorm",
    [SL_OP_NEG] = "neg", [SL_OP_NOT] = "not", [SL_OP_TO_F32] = "to_f32", [SL_OP_RELU] = "relu",
    [SL_OP_ADD] = "add", [SL_OP_SUB] = "sub", [SL_OP_MUL] = "mul", [SL_OP_DIV] = "div",
    [SL_OP_LT] = "lt", [SL_OP_LE] = "le", [SL_OP_GT] = "gt", [SL_OP_GE] = "ge",
    [SL_OP_EQ] = "eq", [SL_OP_NE] = "ne", [SL_OP_AND] = "and", [SL_OP_OR] = "or",
    [SL_OP_GELU] = "gelu", [SL_OP_GELU_TANH] = "gelu_tanh", [SL_OP_SIGMOID] = "sigmoid",
    [SL_OP_TANH] = "tanh", [SL_OP_EXP] = "exp", [SL_OP_LOG] = "log",
    [SL_OP_SOFTMAX] = "softmax", [SL_OP_LOG_SOFTMAX] = "log_softmax", [SL_OP_MAX] = "max",
    [SL_OP_MIN] = "min", [SL_OP_SUM] = "sum", [SL_OP_MEAN] = "mean", [SL_OP_ARGMAX] = "argmax",
    [SL_OP_ENTROPY] = "entropy", [SL_OP_MARGIN] = "margin", [SL_OP_INDEX] = "index",
    [SL_OP_PHI] = "phi", [SL_OP_ROUTE] = "route", [SL_OP_TENSOR] = "tensor",
    [SL_OP_ROUTE_TOKENS] = "route_tokens", [SL_OP_TOP_TOKENS] = "top_tokens",
    [SL_OP_CONST_VEC] = "const_vec", [SL_OP_BATCHNORM] = "batchnorm", [SL_OP_EMBED] = "embed",
    [SL_OP_ATTENTION] = "attention", [SL_OP_POOL_MEAN] = "pool_mean",
    [SL_OP_POOL_MAX] = "pool_max", [SL_OP_POOL_SUM] = "pool_sum", [SL_OP_TAKE] = "take",
    [SL_OP_SLICE] = "slice", [SL_OP_CONCAT] = "concat", [SL_OP_STACK] = "stack",
    [SL_OP_TOPK_MASK] = "topk_mask",
};

const char *sl_op_str(sl_op op)
{
    return op >= 0 && op < SL_OP_COUNT && op_names[op] ? op_names[op] : "?";
}

typedef struct dumper {
    sl_ctx *c;
    const sl_program *p;
    FILE *out;
    int indent;             /* of the items being printed, in steps of two spaces */
} dumper;

static void dump_node(dumper *d, const sl_node *n)
{
    FILE *out = d->out;
    fprintf(out, "%*s%%%d = %s", d->indent * 2, "", n->id, sl_op_str(n->op));
    switch (n->op) {
    case SL_OP_CONST:
        if (n->ty.elem == SL_I32)
            fprintf(out, " %lld", (long long)n->value);
        else if (n->ty.elem == SL_BOOL)
            fprintf(out, " %s", n->value != 0 ? "true" : "false");
        else
            fprintf(out, " %.9g", n->value);
        break;
    case SL_OP_INPUT:
        fprintf(out, " %s", d->p->in_name);
        break;
    case SL_OP_THRESHOLD:
        fprintf(out, " %s", d->p->thresholds.items[n->index].name);
        break;
    case SL_OP_INDEX:
        fprintf(out, " %%%d[%lld]", n->a->id, (long long)n->index);
        break;
    case SL_OP_TAKE:
        fprintf(out, " %%%d[%s%lld]", n->a->id, n->axis ? ":, " : "", (long long)n->index);
        break;
    case SL_OP_SLICE: { /* [from:to], `to` from the result's length */
        sl_ty t = n->ty;
        fprintf(out, " %%%d[%s%lld:", n->a->id, n->axis ? ":, " : "", (long long)n->index);
        if (n->axis)
            fprintf(out, "%lld]", (long long)(n->index + t.dims[1]));
        else if (sl_ty_is_seq(t)) { /* the result's first dimension, moved on by `from` */
            t.tok_c += n->index;
            const char *s = sl_ty_str(d->c, t); /* "f32[T + 1, ...]" */
            const char *comma = strchr(s, ',');
            size_t len = comma ? (size_t)(comma - s) - 4 : strlen(s) - 5;
            fprintf(out, "%.*s]", (int)len, s + 4);
        } else
            fprintf(out, "%lld]", (long long)(n->index + t.dims[0]));
        break;
    }
    case SL_OP_TOPK_MASK:
        fprintf(out, " %%%d top %lld", n->a->id, (long long)n->index);
        break;
    case SL_OP_CONCAT: case SL_OP_STACK:
        if (n->op == SL_OP_CONCAT)
            fprintf(out, " axis %d", n->axis);
        for (int i = 0; i < n->n_args; i++)
            fprintf(out, "%s %%%d", i ? "," : "", n->args[i]->id);
        break;
    case SL_OP_CONST_VEC: {
        int64_t k = sl_ty_numel(n->ty);
        bool same = true;
        for (int64_t i = 1; i < k; i++)
            same &= n->cvals[i] == n->cvals[0];
        if (same)
            fprintf(out, " all %.9g", (double)n->cvals[0]);
        else
            for (int64_t i = 0; i < k; i++)
                fprintf(out, "%s %.9g", i ? "," : "", (double)n->cvals[i]);
        break;
    }
    case SL_OP_TENSOR:
        fprintf(out, " %s", n->inst->path);
        break;
    case SL_OP_BATCHNORM: case SL_OP_EMBED: case SL_OP_ATTENTION:
    case SL_OP_DENSE:
    case SL_OP_LAYERNORM:
        fprintf(out, " %s %%%d", n->inst->path, n->a->id);
        break;
    case SL_OP_DENSE_BLOCKS:
        fprintf(out, " %s[%%%d] %%%d (%s)", n->inst->path, n->b->id, n->a->id,
                d->p->decisions.items[n->decision].name);
        break;
    case SL_OP_TOP_TOKENS:
        if (n->where) {
            fprintf(out, " %%%d above %%%d by %%%d%s (%s)", n->a->id, n->args[0]->id, n->b->id,
                    n->axis ? " merged" : "", d->p->decisions.items[n->decision].name);
            break;
        }
        fprintf(out, " %%%d top %lld by %%%d%s (%s)", n->a->id, (long long)n->index, n->b->id,
                n->axis ? " merged" : "", d->p->decisions.items[n->decision].name);
        break;
    case SL_OP_ROUTE_TOKENS:
        if (n->where) {
            fprintf(out, " %s(%%%d) tokens where %%%d%s (%s)", n->inst->path, n->a->id,
                    n->b->id, n->attending ? " attending all" : "",
                    d->p->decisions.items[n->decision].name);
            break;
        }
        fprintf(out, " %s(%%%d) top %lld tokens by %%%d%s (%s)", n->inst->path, n->a->id,
                (long long)n->index, n->b->id, n->scaled ? " scaled" : "",
                d->p->decisions.items[n->decision].name);
        break;
    case SL_OP_ROUTE:
        fprintf(out, " %s(%%%d) top %lld%s by %%%d%s", n->inst->path, n->a->id,
                (long long)n->index,
                n->expert_choice ? " tokens" : n->per_token ? " per token" : "", n->b->id,
                n->switched ? " switch" : "");
        if (n->capacity > 0)
            fprintf(out, " capacity %g", n->capacity);
        fprintf(out, " (%s)", d->p->decisions.items[n->decision].name);
        break;
    default:
        if (n->a)
            fprintf(out, " %%%d", n->a->id);
        if (n->b)
            fprintf(out, ", %%%d", n->b->id);
        break;
    }
    fprintf(out, " : %s%s", sl_ty_str(d->c, n->ty), n->all_tokens ? " every token" : "");
    if (!sl_flops_is_zero(n->flops))
        fprintf(out, "  ; %s flops%s",
                sl_flops_str(d->c, n->flops, d->p->tokens_name ? d->p->tokens_name : "T"),
                n->op == SL_OP_DENSE_BLOCKS ? " per active block" : "");
    fputc('\n', out);
}

/* An item's head: a node, a gate's condition, an exit up to its value. */
static void dump_enter(sl_walker *w, const sl_item *it)
{
    dumper *d = w->data;
    FILE *out = d->out;
    switch (it->kind) {
    case SL_IT_NODE:
        dump_node(d, it->node);
        break;
    case SL_IT_GATE:
        fprintf(out, "%*s%s %%%d {\n", d->indent * 2, "",
                d->p->decisions.items[it->decision].name, it->cond->id);
        break;
    case SL_IT_EXIT:
        if (it->exit_index < 0)
            fprintf(out, "%*send", d->indent * 2, "");
        else
            fprintf(out, "%*s%s", d->indent * 2, "", d->p->exits.items[it->exit_index].name);
        if (it->cond)
            fprintf(out, " when %%%d", it->cond->id);
        if (sl_item_subregion(it, 0)->items.len) /* the value's own nodes */
            fputs(" {\n", out);
        break;
    }
}

/* A sub-region is indented under its item: a route's expert k two steps,
 * with a line of its own; a gate's arms and an exit's value one step. */
static void dump_sub_enter(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    dumper *d = w->data;
    (void)r;
    if (it->kind == SL_IT_NODE) {
        if (it->node->op == SL_OP_ROUTE_TOKENS)
            fprintf(d->out, "%*schosen tokens (%%%d = route_arg) {\n", d->indent * 2 + 2, "",
                    it->node->route_arg->id);
        else
            fprintf(d->out, "%*sexpert %d (%%%d = route_arg) {\n", d->indent * 2 + 2, "", k,
                    it->node->route_arg->id);
        d->indent += 2;
        return;
    }
    if (it->kind == SL_IT_GATE && k == 1)
        fprintf(d->out, "%*s} else {\n", d->indent * 2, "");
    d->indent++;
}

static void dump_sub_leave(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    dumper *d = w->data;
    (void)r;
    if (it->kind == SL_IT_NODE) {
        d->indent -= 2;
        fprintf(d->out, "%*s} -> %%%d\n", d->indent * 2 + 2, "", it->node->expert_out[k]->id);
        return;
    }
    d->indent--;
}

/* An item's tail: a gate's close and its phis, an exit's value. */
static void dump_leave(sl_walker *w, const sl_item *it)
{
    dumper *d = w->data;
    FILE *out = d->out;
    switch (it->kind) {
    case SL_IT_NODE:
        break;
    case SL_IT_GATE:
        fprintf(out, "%*s}\n", d->indent * 2, "");
        for (size_t j = 0; j < it->phis.len; j++)
            dump_node(d, it->phis.items[j]);
        break;
    case SL_IT_EXIT:
        if (sl_item_subregion(it, 0)->items.len)
            fprintf(out, "%*s}", d->indent * 2, "");
        fprintf(out, " -> %%%d\n", it->value->id);
        break;
    }
}

void sl_hir_dump(sl_ctx *c, const sl_program *p, FILE *out)
{
    dumper d = {c, p, out, 1};
    sl_walker w = {&d, dump_enter, dump_sub_enter, dump_sub_leave, dump_leave};
    fprintf(out, "model %s(%s: %s) -> %s: %s\n", p->name, p->in_name, sl_ty_str(c, p->in_ty),
            p->out_name, sl_ty_str(c, p->out_ty));
    sl_walk_region(&w, p->body);
}
