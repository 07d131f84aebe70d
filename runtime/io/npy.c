/* npy.c - NumPy .npy files: strict readers of f32 and of int32 (token ids,
 * lengths, labels), and an f32 writer.
 *
 * Format: "\x93NUMPY", major and minor version bytes, the header length
 * (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0), then a Python
 * dict literal, {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), },
 * padded with spaces and ended by '\n', then the raw data in C order.
 * Everything is checked before anything is allocated from a size the file
 * gives; the header is parsed by a small strict parser, never evaluated. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/npy.h"
#include "sluice/text.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy readers assume a little-endian host ('<f4' data is copied as is)"
#endif

#define MAX_HEADER 10000    /* numpy.lib.format._MAX_HEADER_SIZE, read_array's default */
#define MAX_PREAMBLE 12     /* magic, version, 4-byte length */
#define ARRAY_ALIGN 64      /* numpy.lib.format.ARRAY_ALIGN */
#define GROWTH_AXIS_DIGITS 21 /* numpy.lib.format.GROWTH_AXIS_MAX_DIGITS */

/* ---- the header's dict literal -------------------------------------------- */

typedef struct header {
    char descr[32];
    bool fortran;
    int32_t rank;
    int64_t shape[SL_NPY_MAX_RANK];
} header;

typedef struct cursor {
    const char *start, *p, *end;
    const char *file;
    bool long_suffix;           /* Python 2 writers (versions 1.0, 2.0) wrote 3L */
    const char *want;           /* the dtypes the reader takes, for messages */
    sl_error *err;
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

/* "header: expected X at byte N, found 'c'" */
static int expected(cursor *c, const char *what)
{
    skip_ws(c);
    size_t at = (size_t)(c->p - c->start);
    if (c->p >= c->end)
        return sl_error_set(c->err, "%s: header: expected %s at byte %zu, found the end of the "
                            "header", c->file, what, at);
    unsigned char ch = (unsigned char)*c->p;
    if (ch < 0x20 || ch >= 0x7f)
        return sl_error_set(c->err, "%s: header: expected %s at byte %zu, found byte 0x%02x",
                            c->file, what, at, ch);
    return sl_error_set(c->err, "%s: header: expected %s at byte %zu, found '%c'", c->file, what,
                        at, ch);
}

/* 'text' or "text": no escapes (NumPy writes none); false if not there. */
static int string_lit(cursor *c, char *buf, size_t cap, const char *what)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return expected(c, what);
    const char *open = c->p;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q && *c->p != '\n' && *c->p != '\\') {
        if (n + 1 < cap)
            buf[n] = *c->p;
        n++;
        c->p++;
    }
    if (c->p >= c->end || *c->p != q) {
        c->p = open;
        return sl_error_set(c->err, "%s: header: the string at byte %zu is not closed, or has an "
                            "escape or a newline", c->file, (size_t)(open - c->start));
    }
    c->p++;
    if (n + 1 > cap)
        return sl_error_set(c->err, "%s: header: the string at byte %zu is too long (%zu "
                            "characters)", c->file, (size_t)(open - c->start), n);
    buf[n] = '\0';
    return 0;
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

/* shape: '(' ')' | '(' int ',' ')' | '(' int (',' int)+ [','] ')' */
static int shape_tuple(cursor *c, header *h)
{
    if (!eat(c, '('))
        return expected(c, "a tuple for 'shape'");
    h->rank = 0;
    bool comma = false;
    while (!eat(c, ')')) {
        skip_ws(c);
        const char *num = c->p;
        if (c->p < c->end && *c->p == '-') {
            c->p++;
            while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
                c->p++;
            return sl_error_set(c->err, "%s: header: 'shape' has a negative dimension, %.*s",
                                c->file, (int)(c->p - num), num);
        }
        int64_t v = 0;
        bool overflow = false;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            overflow |= __builtin_mul_overflow(v, 10, &v) ||
                        __builtin_add_overflow(v, *c->p - '0', &v);
            c->p++;
        }
        if (c->p == num)
            return expected(c, "a dimension (a non-negative integer) in 'shape'");
        if (overflow)
            return sl_error_set(c->err, "%s: header: dimension %.*s in 'shape' does not fit in "
                                "64 bits", c->file, (int)(c->p - num), num);
        if (c->p - num > 1 && *num == '0')
            return sl_error_set(c->err, "%s: header: dimension %.*s in 'shape' has a leading "
                                "zero", c->file, (int)(c->p - num), num);
        if (c->long_suffix && c->p < c->end && *c->p == 'L')
            c->p++;
        if (h->rank == SL_NPY_MAX_RANK)
            return sl_error_set(c->err, "%s: header: 'shape' has more than %d dimensions",
                                c->file, SL_NPY_MAX_RANK);
        h->shape[h->rank++] = v;
        comma = eat(c, ',');
        if (!comma) {
            if (!eat(c, ')'))
                return expected(c, "',' or ')' in 'shape'");
            break;
        }
    }
    /* Python reads (3) as the integer 3, not a tuple. */
    if (h->rank == 1 && !comma)
        return sl_error_set(c->err, "%s: header: 'shape' is (%lld), an integer, not a tuple "
                            "(a one-element tuple is (%lld,))", c->file, (long long)h->shape[0],
                            (long long)h->shape[0]);
    return 0;
}

