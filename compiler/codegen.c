/* codegen.c - from the checked program to what --emit asks for: build the
 * module (lower.c), verify it, optimize it with the new pass manager for
 * the target machine, and write IR, bitcode, assembly or an object; for
 * executables and libraries, hand the object to link.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "driver.h"
#include "lower.h"

const char *sl_llvm_version(void)
{
    static char buf[32];
    unsigned major, minor, patch;
    LLVMGetVersion(&major, &minor, &patch);
    snprintf(buf, sizeof buf, "%u.%u.%u", major, minor, patch);
    return buf;
}

/* LLVM reports an unknown CPU or feature only as a warning on stderr, once
 * per subtarget it makes, and goes on.  Creating the target machine with
 * stderr captured turns that into one error of ours. */
static LLVMTargetMachineRef create_checked(sl_ctx *c, LLVMTargetRef target, const char *triple,
                                           const char *cpu, const char *features,
                                           LLVMCodeGenOptLevel level)
{
    FILE *cap = tmpfile();
    int saved = cap ? dup(STDERR_FILENO) : -1;
    if (saved >= 0) {
        fflush(stderr);
        dup2(fileno(cap), STDERR_FILENO);
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, level,
                                                      LLVMRelocPIC, LLVMCodeModelDefault);
    if (saved >= 0) {
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
    }
    char said[1024] = "";
    if (cap) {
        rewind(cap);
        size_t n = fread(said, 1, sizeof said - 1, cap);
        said[n] = '\0';
        fclose(cap);
    }
    const char *bad = NULL;
    if (strstr(said, "is not a recognized processor"))
        bad = "CPU";
    else if (strstr(said, "is not a recognized feature"))
        bad = "feature";
    if (bad && tm) {
        /* LLVM's line: "'x' is not a recognized feature for this target ..." */
        const char *q = strchr(said, '\''), *e = q ? strchr(q + 1, '\'') : NULL;
        sl_error(c, SL_SPAN_NONE, "unknown target %s %.*s for '%s' (--target-%s)", bad,
                 q && e ? (int)(e - q + 1) : 0, q ? q : "", triple,
                 strcmp(bad, "CPU") == 0 ? "cpu" : "features");
        LLVMDisposeTargetMachine(tm);
        return NULL;
    }
    if (said[0] && !bad)
        fputs(said, stderr); /* anything else LLVM said, as it said it */
    return tm;
}

/* triple's architecture is the host's (x86_64-linux-gnu and
 * x86_64-pc-linux-gnu are one). */
static bool same_arch(const char *triple)
{
    char *host = LLVMGetDefaultTargetTriple();
    size_t n = strcspn(host, "-");
    bool same = strncmp(triple, host, n) == 0 && (triple[n] == '-' || triple[n] == '\0');
    LLVMDisposeMessage(host);
    return same;
}

