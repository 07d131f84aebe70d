/* cpu.c - which ISA level this CPU runs: CPUID + XGETBV, the SLUICE_ISA
 * override, and the published kernel table.
 *
 * A level is usable when the CPU reports its instructions (CPUID) and the OS
 * saves the registers they use (XGETBV: XCR0 has the YMM state for AVX2, and
 * also the opmask and ZMM states for AVX-512); an OS without them would fault
 * on the first instruction. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_table.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

_Atomic(const sl_k_table *) sl_k_active = NULL;

/* What a level needs, as bits of sl_k_cpu_features(). */
enum {
    SL_K_CPU_AVX = 1u << 0,
    SL_K_CPU_FMA = 1u << 1,
    SL_K_CPU_AVX2 = 1u << 2,
    SL_K_CPU_OS_YMM = 1u << 3,    /* XCR0: SSE and AVX state saved */
    SL_K_CPU_AVX512F = 1u << 4,
    SL_K_CPU_AVX512DQ = 1u << 5,
    SL_K_CPU_AVX512BW = 1u << 6,
    SL_K_CPU_AVX512VL = 1u << 7,
    SL_K_CPU_OS_ZMM = 1u << 8,    /* XCR0: opmask and both ZMM halves saved */
};

static const struct {
    unsigned bit;
    const char *name;
} sl_k_cpu_feature_names[] = {
    {SL_K_CPU_AVX, "AVX"},
    {SL_K_CPU_FMA, "FMA"},
    {SL_K_CPU_AVX2, "AVX2"},
    {SL_K_CPU_OS_YMM, "OS support for YMM state (XCR0)"},
    {SL_K_CPU_AVX512F, "AVX512F"},
    {SL_K_CPU_AVX512DQ, "AVX512DQ"},
    {SL_K_CPU_AVX512BW, "AVX512BW"},
    {SL_K_CPU_AVX512VL, "AVX512VL"},
    {SL_K_CPU_OS_ZMM, "OS support for ZMM state (XCR0)"},
};

static const unsigned sl_k_isa_needs[SL_ISA_COUNT] = {
    [SL_ISA_SCALAR] = 0,
    [SL_ISA_AVX2] = SL_K_CPU_AVX | SL_K_CPU_FMA | SL_K_CPU_AVX2 | SL_K_CPU_OS_YMM,
    [SL_ISA_AVX512] = SL_K_CPU_AVX | SL_K_CPU_FMA | SL_K_CPU_AVX2 | SL_K_CPU_OS_YMM |
                      SL_K_CPU_AVX512F | SL_K_CPU_AVX512DQ | SL_K_CPU_AVX512BW |
                      SL_K_CPU_AVX512VL | SL_K_CPU_OS_ZMM,
};

static const char *const sl_k_isa_names[SL_ISA_COUNT] = {
    [SL_ISA_SCALAR] = "scalar",
    [SL_ISA_AVX2] = "avx2",
    [SL_ISA_AVX512] = "avx512",
};

static unsigned sl_k_cpu_features(void)
{
    unsigned f = 0;
#if defined(SLUICE_KERNELS_X86) && (defined(__x86_64__) || defined(__i386__))
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int osxsave = (c >> 27) & 1;
    if ((c >> 28) & 1)
        f |= SL_K_CPU_AVX;
    if ((c >> 12) & 1)
        f |= SL_K_CPU_FMA;
    if (osxsave) {
        /* xgetbv by opcode-free asm: _xgetbv would need -mxsave here. */
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        (void)hi;
        if ((lo & 0x6) == 0x6)
            f |= SL_K_CPU_OS_YMM;
        if ((lo & 0xe6) == 0xe6)
            f |= SL_K_CPU_OS_ZMM;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if ((b >> 5) & 1)
            f |= SL_K_CPU_AVX2;
        if ((b >> 16) & 1)
            f |= SL_K_CPU_AVX512F;
        if ((b >> 17) & 1)
            f |= SL_K_CPU_AVX512DQ;
        if ((b >> 30) & 1)
            f |= SL_K_CPU_AVX512BW;
        if ((b >> 31) & 1)
            f |= SL_K_CPU_AVX512VL;
    }
#endif
    return f;
}

static const sl_k_table *sl_k_isa_table(sl_isa isa)
{
    switch (isa) {
    case SL_ISA_SCALAR:
        return &sl_k_table_scalar;
#ifdef SLUICE_KERNELS_X86
    case SL_ISA_AVX2:
        return &sl_k_table_avx2;
    case SL_ISA_AVX512:
        return &sl_k_table_avx512;
#endif
    default:
        return NULL;
    }
}