static const char *const keys_msg = "expected exactly 'descr', 'fortran_order' and 'shape'";

/* dict: '{' [item (',' item)* [',']] '}'   item: string ':' value */
static int parse_header(cursor *c, header *h)
{
    enum { DESCR, FORTRAN, SHAPE, NKEYS };
    static const char *const names[NKEYS] = {"descr", "fortran_order", "shape"};
    bool seen[NKEYS] = {false, false, false};
    if (!eat(c, '{'))
        return expected(c, "a dict, '{'");
    while (!eat(c, '}')) {
        char key[64];
        if (string_lit(c, key, sizeof key, "a quoted key or '}'") != 0)
            return -1;
        int k = 0;
        while (k < NKEYS && strcmp(key, names[k]) != 0)
            k++;
        if (k == NKEYS)
            return sl_error_set(c->err, "%s: header: unexpected key '%s' (%s)", c->file, key,
                                keys_msg);
        if (seen[k])
            return sl_error_set(c->err, "%s: header: key '%s' appears twice", c->file, key);
        seen[k] = true;
        if (!eat(c, ':'))
            return expected(c, "':' after the key");
        if (k == DESCR) {
            skip_ws(c);
            if (c->p < c->end && *c->p == '[')
                return sl_error_set(c->err, "%s: a structured dtype (a list of fields) is not "
                                    "supported (expected %s)", c->file, c->want);
            if (string_lit(c, h->descr, sizeof h->descr, "a dtype string for 'descr'") != 0)
                return -1;
        } else if (k == FORTRAN) {
            if (word(c, "True"))
                h->fortran = true;
            else if (word(c, "False"))
                h->fortran = false;
            else
                return expected(c, "True or False for 'fortran_order'");
        } else if (shape_tuple(c, h) != 0) {
            return -1;
        }
        if (!eat(c, ',')) {
            if (!eat(c, '}'))
                return expected(c, "',' or '}' in the dict");
            break;
        }
    }
    skip_ws(c);
    if (c->p != c->end)
        return expected(c, "the end of the header after the dict");
    for (int k = 0; k < NKEYS; k++)
        if (!seen[k])
            return sl_error_set(c->err, "%s: header: no '%s' key (%s)", c->file, names[k],
                                keys_msg);
    return 0;
}

/* ---- reading -------------------------------------------------------------------- */

/* A dtype the readers take, as NumPy spells it: little-endian, and '|' for
 * one-byte types, whose order does not matter. */
typedef struct dtype {
    const char *descr;
    char kind;            /* 'f' float, 'i' signed, 'u' unsigned integer */
    size_t size;          /* bytes */
} dtype;

static const dtype dtypes[] = {
    {"<f4", 'f', 4}, {"<f8", 'f', 8}, /* the f32 reader takes these two only */
    {"|i1", 'i', 1}, {"<i2", 'i', 2}, {"<i4", 'i', 4}, {"<i8", 'i', 8},
    {"|u1", 'u', 1}, {"<u2", 'u', 2}, {"<u4", 'u', 4}, {"<u8", 'u', 8},
};

/* What one reader takes, and how its messages say so. */
typedef struct reader {
    bool ints;            /* int32 out: integer dtypes, and floats holding whole numbers */
    const char *want;     /* "'<f4' or '<f8'" */
    const char *want_all; /* the same, spelled out */
    const char *convert;  /* the dtype x.astype() should make of a big-endian array */
    const char *what;     /* "floats", for "out of memory for N floats" */
} reader;

