/* driver.c - sluicec's command line: read a model, run the pipeline to the
 * stage --emit asks for, write the result. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "driver.h"

static void usage(FILE *out)
{
    fputs(
        "OVERVIEW: sluicec - the Sluice compiler for conditional neural networks\n"
        "\n"
        "USAGE: sluicec [options] <model.slu>\n"
        "\n"
        "OUTPUT:\n"
        "  --emit=<kind>            What to produce (default: exe):\n"
        "                             tokens    the token stream\n"
        "                             ast       the syntax tree\n"
        "                             hir       the checked program (types, FLOPs, regions)\n"
        "                             manifest  the weight tensors the model expects\n"
        "                             llvm      LLVM IR (text)\n"
        "                             bc        LLVM bitcode\n"
        "                             asm       assembly\n"
        "                             obj       an object file\n"
        "                             exe       a native executable\n"
        "                             lib       a static library and a C header\n"
        "                             shared    a shared library (the model and the\n"
        "                                       runtime's C API: ctypes, dlopen)\n"
        "  -o <file>                Write the output to <file> ('-' is stdout)\n"
        "  --cost                   Print the static FLOPs of every path and exit\n"
        "  --tokens=<n>             With --cost: count for inputs of <n> tokens (default:\n"
        "                           the model's most)\n"
        "  -fsyntax-only            Check the model, produce nothing\n"
        "\n"
        "CODE GENERATION:\n"
        "  -O0, -O1, -O2, -O3       Optimization level (default: -O2)\n"
        "  --target=<triple>        Target triple (default: the host)\n"
        "  --target-cpu=<cpu>       Target CPU (default: the host CPU, like -march=native)\n"
        "  --target-features=<f>    Target features, e.g. +avx2,-avx512f (default: the host's)\n"
        "  -fno-zero-skip           Never skip the weights of zero inputs (by default a\n"
        "                           dense layer of 512+ inputs fed by a ReLU skips them\n"
        "                           for a row alone in its tile; -fzero-skip restores it)\n"
        "  -ftile-rows=<n>          Rows a tile of a batch holds (default: 512, fewer if\n"
        "                           a tile's scratch would pass 16 MiB)\n"
        "  -fzero-stats             Count each ReLU's exact zeros as the model runs: per\n"
        "                           input in the ledger, per unit in the model (off by\n"
        "                           default; docs/analysis.md)\n"
        "  --embed-weights=<file>   Bake a safetensors file into the output\n"
        "  --verify-weights=<file>  Check a safetensors file against the manifest\n"
        "\n"
        "INPUT:\n"
        "  -I <dir>                 Search <dir> for imported modules (before the stdlib)\n"
        "\n"
        "DIAGNOSTICS:\n"
        "  -Werror                  Treat warnings as errors\n"
        "  -w                       Suppress all warnings\n"
        "  -ferror-limit=<n>        Stop after <n> errors (default: 20; 0: no limit)\n"
        "  -fcolor-diagnostics      Always use colour\n"
        "  -fno-color-diagnostics   Never use colour (also: NO_COLOR=1)\n"
        "\n"
        "  --help                   Show this help\n"
        "  --version                Show the version\n",
        out);
}

static const struct {
    const char *name;
    sl_emit emit;
} emit_names[] = {
    {"tokens", SL_EMIT_TOKENS}, {"ast", SL_EMIT_AST},   {"hir", SL_EMIT_HIR},
    {"manifest", SL_EMIT_MANIFEST}, {"llvm", SL_EMIT_LLVM}, {"bc", SL_EMIT_BC},
    {"asm", SL_EMIT_ASM},       {"obj", SL_EMIT_OBJ},   {"exe", SL_EMIT_EXE},
    {"lib", SL_EMIT_LIB},       {"shared", SL_EMIT_SHARED},
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "sluicec: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nsluicec: note: run 'sluicec --help' for the options\n");
    return 1;
}

/* "--flag=value" or "--flag value": the value, advancing *i for the second. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    const char *a = argv[*i];
    if (strncmp(a, flag, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    if (a[n] == '\0')
        return "";
    return NULL;
}

/* "-fname=N" with N from lo to hi: its value text, and *n = N, or -1 when
 * N is not such a number; NULL if a is another flag. */
static const char *number_flag(const char *a, const char *prefix, long lo, long hi, long *n)
{
    size_t len = strlen(prefix);
    if (strncmp(a, prefix, len) != 0)
        return NULL;
    const char *v = a + len;
    char *end;
    errno = 0;
    *n = strtol(v, &end, 10);
    if (errno || *end || end == v || *n < lo || *n > hi)
        *n = -1;
    return v;
}

