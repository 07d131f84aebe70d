/* safetensors.c - a validated, zero-copy safetensors reader.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (an
 * object: tensor name -> {dtype, shape, data_offsets}, and an optional
 * "__metadata__" object of strings), then the data section the offsets
 * index, from 0.  Everything the format's reference implementation checks
 * is checked here (docs/runtime.md lists it), and every number from the file
 * is overflow- and bounds-checked before it is used.  F32 data is used in
 * place; F16, BF16 and F64 are converted to F32 once, on open. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sluice/safetensors.h"
#include "sluice/text.h"
#include "f16.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the safetensors reader assumes a little-endian host (F32 data is used in place)"
#endif

#define MAX_HEADER 100000000u /* the reference implementation's bound, in bytes */

struct sl_st_file {
    char *name;                /* for messages */
    const unsigned char *base; /* the whole file */
    size_t size;
    bool mapped;               /* base is our mmap of size bytes */
    int64_t n;
    sl_st_tensor *tensors;     /* [n], by data offset: file order */
    int64_t *by_name;          /* [n], indices sorted by name, for sl_st_find */
    char **names;              /* [n], owned copies of the names */
    float **owned;             /* [n], F32 data we allocated (converted or realigned), or NULL */
};

typedef struct dtype_info {
    const char *name;
    uint64_t size;             /* bytes per element */
    sl_st_dtype dtype;
} dtype_info;

/* The reference implementation's dtypes (safetensors 0.5) that have whole
 * bytes per element; the sub-byte F4/F6 kinds are not known here. */
static const dtype_info dtypes[] = {
    {"BOOL", 1, SL_ST_OTHER},    {"U8", 1, SL_ST_OTHER},      {"I8", 1, SL_ST_OTHER},
    {"F8_E5M2", 1, SL_ST_OTHER}, {"F8_E4M3", 1, SL_ST_OTHER}, {"F8_E8M0", 1, SL_ST_OTHER},
    {"I16", 2, SL_ST_OTHER},     {"U16", 2, SL_ST_OTHER},     {"F16", 2, SL_ST_F16},
    {"BF16", 2, SL_ST_BF16},     {"I32", 4, SL_ST_OTHER},     {"U32", 4, SL_ST_OTHER},
    {"F32", 4, SL_ST_F32},       {"I64", 8, SL_ST_OTHER},     {"U64", 8, SL_ST_OTHER},
    {"F64", 8, SL_ST_F64},
};

static const dtype_info *find_dtype(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return &dtypes[i];
    return NULL;
}

/* A tensor as read from the header, before the data section is checked. */
typedef struct entry {
    sl_st_tensor t;            /* t.name points into the JSON until copied */
    uint64_t begin, end;       /* data_offsets */
    uint64_t elem_size;
} entry;

static int cmp_offset(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->t.name, y->t.name); /* empty tensors may share an offset */
}

typedef struct named {
    const char *name;
    int64_t index;
} named;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

void sl_st_close(sl_st_file *f)
{
    if (!f)
        return;
    for (int64_t i = 0; i < f->n; i++) {
        if (f->names)
            free(f->names[i]);
        if (f->owned)
            free(f->owned[i]);
    }
    free(f->names);
    free(f->owned);
    free(f->tensors);
    free(f->by_name);
    if (f->mapped)
        munmap((void *)f->base, f->size);
    free(f->name);
    free(f);
}

/* "a string", "an array", ...: what a JSON value is, for messages. */
static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* The JSON text of a small value (a shape, data_offsets) for messages:
 * jansson's default separators give "[1, 2]". */
static const char *json_text(const json_t *v, char *buf, size_t cap)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    snprintf(buf, cap, "%s", s ? s : "?");
    free(s);
    return buf;
}

/* tensor name -> {"dtype": D, "shape": [..], "data_offsets": [b, e]}; name is
 * the JSON key.  Checks everything that needs no other tensor. */
