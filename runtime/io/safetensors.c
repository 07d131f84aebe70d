/* safetensors.c - a validated, zero-copy safetensors reader.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (an
 * object: tensor name -> {dtype, shape, data_offsets}, and an optional
 * "__metadata__" of strings), then the data section the offsets index.
 * Everything the format's reference implementation checks is checked here,
 * every size from the file overflow-checked before it is used; F32 data is
 * used in place, F16 and BF16 are converted to F32 once. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sluice/safetensors.h"
#include "f16.h"

#define MAX_HEADER 100000000u /* the reference implementation's bound */

struct sl_st_file {
    char *name;             /* for messages */
    const unsigned char *base; /* the whole file */
    size_t size;
    bool mapped;            /* base is an mmap of size bytes */
    int64_t n;
    sl_st_tensor *tensors;  /* sorted by data offset: file order */
    int64_t *by_name;       /* indices sorted by name, for sl_st_find */
    char **names;           /* owned copies */
    float **converted;      /* F32 copies of F16/BF16 tensors (or NULL) */
};

typedef struct dtype_info {
    const char *name;
    size_t size;
    sl_st_dtype dtype;
} dtype_info;

static const dtype_info dtypes[] = {
    {"BOOL", 1, SL_ST_OTHER}, {"U8", 1, SL_ST_OTHER},   {"I8", 1, SL_ST_OTHER},
    {"F8_E5M2", 1, SL_ST_OTHER}, {"F8_E4M3", 1, SL_ST_OTHER},
    {"I16", 2, SL_ST_OTHER},  {"U16", 2, SL_ST_OTHER},  {"F16", 2, SL_ST_F16},
    {"BF16", 2, SL_ST_BF16},  {"I32", 4, SL_ST_OTHER},  {"U32", 4, SL_ST_OTHER},
    {"F32", 4, SL_ST_F32},    {"I64", 8, SL_ST_OTHER},  {"U64", 8, SL_ST_OTHER},
    {"F64", 8, SL_ST_OTHER},
};

static const dtype_info *find_dtype(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return &dtypes[i];
    return NULL;
}

/* Parsing state: the tensors as read, with their byte ranges. */
typedef struct entry {
    sl_st_tensor t;
    uint64_t begin, end;
    size_t elem_size;
} entry;

static int cmp_offset(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
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
        if (f->converted)
            free(f->converted[i]);
    }
    free(f->names);
    free(f->converted);
    free(f->tensors);
    free(f->by_name);
    if (f->mapped && f->size)
        munmap((void *)f->base, f->size);
    free(f->name);
    free(f);
}

