/* codegen.c - placeholder until lowering lands (next commit). */
#include <llvm-c/Core.h>
#include <stdio.h>

#include "driver.h"

const char *sl_llvm_version(void)
{
    static char buf[32];
    unsigned major, minor, patch;
    LLVMGetVersion(&major, &minor, &patch);
    snprintf(buf, sizeof buf, "%u.%u.%u", major, minor, patch);
    return buf;
}

int sl_codegen(sl_ctx *c, sl_program *p, const sl_options *o)
{
    (void)p;
    (void)o;
    sl_error(c, SL_SPAN_NONE, "code generation is not available yet; use --emit=hir");
    return 1;
}

int sl_verify_weights(sl_ctx *c, const sl_program *p, const char *path)
{
    (void)p;
    sl_error(c, SL_SPAN_NONE, "%s: --verify-weights is not available yet", path);
    return 1;
}