static int read_entry(const char *file, const char *name, json_t *info, uint64_t data_len,
                      entry *e, sl_error *err)
{
    char a[256], b[256];
    if (!json_is_object(info))
        return sl_error_set(err, "%s: tensor '%s': expected an object with dtype, shape and "
                            "data_offsets, found %s", file, name, json_kind(info));
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!json_object_get(info, keys[i]))
            return sl_error_set(err, "%s: tensor '%s': no \"%s\"", file, name, keys[i]);
    json_t *dt = json_object_get(info, "dtype"), *shape = json_object_get(info, "shape"),
           *offs = json_object_get(info, "data_offsets");
    if (!json_is_string(dt))
        return sl_error_set(err, "%s: tensor '%s': \"dtype\" is %s, expected a string", file,
                            name, json_kind(dt));
    const dtype_info *d = find_dtype(json_string_value(dt));
    if (!d)
        return sl_error_set(err, "%s: tensor '%s': unknown dtype '%s' (expected one of BOOL, U8, "
                            "I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, "
                            "I64, U64, F64)", file, name, json_string_value(dt));
    if (!json_is_array(shape))
        return sl_error_set(err, "%s: tensor '%s': \"shape\" is %s, expected an array of "
                            "dimensions", file, name, json_kind(shape));
    size_t rank = json_array_size(shape);
    if (rank > SL_ST_MAX_RANK)
        return sl_error_set(err, "%s: tensor '%s': shape %s has %zu dimensions, more than the "
                            "%d Sluice reads", file, name, json_text(shape, a, sizeof a), rank,
                            SL_ST_MAX_RANK);
    memset(e, 0, sizeof *e);
    e->t.dtype = d->dtype;
    e->t.dtype_name = d->name;
    e->t.rank = (int32_t)rank;
    e->elem_size = d->size;
    for (size_t i = 0; i < rank; i++) {
        json_t *v = json_array_get(shape, i);
        if (!json_is_integer(v))
            return sl_error_set(err, "%s: tensor '%s': shape %s: dimension %zu is %s, expected "
                                "a non-negative integer", file, name,
                                json_text(shape, a, sizeof a), i, json_kind(v));
        if (json_integer_value(v) < 0)
            return sl_error_set(err, "%s: tensor '%s': shape %s has a negative dimension", file,
                                name, json_text(shape, a, sizeof a));
        e->t.shape[i] = (int64_t)json_integer_value(v);
    }
    /* Overflow-checked: the product of the dimensions, then bytes. */
    int64_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < rank && !overflow; i++)
        overflow = __builtin_mul_overflow(numel, e->t.shape[i], &numel);
    if (overflow)
        return sl_error_set(err, "%s: tensor '%s': shape %s has more elements than fit in 64 "
                            "bits", file, name, sl_shape_str(e->t.shape, e->t.rank, a, sizeof a));
    e->t.numel = numel;

    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
        return sl_error_set(err, "%s: tensor '%s': \"data_offsets\" is %s, expected [begin, end], "
                            "two integers", file, name,
                            json_is_array(offs) ? json_text(offs, a, sizeof a) : json_kind(offs));
    json_int_t jb = json_integer_value(json_array_get(offs, 0)),
               je = json_integer_value(json_array_get(offs, 1));
    if (jb < 0 || je < 0)
        return sl_error_set(err, "%s: tensor '%s': data_offsets %s has a negative offset", file,
                            name, json_text(offs, a, sizeof a));
    e->begin = (uint64_t)jb;
    e->end = (uint64_t)je;
    if (e->end < e->begin)
        return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] end before they "
                            "begin", file, name, (unsigned long long)e->begin,
                            (unsigned long long)e->end);
    if (e->end > data_len)
        return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of "
                            "the data section (%llu bytes)", file, name,
                            (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)data_len);
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)numel, d->size, &bytes))
        return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] give %llu bytes, "
                            "but shape %s of %s needs more than 2^64", file, name,
                            (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin),
                            sl_shape_str(e->t.shape, e->t.rank, b, sizeof b), d->name);
    if (bytes != e->end - e->begin)
        return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] give %llu bytes, "
                            "but shape %s of %s needs %llu", file, name,
                            (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin),
                            sl_shape_str(e->t.shape, e->t.rank, b, sizeof b), d->name,
                            (unsigned long long)bytes);
    return 0;
}