/* "[2, 3]" into buf */
static const char *shape_str(const int64_t *shape, int rank, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

/* Read one tensor's description; name is the JSON key. */
static int read_entry(const char *file, const char *name, json_t *info, entry *e,
                      sl_error *err)
{
    if (!json_is_object(info))
        return sl_error_set(err, "%s: tensor '%s': expected an object with dtype, shape and "
                            "data_offsets", file, name);
    json_t *dt = json_object_get(info, "dtype"), *shape = json_object_get(info, "shape"),
           *offs = json_object_get(info, "data_offsets");
    if (!json_is_string(dt))
        return sl_error_set(err, "%s: tensor '%s': 'dtype' missing or not a string", file, name);
    if (!json_is_array(shape))
        return sl_error_set(err, "%s: tensor '%s': 'shape' missing or not an array", file, name);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return sl_error_set(err, "%s: tensor '%s': 'data_offsets' must be an array of two "
                            "integers", file, name);
    const dtype_info *d = find_dtype(json_string_value(dt));
    if (!d)
        return sl_error_set(err, "%s: tensor '%s': unknown dtype '%s'", file, name,
                            json_string_value(dt));
    size_t rank = json_array_size(shape);
    if (rank > SL_ST_MAX_RANK)
        return sl_error_set(err, "%s: tensor '%s': rank %zu is more than %d dimensions", file,
                            name, rank, SL_ST_MAX_RANK);
    memset(e, 0, sizeof *e);
    e->t.dtype = d->dtype;
    e->t.dtype_name = d->name;
    e->t.rank = (int32_t)rank;
    e->elem_size = d->size;
    int64_t numel = 1;
    for (size_t i = 0; i < rank; i++) {
        json_t *v = json_array_get(shape, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return sl_error_set(err, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                                file, name, i);
        e->t.shape[i] = (int64_t)json_integer_value(v);
        if (__builtin_mul_overflow(numel, e->t.shape[i], &numel))
            return sl_error_set(err, "%s: tensor '%s': the shape's element count overflows",
                                file, name);
    }
    e->t.numel = numel;
    for (int i = 0; i < 2; i++) {
        json_t *v = json_array_get(offs, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return sl_error_set(err, "%s: tensor '%s': data_offsets[%d] is not a non-negative "
                                "integer", file, name, i);
    }
    e->begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
    e->end = (uint64_t)json_integer_value(json_array_get(offs, 1));
    if (e->end < e->begin)
        return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] end before they "
                            "begin", file, name, (unsigned long long)e->begin,
                            (unsigned long long)e->end);
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)numel, (uint64_t)d->size, &bytes) ||
        bytes != e->end - e->begin) {
        char sb[256];
        return sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] give %llu bytes, "
                            "but shape %s of %s needs %llu", file, name,
                            (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin),
                            shape_str(e->t.shape, e->t.rank, sb, sizeof sb), d->name,
                            (unsigned long long)((uint64_t)numel * d->size));
    }
    return 0;
}