static int parse_args(int argc, char **argv, sl_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--version") == 0) {
            o->version = true;
        } else if ((v = flag_value(argc, argv, &i, "--emit"))) {
            bool found = false;
            for (size_t k = 0; k < sizeof emit_names / sizeof *emit_names; k++)
                if (strcmp(v, emit_names[k].name) == 0) {
                    o->emit = emit_names[k].emit;
                    found = true;
                }
            if (!found)
                return usage_error("invalid value '%s' for --emit (tokens, ast, hir, manifest, "
                                   "llvm, bc, asm, obj, exe, lib or shared)", v);
        } else if (strcmp(a, "-o") == 0) {
            if (i + 1 >= argc)
                return usage_error("argument to '%s' is missing (expected a file name)", a);
            o->output = argv[++i];
        } else if (strncmp(a, "-o", 2) == 0 && a[2]) {
            o->output = a + 2;
        } else if (strcmp(a, "--cost") == 0) {
            o->cost = true;
        } else if ((v = flag_value(argc, argv, &i, "--tokens"))) {
            long t;
            number_flag(v, "", 1, 1L << 31, &t);
            if (t < 0)
                return usage_error("invalid value '%s' for --tokens (1 to 2147483648)", v);
            o->tokens = t;
        } else if (strcmp(a, "-fsyntax-only") == 0) {
            o->syntax_only = true;
        } else if (a[0] == '-' && a[1] == 'O' && a[2] && !a[3] && a[2] >= '0' && a[2] <= '3') {
            o->opt_level = a[2] - '0';
        } else if (strcmp(a, "-O") == 0) {
            o->opt_level = 2;
        } else if ((v = flag_value(argc, argv, &i, "--target-cpu"))) {
            o->target_cpu = v;
        } else if ((v = flag_value(argc, argv, &i, "--target-features"))) {
            o->target_features = v;
        } else if ((v = flag_value(argc, argv, &i, "--target"))) {
            o->target = v;
        } else if ((v = flag_value(argc, argv, &i, "--embed-weights"))) {
            o->embed_weights = v;
        } else if ((v = flag_value(argc, argv, &i, "--verify-weights"))) {
            o->verify_weights = v;
        } else if (strcmp(a, "-I") == 0) {
            if (i + 1 >= argc)
                return usage_error("argument to '%s' is missing (expected a directory)", a);
            SL_VEC_PUSH(&o->arena, &o->import_dirs, argv[++i]);
        } else if (strncmp(a, "-I", 2) == 0) {
            SL_VEC_PUSH(&o->arena, &o->import_dirs, a + 2);
        } else if (strcmp(a, "-Werror") == 0) {
            o->werror = true;
        } else if (strcmp(a, "-w") == 0) {
            o->no_warnings = true;
        } else if ((v = number_flag(a, "-ferror-limit=", 0, 1000000, &n))) {
            if (n < 0)
                return usage_error("invalid value '%s' for -ferror-limit", v);
            o->error_limit = (int)n;
        } else if ((v = number_flag(a, "-ftile-rows=", 1, 65536, &n))) {
            if (n < 0)
                return usage_error("invalid value '%s' for -ftile-rows (1 to 65536)", v);
            o->tile_rows = n;
        } else if (strcmp(a, "-fzero-skip") == 0) {
            o->zero_skip = true;
        } else if (strcmp(a, "-fno-zero-skip") == 0) {
            o->zero_skip = false;
        } else if (strcmp(a, "-fzero-stats") == 0) {
            o->zero_stats = true;
        } else if (strcmp(a, "-fno-zero-stats") == 0) {
            o->zero_stats = false;
        } else if (strcmp(a, "-fcolor-diagnostics") == 0) {
            o->color = 1;
        } else if (strcmp(a, "-fno-color-diagnostics") == 0) {
            o->color = 0;
        } else if (strcmp(a, "-") == 0 || a[0] != '-') {
            if (o->input)
                return usage_error("more than one model file given ('%s')", a);
            o->input = a;
        } else {
            return usage_error("unknown argument: '%s'", a);
        }
    }
    if (o->tokens && !o->cost)
        return usage_error("%s", "--tokens applies to --cost only");
    return 0;
}

/* Read the model from a file or stdin ("-"). */
static int add_input(sl_ctx *c, const char *path)
{
    if (strcmp(path, "-") != 0)
        return sl_source_add_file(c, path, SL_SPAN_NONE);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        sl_out_of_memory();
    size_t n;
    while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len > SL_MAX_SOURCE_SIZE) {
            sl_error(c, SL_SPAN_NONE, "<stdin>: file too large (more than %zu bytes)",
                     SL_MAX_SOURCE_SIZE);
            free(buf);
            return -1;
        }
        if (len == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                sl_out_of_memory();
            buf = bigger;
        }
    }
    int file = sl_source_add_mem(c, "<stdin>", buf, len);
    free(buf);
    return file;
}