static const reader f32_reader = {
    false, "'<f4' or '<f8'", "'<f4' or '<f8', float32 or float64", "'<f4'", "floats",
};
static const reader i32_reader = {
    true, "integers, or '<f4' or '<f8' holding whole numbers",
    "an integer dtype ('|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4' or '<u8'), or '<f4' "
    "or '<f8' holding whole numbers", "'<i4'", "integers",
};

static const dtype *find_dtype(const char *descr, const reader *r)
{
    size_t n = r->ints ? sizeof dtypes / sizeof *dtypes : 2;
    for (size_t i = 0; i < n; i++)
        if (strcmp(descr, dtypes[i].descr) == 0)
            return &dtypes[i];
    return NULL;
}

/* Where the data is and how much of it there must be. */
typedef struct layout {
    header h;
    const dtype *type;
    size_t data_off;      /* bytes before the data */
    int64_t numel;
    size_t bytes;         /* numel * type->size */
} layout;

/* Everything before the data, from the file's first `avail` bytes (all of
 * it, or at least MAX_PREAMBLE + MAX_HEADER), and the data's size against
 * the file's length. */
static int parse_prefix(const unsigned char *b, size_t avail, size_t file_len, const char *name,
                        const reader *r, layout *L, sl_error *err)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    memset(L, 0, sizeof *L);
    if (file_len == 0)
        return sl_error_set(err, "%s: empty file (a .npy file starts with \\x93NUMPY)", name);
    if (avail < 6 || memcmp(b, magic, 6) != 0)
        return sl_error_set(err, "%s: not a .npy file (it does not start with \\x93NUMPY)", name);
    if (avail < 8)
        return sl_error_set(err, "%s: truncated: %zu bytes, the .npy preamble alone is 10",
                            name, avail);
    unsigned major = b[6], minor = b[7];
    size_t pre, hlen;
    if (major == 1 && minor == 0) {
        pre = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        pre = 12;
    } else {
        return sl_error_set(err, "%s: .npy format version %u.%u is not supported (expected 1.0, "
                            "2.0 or 3.0)", name, major, minor);
    }
    if (avail < pre)
        return sl_error_set(err, "%s: truncated: %zu bytes, the version %u.0 preamble alone is "
                            "%zu", name, avail, major, pre);
    hlen = (size_t)b[8] | (size_t)b[9] << 8;
    if (pre == 12)
        hlen |= (size_t)b[10] << 16 | (size_t)b[11] << 24;
    if (hlen > MAX_HEADER)
        return sl_error_set(err, "%s: header of %zu bytes is longer than NumPy's limit of %d",
                            name, hlen, MAX_HEADER);
    if (hlen > avail - pre)
        return sl_error_set(err, "%s: truncated in the header: it announces %zu bytes, %zu "
                            "follow", name, hlen, avail - pre);
    cursor c = {(const char *)b + pre, (const char *)b + pre, (const char *)b + pre + hlen,
                name, major < 3, r->want, err};
    if (parse_header(&c, &L->h) != 0)
        return -1;

    const char *d = L->h.descr;
    char little[sizeof L->h.descr];
    snprintf(little, sizeof little, "<%s", d[0] ? d + 1 : "");
    if (!(L->type = find_dtype(d, r))) {
        if (d[0] == '>' && find_dtype(little, r))
            return sl_error_set(err, "%s: dtype '%s' is big-endian (expected %s; x.astype(%s) "
                                "converts)", name, d, r->want, r->convert);
        if (strchr(d, 'O'))
            return sl_error_set(err, "%s: dtype '%s' is an object array (expected %s)", name, d,
                                r->want);
        return sl_error_set(err, "%s: dtype '%s' is not supported (expected %s)", name, d,
                            r->want_all);
    }
    if (L->h.fortran)
        return sl_error_set(err, "%s: the array is in Fortran order (expected C order; "
                            "np.ascontiguousarray(x) converts)", name);

    char sb[256];
    L->numel = 1;
    for (int i = 0; i < L->h.rank; i++)
        if (__builtin_mul_overflow(L->numel, L->h.shape[i], &L->numel))
            return sl_error_set(err, "%s: shape %s has more elements than fit in 64 bits", name,
                                sl_shape_str(L->h.shape, L->h.rank, sb, sizeof sb));
    if (__builtin_mul_overflow((uint64_t)L->numel, (uint64_t)L->type->size, &L->bytes))
        return sl_error_set(err, "%s: shape %s of '%s' needs more bytes than fit in memory", name,
                            sl_shape_str(L->h.shape, L->h.rank, sb, sizeof sb), d);
    L->data_off = pre + hlen;
    size_t have = file_len - L->data_off;
    if (have < L->bytes)
        return sl_error_set(err, "%s: truncated: shape %s of '%s' needs %zu bytes of data, found "
                            "%zu", name, sl_shape_str(L->h.shape, L->h.rank, sb, sizeof sb), d,
                            L->bytes, have);
    if (have > L->bytes)
        return sl_error_set(err, "%s: %zu bytes after the data: shape %s of '%s' needs %zu bytes, "
                            "found %zu", name, have - L->bytes,
                            sl_shape_str(L->h.shape, L->h.rank, sb, sizeof sb), d, L->bytes, have);
    return 0;
}

