/* lower_desc.c - the model's descriptor: a constant sl_model_desc (and the
 * tables it points to) laid out exactly as runtime/include/sluice/model.h
 * declares it, so the runtime can open, check and run the model.
 *
 * The layout is written twice, as model.h's C structs (what the runtime
 * reads) and as the LLVM types here (what the generated code holds).
 * check_layout compares every field's offset and each struct's size with
 * the C compiler's, so a change to one side alone is an internal error on
 * the first model compiled (every test compiles one), not a descriptor
 * misread at run time. */
#include <stddef.h>
#include <string.h>

#include <llvm-c/Target.h>

#include "lower.h"
#include "sluice/model.h" /* SL_ABI_VERSION, SL_MAX_RANK: one source of truth */

static LLVMValueRef str(lower *l, const char *s, const char *name)
{
    if (!s)
        return LLVMConstNull(l->t_ptr);
    LLVMValueRef init = LLVMConstStringInContext(l->ctx, s, (unsigned)strlen(s), 0);
    LLVMValueRef g = LLVMAddGlobal(l->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

static LLVMValueRef i32v(lower *l, int64_t v) { return LLVMConstInt(l->t_i32, (unsigned long long)v, 1); }
static LLVMValueRef i64v(lower *l, int64_t v) { return LLVMConstInt(l->t_i64, (unsigned long long)v, 1); }

static LLVMValueRef shape(lower *l, const int64_t *dims, int rank)
{
    LLVMValueRef v[SL_MAX_RANK];
    for (int i = 0; i < SL_MAX_RANK; i++)
        v[i] = i64v(l, i < rank ? dims[i] : 0);
    return LLVMConstArray2(l->t_i64, v, SL_MAX_RANK);
}

/* A private constant array of structs; a null pointer when empty. */
static LLVMValueRef table(lower *l, LLVMTypeRef elem, LLVMValueRef *items, size_t n,
                          const char *name)
{
    if (n == 0)
        return LLVMConstNull(l->t_ptr);
    LLVMValueRef init = LLVMConstArray2(elem, items, n);
    LLVMValueRef g = LLVMAddGlobal(l->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    return g;
}

/* The C offsets of a struct's fields, in order, and its size. */
#define C_LAYOUT(S, ...)                                                     \
    (size_t[]){__VA_ARGS__}, sizeof((size_t[]){__VA_ARGS__}) / sizeof(size_t), sizeof(S), #S
#define AT(S, f) offsetof(S, f)

/* Does LLVM struct t lay out as the C struct whose field offsets are off[n]? */
static bool check_layout(lower *l, LLVMTypeRef t, const size_t *off, size_t n, size_t size,
                         const char *name)
{
    LLVMTargetDataRef td = LLVMGetModuleDataLayout(l->mod);
    if (LLVMPointerSize(td) != sizeof(void *))
        return true; /* another target than this build's runtime: nothing to compare */
    unsigned fields = LLVMCountStructElementTypes(t);
    bool ok = fields == n && LLVMABISizeOfType(td, t) == size;
    for (unsigned i = 0; ok && i < fields; i++)
        ok = LLVMOffsetOfElement(td, t, i) == off[i];
    if (!ok)
        sl_error(l->c, SL_SPAN_NONE, "internal error: the descriptor's %s has another layout "
                 "in compiler/lower_desc.c than in runtime/include/sluice/model.h", name);
    return ok;
}

static void line_col(lower *l, sl_span s, int64_t *line, int64_t *col)
{
    uint32_t ln = 0, cl = 0;
    if (!sl_span_is_none(s))
        sl_source_linecol(&l->c->sources.items[s.file], s.begin, &ln, &cl);
    *line = ln;
    *col = cl;
}

bool sl_lower_desc(lower *l, const unsigned char *embedded, size_t embedded_size, bool for_exe)
{
    const sl_program *p = l->p;
    bool ok = true;
    LLVMTypeRef ptr = l->t_ptr, i32 = l->t_i32, i64 = l->t_i64;
    LLVMTypeRef shape_t = LLVMArrayType(i64, SL_MAX_RANK);

    /* sl_tensor_desc { name; rank; shape[4] } */
    LLVMTypeRef tensor_f[] = {ptr, i32, shape_t};
    LLVMTypeRef tensor_t = LLVMStructTypeInContext(l->ctx, tensor_f, 3, 0);
    ok &= check_layout(l, tensor_t, C_LAYOUT(sl_tensor_desc, AT(sl_tensor_desc, name),
                                       AT(sl_tensor_desc, rank), AT(sl_tensor_desc, shape)));
    size_t nt = p->tensors.len;
    LLVMValueRef *tensors = sl_arena_array(&l->c->arena, nt + 1, sizeof *tensors);
    for (size_t i = 0; i < nt; i++) {
        const sl_tensor *t = &p->tensors.items[i];
        LLVMValueRef f[] = {str(l, t->name, "tensor.name"), i32v(l, t->rank),
                            shape(l, t->shape, t->rank)};
        tensors[i] = LLVMConstNamedStruct(tensor_t, f, 3);
    }

    /* sl_dense_desc { weight; bias; row0; rows; zero_skip }: what the
     * runtime packs at open */
    LLVMTypeRef dense_f[] = {i32, i32, i64, i64, i32};
    LLVMTypeRef dense_t = LLVMStructTypeInContext(l->ctx, dense_f, 5, 0);
    ok &= check_layout(l, dense_t, C_LAYOUT(sl_dense_desc, AT(sl_dense_desc, weight),
                                      AT(sl_dense_desc, bias), AT(sl_dense_desc, row0),
                                      AT(sl_dense_desc, rows), AT(sl_dense_desc, zero_skip)));
    size_t nd_ = l->pl.packs.len;
    LLVMValueRef *dense = sl_arena_array(&l->c->arena, nd_ + 1, sizeof *dense);
    for (size_t i = 0; i < nd_; i++) {
        const plan_dense *d = &l->pl.packs.items[i];
        LLVMValueRef f[] = {i32v(l, d->weight), i32v(l, d->bias), i64v(l, d->row0),
                            i64v(l, d->rows), i32v(l, d->zero_skip)};
        dense[i] = LLVMConstNamedStruct(dense_t, f, 5);
    }

    /* thresholds: names and defaults */
    size_t nth = p->thresholds.len;
    LLVMValueRef *th_names = sl_arena_array(&l->c->arena, nth + 1, sizeof *th_names);
    LLVMValueRef *th_vals = sl_arena_array(&l->c->arena, nth + 1, sizeof *th_vals);
    for (size_t i = 0; i < nth; i++) {
        th_names[i] = str(l, p->thresholds.items[i].name, "threshold.name");
        th_vals[i] = LLVMConstReal(l->t_f32, p->thresholds.items[i].value);
    }

    /* sl_exit_desc { name; line; col } */
    LLVMTypeRef exit_f[] = {ptr, i32, i32};
    LLVMTypeRef exit_t = LLVMStructTypeInContext(l->ctx, exit_f, 3, 0);
    ok &= check_layout(l, exit_t, C_LAYOUT(sl_exit_desc, AT(sl_exit_desc, name), AT(sl_exit_desc, line),
                                     AT(sl_exit_desc, col)));
    size_t ne = p->exits.len;
    LLVMValueRef *exits = sl_arena_array(&l->c->arena, ne + 1, sizeof *exits);
    for (size_t i = 0; i < ne; i++) {
        int64_t line, col;
        line_col(l, p->exits.items[i].span, &line, &col);
        LLVMValueRef f[] = {str(l, p->exits.items[i].name, "exit.name"), i32v(l, line), i32v(l, col)};
        exits[i] = LLVMConstNamedStruct(exit_t, f, 3);
    }

    /* sl_decision_desc { kind; name; line; col; slot; count; choices; tok_a; tok_c; rows;
     * per_expert } */
    LLVMTypeRef dec_f[] = {i32, ptr, i32, i32, i32, i32, i32, i32, i64, i64, i32};
    LLVMTypeRef dec_t = LLVMStructTypeInContext(l->ctx, dec_f, 11, 0);
    ok &= check_layout(l, dec_t, C_LAYOUT(sl_decision_desc, AT(sl_decision_desc, kind),
                                    AT(sl_decision_desc, name), AT(sl_decision_desc, line),
                                    AT(sl_decision_desc, col), AT(sl_decision_desc, slot),
                                    AT(sl_decision_desc, count), AT(sl_decision_desc, choices),
                                    AT(sl_decision_desc, tok_a), AT(sl_decision_desc, tok_c),
                                    AT(sl_decision_desc, rows), AT(sl_decision_desc, per_expert)));
    size_t nd = p->decisions.len;
    LLVMValueRef *decs = sl_arena_array(&l->c->arena, nd + 1, sizeof *decs);
    for (size_t i = 0; i < nd; i++) {
        const sl_decision *d = &p->decisions.items[i];
        int64_t line, col;
        line_col(l, d->span, &line, &col);
        LLVMValueRef f[] = {i32v(l, d->kind), str(l, d->name, "decision.name"), i32v(l, line),
                            i32v(l, col), i32v(l, d->slot), i32v(l, d->count),
                            i32v(l, d->choices), i32v(l, d->tok_a), i64v(l, d->tok_c),
                            i64v(l, d->rows), i32v(l, d->per_expert)};
        decs[i] = LLVMConstNamedStruct(dec_t, f, 11);
    }

    /* sl_relu_desc { name; line; col; slot; width; unit0; dense_out; zero_skip }:
     * the ReLUs -fzero-stats counts */
    LLVMTypeRef relu_f[] = {ptr, i32, i32, i32, i64, i64, i64, i32};
    LLVMTypeRef relu_t = LLVMStructTypeInContext(l->ctx, relu_f, 8, 0);
    ok &= check_layout(l, relu_t, C_LAYOUT(sl_relu_desc, AT(sl_relu_desc, name), AT(sl_relu_desc, line),
                                     AT(sl_relu_desc, col), AT(sl_relu_desc, slot),
                                     AT(sl_relu_desc, width), AT(sl_relu_desc, unit0),
                                     AT(sl_relu_desc, dense_out), AT(sl_relu_desc, zero_skip)));
    size_t nr = p->relus.len;
    LLVMValueRef *relus = sl_arena_array(&l->c->arena, nr + 1, sizeof *relus);
    for (size_t i = 0; i < nr; i++) {
        const sl_relu_stat *s = &p->relus.items[i];
        int64_t line, col;
        line_col(l, s->span, &line, &col);
        LLVMValueRef f[] = {str(l, s->name, "relu.name"), i32v(l, line), i32v(l, col),
                            i32v(l, s->slot), i64v(l, s->width), i64v(l, s->unit0),
                            i64v(l, s->dense_out), i32v(l, s->zero_skip)};
        relus[i] = LLVMConstNamedStruct(relu_t, f, 8);
    }

    LLVMValueRef weights = LLVMConstNull(ptr);
    if (embedded) {
        LLVMValueRef init = LLVMConstStringInContext(l->ctx, (const char *)embedded,
                                                     (unsigned)embedded_size, 1);
        weights = LLVMAddGlobal(l->mod, LLVMTypeOf(init), "embedded.weights");
        LLVMSetInitializer(weights, init);
        LLVMSetGlobalConstant(weights, 1);
        LLVMSetLinkage(weights, LLVMPrivateLinkage);
        LLVMSetAlignment(weights, 64);
    }

    sl_flops df = sl_cost_dense(p);
    LLVMValueRef dense_flops[] = {LLVMConstReal(l->t_f64, df.k), LLVMConstReal(l->t_f64, df.t),
                                  LLVMConstReal(l->t_f64, df.tt)};

    /* sl_model_desc, field by field as model.h has it */
    LLVMTypeRef desc_f[] = {
        i32,                     /* abi_version */
        ptr, ptr, ptr,           /* name, source, default_weights */
        ptr, i32,                /* in_name, in_elem */
        i32, shape_t, i64,       /* in_rank, in_shape, in_size */
        ptr, i64, i64, i64,      /* tokens_name, tokens_min, tokens_max, id_limit */
        i32, shape_t, i64,       /* out_rank, out_shape, out_size */
        i32, ptr,                /* n_tensors, tensors */
        i32, ptr,                /* n_dense, dense */
        i32, ptr, ptr,           /* n_thresholds, threshold_names, threshold_defaults */
        i32, ptr,                /* n_exits, exits */
        i32, ptr,                /* n_decisions, decisions */
        i32,                     /* n_slots */
        LLVMArrayType(l->t_f64, 3), /* dense_flops */
        i64, i64,                /* tile_rows, scratch_floats */
        ptr, i64,                /* embedded_weights, embedded_size */
        ptr,                     /* tile */
        i32, ptr, i64,           /* n_relus, relus, n_zero_units */
    };
    unsigned nf = sizeof desc_f / sizeof *desc_f;
    LLVMTypeRef desc_t = LLVMStructTypeInContext(l->ctx, desc_f, nf, 0);
#define D(f) AT(sl_model_desc, f)
    ok &= check_layout(l, desc_t, C_LAYOUT(sl_model_desc, D(abi_version), D(name), D(source),
        D(default_weights), D(in_name), D(in_elem), D(in_rank), D(in_shape), D(in_size),
        D(tokens_name), D(tokens_min), D(tokens_max), D(id_limit), D(out_rank), D(out_shape),
        D(out_size), D(n_tensors), D(tensors), D(n_dense), D(dense), D(n_thresholds),
        D(threshold_names), D(threshold_defaults), D(n_exits), D(exits), D(n_decisions),
        D(decisions), D(n_slots), D(dense_flops), D(tile_rows), D(scratch_floats),
        D(embedded_weights), D(embedded_size), D(tile), D(n_relus), D(relus), D(n_zero_units)));
#undef D
    LLVMValueRef f[] = {
        i32v(l, SL_ABI_VERSION),
        str(l, p->name, "model.name"), str(l, p->source_path, "model.source"),
        embedded ? LLVMConstNull(ptr) : str(l, p->weights_path, "model.weights"),
        str(l, p->in_name, "model.in_name"), i32v(l, p->in_ty.elem == SL_I32),
        i32v(l, p->in_ty.rank), shape(l, p->in_ty.dims, p->in_ty.rank), i64v(l, sl_ty_numel(p->in_ty)),
        str(l, p->tokens_name, "model.tokens_name"), i64v(l, p->tokens_min),
        i64v(l, p->tokens_max), i64v(l, p->id_limit),
        i32v(l, p->out_ty.rank), shape(l, p->out_ty.dims, p->out_ty.rank), i64v(l, sl_ty_numel(p->out_ty)),
        i32v(l, (int64_t)nt), table(l, tensor_t, tensors, nt, "model.tensors"),
        i32v(l, (int64_t)nd_), table(l, dense_t, dense, nd_, "model.dense"),
        i32v(l, (int64_t)nth), table(l, ptr, th_names, nth, "model.threshold_names"),
        table(l, l->t_f32, th_vals, nth, "model.threshold_defaults"),
        i32v(l, (int64_t)ne), table(l, exit_t, exits, ne, "model.exits"),
        i32v(l, (int64_t)nd), table(l, dec_t, decs, nd, "model.decisions"),
        i32v(l, p->n_slots),
        LLVMConstArray2(l->t_f64, dense_flops, 3),
        i64v(l, l->tile_rows), i64v(l, l->pl.tile_bytes / 4 + l->pl.attn_floats),
        weights, i64v(l, (int64_t)embedded_size),
        l->tile,
        i32v(l, (int64_t)nr), table(l, relu_t, relus, nr, "model.relus"), i64v(l, p->n_zero_units),
    };
    char name[256];
    snprintf(name, sizeof name, "%s_model", p->name);
    LLVMValueRef desc = LLVMAddGlobal(l->mod, desc_t, name);
    LLVMSetInitializer(desc, LLVMConstNamedStruct(desc_t, f, nf));
    LLVMSetGlobalConstant(desc, 1);

    if (for_exe) {
        LLVMValueRef m = LLVMAddGlobal(l->mod, ptr, "sluice_main_model");
        LLVMSetInitializer(m, desc);
        LLVMSetGlobalConstant(m, 1);
    }
    return ok;
}
