/* arena.c - the compilation's one arena: bump allocation in chunks, all
 * released at once.  Allocation failure aborts with a message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang.h"

struct sl_arena_chunk {
    sl_arena_chunk *next;        /* older chunk */
    _Alignas(16) unsigned char data[]; /* payload */
};

enum { CHUNK_SIZE = 64 * 1024, ALIGN = 16 };

_Noreturn void sl_out_of_memory(void)
{
    fputs("sluicec: fatal error: out of memory\n", stderr);
    abort();
}

void sl_arena_init(sl_arena *a)
{
    a->head = NULL;
    a->used = a->cap = 0;
}

void sl_arena_free(sl_arena *a)
{
    sl_arena_chunk *c = a->head;
    while (c) {
        sl_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    sl_arena_init(a);
}

void *sl_arena_alloc(sl_arena *a, size_t size)
{
    size_t rounded = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (rounded < size)
        sl_out_of_memory();
    if (!a->head || a->cap - a->used < rounded) {
        /* Big requests get a chunk of their own. */
        size_t cap = rounded > CHUNK_SIZE ? rounded : CHUNK_SIZE;
        if (cap > SIZE_MAX - sizeof(sl_arena_chunk))
            sl_out_of_memory();
        sl_arena_chunk *c = malloc(sizeof *c + cap);
        if (!c)
            sl_out_of_memory();
        c->next = a->head;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += rounded;
    memset(p, 0, size);
    return p;
}

void *sl_arena_array(sl_arena *a, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        sl_out_of_memory();
    return sl_arena_alloc(a, total);
}

char *sl_arena_strndup(sl_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        sl_out_of_memory();
    char *p = sl_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sl_arena_strdup(sl_arena *a, const char *s)
{
    return sl_arena_strndup(a, s, strlen(s));
}

char *sl_arena_printf(sl_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        sl_out_of_memory();
    char *p = sl_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Double the capacity; the old array stays in the arena (at most as much
 * waste again as the final array). */
void sl_vec_grow(sl_arena *a, void **items, size_t *cap, size_t elem_size)
{
    size_t new_cap = *cap ? *cap * 2 : 8;
    if (new_cap < *cap)
        sl_out_of_memory();
    void *p = sl_arena_array(a, new_cap, elem_size);
    if (*cap)
        memcpy(p, *items, *cap * elem_size);
    *items = p;
    *cap = new_cap;
}
