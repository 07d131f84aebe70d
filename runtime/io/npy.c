/* npy.c - NumPy .npy files of f32: a strict reader and a writer.
 *
 * Format: "\x93NUMPY", major and minor version bytes, the header length
 * (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0), then a Python
 * dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n', then the raw data. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sluice/npy.h"

#define MAX_HEADER 10000 /* NumPy's default max_header_size */

/* ---- the header's dict literal ------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A '...' or "..." string without escapes (NumPy writes none) into buf. */
static bool string_lit(cursor *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= cap)
            return false;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    buf[n] = '\0';
    return true;
}

static bool word(cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

typedef struct header {
    char descr[32];
    bool fortran;
    int32_t rank;
    int64_t shape[SL_NPY_MAX_RANK];
} header;

/* Parse the dict; on failure, a message about what is wrong. */
static int parse_header(const char *name, const char *text, size_t len, header *h,
                        sl_error *err)
{
    cursor c = {text, text + len};
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    if (!eat(&c, '{'))
        return sl_error_set(err, "%s: the header is not a Python dict", name);
    while (!eat(&c, '}')) {
        char key[32];
        if (!string_lit(&c, key, sizeof key) || !eat(&c, ':'))
            return sl_error_set(err, "%s: the header's dict is malformed", name);
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            if (!string_lit(&c, h->descr, sizeof h->descr))
                return sl_error_set(err, "%s: header: 'descr' is not a dtype string", name);
            seen_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
            if (word(&c, "True"))
                h->fortran = true;
            else if (word(&c, "False"))
                h->fortran = false;
            else
                return sl_error_set(err, "%s: header: 'fortran_order' is not True or False", name);
            seen_fortran = true;
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            if (!eat(&c, '('))
                return sl_error_set(err, "%s: header: 'shape' is not a tuple", name);
            h->rank = 0;
            while (!eat(&c, ')')) {
                skip_ws(&c);
                if (c.p < c.end && *c.p == '-')
                    return sl_error_set(err, "%s: header: a negative dimension in 'shape'", name);
                int64_t v = 0;
                const char *start = c.p;
                while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
                    if (__builtin_mul_overflow(v, 10, &v) ||
                        __builtin_add_overflow(v, *c.p - '0', &v))
                        return sl_error_set(err, "%s: header: a dimension in 'shape' is too "
                                            "large", name);
                    c.p++;
                }
                if (c.p == start)
                    return sl_error_set(err, "%s: header: 'shape' holds something other than "
                                        "integers", name);
                if (h->rank == SL_NPY_MAX_RANK)
                    return sl_error_set(err, "%s: header: more than %d dimensions", name,
                                        SL_NPY_MAX_RANK);
                h->shape[h->rank++] = v;
                if (!eat(&c, ',')) {
                    if (!eat(&c, ')'))
                        return sl_error_set(err, "%s: header: 'shape' is malformed", name);
                    break;
                }
            }
            seen_shape = true;
        } else {
            bool dup = strcmp(key, "descr") == 0 || strcmp(key, "fortran_order") == 0 ||
                       strcmp(key, "shape") == 0;
            return sl_error_set(err, "%s: header: %s key '%s' (expected exactly descr, "
                                "fortran_order and shape)", name, dup ? "a repeated" : "an unknown",
                                key);
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                return sl_error_set(err, "%s: the header's dict is malformed", name);
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return sl_error_set(err, "%s: the header has text after its dict", name);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return sl_error_set(err, "%s: header: missing key '%s'", name,
                            !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    return 0;
}

/* ---- reading ------------------------------------------------------------------ */

int sl_npy_read_mem(const void *buf, size_t len, const char *name, sl_npy *out, sl_error *err)
{
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return sl_error_set(err, "%s: not a .npy file (no \\x93NUMPY magic)", name);
    unsigned major = b[6], minor = b[7];
    size_t hlen, pre;
    if (major == 1 && minor == 0) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        pre = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12)
            return sl_error_set(err, "%s: truncated in its header", name);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        pre = 12;
    } else {
        return sl_error_set(err, "%s: .npy format version %u.%u is not supported (1.0, 2.0 "
                            "or 3.0)", name, major, minor);
    }
    if (hlen > MAX_HEADER)
        return sl_error_set(err, "%s: header of %zu bytes is longer than the limit of %d",
                            name, hlen, MAX_HEADER);
    if (hlen > len - pre)
        return sl_error_set(err, "%s: truncated in its header (%zu header bytes announced, "
                            "%zu present)", name, hlen, len - pre);
    header h = {0};
    if (parse_header(name, (const char *)b + pre, hlen, &h, err) != 0)
        return -1;

    size_t itemsize;
    if (strcmp(h.descr, "<f4") == 0)
        itemsize = 4;
    else if (strcmp(h.descr, "<f8") == 0)
        itemsize = 8;
    else if (h.descr[0] == '>')
        return sl_error_set(err, "%s: big-endian dtype '%s' is not supported (expected '<f4' "
                            "or '<f8')", name, h.descr);
    else if (strchr(h.descr, 'O'))
        return sl_error_set(err, "%s: object arrays ('%s') are not supported (expected '<f4' "
                            "or '<f8')", name, h.descr);
    else
        return sl_error_set(err, "%s: dtype '%s' is not supported (expected '<f4' or '<f8')",
                            name, h.descr);
    if (h.fortran)
        return sl_error_set(err, "%s: Fortran-order arrays are not supported (save a C-order "
                            "array, e.g. np.ascontiguousarray(x))", name);

    int64_t numel = 1;
    for (int i = 0; i < h.rank; i++)
        if (__builtin_mul_overflow(numel, h.shape[i], &numel))
            return sl_error_set(err, "%s: shape's element count overflows", name);
    size_t bytes;
    if ((uint64_t)numel > SIZE_MAX / itemsize)
        return sl_error_set(err, "%s: shape's byte count overflows", name);
    bytes = (size_t)numel * itemsize;
    size_t have = len - pre - hlen;
    if (have < bytes)
        return sl_error_set(err, "%s: truncated: the shape needs %zu bytes of data, the file "
                            "holds %zu", name, bytes, have);
    if (have > bytes)
        return sl_error_set(err, "%s: %zu bytes after the data the shape describes", name,
                            have - bytes);

    float *data = NULL;
    if (numel > 0) {
        data = malloc((size_t)numel * sizeof *data);
        if (!data)
            return sl_error_set(err, "%s: out of memory for %lld floats", name, (long long)numel);
        const unsigned char *src = b + pre + hlen;
        if (itemsize == 4) {
            memcpy(data, src, bytes);
        } else {
            for (int64_t i = 0; i < numel; i++) {
                double d;
                memcpy(&d, src + 8 * i, 8);
                data[i] = (float)d;
            }
        }
    }
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof out->shape);
    out->numel = numel;
    out->data = data;
    return 0;
}

