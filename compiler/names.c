/* names.c - open addressing with linear probing, FNV-1a hashes; grows by
 * doubling at half full.  Old arrays stay in the arena (freed with it). */
#include <stdint.h>
#include <string.h>

#include "names.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static size_t slot(const sl_names *t, const char *key)
{
    size_t i = (size_t)hash(key) & (t->cap - 1);
    while (t->keys[i] && strcmp(t->keys[i], key) != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

int sl_names_get(const sl_names *t, const char *key)
{
    if (!t->cap)
        return -1;
    size_t i = slot(t, key);
    return t->keys[i] ? t->vals[i] : -1;
}

static void grow(sl_arena *a, sl_names *t)
{
    sl_names bigger = {sl_arena_array(a, t->cap ? 2 * t->cap : 16, sizeof *t->keys),
                       sl_arena_array(a, t->cap ? 2 * t->cap : 16, sizeof *t->vals),
                       t->cap ? 2 * t->cap : 16, 0};
    memset(bigger.keys, 0, bigger.cap * sizeof *bigger.keys);
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i]) {
            size_t j = slot(&bigger, t->keys[i]);
            bigger.keys[j] = t->keys[i];
            bigger.vals[j] = t->vals[i];
            bigger.len++;
        }
    *t = bigger;
}

void sl_names_put(sl_arena *a, sl_names *t, const char *key, int val)
{
    if (2 * (t->len + 1) > t->cap)
        grow(a, t);
    size_t i = slot(t, key);
    if (!t->keys[i]) {
        t->keys[i] = key;
        t->len++;
    }
    t->vals[i] = val;
}

sl_names sl_names_copy(sl_arena *a, const sl_names *t)
{
    sl_names c = *t;
    if (t->cap) {
        c.keys = sl_arena_array(a, t->cap, sizeof *c.keys);
        c.vals = sl_arena_array(a, t->cap, sizeof *c.vals);
        memcpy(c.keys, t->keys, t->cap * sizeof *c.keys);
        memcpy(c.vals, t->vals, t->cap * sizeof *c.vals);
    }
    return c;
}