/* n '<f8' values at src into f32; a finite value beyond f32's range is an
 * error rather than a silent infinity.  first: the index of src[0]. */
static int convert_f8(const unsigned char *src, size_t n, float *dst, size_t first,
                      const char *name, sl_error *err)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, src + 8 * i, 8);
        /* Rounds to FLT_MAX up to half an ulp above it, as the cast would. */
        if (isfinite(v) && fabs(v) >= 0x1.ffffffp127)
            return sl_error_set(err, "%s: element %zu is %g, outside float32's range", name,
                                first + i, v);
        dst[i] = (float)v;
    }
    return 0;
}

/* One little-endian element (the host's order: see the #error above). */
static int64_t load_signed(const unsigned char *p, size_t size)
{
    int8_t a;
    int16_t b;
    int32_t c;
    int64_t d;
    switch (size) {
    case 1: memcpy(&a, p, 1); return a;
    case 2: memcpy(&b, p, 2); return b;
    case 4: memcpy(&c, p, 4); return c;
    default: memcpy(&d, p, 8); return d;
    }
}

static uint64_t load_unsigned(const unsigned char *p, size_t size)
{
    uint64_t v = 0;
    memcpy(&v, p, size); /* little-endian: the low bytes first */
    return v;
}

static double load_float(const unsigned char *p, size_t size)
{
    float f;
    double d;
    if (size == 4) {
        memcpy(&f, p, 4);
        return f;
    }
    memcpy(&d, p, 8);
    return d;
}

/* v as short as it reads back exactly: "2.5", "2147483647.5", "nan". */
static const char *num_str(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v && !isnan(v))
        snprintf(buf, cap, "%.17g", v);
    return buf;
}

/* n elements of `t` at src into int32; a value outside int32, or a float
 * that is not a whole number, is an error naming it.  first: the index of
 * src[0]. */
static int convert_i32(const dtype *t, const unsigned char *src, size_t n, int32_t *dst,
                       size_t first, const char *name, sl_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = src + i * t->size;
        if (t->kind == 'f') {
            double v = load_float(p, t->size);
            char num[32];
            if (v != floor(v)) /* NaN too */
                return sl_error_set(err, "%s: element %zu is %s, not a whole number", name,
                                    first + i, num_str(v, num, sizeof num));
            if (v < INT32_MIN || v > INT32_MAX)
                return sl_error_set(err, "%s: element %zu is %s, outside int32's range", name,
                                    first + i, num_str(v, num, sizeof num));
            dst[i] = (int32_t)v;
        } else if (t->kind == 'i') {
            int64_t v = load_signed(p, t->size);
            if (v < INT32_MIN || v > INT32_MAX)
                return sl_error_set(err, "%s: element %zu is %lld, outside int32's range", name,
                                    first + i, (long long)v);
            dst[i] = (int32_t)v;
        } else {
            uint64_t v = load_unsigned(p, t->size);
            if (v > INT32_MAX)
                return sl_error_set(err, "%s: element %zu is %llu, outside int32's range", name,
                                    first + i, (unsigned long long)v);
            dst[i] = (int32_t)v;
        }
    }
    return 0;
}

/* n elements at src into dst (4-byte elements: f32 or int32, as r reads). */
static int convert(const reader *r, const dtype *t, const unsigned char *src, size_t n,
                   void *dst, size_t first, const char *name, sl_error *err)
{
    if (r->ints)
        return convert_i32(t, src, n, dst, first, name, err);
    if (t->size == 4) {
        memcpy(dst, src, n * 4);
        return 0;
    }
    return convert_f8(src, n, dst, first, name, err);
}

/* numel 4-byte elements; NULL for none, or (with the error set) when out of memory. */
static void *alloc_data(const layout *L, const reader *r, const char *name, sl_error *err)
{
    size_t bytes;
    void *data = NULL;
    if (__builtin_mul_overflow((size_t)L->numel, (size_t)4, &bytes) || !(data = malloc(bytes)))
        sl_error_set(err, "%s: out of memory for %lld %s", name, (long long)L->numel, r->what);
    return data;
}

