/* driver.h - what the driver passes to the back end. */
#ifndef SLUICE_DRIVER_H
#define SLUICE_DRIVER_H

#include "compiler.h"

typedef enum sl_emit {
    SL_EMIT_TOKENS, SL_EMIT_AST, SL_EMIT_HIR, SL_EMIT_MANIFEST,
    SL_EMIT_LLVM, SL_EMIT_BC, SL_EMIT_ASM, SL_EMIT_OBJ, SL_EMIT_EXE, SL_EMIT_LIB,
    SL_EMIT_SHARED
} sl_emit;

typedef struct sl_options {
    sl_arena arena;                 /* for the lists below */
    const char *input;              /* the model file, or "-" */
    const char *output;             /* -o, or NULL for the default */
    sl_emit emit;
    int opt_level;                  /* -O0..-O3 */
    const char *target;             /* --target triple, or NULL: the host */
    const char *target_cpu;         /* or NULL: the host CPU */
    const char *target_features;    /* or NULL: the host's features */
    const char *embed_weights;      /* --embed-weights */
    const char *verify_weights;     /* --verify-weights */
    SL_VEC(const char *) import_dirs; /* -I, in order */
    bool cost, syntax_only, help, version;
    bool werror, no_warnings;
    bool zero_skip;                 /* -f[no-]zero-skip: dense after a ReLU skips zero inputs */
    bool zero_stats;                /* -fzero-stats: count each ReLU's zeros (ledger, counters) */
    int64_t tile_rows;              /* -ftile-rows=N; 0: chosen by the plan */
    int64_t tokens;                 /* --tokens=N for --cost; 0: the model's most */
    int error_limit;
    int color;                      /* -1: on a terminal; 0: never; 1: always */
} sl_options;

/* paths.c: the import search path: -I dirs, the model's directory, the stdlib. */
void sl_driver_import_dirs(sl_ctx *c, const sl_options *o);
/* PREFIX/rel when this sluicec runs installed as PREFIX/bin/sluicec (and
 * PREFIX/share/sluice/stdlib is there), else NULL: the build tree's paths. */
const char *sl_installed_path(sl_ctx *c, const char *rel);

/* codegen.c: lower, optimize and write what --emit asks (llvm..lib). */
int sl_codegen(sl_ctx *c, sl_program *p, const sl_options *o);
const char *sl_llvm_version(void);

/* link.c: an executable (cc), or a static library and its C header. */
int sl_link_exe(sl_ctx *c, const sl_options *o, const char *obj, const char *out);
int sl_link_shared(sl_ctx *c, const sl_options *o, const char *obj, const char *out);
int sl_link_lib(sl_ctx *c, const sl_program *p, const sl_options *o, const char *obj,
                const char *out);

/* weights.c: a safetensors file checked against the manifest; for
 * embedding, its bytes (malloc'd) once checked. */
int sl_verify_weights(sl_ctx *c, const sl_program *p, const char *path);
int sl_load_weights_for_embedding(sl_ctx *c, const sl_program *p, const char *path,
                                  unsigned char **data, size_t *size);

#endif