/* "__metadata__": an object of strings, nothing else. */
static int check_metadata(const char *file, json_t *meta, sl_error *err)
{
    if (!json_is_object(meta))
        return sl_error_set(err, "%s: \"__metadata__\" is %s, expected an object of strings",
                            file, json_kind(meta));
    /* A tensor entry under the reserved name (dtype, shape, data_offsets). */
    if (json_object_get(meta, "dtype") && json_object_get(meta, "data_offsets"))
        return sl_error_set(err, "%s: a tensor is named \"__metadata__\"; that name is "
                            "reserved for the file's metadata", file);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return sl_error_set(err, "%s: \"__metadata__\": the value of '%s' is %s, expected a "
                                "string", file, k, json_kind(v));
    }
    return 0;
}

/* A JSON syntax error; jansson's duplicate-key text, "duplicate object key
 * near '"a"'", is turned into one that names the key. */
static int json_failure(const char *file, const json_error_t *je, sl_error *err)
{
    if (json_error_code(je) == json_error_duplicate_key) {
        const char *near = strstr(je->text, "near '");
        int len = 0;
        if (near) {
            near += 6;
            len = (int)strlen(near);
            if (len > 0 && near[len - 1] == '\'')
                len--;
        }
        return sl_error_set(err, "%s: header: key %.*s appears twice (at byte %d of the header); "
                            "a tensor name, or a field of one tensor, may appear only once", file, len, near ? near : "?", je->position);
    }
    return sl_error_set(err, "%s: header is not valid JSON: %s (at byte %d of the header)", file,
                        je->text, je->position);
}

/* v as short as it reads back exactly: "1e+39", "3.4028235677973366e+38". */
static const char *num_str(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, cap, "%.17g", v);
    return buf;
}

/* F64 to F32, rounded to nearest as PyTorch's .float() does.  A finite
 * value the rounding would make infinite (half an F32 ulp above FLT_MAX or
 * more) is an error naming it; NaN and infinities stay what they are, and
 * values too small for F32 become 0 or subnormals. */
static int convert_f64(const sl_st_file *f, const sl_st_tensor *t, const unsigned char *p,
                       float *out, sl_error *err)
{
    for (int64_t j = 0; j < t->numel; j++) {
        double v;
        memcpy(&v, p + 8 * j, sizeof v);
        if (isfinite(v) && fabs(v) >= 0x1.ffffffp127) {
            char num[32];
            return sl_error_set(err, "%s: tensor '%s': element %lld is %s, outside F32's range "
                                "(F64 tensors are converted to F32)", f->name, t->name,
                                (long long)j, num_str(v, num, sizeof num));
        }
        out[j] = (float)v;
    }
    return 0;
}

/* F32 data for tensor i at p: in place when aligned for float, else copied;
 * F16, BF16 and F64 converted.  Little-endian bytes in every case. */
