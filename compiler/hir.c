/* hir.c - printing the checked program (--emit=hir): every node with its
 * type and FLOPs, every region indented under its gate, exit or expert. */
#include <stdio.h>

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
    [SL_OP_PHI] = "phi", [SL_OP_ROUTE] = "route",
};

const char *sl_op_str(sl_op op)
{
    return op >= 0 && op < SL_OP_COUNT && op_names[op] ? op_names[op] : "?";
}

typedef struct dumper {
    sl_ctx *c;
    const sl_program *p;
    FILE *out;
} dumper;

static void dump_region(dumper *d, const sl_region *r, int indent);

static void dump_node(dumper *d, const sl_node *n, int indent)
{
    FILE *out = d->out;
    fprintf(out, "%*s%%%d = %s", indent * 2, "", n->id, sl_op_str(n->op));
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
    case SL_OP_DENSE:
    case SL_OP_LAYERNORM:
        fprintf(out, " %s %%%d", n->inst->path, n->a->id);
        break;
    case SL_OP_DENSE_BLOCKS:
        fprintf(out, " %s[%%%d] %%%d (%s)", n->inst->path, n->b->id, n->a->id,
                d->p->decisions.items[n->decision].name);
        break;
    case SL_OP_ROUTE:
        fprintf(out, " %s(%%%d) top %lld by %%%d (%s)", n->inst->path, n->a->id,
                (long long)n->index, n->b->id, d->p->decisions.items[n->decision].name);
        break;
    default:
        if (n->a)
            fprintf(out, " %%%d", n->a->id);
        if (n->b)
            fprintf(out, ", %%%d", n->b->id);
        break;
    }
    fprintf(out, " : %s", sl_ty_str(d->c, n->ty));
    if (n->flops)
        fprintf(out, "  ; %.0f flops%s", n->flops,
                n->op == SL_OP_DENSE_BLOCKS ? " per active block" : "");
    fputc('\n', out);
    if (n->op == SL_OP_ROUTE) {
        for (int i = 0; i < n->inst->n_children; i++) {
            fprintf(out, "%*sexpert %d (%%%d = route_arg) {\n", indent * 2 + 2, "", i,
                    n->route_arg->id);
            dump_region(d, n->experts[i], indent + 2);
            fprintf(out, "%*s} -> %%%d\n", indent * 2 + 2, "", n->expert_out[i]->id);
        }
    }
}

static void dump_region(dumper *d, const sl_region *r, int indent)
{
    FILE *out = d->out;
    for (size_t i = 0; i < r->items.len; i++) {
        const sl_item *it = &r->items.items[i];
        switch (it->kind) {
        case SL_IT_NODE:
            dump_node(d, it->node, indent);
            break;
        case SL_IT_GATE:
            fprintf(out, "%*s%s %%%d {\n", indent * 2, "",
                    d->p->decisions.items[it->decision].name, it->cond->id);
            dump_region(d, it->then_r, indent + 1);
            fprintf(out, "%*s} else {\n", indent * 2, "");
            dump_region(d, it->else_r, indent + 1);
            fprintf(out, "%*s}\n", indent * 2, "");
            for (size_t j = 0; j < it->phis.len; j++)
                dump_node(d, it->phis.items[j], indent);
            break;
        case SL_IT_EXIT:
            if (it->exit_index < 0)
                fprintf(out, "%*send", indent * 2, "");
            else
                fprintf(out, "%*s%s", indent * 2, "", d->p->exits.items[it->exit_index].name);
            if (it->cond)
                fprintf(out, " when %%%d", it->cond->id);
            if (it->value_r->items.len) {
                fputs(" {\n", out);
                dump_region(d, it->value_r, indent + 1);
                fprintf(out, "%*s}", indent * 2, "");
            }
            fprintf(out, " -> %%%d\n", it->value->id);
            break;
        }
    }
}

void sl_hir_dump(sl_ctx *c, const sl_program *p, FILE *out)
{
    dumper d = {c, p, out};
    fprintf(out, "model %s(%s: %s) -> %s: %s\n", p->name, p->in_name, sl_ty_str(c, p->in_ty),
            p->out_name, sl_ty_str(c, p->out_ty));
    dump_region(&d, p->body, 1);
}