/* Open the output for a text dump: -o file, or stdout. */
static FILE *open_output(const sl_options *o, const char *mode)
{
    if (!o->output || strcmp(o->output, "-") == 0)
        return stdout;
    FILE *f = fopen(o->output, mode);
    if (!f)
        fprintf(stderr, "sluicec: error: cannot open '%s' for writing: %s\n", o->output,
                strerror(errno));
    return f;
}

static int close_output(const sl_options *o, FILE *f)
{
    if (f == stdout)
        return fflush(f) == 0 ? 0 : 1;
    if (fclose(f) != 0) {
        fprintf(stderr, "sluicec: error: cannot write '%s': %s\n", o->output, strerror(errno));
        return 1;
    }
    return 0;
}

static int compile(sl_ctx *c, sl_options *o)
{
    int file = add_input(c, o->input);
    if (file < 0)
        return 1;

    if (o->emit == SL_EMIT_TOKENS) {
        sl_tokens toks = sl_lex(c, file);
        if (c->n_errors)
            return 1;
        FILE *out = open_output(o, "w");
        if (!out)
            return 1;
        sl_tokens_dump(c, toks, out);
        return close_output(o, out);
    }

    sl_module *m = sl_parse(c, file);
    if (c->n_errors)
        return 1;
    if (o->emit == SL_EMIT_AST) {
        FILE *out = open_output(o, "w");
        if (!out)
            return 1;
        sl_ast_dump(c, m, out);
        return close_output(o, out);
    }

    bool has_model = false;
    sl_program *p = sl_check(c, m, &has_model);
    if (c->n_errors)
        return 1;
    if (!has_model) {
        if (o->syntax_only)
            return 0; /* a module of layers: its declarations checked */
        bool layers = false;
        for (const sl_unit *u = m->units; u; u = u->next)
            layers |= u->kind == SL_UNIT_LAYER;
        sl_error(c, SL_SPAN_NONE, "%s: no model to compile (the file defines %s)", o->input,
                 layers ? "only layers" : "nothing");
        return 1;
    }
    if (c->diag.werror && c->n_warnings)
        return 1;
    if (o->verify_weights)
        return sl_verify_weights(c, p, o->verify_weights);
    if (o->syntax_only)
        return 0;
    if (o->cost) {
        FILE *out = open_output(o, "w");
        if (!out)
            return 1;
        if (o->tokens && !p->tokens_name) {
            sl_error(c, SL_SPAN_NONE, "--tokens: model '%s' has no token dimension", p->name);
            return 1;
        }
        if (o->tokens && (o->tokens < p->tokens_min || o->tokens > p->tokens_max)) {
            sl_error(c, SL_SPAN_NONE, "--tokens=%lld: model '%s' takes %lld to %lld tokens",
                     (long long)o->tokens, p->name, (long long)p->tokens_min,
                     (long long)p->tokens_max);
            return 1;
        }
        sl_cost_print(c, p, o->tokens, out);
        return close_output(o, out);
    }
    switch (o->emit) {
    case SL_EMIT_HIR: {
        FILE *out = open_output(o, "w");
        if (!out)
            return 1;
        sl_hir_dump(c, p, out);
        return close_output(o, out);
    }
    case SL_EMIT_MANIFEST: {
        FILE *out = open_output(o, "w");
        if (!out)
            return 1;
        sl_manifest_print(p, out);
        return close_output(o, out);
    }
    default:
        return sl_codegen(c, p, o);
    }
}

int main(int argc, char **argv)
{
    sl_options o = {.emit = SL_EMIT_EXE, .opt_level = 2, .color = -1, .error_limit = 20,
                    .zero_skip = true};
    sl_arena_init(&o.arena);
    int rc = parse_args(argc, argv, &o);
    if (rc == 0 && o.help) {
        usage(stdout);
    } else if (rc == 0 && o.version) {
        printf("sluicec version %s (LLVM %s)\n", SL_VERSION, sl_llvm_version());
    } else if (rc == 0 && !o.input) {
        rc = usage_error("%s", "no input file");
    } else if (rc == 0 && o.emit == SL_EMIT_LIB && o.output && strstr(o.output, ".so")) {
        rc = usage_error("--emit=lib writes a static archive, not '%s'; a shared library is "
                         "--emit=shared", o.output);
    } else if (rc == 0) {
        sl_ctx c;
        sl_ctx_init(&c, "sluicec");
        if (o.color >= 0)
            c.diag.color = o.color;
        c.diag.werror = o.werror;
        c.diag.no_warnings = o.no_warnings;
        c.diag.error_limit = o.error_limit;
        sl_driver_import_dirs(&c, &o);
        rc = compile(&c, &o);
        sl_ctx_free(&c);
    }
    sl_arena_free(&o.arena);
    return rc;
}
