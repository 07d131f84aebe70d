/* io_tool.c - the loaders from the command line, for the corpus tests and
 * the lit tests of model executables:
 *
 *   io_tool check FILE      FILE.safetensors or FILE.npy against its golden
 *                           file beside it: NAME.err, the exact message both
 *                           entry points (path and memory) must fail with, or
 *                           NAME.out, the dump a good file must give
 *   io_tool dump FILE       print that dump
 *   io_tool check-i32 FILE, io_tool dump-i32 FILE
 *                           the same through the int32 reader (a .npy whose
 *                           dump has the values in decimal)
 *   io_tool npy-cmp A B TOL equal shapes and |a - b| <= TOL everywhere
 *                           (NaN only against NaN); prints the largest error
 *
 * check and dump open files by the name given, so run them in the corpus
 * folder for messages without directories.  Exit status 0 on success, 1 on
 * a failed check. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/npy.h"
#include "sluice/safetensors.h"

/* The whole file, or NULL (with *len = 0 for an empty one). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return NULL;
    size_t cap = 4096; /* never 0 bytes: an empty file gives a buffer too */
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + *len, 1, cap - *len, f)) > 0) {
        *len += n;
        if (*len == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    return buf;
}

/* A growing string. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        if (!t->s) {
            fputs("io_tool: out of memory\n", stderr);
            exit(2);
        }
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void put_shape(text *t, const int64_t *shape, int rank)
{
    put(t, "[");
    for (int i = 0; i < rank; i++)
        put(t, "%s%lld", i ? ", " : "", (long long)shape[i]);
    put(t, "]");
}

static void put_bits(text *t, const float *v, int64_t n, const char *before, const char *after)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put(t, "%s0x%08x%s", before, u, after);
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The dump of a safetensors file: a line per tensor, in file order.  With
 * buf, the memory it was opened from, data used in place is told ("view")
 * from copied data ("copy"); without, "-" stands for either. */
static void dump_st(text *t, const sl_st_file *f, const unsigned char *buf, size_t len)
{
    put(t, "tensors: %lld\n", (long long)sl_st_count(f));
    for (int64_t i = 0; i < sl_st_count(f); i++) {
        const sl_st_tensor *x = sl_st_at(f, i);
        uintptr_t p = (uintptr_t)x->data, b = (uintptr_t)buf;
        put(t, "%s %s ", x->name, x->dtype_name);
        put_shape(t, x->shape, x->rank);
        put(t, " %s", !x->data ? "-" : !buf ? "?" : p >= b && p <= b + len ? "view" : "copy");
        if (x->data)
            put_bits(t, x->data, x->numel, " ", "");
        put(t, "\n");
        if (sl_st_find(f, x->name) != x)
            put(t, "error: sl_st_find('%s') does not find it\n", x->name);
    }
    if (sl_st_at(f, -1) || sl_st_at(f, sl_st_count(f)))
        put(t, "error: sl_st_at out of range is not NULL\n");
}

static void dump_npy(text *t, const sl_npy *a)
{
    put(t, "shape ");
    put_shape(t, a->shape, a->rank);
    put(t, "\n");
    put_bits(t, a->data, a->numel, "", "\n");
}

static void dump_npy_i32(text *t, const sl_npy_i32 *a)
{
    put(t, "shape ");
    put_shape(t, a->shape, a->rank);
    put(t, "\n");
    for (int64_t i = 0; i < a->numel; i++)
        put(t, "%d\n", a->data[i]);
}

/* Open `path` both ways, by path and from memory (a .npy: as int32 when
 * ints): *out gets the dump, or the error.  The two must agree; if not,
 * *out says how and -2 is returned.  Otherwise 0 if the file loaded, -1 if
 * not. */
static int load(const char *path, bool ints, text *out)
{
    size_t len;
    unsigned char *buf = slurp(path, &len);
    if (!buf) {
        fprintf(stderr, "io_tool: cannot read %s\n", path);
        exit(2);
    }
    sl_error e1 = {""}, e2 = {""};
    bool ok1, ok2;
    text a = {0}, b = {0}, shown = {0};
    if (ints) {
        sl_npy_i32 x = {0}, y = {0};
        ok1 = sl_npy_read_i32(path, &x, &e1) == 0;
        ok2 = sl_npy_read_i32_mem(buf, len, path, &y, &e2) == 0;
        if (ok1)
            dump_npy_i32(&a, &x);
        if (ok2) {
            dump_npy_i32(&b, &y);
            dump_npy_i32(&shown, &y);
        }
        sl_npy_i32_free(&x);
        sl_npy_i32_free(&y);
    } else if (ends_with(path, ".npy")) {
        sl_npy x = {0}, y = {0};
        ok1 = sl_npy_read(path, &x, &e1) == 0;
        ok2 = sl_npy_read_mem(buf, len, path, &y, &e2) == 0;
        if (ok1)
            dump_npy(&a, &x);
        if (ok2) {
            dump_npy(&b, &y);
            dump_npy(&shown, &y);
        }
        sl_npy_free(&x);
        sl_npy_free(&y);
    } else {
        sl_st_file *f = sl_st_open(path, &e1), *g = sl_st_open_mem(buf, len, path, &e2);
        ok1 = f != NULL;
        ok2 = g != NULL;
        if (f)
            dump_st(&a, f, NULL, 0); /* the mapping's address is not known here */
        if (g) {
            dump_st(&b, g, NULL, 0);
            dump_st(&shown, g, buf, len);
        }
        sl_st_close(f);
        sl_st_close(g);
    }
    int rc = ok1 ? 0 : -1;
    if (ok1 != ok2)
        put(out, "the path and memory readers disagree: %s / %s\n", ok1 ? "ok" : e1.msg,
            ok2 ? "ok" : e2.msg), rc = -2;
    else if (ok1 && (a.len != b.len || memcmp(a.s, b.s, a.len) != 0))
        put(out, "the path and memory readers give different results\n"), rc = -2;
    else if (!ok1 && strcmp(e1.msg, e2.msg) != 0)
        put(out, "the path and memory readers give different errors:\n%s\n%s\n", e1.msg,
            e2.msg), rc = -2;
    else if (ok1)
        put(out, "%s", shown.s ? shown.s : "");
    else
        put(out, "%s\n", e1.msg);
    free(a.s);
    free(b.s);
    free(shown.s);
    free(buf);
    return rc;
}

static int check(const char *path, bool ints)
{
    char golden[4096];
    size_t stem = strlen(path) - (ends_with(path, ".npy") ? 4 : strlen(".safetensors"));
    snprintf(golden, sizeof golden, "%.*s.err", (int)stem, path);
    size_t glen;
    unsigned char *want = slurp(golden, &glen);
    bool expect_error = want != NULL;
    if (!want) {
        snprintf(golden, sizeof golden, "%.*s.out", (int)stem, path);
        want = slurp(golden, &glen);
    }
    if (!want) {
        fprintf(stderr, "io_tool: %s: no .err or .out beside it\n", path);
        return 1;
    }
    text got = {0};
    int rc = load(path, ints, &got);
    bool ok = rc != -2 && (rc != 0) == expect_error && got.len == glen &&
              memcmp(got.s, want, glen) == 0;
    if (!ok) {
        printf("FAIL %s\n--- expected (%s)\n%.*s--- got (%s)\n%s", path, golden, (int)glen,
               (const char *)want, rc == 0 ? "loaded" : "failed", got.s ? got.s : "");
    } else {
        printf("ok %s: %s", path, expect_error ? got.s : "loaded as expected\n");
    }
    free(got.s);
    free(want);
    return ok ? 0 : 1;
}

static int npy_cmp(const char *pa, const char *pb, const char *tol_s)
{
    sl_error err;
    sl_npy a, b;
    double tol = atof(tol_s);
    if (sl_npy_read(pa, &a, &err) != 0 || sl_npy_read(pb, &b, &err) != 0) {
        printf("io_tool: %s\n", err.msg);
        sl_npy_free(&a);
        return 1;
    }
    int rc = 0;
    text sa = {0}, sb = {0};
    put_shape(&sa, a.shape, a.rank);
    put_shape(&sb, b.shape, b.rank);
    if (strcmp(sa.s, sb.s) != 0) {
        printf("shapes differ: %s %s, %s %s\n", pa, sa.s, pb, sb.s);
        rc = 1;
    } else {
        double worst = 0;
        int64_t at = -1;
        for (int64_t i = 0; i < a.numel; i++) {
            double x = a.data[i], y = b.data[i];
            double d = isnan(x) && isnan(y) ? 0 : isnan(x) || isnan(y) ? INFINITY : fabs(x - y);
            if (d > worst || (at < 0 && d > tol)) {
                worst = d;
                at = i;
            }
        }
        printf("shape %s, %lld values, largest difference %.3g%s\n", sa.s, (long long)a.numel,
               worst, worst <= tol ? "" : " (more than the tolerance)");
        if (worst > tol) {
            printf("  at element %lld: %.9g against %.9g\n", (long long)at, (double)a.data[at],
                   (double)b.data[at]);
            rc = 1;
        }
    }
    free(sa.s);
    free(sb.s);
    sl_npy_free(&a);
    sl_npy_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    bool ints = argc == 3 && (strcmp(argv[1], "check-i32") == 0 ||
                              strcmp(argv[1], "dump-i32") == 0);
    if (argc == 3 && (strcmp(argv[1], "check") == 0 || strcmp(argv[1], "check-i32") == 0))
        return check(argv[2], ints);
    if (argc == 3 && (strcmp(argv[1], "dump") == 0 || strcmp(argv[1], "dump-i32") == 0)) {
        text out = {0};
        int rc = load(argv[2], ints, &out);
        fputs(out.s ? out.s : "", stdout);
        free(out.s);
        return rc == 0 ? 0 : 1;
    }
    if (argc == 5 && strcmp(argv[1], "npy-cmp") == 0)
        return npy_cmp(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: io_tool check FILE | dump FILE | check-i32 FILE | dump-i32 FILE | "
            "npy-cmp A.npy B.npy TOLERANCE\n");
    return 2;
}
