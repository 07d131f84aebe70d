/* manifest.c - the weight manifest: every tensor a model reads, named as
 * PyTorch's state_dict names it, in declaration order. */
#include <stdio.h>

#include "compiler.h"

static int add_tensor(sl_ctx *c, sl_program *p, sl_inst *inst, const char *suffix, int rank,
                      int64_t d0, int64_t d1)
{
    sl_tensor t = {0};
    t.name = suffix ? sl_arena_printf(&c->arena, "%s.%s", inst->path, suffix) : inst->path;
    t.rank = rank;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.inst = inst;
    SL_VEC_PUSH(&c->arena, &p->tensors, t);
    return (int)p->tensors.len - 1;
}

static void add_inst(sl_ctx *c, sl_program *p, sl_inst *inst)
{
    if (!inst || !inst->used)
        return;
    switch (inst->kind) {
    case SL_P_DENSE:
        /* nn.Linear: weight [out, in], bias [out] */
        inst->w_tensor = add_tensor(c, p, inst, "weight", 2, inst->n_out, inst->n_in);
        inst->b_tensor = add_tensor(c, p, inst, "bias", 1, inst->n_out, 0);
        break;
    case SL_P_LAYERNORM:
        /* nn.LayerNorm: weight [d], bias [d] */
        inst->w_tensor = add_tensor(c, p, inst, "weight", 1, inst->n_out, 0);
        inst->b_tensor = add_tensor(c, p, inst, "bias", 1, inst->n_out, 0);
        break;
    case SL_P_BATCHNORM:
        /* nn.BatchNorm1d in eval mode (num_batches_tracked is not read) */
        inst->w_tensor = add_tensor(c, p, inst, "weight", 1, inst->n_out, 0);
        inst->b_tensor = add_tensor(c, p, inst, "bias", 1, inst->n_out, 0);
        inst->w2_tensor = add_tensor(c, p, inst, "running_mean", 1, inst->n_out, 0);
        inst->b2_tensor = add_tensor(c, p, inst, "running_var", 1, inst->n_out, 0);
        break;
    case SL_P_EMBEDDING:
        /* nn.Embedding: weight [vocab, d] */
        inst->w_tensor = add_tensor(c, p, inst, "weight", 2, inst->n_in, inst->n_out);
        break;
    case SL_P_ATTENTION:
        /* nn.MultiheadAttention: q, k and v projections stacked, then out_proj */
        inst->w_tensor = add_tensor(c, p, inst, "in_proj_weight", 2, 3 * inst->n_in, inst->n_in);
        inst->b_tensor = add_tensor(c, p, inst, "in_proj_bias", 1, 3 * inst->n_in, 0);
        inst->w2_tensor = add_tensor(c, p, inst, "out_proj.weight", 2, inst->n_in, inst->n_in);
        inst->b2_tensor = add_tensor(c, p, inst, "out_proj.bias", 1, inst->n_in, 0);
        break;
    case SL_P_TENSOR:
        /* nn.Parameter: the tensor is the parameter's own name */
        inst->w_tensor = add_tensor(c, p, inst, NULL, inst->out_ty.rank, inst->out_ty.dims[0],
                                    inst->out_ty.dims[1]);
        break;
    case SL_P_LAYER:
        for (int i = 0; i < inst->n_children; i++)
            add_inst(c, p, inst->children[i]);
        break;
    case SL_P_BANK:
        /* nn.ModuleList: "<bank>.<i>.<...>"; a routed bank reads every expert. */
        for (int i = 0; i < inst->n_children; i++)
            add_inst(c, p, inst->children[i]);
        break;
    }
}

void sl_manifest_build(sl_ctx *c, sl_program *p)
{
    for (int i = 0; i < p->n_params; i++)
        add_inst(c, p, p->params[i]);
}

void sl_manifest_print(const sl_program *p, FILE *out)
{
    for (size_t i = 0; i < p->tensors.len; i++) {
        const sl_tensor *t = &p->tensors.items[i];
        fprintf(out, "%s f32[", t->name);
        for (int d = 0; d < t->rank; d++)
            fprintf(out, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        fputs("]\n", out);
    }
}