static int load_data(sl_st_file *f, int64_t i, const unsigned char *p, sl_error *err)
{
    sl_st_tensor *t = &f->tensors[i];
    if (t->dtype == SL_ST_OTHER)
        return 0;
    if (t->dtype == SL_ST_F32 && (uintptr_t)p % alignof(float) == 0) {
        t->data = (const float *)(const void *)p;
        return 0;
    }
    /* numel * 4 fits: the file holds numel * (2, 4 or 8) bytes. */
    float *out = malloc(t->numel ? (size_t)t->numel * sizeof(float) : 1);
    if (!out)
        return sl_error_set(err, "%s: tensor '%s': out of memory for %lld floats", f->name,
                            t->name, (long long)t->numel);
    if (t->dtype == SL_ST_F32) {
        memcpy(out, p, (size_t)t->numel * sizeof(float));
    } else if (t->dtype == SL_ST_F64) {
        if (convert_f64(f, t, p, out, err) != 0) {
            free(out);
            return -1;
        }
    } else {
        for (int64_t j = 0; j < t->numel; j++) {
            uint16_t h = (uint16_t)(p[2 * j] | p[2 * j + 1] << 8);
            out[j] = t->dtype == SL_ST_F16 ? sl_f16_to_f32(h) : sl_bf16_to_f32(h);
        }
    }
    f->owned[i] = out;
    t->data = out;
    return 0;
}

/* The data section is covered exactly: sorted by offset, every tensor begins
 * where the one before ended, and the last ends where the file does. */
static int check_coverage(const char *file, const entry *es, size_t k, uint64_t data_len,
                          sl_error *err)
{
    uint64_t at = 0;
    for (size_t i = 0; i < k; i++) {
        if (es[i].begin > at)
            return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] leave a hole: "
                                "bytes %llu to %llu of the data section belong to no tensor",
                                file, es[i].t.name, (unsigned long long)es[i].begin,
                                (unsigned long long)es[i].end, (unsigned long long)at,
                                (unsigned long long)es[i].begin);
        if (es[i].begin < at)
            return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor "
                                "'%s' [%llu, %llu]", file, es[i].t.name,
                                (unsigned long long)es[i].begin, (unsigned long long)es[i].end,
                                es[i - 1].t.name, (unsigned long long)es[i - 1].begin,
                                (unsigned long long)es[i - 1].end);
        at = es[i].end;
    }
    if (at != data_len && k == 0)
        return sl_error_set(err, "%s: the header lists no tensors, but %llu bytes of data follow "
                            "it", file, (unsigned long long)data_len);
    if (at != data_len)
        return sl_error_set(err, "%s: %llu bytes after the last tensor's data: the data section "
                            "has %llu bytes, the tensors cover %llu", file,
                            (unsigned long long)(data_len - at), (unsigned long long)data_len,
                            (unsigned long long)at);
    return 0;
}

/* Copy the validated entries into f: names, data, the by-name index. */
static int build(sl_st_file *f, const entry *es, size_t k, const unsigned char *data,
                 sl_error *err)
{
    size_t cap = k ? k : 1;
    f->tensors = calloc(cap, sizeof *f->tensors);
    f->names = calloc(cap, sizeof *f->names);
    f->owned = calloc(cap, sizeof *f->owned);
    f->by_name = calloc(cap, sizeof *f->by_name);
    named *order = calloc(cap, sizeof *order);
    if (!f->tensors || !f->names || !f->owned || !f->by_name || !order) {
        free(order);
        return sl_error_set(err, "%s: out of memory for %zu tensors", f->name, k);
    }
    f->n = (int64_t)k; /* sl_st_close frees what is set so far */
    for (size_t i = 0; i < k; i++) {
        f->tensors[i] = es[i].t;
        f->names[i] = strdup(es[i].t.name);
        if (!f->names[i]) {
            free(order);
            return sl_error_set(err, "%s: out of memory", f->name);
        }
        f->tensors[i].name = f->names[i];
        if (load_data(f, (int64_t)i, data + es[i].begin, err) != 0) {
            free(order);
            return -1;
        }
        order[i] = (named){f->names[i], (int64_t)i};
    }
    qsort(order, k, sizeof *order, cmp_name);
    for (size_t i = 0; i < k; i++)
        f->by_name[i] = order[i].index;
    free(order);
    return 0;
}