/* The array in buf into *data (malloc'd; NULL when it has no elements). */
static int read_mem(const void *buf, size_t len, const char *name, const reader *r, layout *L,
                    void **data, sl_error *err)
{
    *data = NULL;
    if (parse_prefix(buf, buf ? len : 0, buf ? len : 0, name, r, L, err) != 0)
        return -1;
    if (L->numel == 0)
        return 0;
    if (!(*data = alloc_data(L, r, name, err)))
        return -1;
    const unsigned char *src = (const unsigned char *)buf + L->data_off;
    if (convert(r, L->type, src, (size_t)L->numel, *data, 0, name, err) != 0) {
        free(*data);
        *data = NULL;
        return -1;
    }
    return 0;
}

/* The same from a file, read once: the header, then the data in chunks
 * (or at once when it needs no conversion). */
static int read_path(const char *path, const reader *r, layout *L, void **data, sl_error *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return sl_error_set(err, "%s: cannot read: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return sl_error_set(err, "%s: %s", path,
                            S_ISDIR(st.st_mode) ? "is a directory, not a .npy file"
                                                : "not a regular file");
    }
    size_t len = (size_t)st.st_size;
    unsigned char head[MAX_PREAMBLE + MAX_HEADER];
    size_t want = len < sizeof head ? len : sizeof head;
    int rc = 0;
    char *out = NULL;
    if (fread(head, 1, want, f) != want)
        rc = sl_error_set(err, "%s: cannot read: %s", path,
                          ferror(f) ? strerror(errno) : "the file shrank while being read");
    if (rc == 0)
        rc = parse_prefix(head, want, len, path, r, L, err);
    if (rc == 0 && L->numel > 0) {
        if (!(out = alloc_data(L, r, path, err)))
            rc = -1;
        else if (fseek(f, (long)L->data_off, SEEK_SET) != 0)
            rc = sl_error_set(err, "%s: cannot read: %s", path, strerror(errno));
    }
    if (rc == 0 && out) {
        size_t size = L->type->size, numel = (size_t)L->numel;
        bool as_is = size == 4 && (!r->ints || L->type->kind == 'i'); /* '<f4', or '<i4' */
        unsigned char chunk[8 * 1024];
        size_t per = as_is ? numel : sizeof chunk / size;
        for (size_t done = 0; rc == 0 && done < numel;) {
            size_t n = numel - done < per ? numel - done : per;
            if (fread(as_is ? (unsigned char *)out : chunk, size, n, f) != n)
                rc = sl_error_set(err, "%s: cannot read: %s", path, ferror(f) ? strerror(errno)
                                  : "the file shrank while being read");
            else if (!as_is)
                rc = convert(r, L->type, chunk, n, out + 4 * done, done, path, err);
            done += n;
        }
    }
    fclose(f);
    if (rc != 0) {
        free(out);
        return -1;
    }
    *data = out;
    return 0;
}

int sl_npy_read_mem(const void *buf, size_t len, const char *name, sl_npy *out, sl_error *err)
{
    memset(out, 0, sizeof *out);
    layout L;
    void *data;
    if (read_mem(buf, len, name ? name : "<memory>", &f32_reader, &L, &data, err) != 0)
        return -1;
    *out = (sl_npy){L.h.rank, {0}, L.numel, data};
    memcpy(out->shape, L.h.shape, sizeof out->shape);
    return 0;
}

int sl_npy_read(const char *path, sl_npy *out, sl_error *err)
{
    memset(out, 0, sizeof *out);
    layout L;
    void *data;
    if (read_path(path, &f32_reader, &L, &data, err) != 0)
        return -1;
    *out = (sl_npy){L.h.rank, {0}, L.numel, data};
    memcpy(out->shape, L.h.shape, sizeof out->shape);
    return 0;
}

int sl_npy_read_i32_mem(const void *buf, size_t len, const char *name, sl_npy_i32 *out,
                        sl_error *err)
{
    memset(out, 0, sizeof *out);
    layout L;
    void *data;
    if (read_mem(buf, len, name ? name : "<memory>", &i32_reader, &L, &data, err) != 0)
        return -1;
    *out = (sl_npy_i32){L.h.rank, {0}, L.numel, data};
    memcpy(out->shape, L.h.shape, sizeof out->shape);
    return 0;
}

