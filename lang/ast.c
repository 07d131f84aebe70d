/* ast.c - printing the AST (--emit=ast): one node per line, children
 * indented, each with its <line:col>. */
#include <stdio.h>

#include "lang.h"

const char *sl_op_name(int op)
{
    switch (op) {
    case SL_T_AND: return "and";
    case SL_T_OR: return "or";
    case SL_T_NOT: return "not";
    case SL_T_LE: return "<=";
    case SL_T_GE: return ">=";
    case SL_T_EQ: return "==";
    case SL_T_NE: return "!=";
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '<': return "<";
    case '>': return ">";
    default: return "?";
    }
}

typedef struct dumper {
    sl_ctx *c;
    FILE *out;
} dumper;

static void line_start(dumper *d, int indent, const char *what, sl_span at)
{
    uint32_t line = 0, col = 0;
    if (!sl_span_is_none(at))
        sl_source_linecol(&d->c->sources.items[at.file], at.begin, &line, &col);
    fprintf(d->out, "%*s%s <%u:%u>", indent * 2, "", what, line, col);
}

static void print_dim(dumper *d, const sl_dim *x, int parent_prec)
{
    switch (x->kind) {
    case SL_DIM_INT:
        fprintf(d->out, "%lld", (long long)x->value);
        break;
    case SL_DIM_NAME:
        fputs(x->name, d->out);
        break;
    case SL_DIM_BINARY: {
        int prec = x->op == '+' || x->op == '-' ? 1 : 2;
        if (prec < parent_prec)
            fputc('(', d->out);
        print_dim(d, x->lhs, prec);
        fprintf(d->out, " %c ", x->op);
        print_dim(d, x->rhs, prec + 1);
        if (prec < parent_prec)
            fputc(')', d->out);
        break;
    }
    }
}

static void print_dims(dumper *d, const sl_dim *x)
{
    for (; x; x = x->next) {
        print_dim(d, x, 0);
        if (x->next)
            fputs(", ", d->out);
    }
}

static void print_type(dumper *d, const sl_type_ast *t)
{
    fputs(t->is_i32 ? "i32" : "f32", d->out);
    if (t->rank) {
        fputc('[', d->out);
        print_dims(d, t->dims);
        fputc(']', d->out);
    }
}

static void print_kind(dumper *d, const sl_kind_ast *k)
{
    switch (k->form) {
    case SL_KIND_ARROW:
        fprintf(d->out, "%s[", k->name);
        print_dim(d, k->args, 0);
        fputs(" -> ", d->out);
        print_dim(d, k->args->next, 0);
        fputc(']', d->out);
        break;
    case SL_KIND_ARGS:
        fputs(k->name, d->out);
        if (k->has_brackets) {
            fputc('[', d->out);
            print_dims(d, k->args);
            fputc(']', d->out);
        }
        break;
    case SL_KIND_EXPERT:
    case SL_KIND_LIST:
        fprintf(d->out, "%s[", k->form == SL_KIND_EXPERT ? "expert" : k->name);
        print_dims(d, k->args);
        fputs("] of ", d->out);
        print_kind(d, k->elem);
        return; /* the element's blocks and flags are its own */
    }
    if (k->blocks) {
        fputs(" blocks ", d->out);
        print_dim(d, k->blocks, 0);
    }
    for (const sl_dim *f = k->flags; f; f = f->next)
        fprintf(d->out, " %s", f->name);
}

static void dump_expr(dumper *d, const sl_expr *e, int indent)
{
    switch (e->kind) {
    case SL_EX_NUM:
        line_start(d, indent, "Number", e->span);
        if (e->is_int)
            fprintf(d->out, " %lld int\n", (long long)e->num);
        else
            fprintf(d->out, " %.9g\n", e->num);
        return;
    case SL_EX_BOOL:
        line_start(d, indent, "Bool", e->span);
        fprintf(d->out, " %s\n", e->bval ? "true" : "false");
        return;
    case SL_EX_NAME:
        line_start(d, indent, "Name", e->span);
        fprintf(d->out, " %s\n", e->name);
        return;
    case SL_EX_CALL:
        line_start(d, indent, "Call", e->span);
        if (e->lhs->kind == SL_EX_NAME) {
            fprintf(d->out, " %s\n", e->lhs->name);
        } else {
            fputc('\n', d->out);
            dump_expr(d, e->lhs, indent + 1);
        }
        for (const sl_expr *a = e->args; a; a = a->next)
            dump_expr(d, a, indent + 1);
        return;
    case SL_EX_INDEX:
        line_start(d, indent, "Index", e->span);
        fputc('\n', d->out);
        dump_expr(d, e->lhs, indent + 1);
        for (const sl_expr *a = e->args; a; a = a->next)
            dump_expr(d, a, indent + 1);
        return;
    case SL_EX_SLICE:
        line_start(d, indent, "Slice", e->span);
        fprintf(d->out, "%s%s\n", e->lhs ? "" : " from-start", e->rhs ? "" : " to-end");
        if (e->lhs)
            dump_expr(d, e->lhs, indent + 1);
        if (e->rhs)
            dump_expr(d, e->rhs, indent + 1);
        return;
    case SL_EX_LIST:
        line_start(d, indent, "List", e->span);
        fprintf(d->out, " %d\n", e->n_args);
        for (const sl_expr *a = e->args; a; a = a->next)
            dump_expr(d, a, indent + 1);
        return;
    case SL_EX_UNARY:
        line_start(d, indent, "Unary", e->span);
        fprintf(d->out, " %s\n", sl_op_name(e->op));
        dump_expr(d, e->lhs, indent + 1);
        return;
    case SL_EX_BINARY:
        line_start(d, indent, "Binary", e->span);
        fprintf(d->out, " %s\n", sl_op_name(e->op));
        dump_expr(d, e->lhs, indent + 1);
        dump_expr(d, e->rhs, indent + 1);
        return;
    case SL_EX_ROUTE:
        line_start(d, indent, "Route", e->span);
        if (e->where) {
            fprintf(d->out, " %s tokens", e->name);
        } else {
            fprintf(d->out, " %s top ", e->name);
            print_dim(d, e->k, 0);
        }
        fprintf(d->out, "%s%s%s", e->of_tokens && !e->where ? " tokens" : "",
                e->scaled ? " scaled" : "", e->switched ? " switch" : "");
        if (e->capacity > 0)
            fprintf(d->out, " capacity %g", e->capacity);
        if (e->attending)
            fputs(" attending all", d->out);
        fputc('\n', d->out);
        dump_expr(d, e->args, indent + 1);
        line_start(d, indent + 1, e->where ? "Where" : "By", e->scores->span);
        fputc('\n', d->out);
        dump_expr(d, e->scores, indent + 2);
        return;
    }
}