/* Parse and validate a whole file held in memory at f->base. */
static int parse(sl_st_file *f, sl_error *err)
{
    const char *file = f->name;
    if (f->size < 8)
        return sl_error_set(err, "%s: not a safetensors file: %zu bytes, too short for the "
                            "8-byte header length", file, f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | f->base[i];
    if (n > MAX_HEADER)
        return sl_error_set(err, "%s: header length %llu is more than the limit of %u bytes",
                            file, (unsigned long long)n, MAX_HEADER);
    if (n > f->size - 8)
        return sl_error_set(err, "%s: header length %llu runs past the end of the file "
                            "(%zu bytes)", file, (unsigned long long)n, f->size);
    json_error_t je;
    /* Whitespace around the object is fine (writers pad with spaces). */
    json_t *root = json_loadb((const char *)f->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (strstr(je.text, "duplicate"))
            return sl_error_set(err, "%s: header: a tensor name appears twice (%s)", file,
                                je.text);
        return sl_error_set(err, "%s: header is not valid JSON: %s (at byte %d of the header)",
                            file, je.text, je.position);
    }
    int rc = 0;
    if (!json_is_object(root)) {
        rc = sl_error_set(err, "%s: header is JSON but not an object", file);
        goto done;
    }
    size_t count = json_object_size(root);
    entry *es = calloc(count ? count : 1, sizeof *es);
    if (!es) {
        rc = sl_error_set(err, "%s: out of memory", file);
        goto done;
    }
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = sl_error_set(err, "%s: '__metadata__' must be an object of strings", file);
                break;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    rc = sl_error_set(err, "%s: '__metadata__' value '%s' is not a string",
                                      file, mk);
                    break;
                }
            }
            if (rc)
                break;
            continue;
        }
        if ((rc = read_entry(file, key, val, &es[k], err)) != 0)
            break;
        es[k].t.name = key; /* for now: copied below */
        k++;
    }
    uint64_t data = f->size - 8 - n;
    if (rc == 0) {
        /* The data section is covered exactly: sorted by offset, each tensor
         * begins where the last ended, and the last ends at the file's end. */
        qsort(es, k, sizeof *es, cmp_offset);
        uint64_t at = 0;
        for (size_t i = 0; i < k && rc == 0; i++) {
            if (es[i].begin > at)
                rc = sl_error_set(err, "%s: tensor '%s': data_offsets begin at %llu, leaving "
                                  "bytes %llu to %llu unused", file, es[i].t.name,
                                  (unsigned long long)es[i].begin, (unsigned long long)at,
                                  (unsigned long long)es[i].begin);
            else if (es[i].begin < at)
                rc = sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] overlap the "
                                  "tensor before it", file, es[i].t.name,
                                  (unsigned long long)es[i].begin, (unsigned long long)es[i].end);
            else if (es[i].end > data)
                rc = sl_error_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] run past the "
                                  "data section (%llu bytes)", file, es[i].t.name,
                                  (unsigned long long)es[i].begin, (unsigned long long)es[i].end,
                                  (unsigned long long)data);
            at = es[i].end;
        }
        if (rc == 0 && at != data)
            rc = sl_error_set(err, "%s: %llu bytes after the last tensor's data (the data "
                              "section is %llu bytes, the tensors cover %llu)", file,
                              (unsigned long long)(data - at), (unsigned long long)data,
                              (unsigned long long)at);
    }
    if (rc == 0) {
        f->n = (int64_t)k;
        f->tensors = calloc(k ? k : 1, sizeof *f->tensors);
        f->names = calloc(k ? k : 1, sizeof *f->names);
        f->converted = calloc(k ? k : 1, sizeof *f->converted);
        f->by_name = calloc(k ? k : 1, sizeof *f->by_name);
        if (!f->tensors || !f->names || !f->converted || !f->by_name)
            rc = sl_error_set(err, "%s: out of memory", file);
    }
    for (size_t i = 0; rc == 0 && i < k; i++) {
        sl_st_tensor *t = &f->tensors[i];
        *t = es[i].t;
        f->names[i] = strdup(es[i].t.name);
        if (!f->names[i]) {
            rc = sl_error_set(err, "%s: out of memory", file);
            break;
        }
        t->name = f->names[i];
        const unsigned char *p = f->base + 8 + n + es[i].begin;
        if (t->dtype == SL_ST_F32) {
            t->data = (const float *)(const void *)p; /* any alignment: kernels load unaligned */
        } else if (t->dtype == SL_ST_F16 || t->dtype == SL_ST_BF16) {
            float *out = malloc(t->numel ? (size_t)t->numel * sizeof(float) : 1);
            if (!out) {
                rc = sl_error_set(err, "%s: tensor '%s': out of memory converting %s to F32",
                                  file, t->name, t->dtype_name);
                break;
            }
            for (int64_t j = 0; j < t->numel; j++) {
                uint16_t h = (uint16_t)(p[2 * j] | p[2 * j + 1] << 8);
                out[j] = t->dtype == SL_ST_F16 ? sl_f16_to_f32(h) : sl_bf16_to_f32(h);
            }
            f->converted[i] = out;
            t->data = out;
        }
    }
    if (rc == 0) {
        named *order = calloc(k ? k : 1, sizeof *order);
        if (!order) {
            rc = sl_error_set(err, "%s: out of memory", file);
        } else {
            for (size_t i = 0; i < k; i++)
                order[i] = (named){f->tensors[i].name, (int64_t)i};
            qsort(order, k, sizeof *order, cmp_name);
            for (size_t i = 0; i < k; i++)
                f->by_name[i] = order[i].index;
            free(order);
        }
    }
    free(es);
done:
    json_decref(root);
    return rc;
}

static sl_st_file *new_file(const char *name, sl_error *err)
{
    sl_st_file *f = calloc(1, sizeof *f);
    if (f)
        f->name = strdup(name);
    if (!f || !f->name) {
        free(f);
        sl_error_set(err, "%s: out of memory", name);
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
    f->size = len;
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
        sl_error_set(err, "%s: not a regular file", path);
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
            f->size = 0;
            sl_st_close(f);
            return NULL;
        }
        f->base = p;
        f->mapped = true;
    } else {
        f->base = (const unsigned char *)"";
    }
    close(fd);
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
