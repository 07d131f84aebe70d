/* fuzz_frontend.c - the front end on a memory buffer, as far as it checks:
 * the token dump, the parser and the AST dump, the checker (which imports
 * the stdlib from disk), and for a checked model the HIR dump, the --cost
 * table and the manifest.  No LLVM.  Everything is printed to /dev/null, so
 * the printers run; SLUICE_FUZZ_VERBOSE=1 sends diagnostics to stderr
 * instead, to read what a crashing input says. */
#include <stdio.h>
#include <stdlib.h>

#include "compiler.h"

#ifndef SLUICE_STDLIB_DIR
#error "SLUICE_STDLIB_DIR must be defined by the build"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;        /* /dev/null: what the printers write */
static FILE *diag_out;    /* diagnostics: sink, or stderr when verbose */

static void ctx_init(sl_ctx *c)
{
    sl_ctx_init(c, "sluicec");
    c->diag.out = diag_out;
    c->diag.color = false;
    c->diag.error_limit = 20; /* the driver's default */
    SL_VEC_PUSH(&c->arena, &c->import_dirs, SLUICE_STDLIB_DIR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sink) {
        sink = fopen("/dev/null", "w");
        if (!sink)
            abort();
        const char *v = getenv("SLUICE_FUZZ_VERBOSE");
        diag_out = v && *v && *v != '0' ? stderr : sink;
    }

    /* --emit=tokens: the whole source lexed at once. */
    sl_ctx c;
    ctx_init(&c);
    int file = sl_source_add_mem(&c, "fuzz.slu", (const char *)data, size);
    if (file >= 0) {
        sl_tokens toks = sl_lex(&c, file);
        if (!c.n_errors)
            sl_tokens_dump(&c, toks, sink);
    }
    sl_ctx_free(&c);

    /* The pipeline of compile() in compiler/driver.c, each stage only
     * after the one before it reported no error. */
    ctx_init(&c);
    file = sl_source_add_mem(&c, "fuzz.slu", (const char *)data, size);
    if (file < 0)
        goto done;
    sl_module *m = sl_parse(&c, file);
    if (c.n_errors)
        goto done;
    sl_ast_dump(&c, m, sink);
    bool has_model = false;
    sl_program *p = sl_check(&c, m, &has_model);
    if (c.n_errors || !has_model)
        goto done;
    sl_hir_dump(&c, p, sink);
    sl_cost_print(&c, p, 0, sink);
    if (p->tokens_name && p->tokens_min != p->tokens_max)
        sl_cost_print(&c, p, p->tokens_min, sink); /* --tokens=MIN */
    sl_manifest_print(p, sink);
done:
    sl_ctx_free(&c);
    return 0;
}