/* The target machine: the host CPU and its features unless overridden. */
static LLVMTargetMachineRef target_machine(sl_ctx *c, const sl_options *o, int opt,
                                           char **triple_out)
{
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();

    char *triple = o->target ? LLVMNormalizeTargetTriple(o->target) : LLVMGetDefaultTargetTriple();
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        sl_error(c, SL_SPAN_NONE, "unknown target triple '%s': %s", o->target ? o->target : triple,
                 msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    bool host = !o->target;
    if (!host && (o->emit == SL_EMIT_EXE || o->emit == SL_EMIT_LIB || o->emit == SL_EMIT_SHARED) &&
        !same_arch(triple)) {
        sl_error(c, SL_SPAN_NONE, "cannot make %s for '%s': the runtime it links is built for "
                 "this host only; use --emit=obj, asm, bc or llvm",
                 o->emit == SL_EMIT_EXE ? "an executable" : "a library", o->target);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    char *host_cpu = host ? LLVMGetHostCPUName() : NULL;
    char *host_features = host ? LLVMGetHostCPUFeatures() : NULL;
    const char *cpu = o->target_cpu ? o->target_cpu : host ? host_cpu : "generic";
    const char *features = o->target_features ? o->target_features : host ? host_features : "";
    static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                                 LLVMCodeGenLevelDefault, LLVMCodeGenLevelAggressive};
    LLVMTargetMachineRef tm = create_checked(c, target, triple, cpu, features, levels[opt]);
    if (host_cpu)
        LLVMDisposeMessage(host_cpu);
    if (host_features)
        LLVMDisposeMessage(host_features);
    if (!tm && !c->n_errors)
        sl_error(c, SL_SPAN_NONE, "cannot create a target machine for '%s'", triple);
    if (!tm) {
        LLVMDisposeMessage(triple);
        return NULL;
    }
    *triple_out = triple;
    return tm;
}

/* Every function carries the CPU and features, so optimization and code
 * generation agree on the vector width. */
static void set_target_attributes(LLVMContextRef ctx, LLVMModuleRef mod, LLVMTargetMachineRef tm)
{
    char *cpu = LLVMGetTargetMachineCPU(tm);
    char *features = LLVMGetTargetMachineFeatureString(tm);
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f))
            continue;
        LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                   LLVMCreateStringAttribute(ctx, "target-cpu", 10, cpu,
                                                             (unsigned)strlen(cpu)));
        if (*features)
            LLVMAddAttributeAtIndex(
                f, LLVMAttributeFunctionIndex,
                LLVMCreateStringAttribute(ctx, "target-features", 15, features,
                                          (unsigned)strlen(features)));
        LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                   LLVMCreateEnumAttribute(ctx, LLVMGetEnumAttributeKindForName("nounwind", 8), 0));
    }
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
}

/* The default output name: the model file's name with the output's suffix,
 * in the current directory. */
static const char *default_output(sl_ctx *c, const sl_options *o, const char *suffix,
                                  const char *prefix)
{
    const char *in = strcmp(o->input, "-") == 0 ? "model.slu" : o->input;
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".slu") == 0)
        n -= 4;
    return sl_arena_printf(&c->arena, "%s%.*s%s", prefix, (int)n, base, suffix);
}

static int emit_file(sl_ctx *c, LLVMTargetMachineRef tm, LLVMModuleRef mod, const char *path,
                     LLVMCodeGenFileType type)
{
    char *msg = NULL;
    if (LLVMTargetMachineEmitToFile(tm, mod, path, type, &msg)) {
        sl_error(c, SL_SPAN_NONE, "cannot write '%s': %s", path, msg ? msg : "");
        LLVMDisposeMessage(msg);
        return 1;
    }
    return 0;
}

