/* link.c - executables and libraries: the system cc links the model's
 * object with the runtime; a library is the runtime archive plus the
 * model's object, and a generated C header; a shared library is both
 * linked by cc -shared. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

extern char **environ;

#ifndef SLUICE_RT_LIB
#error "the build defines SLUICE_RT_LIB, SLUICE_MAIN_LIB, SLUICE_JANSSON_LIB, SLUICE_LINK_FLAGS, SLUICE_RUNTIME_INCLUDE"
#endif

/* A runtime file: from $SLUICE_RUNTIME_DIR if set, else beside an
 * installed sluicec (PREFIX/lib/sluice), else where this build put it. */
static const char *runtime_file(sl_ctx *c, const char *built, const char *name)
{
    const char *dir = getenv("SLUICE_RUNTIME_DIR");
    if (dir && *dir)
        return sl_arena_printf(&c->arena, "%s/%s", dir, name);
    const char *installed = sl_installed_path(c, "lib/sluice");
    if (installed)
        return sl_arena_printf(&c->arena, "%s/%s", installed, name);
    return built;
}

/* A runtime header, for the ones a library's header inlines. */
static const char *runtime_header(sl_ctx *c, const char *name)
{
    const char *installed = sl_installed_path(c, "include");
    return sl_arena_printf(&c->arena, "%s/sluice/%s",
                           installed ? installed : SLUICE_RUNTIME_INCLUDE, name);
}

typedef SL_VEC(const char *) argv_t;

static int run(sl_ctx *c, argv_t *argv)
{
    SL_VEC_PUSH(&c->arena, argv, NULL);
    if (getenv("SLUICE_VERBOSE")) {
        for (size_t i = 0; argv->items[i]; i++)
            fprintf(stderr, "%s%s", i ? " " : "", argv->items[i]);
        fputc('\n', stderr);
    }
    pid_t pid;
    int err = posix_spawnp(&pid, argv->items[0], NULL, NULL, (char *const *)argv->items, environ);
    if (err) {
        sl_error(c, SL_SPAN_NONE, "cannot run '%s': %s", argv->items[0], strerror(err));
        return 1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            sl_error(c, SL_SPAN_NONE, "waiting for '%s': %s", argv->items[0], strerror(errno));
            return 1;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        sl_error(c, SL_SPAN_NONE, "%s command failed with exit code %d (set SLUICE_VERBOSE=1 "
                 "to see the invocation)", argv->items[0], WEXITSTATUS(status));
    else
        sl_error(c, SL_SPAN_NONE, "%s command was killed by signal %d", argv->items[0],
                 WTERMSIG(status));
    return 1;
}

static void push_flags(sl_ctx *c, argv_t *argv, const char *flags)
{
    char *copy = sl_arena_strdup(&c->arena, flags), *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
        SL_VEC_PUSH(&c->arena, argv, t);
}

/* cc links the model's object with the runtime: an executable (with the
 * runtime's main), or a shared library (every member of the runtime, the
 * whole C API and not only what the model calls, for ctypes or dlopen). */
static int link_cc(sl_ctx *c, const char *obj, const char *out, bool shared)
{
    argv_t argv = {0};
    const char *cc = getenv("SLUICE_CC");
    SL_VEC_PUSH(&c->arena, &argv, cc && *cc ? cc : "cc");
    if (shared)
        SL_VEC_PUSH(&c->arena, &argv, "-shared");
    SL_VEC_PUSH(&c->arena, &argv, "-o");
    SL_VEC_PUSH(&c->arena, &argv, out);
    SL_VEC_PUSH(&c->arena, &argv, obj);
    if (shared)
        SL_VEC_PUSH(&c->arena, &argv, "-Wl,--whole-archive");
    else
        SL_VEC_PUSH(&c->arena, &argv, runtime_file(c, SLUICE_MAIN_LIB, "libsluice_main.a"));
    SL_VEC_PUSH(&c->arena, &argv, runtime_file(c, SLUICE_RT_LIB, "libsluice_rt.a"));
    if (shared)
        SL_VEC_PUSH(&c->arena, &argv, "-Wl,--no-whole-archive");
    SL_VEC_PUSH(&c->arena, &argv, SLUICE_JANSSON_LIB);
    SL_VEC_PUSH(&c->arena, &argv, "-lm");
    SL_VEC_PUSH(&c->arena, &argv, "-lpthread");
    push_flags(c, &argv, SLUICE_LINK_FLAGS);
    return run(c, &argv);
}

int sl_link_exe(sl_ctx *c, const sl_options *o, const char *obj, const char *out)
{
    (void)o;
    return link_cc(c, obj, out, false);
}

int sl_link_shared(sl_ctx *c, const sl_options *o, const char *obj, const char *out)
{
    (void)o;
    return link_cc(c, obj, out, true);
}

static char *read_text(sl_ctx *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_error(c, SL_SPAN_NONE, "cannot read the runtime header '%s': %s", path, strerror(errno));
        return NULL;
    }
    SL_VEC(char) buf = {0};
    int ch;
    while ((ch = fgetc(f)) != EOF)
        SL_VEC_PUSH(&c->arena, &buf, (char)ch);
    SL_VEC_PUSH(&c->arena, &buf, '\0');
    fclose(f);
    return buf.items;
}