int sl_npy_read_i32(const char *path, sl_npy_i32 *out, sl_error *err)
{
    memset(out, 0, sizeof *out);
    layout L;
    void *data;
    if (read_path(path, &i32_reader, &L, &data, err) != 0)
        return -1;
    *out = (sl_npy_i32){L.h.rank, {0}, L.numel, data};
    memcpy(out->shape, L.h.shape, sizeof out->shape);
    return 0;
}

void sl_npy_free(sl_npy *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

void sl_npy_i32_free(sl_npy_i32 *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- writing ---------------------------------------------------------------------- */

/* The header NumPy (1.24 and later) writes for the same array, byte for byte:
 * the dict, spare spaces so the first dimension can grow in place, then
 * spaces so the data starts at a multiple of 64 after the `pre`-byte
 * preamble (10 for version 1.0, 12 for 2.0 and 3.0), then '\n'.  Returns
 * the header's length (without the preamble), or 0 if it does not fit. */
static size_t npy_header(char *buf, size_t cap, int32_t rank, const int64_t *shape, size_t pre)
{
    size_t n = (size_t)snprintf(buf, cap, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "%s), }", rank == 1 ? "," : "");
    if (rank > 0 && n < cap) {
        int digits = snprintf(NULL, 0, "%lld", (long long)shape[0]);
        for (int i = digits; i < GROWTH_AXIS_DIGITS && n < cap; i++)
            buf[n++] = ' ';
    }
    size_t pad = ARRAY_ALIGN - (pre + n + 1) % ARRAY_ALIGN; /* 1..64, as NumPy does */
    if (n + pad + 1 >= cap)
        return 0;
    memset(buf + n, ' ', pad);
    n += pad;
    buf[n++] = '\n';
    return n;
}

int sl_npy_write_version(sl_outfile *o, int major, const float *data, int32_t rank,
                         const int64_t *shape, sl_error *err)
{
    const char *path = o->path;
    if (major < 0 || major > 3)
        return sl_error_set(err, "%s: no .npy format version %d.0 (1.0, 2.0 or 3.0)", path,
                            major);
    if (rank < 0 || rank > SL_NPY_MAX_RANK)
        return sl_error_set(err, "%s: cannot write an array of %d dimensions (at most %d)", path,
                            rank, SL_NPY_MAX_RANK);
    int64_t numel = 1;
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(numel, shape[i], &numel) ||
            (uint64_t)numel > SIZE_MAX / sizeof(float))
            return sl_error_set(err, "%s: cannot write an array with dimension %lld (negative, "
                                "or too many elements)", path, (long long)shape[i]);
    if (numel > 0 && !data)
        return sl_error_set(err, "%s: no data to write", path);
    char hdr[512];
    size_t hlen = 0;
    /* As numpy.lib.format does with version=None: 1.0 if the header's
     * length fits its 2-byte field, else 2.0 (3.0 only adds UTF-8 field
     * names, which '<f4' headers never need). */
    if (major == 0 || major == 1)
        hlen = npy_header(hdr, sizeof hdr, rank, shape, 10);
    if (major == 0)
        major = hlen > 0 && hlen <= 0xffff ? 1 : 2;
    if (major >= 2)
        hlen = npy_header(hdr, sizeof hdr, rank, shape, 12);
    if (hlen == 0 || (major == 1 && hlen > 0xffff))
        return sl_error_set(err, "%s: the .npy header does not fit", path);

    unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    size_t npre = major == 1 ? 10 : 12;
    for (size_t b = 0; b < npre - 8; b++)
        pre[8 + b] = (unsigned char)(hlen >> (8 * b));
    bool ok = fwrite(pre, 1, npre, o->f) == npre && fwrite(hdr, 1, hlen, o->f) == hlen;
    if (ok && numel > 0)
        ok = fwrite(data, sizeof *data, (size_t)numel, o->f) == (size_t)numel;
    return sl_outfile_finish(o, ok, err);
}

int sl_npy_write_to(sl_outfile *o, const float *data, int32_t rank, const int64_t *shape,
                    sl_error *err)
{
    return sl_npy_write_version(o, 0, data, rank, shape, err);
}

int sl_npy_write(const char *path, const float *data, int32_t rank, const int64_t *shape,
                 sl_error *err)
{
    sl_outfile o;
    if (sl_outfile_open(&o, path, err) != 0)
        return -1;
    if (sl_npy_write_to(&o, data, rank, shape, err) != 0 || sl_outfile_commit(&o, err) != 0) {
        sl_outfile_discard(&o);
        return -1;
    }
    return 0;
}