/* Parse and validate the whole file, held at f->base. */
static int parse(sl_st_file *f, sl_error *err)
{
    const char *file = f->name;
    if (f->size == 0)
        return sl_error_set(err, "%s: empty file (a safetensors file starts with an 8-byte "
                            "header length)", file);
    if (f->size < 8)
        return sl_error_set(err, "%s: %zu bytes, too short for a safetensors file (the header "
                            "length alone is 8 bytes)", file, f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | f->base[i];
    if (n > MAX_HEADER)
        return sl_error_set(err, "%s: header length %llu is more than the limit of %u bytes "
                            "(is this a safetensors file?)", file, (unsigned long long)n,
                            MAX_HEADER);
    if (n > f->size - 8)
        return sl_error_set(err, "%s: header length %llu runs past the end of the file (%zu "
                            "bytes follow the length)", file, (unsigned long long)n,
                            f->size - 8);
    uint64_t data_len = f->size - 8 - n;
    const unsigned char *data = f->base + 8 + n;

    /* Whitespace around the object is fine: writers pad the header with
     * spaces to align the data. */
    json_error_t je;
    json_t *root = json_loadb((const char *)f->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return json_failure(file, &je, err);
    int rc = 0;
    entry *es = NULL;
    if (!json_is_object(root)) {
        rc = sl_error_set(err, "%s: header is %s, expected a JSON object of tensors", file,
                          json_kind(root));
        goto done;
    }
    size_t count = json_object_size(root);
    es = calloc(count ? count : 1, sizeof *es);
    if (!es) {
        rc = sl_error_set(err, "%s: out of memory for %zu tensors", file, count);
        goto done;
    }
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0)
            rc = check_metadata(file, val, err);
        else if ((rc = read_entry(file, key, val, data_len, &es[k], err)) == 0)
            es[k++].t.name = key; /* the JSON owns it until build() copies it */
        if (rc)
            goto done;
    }
    qsort(es, k, sizeof *es, cmp_offset);
    if ((rc = check_coverage(file, es, k, data_len, err)) == 0)
        rc = build(f, es, k, data, err);
done:
    free(es);
    json_decref(root);
    return rc;
}

static sl_st_file *new_file(const char *name, sl_error *err)
{
    sl_st_file *f = calloc(1, sizeof *f);
    if (f)
        f->name = strdup(name ? name : "<memory>");
    if (!f || !f->name) {
        free(f);
        sl_error_set(err, "%s: out of memory", name ? name : "<memory>");
        return NULL;
    }
    return f;
}

sl_st_file *sl_st_open_mem(const void *buf, size_t len, const char *name, sl_error *err)
{
    sl_st_file *f = new_file(name, err);
    if (!f)
        return NULL;
    f->base = buf;
    f->size = buf ? len : 0;
    if (parse(f, err) != 0) {
        sl_st_close(f);
        return NULL;
    }
    return f;
}

sl_st_file *sl_st_open(const char *path, sl_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sl_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sl_error_set(err, "%s: cannot read: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        sl_error_set(err, "%s: %s", path,
                     S_ISDIR(st.st_mode) ? "is a directory, not a safetensors file"
                                         : "not a regular file");
        close(fd);
        return NULL;
    }
    sl_st_file *f = new_file(path, err);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->size = (size_t)st.st_size;
    if (f->size > 0) {
        void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            sl_error_set(err, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            sl_st_close(f);
            return NULL;
        }
        f->base = p;
        f->mapped = true;
    }
    close(fd); /* the mapping stays */
    if (parse(f, err) != 0) {
        sl_st_close(f);
        return NULL;
    }
    return f;
}

const char *sl_st_name(const sl_st_file *f) { return f->name; }
int64_t sl_st_count(const sl_st_file *f) { return f->n; }

const sl_st_tensor *sl_st_at(const sl_st_file *f, int64_t i)
{
    return i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const sl_st_tensor *sl_st_find(const sl_st_file *f, const char *name)
{
    int64_t lo = 0, hi = f->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0)
            return &f->tensors[f->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