static void upper(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)(src[i] >= 'a' && src[i] <= 'z' ? src[i] - 32 : src[i]);
    dst[i] = '\0';
}

/* The header a library user includes: the runtime's C API (error.h and
 * model.h, inlined so one file is enough) and the model's own section. */
static int write_header(sl_ctx *c, const sl_program *p, const char *path, const char *lib,
                        const char *embedded)
{
    char *err_h = read_text(c, runtime_header(c, "error.h"));
    char *model_h = read_text(c, runtime_header(c, "model.h"));
    if (!err_h || !model_h)
        return 1;
    FILE *f = fopen(path, "w");
    if (!f) {
        sl_error(c, SL_SPAN_NONE, "cannot write '%s': %s", path, strerror(errno));
        return 1;
    }
    char up[256];
    upper(up, p->name, sizeof up);
    fprintf(f, "/* %s.h - the C API of model '%s', generated by sluicec %s from\n"
               " * %s.\n"
               " *\n"
               " * Link with %s, jansson and libm, e.g.\n"
               " *     cc app.c %s -ljansson -lm -lpthread\n"
               " * Open the model with %s_open(), run it with %s, close it\n"
               " * with sl_model_close(); the sections below say what the ledger holds. */\n"
               "#ifndef %s_H\n#define %s_H\n\n",
            p->name, p->name, SL_VERSION, p->source_path, lib, lib, p->name,
            p->tokens_name ? "sl_model_run_tokens()" : "sl_model_run()", up, up);
    fputs(err_h, f);
    fputc('\n', f);
    /* model.h without its #include "sluice/error.h": the copy above stands in. */
    for (char *line = model_h; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (strncmp(line, "#include \"sluice/", 17) != 0)
            fwrite(line, 1, len, f);
        line += len;
    }
    fprintf(f, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    fprintf(f, "/* The model's descriptor (defined in %s). */\nextern const sl_model_desc %s_model;\n\n",
            lib, p->name);
    /* The sizes, their comments in one column. */
    struct {
        const char *name, *comment;
        long long value;
    } sizes[] = {
        {"IN_SIZE", p->in_ty.elem == SL_I32 ? "int32_t ids per input (at TOKENS_MAX tokens)"
                    : p->tokens_name ? "floats per input (at TOKENS_MAX tokens)"
                                     : "floats per input",
         (long long)sl_ty_numel(p->in_ty)},
        {"OUT_SIZE", "floats per output", (long long)sl_ty_numel(p->out_ty)},
        {"N_EXITS", "exits; a run returns n_exits when none was taken", (long long)p->exits.len},
        {"N_SLOTS", "ledger slots per input", (long long)p->n_slots},
        {"TOKENS_MIN", "the fewest tokens an input has", (long long)p->tokens_min},
        {"TOKENS_MAX", "the most tokens an input has", (long long)p->tokens_max},
    };
    size_t n_sizes = sizeof sizes / sizeof *sizes - (p->tokens_name ? 0 : 2);
    int width = 0;
    for (size_t i = 0; i < n_sizes; i++) {
        int w = snprintf(NULL, 0, "%s_%s = %lld,", up, sizes[i].name, sizes[i].value);
        width = w > width ? w : width;
    }
    fprintf(f, "enum {\n");
    for (size_t i = 0; i < n_sizes; i++) {
        char entry[400];
        snprintf(entry, sizeof entry, "%s_%s = %lld%s", up, sizes[i].name, sizes[i].value,
                 i + 1 < n_sizes ? "," : "");
        fprintf(f, "    %-*s /* %s */\n", width, entry, sizes[i].comment);
    }
    fprintf(f, "};\n\n");
    fprintf(f, "/* Thresholds, settable with sl_model_set_threshold():\n");
    for (size_t i = 0; i < p->thresholds.len; i++)
        fprintf(f, " *   %s (default %g)\n", p->thresholds.items[i].name,
                (double)p->thresholds.items[i].value);
    if (!p->thresholds.len)
        fprintf(f, " *   (none)\n");
    fprintf(f, " * Exits, by the index a run records:\n");
    for (size_t i = 0; i < p->exits.len; i++) {
        uint32_t line, col;
        sl_source_linecol(&c->sources.items[p->exits.items[i].span.file],
                          p->exits.items[i].span.begin, &line, &col);
        fprintf(f, " *   %zu: %s (line %u)\n", i, p->exits.items[i].name, line);
    }
    fprintf(f, " *   %zu: end (no exit taken)\n", p->exits.len);
    fprintf(f, " * Ledger slots of one input (-1: not reached; -2: a choice not taken):\n");
    for (size_t i = 0; i < p->decisions.len; i++) {
        const sl_decision *d = &p->decisions.items[i];
        static const char *const what[] = {"gate: 1 then-arm, 0 else-arm",
                                           "route: the chosen experts, best first",
                                           "blocks: 1 active, 0 skipped",
                                           "tokens: the rows the layer ran on (or kept), "
                                           "ascending"};
        int64_t rows = d->rows ? d->rows : 1;
        fprintf(f, " *   [%d..%lld] %s - %s", d->slot,
                (long long)(d->slot + d->count * rows - 1), d->name, what[d->kind]);
        if (d->per_expert)
            fprintf(f, "; expert choice: token t's %d slots at %d + %d*t hold the experts "
                    "that took it", d->count, d->slot, d->count);
        else if (d->rows)
            fprintf(f, "; per token: token t's %d at %d + %d*t", d->count, d->slot, d->count);
        fputc('\n', f);
    }
    if (!p->decisions.len)
        fprintf(f, " *   (none)\n");
    fprintf(f, " * Weights (safetensors, PyTorch state_dict names):\n");
    for (size_t i = 0; i < p->tensors.len; i++) {
        const sl_tensor *t = &p->tensors.items[i];
        fprintf(f, " *   %s f32[%lld", t->name, (long long)t->shape[0]);
        for (int d = 1; d < t->rank; d++)
            fprintf(f, ", %lld", (long long)t->shape[d]);
        fprintf(f, "]\n");
    }
    fprintf(f, " */\n\n");
    fprintf(f, "/* Open with the weights at `weights_path`, or, given NULL, with %s\n"
               " *   %s\n"
               " * NULL on failure, with err->msg saying why. */\n"
               "static inline sl_model *%s_open(const char *weights_path, sl_error *err)\n"
               "{\n    return sl_model_open(&%s_model, weights_path, err);\n}\n\n",
            embedded ? "the weights embedded from" : p->weights_path ? "the default file"
                                                                     : "nothing (no default):",
            embedded ? embedded : p->weights_path ? p->weights_path : "pass a file",
            p->name, p->name);
    fprintf(f, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
    if (fclose(f) != 0) {
        sl_error(c, SL_SPAN_NONE, "cannot write '%s': %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int copy_file(sl_ctx *c, const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in) {
        sl_error(c, SL_SPAN_NONE, "cannot read '%s': %s", from, strerror(errno));
        return 1;
    }
    FILE *out = fopen(to, "wb");
    if (!out) {
        sl_error(c, SL_SPAN_NONE, "cannot write '%s': %s", to, strerror(errno));
        fclose(in);
        return 1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = 1;
    if (ferror(in) || fclose(out) != 0 || rc) {
        sl_error(c, SL_SPAN_NONE, "cannot write '%s': %s", to, strerror(errno));
        rc = 1;
    }
    fclose(in);
    return rc;
}

int sl_link_lib(sl_ctx *c, const sl_program *p, const sl_options *o, const char *obj,
                const char *out)
{
    (void)o;
    /* The archive: the runtime's members plus "<model>.o". */
    char dir[] = "/tmp/sluicec-XXXXXX";
    if (!mkdtemp(dir)) {
        sl_error(c, SL_SPAN_NONE, "cannot create a temporary directory: %s", strerror(errno));
        return 1;
    }
    const char *member = sl_arena_printf(&c->arena, "%s/%s.o", dir, p->name);
    int rc = copy_file(c, obj, member);
    if (rc == 0)
        rc = copy_file(c, runtime_file(c, SLUICE_RT_LIB, "libsluice_rt.a"), out);
    if (rc == 0) {
        argv_t argv = {0};
        const char *ar = getenv("SLUICE_AR");
        SL_VEC_PUSH(&c->arena, &argv, ar && *ar ? ar : "ar");
        SL_VEC_PUSH(&c->arena, &argv, "rs");
        SL_VEC_PUSH(&c->arena, &argv, out);
        SL_VEC_PUSH(&c->arena, &argv, member);
        rc = run(c, &argv);
    }
    unlink(member);
    rmdir(dir);
    if (rc)
        return rc;

    /* The header beside it: <dir of out>/<model>.h */
    const char *slash = strrchr(out, '/');
    const char *header = slash ? sl_arena_printf(&c->arena, "%.*s/%s.h", (int)(slash - out), out,
                                                 p->name)
                               : sl_arena_printf(&c->arena, "%s.h", p->name);
    const char *lib = slash ? slash + 1 : out;
    return write_header(c, p, header, lib, o->embed_weights);
}