const char *sl_rt_isa_name(sl_isa isa)
{
    if ((unsigned)isa >= SL_ISA_COUNT)
        return "unknown";
    return sl_k_isa_names[isa];
}

int sl_rt_isa_supported(sl_isa isa)
{
    if ((unsigned)isa >= SL_ISA_COUNT || !sl_k_isa_table(isa))
        return 0;
    unsigned need = sl_k_isa_needs[isa];
    return (sl_k_cpu_features() & need) == need;
}

/* "this CPU lacks AVX512BW, AVX512VL" into err, for a level it cannot run. */
static int sl_k_unsupported(sl_error *err, const char *what, sl_isa isa)
{
    if (!sl_k_isa_table(isa))
        return sl_error_set(err, "%s: this build of the runtime has no %s kernels "
                            "(not an x86-64 target)", what, sl_rt_isa_name(isa));
    unsigned missing = sl_k_isa_needs[isa] & ~sl_k_cpu_features();
    char list[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < sizeof sl_k_cpu_feature_names / sizeof sl_k_cpu_feature_names[0]; i++) {
        if (!(missing & sl_k_cpu_feature_names[i].bit))
            continue;
        int w = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                         sl_k_cpu_feature_names[i].name);
        if (w < 0 || (size_t)w >= sizeof list - len)
            break;
        len += (size_t)w;
    }
    return sl_error_set(err, "%s: this CPU cannot run the %s kernels: it lacks %s",
                        what, sl_rt_isa_name(isa), list);
}

int sl_rt_set_isa(sl_isa isa, sl_error *err)
{
    if ((unsigned)isa >= SL_ISA_COUNT)
        return sl_error_set(err, "sl_rt_set_isa: %d is not an ISA level", (int)isa);
    if (!sl_rt_isa_supported(isa))
        return sl_k_unsupported(err, "sl_rt_set_isa", isa);
    atomic_store_explicit(&sl_k_active, sl_k_isa_table(isa), memory_order_release);
    return 0;
}

/* The best level the CPU runs, or SLUICE_ISA's (unset or empty: no override). */
static int sl_k_choose(sl_isa *out, sl_error *err)
{
    const char *env = getenv("SLUICE_ISA");
    if (env && *env) {
        for (int i = 0; i < SL_ISA_COUNT; i++) {
            if (strcmp(env, sl_k_isa_names[i]) != 0)
                continue;
            if (!sl_rt_isa_supported((sl_isa)i)) {
                char what[64];
                snprintf(what, sizeof what, "SLUICE_ISA=%s", sl_k_isa_names[i]);
                return sl_k_unsupported(err, what, (sl_isa)i);
            }
            *out = (sl_isa)i;
            return 0;
        }
        return sl_error_set(err, "SLUICE_ISA='%.100s' is not an ISA level "
                            "(expected scalar, avx2 or avx512)", env);
    }
    *out = SL_ISA_SCALAR;
    for (int i = SL_ISA_COUNT - 1; i > 0; i--) {
        if (sl_rt_isa_supported((sl_isa)i)) {
            *out = (sl_isa)i;
            break;
        }
    }
    return 0;
}

static pthread_once_t sl_k_init_once = PTHREAD_ONCE_INIT;
static int sl_k_init_status;    /* 0 or -1, set once by sl_k_init_run */
static sl_error sl_k_init_err;  /* its message when -1 */

static void sl_k_init_run(void)
{
    /* A level forced by sl_rt_set_isa() before the first init wins. */
    if (atomic_load_explicit(&sl_k_active, memory_order_acquire))
        return;
    sl_isa isa = SL_ISA_SCALAR;
    if (sl_k_choose(&isa, &sl_k_init_err) < 0) {
        sl_k_init_status = -1;
        return;
    }
    atomic_store_explicit(&sl_k_active, sl_k_isa_table(isa), memory_order_release);
}

int sl_rt_init(sl_error *err)
{
    pthread_once(&sl_k_init_once, sl_k_init_run);
    if (sl_k_init_status < 0) {
        if (err)
            *err = sl_k_init_err;
        return -1;
    }
    return 0;
}

const sl_k_table *sl_k_init_or_exit(void)
{
    sl_error err;
    if (sl_rt_init(&err) < 0) {
        fprintf(stderr, "sluice: error: %s\n", err.msg);
        exit(2);
    }
    return atomic_load_explicit(&sl_k_active, memory_order_acquire);
}

sl_isa sl_rt_isa(void)
{
    const sl_k_table *t = atomic_load_explicit(&sl_k_active, memory_order_acquire);
    if (!t)
        t = sl_k_init_or_exit();
    return t->isa;
}