int sl_npy_read(const char *path, sl_npy *out, sl_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return sl_error_set(err, "%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(f);
        return sl_error_set(err, "%s: out of memory reading %zu bytes", path, len);
    }
    size_t got = fread(buf, 1, len, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || got != len) {
        free(buf);
        return sl_error_set(err, "%s: cannot read: %s", path,
                            failed ? strerror(errno) : "file changed while reading");
    }
    int rc = sl_npy_read_mem(buf, len, path, out, err);
    free(buf);
    return rc;
}

void sl_npy_free(sl_npy *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- writing ------------------------------------------------------------------ */

int sl_npy_write(const char *path, const float *data, int32_t rank, const int64_t *shape,
                 sl_error *err)
{
    if (rank < 0 || rank > SL_NPY_MAX_RANK)
        return sl_error_set(err, "%s: cannot write %d dimensions", path, rank);
    char dict[512];
    size_t n = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%lld,%s", (long long)shape[i],
                              i + 1 < rank ? " " : "");
        numel *= shape[i];
    }
    if (rank > 1)
        n--; /* "(2, 3)" rather than "(2, 3,)" */
    n += (size_t)snprintf(dict + n, sizeof dict - n, "), }");
    /* Pad with spaces so the data starts at a multiple of 64, then '\n'. */
    size_t total = 10 + n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = n + pad + 1;

    FILE *f = fopen(path, "wb");
    if (!f)
        return sl_error_set(err, "%s: cannot create: %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, n, f) == n;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    if (ok && numel > 0)
        ok = fwrite(data, sizeof *data, (size_t)numel, f) == (size_t)numel;
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        return sl_error_set(err, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}