static void dump_stmts(dumper *d, const sl_stmt *s, int indent);

static void dump_stmt(dumper *d, const sl_stmt *s, int indent)
{
    switch (s->kind) {
    case SL_ST_ASSIGN:
        line_start(d, indent, "Assign", s->span);
        fprintf(d->out, " %s\n", s->name);
        dump_expr(d, s->value, indent + 1);
        return;
    case SL_ST_EXIT:
        line_start(d, indent, "Exit", s->span);
        fputc('\n', d->out);
        dump_expr(d, s->value, indent + 1);
        if (s->cond) {
            line_start(d, indent + 1, "When", s->cond->span);
            fputc('\n', d->out);
            dump_expr(d, s->cond, indent + 2);
        }
        return;
    case SL_ST_GATE:
        line_start(d, indent, "Gate", s->span);
        fputc('\n', d->out);
        dump_expr(d, s->cond, indent + 1);
        line_start(d, indent + 1, "Then", s->span);
        fputc('\n', d->out);
        dump_stmts(d, s->then_body, indent + 2);
        if (s->has_else) {
            line_start(d, indent + 1, "Else", s->else_span);
            fputc('\n', d->out);
            dump_stmts(d, s->else_body, indent + 2);
        }
        return;
    case SL_ST_FOR:
        line_start(d, indent, "For", s->span);
        if (s->index)
            fprintf(d->out, " %s,", s->index);
        fprintf(d->out, " %s in %s\n", s->name, s->list);
        dump_stmts(d, s->then_body, indent + 1);
        return;
    }
}

static void dump_stmts(dumper *d, const sl_stmt *s, int indent)
{
    for (; s; s = s->next)
        dump_stmt(d, s, indent);
}

/* s in double quotes, escaped as C would (", \, control bytes), so a
 * dump line is one line whatever the path holds. */
static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void dump_decl(dumper *d, const sl_decl *x, int indent)
{
    switch (x->kind) {
    case SL_DECL_INPUT:
    case SL_DECL_OUTPUT:
        line_start(d, indent, x->kind == SL_DECL_INPUT ? "Input" : "Output", x->span);
        fprintf(d->out, " %s ", x->name);
        print_type(d, x->type);
        fputc('\n', d->out);
        return;
    case SL_DECL_PARAM:
        line_start(d, indent, "Param", x->span);
        fprintf(d->out, " %s ", x->name);
        print_kind(d, x->pkind);
        if (x->path) {
            fputs(" from ", d->out);
            print_quoted(d->out, x->path);
        }
        fputc('\n', d->out);
        return;
    case SL_DECL_TOKENS:
        line_start(d, indent, "Tokens", x->span);
        fprintf(d->out, " %s", x->name);
        for (const sl_dim *b = x->bounds; b; b = b->next) {
            fprintf(d->out, " %s ", b->name);
            print_dim(d, b->lhs, 0);
        }
        fputc('\n', d->out);
        return;
    case SL_DECL_THRESHOLD:
        line_start(d, indent, "Threshold", x->span);
        fprintf(d->out, " %s\n", x->name);
        dump_expr(d, x->value, indent + 1);
        return;
    case SL_DECL_WEIGHTS:
        line_start(d, indent, "Weights", x->span);
        fputs(" ", d->out);
        print_quoted(d->out, x->path);
        fputc('\n', d->out);
        return;
    }
}

void sl_ast_dump(sl_ctx *c, const sl_module *m, FILE *out)
{
    dumper d = {c, out};
    fprintf(out, "Module %s\n", c->sources.items[m->file].path);
    for (const sl_unit *u = m->units; u; u = u->next) {
        switch (u->kind) {
        case SL_UNIT_IMPORT:
            line_start(&d, 1, "Import", u->span);
            fprintf(out, " %s\n", u->name);
            continue;
        case SL_UNIT_MODEL:
            line_start(&d, 1, "Model", u->span);
            fprintf(out, " %s\n", u->name);
            break;
        case SL_UNIT_LAYER:
            line_start(&d, 1, "Layer", u->span);
            fprintf(out, " %s", u->name);
            if (u->dim_params) {
                fputs(" [", out);
                print_dims(&d, u->dim_params);
                fputc(']', out);
            }
            fputc('\n', out);
            break;
        }
        for (const sl_decl *x = u->decls; x; x = x->next)
            dump_decl(&d, x, 2);
        dump_stmts(&d, u->body, 2);
    }
}