int sl_codegen(sl_ctx *c, sl_program *p, const sl_options *o)
{
    unsigned char *embedded = NULL;
    size_t embedded_size = 0;
    if (o->embed_weights && sl_load_weights_for_embedding(c, p, o->embed_weights, &embedded,
                                                          &embedded_size) != 0)
        return 1;

    char *triple = NULL;
    LLVMTargetMachineRef tm = target_machine(c, o, o->opt_level, &triple);
    if (!tm) {
        free(embedded);
        return 1;
    }
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(p->name, ctx);
    LLVMSetTarget(mod, triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    char *layout = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(mod, layout);
    LLVMDisposeMessage(layout);
    LLVMDisposeTargetData(td);
    LLVMSetSourceFileName(mod, p->source_path, strlen(p->source_path));

    lower l = {.c = c, .p = p, .ctx = ctx, .mod = mod, .zero_skip = o->zero_skip,
               .zero_stats = o->zero_stats, .tile_rows = o->tile_rows};
    if (o->zero_stats)
        sl_zero_stats_plan(&l, p);
    l.b = LLVMCreateBuilderInContext(ctx);
    l.t_void = LLVMVoidTypeInContext(ctx);
    l.t_i1 = LLVMInt1TypeInContext(ctx);
    l.t_i8 = LLVMInt8TypeInContext(ctx);
    l.t_i32 = LLVMInt32TypeInContext(ctx);
    l.t_i64 = LLVMInt64TypeInContext(ctx);
    l.t_f32 = LLVMFloatTypeInContext(ctx);
    l.t_f64 = LLVMDoubleTypeInContext(ctx);
    l.t_ptr = LLVMPointerTypeInContext(ctx, 0);
    sl_lower_model(&l);
    bool desc_ok = sl_lower_desc(&l, embedded, embedded_size,
                                 o->emit == SL_EMIT_EXE || o->emit == SL_EMIT_SHARED);
    LLVMDisposeBuilder(l.b);
    free(embedded);
    set_target_attributes(ctx, mod, tm);

    int rc = desc_ok ? 0 : 1;
    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        sl_error(c, SL_SPAN_NONE, "internal error: the generated module is invalid: %s", msg);
        rc = 1;
    }
    LLVMDisposeMessage(msg);
    msg = NULL;

    if (rc == 0) {
        char passes[32];
        snprintf(passes, sizeof passes, "default<O%d>", o->opt_level);
        LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
        LLVMPassBuilderOptionsSetLoopVectorization(po, o->opt_level >= 2);
        LLVMPassBuilderOptionsSetSLPVectorization(po, o->opt_level >= 2);
        LLVMErrorRef e = LLVMRunPasses(mod, passes, tm, po);
        if (e) {
            char *m = LLVMGetErrorMessage(e);
            sl_error(c, SL_SPAN_NONE, "internal error: optimization failed: %s", m);
            LLVMDisposeErrorMessage(m);
            rc = 1;
        }
        LLVMDisposePassBuilderOptions(po);
    }

    if (rc == 0) {
        const char *out = o->output;
        switch (o->emit) {
        case SL_EMIT_LLVM:
            if (!out || strcmp(out, "-") == 0) {
                char *ir = LLVMPrintModuleToString(mod);
                fputs(ir, stdout);
                LLVMDisposeMessage(ir);
                break;
            }
            if (LLVMPrintModuleToFile(mod, out, &msg)) {
                sl_error(c, SL_SPAN_NONE, "cannot write '%s': %s", out, msg);
                rc = 1;
            }
            LLVMDisposeMessage(msg);
            msg = NULL;
            break;
        case SL_EMIT_BC:
            out = out ? out : default_output(c, o, ".bc", "");
            if (LLVMWriteBitcodeToFile(mod, out) != 0) {
                sl_error(c, SL_SPAN_NONE, "cannot write '%s'", out);
                rc = 1;
            }
            break;
        case SL_EMIT_ASM:
            if (out && strcmp(out, "-") == 0) {
                LLVMMemoryBufferRef buf;
                if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMAssemblyFile, &msg, &buf)) {
                    sl_error(c, SL_SPAN_NONE, "cannot emit assembly: %s", msg);
                    LLVMDisposeMessage(msg);
                    rc = 1;
                } else {
                    fwrite(LLVMGetBufferStart(buf), 1, LLVMGetBufferSize(buf), stdout);
                    LLVMDisposeMemoryBuffer(buf);
                }
                break;
            }
            rc = emit_file(c, tm, mod, out ? out : default_output(c, o, ".s", ""), LLVMAssemblyFile);
            break;
        case SL_EMIT_OBJ:
            rc = emit_file(c, tm, mod, out ? out : default_output(c, o, ".o", ""), LLVMObjectFile);
            break;
        case SL_EMIT_EXE:
        case SL_EMIT_LIB:
        case SL_EMIT_SHARED: {
            char obj[] = "/tmp/sluicec-XXXXXX.o";
            int fd = mkstemps(obj, 2);
            if (fd < 0) {
                sl_error(c, SL_SPAN_NONE, "cannot create a temporary file: %s", strerror(errno));
                rc = 1;
                break;
            }
            close(fd);
            rc = emit_file(c, tm, mod, obj, LLVMObjectFile);
            if (rc == 0 && o->emit == SL_EMIT_EXE)
                rc = sl_link_exe(c, o, obj, out ? out : default_output(c, o, "", ""));
            else if (rc == 0 && o->emit == SL_EMIT_SHARED)
                rc = sl_link_shared(c, o, obj, out ? out : default_output(c, o, ".so", "lib"));
            else if (rc == 0)
                rc = sl_link_lib(c, p, o, obj,
                                 out ? out : default_output(c, o, ".a", "lib"));
            unlink(obj);
            break;
        }
        default:
            break;
        }
    }
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    LLVMDisposeMessage(triple);
    return rc;
}
