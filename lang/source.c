/* source.c - source files: loading, and offsets to line and column. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lang.h"

/* Index the line starts once; lines end at '\n' (a '\r' before it is just
 * another byte, shown as whitespace). */
static void index_lines(sl_ctx *c, sl_source *s)
{
    uint32_t n = 1;
    for (uint32_t i = 0; i < s->len; i++)
        n += s->text[i] == '\n';
    s->lines = sl_arena_array(&c->arena, n, sizeof *s->lines);
    s->n_lines = 0;
    s->lines[s->n_lines++] = 0;
    for (uint32_t i = 0; i < s->len; i++)
        if (s->text[i] == '\n')
            s->lines[s->n_lines++] = i + 1;
}

int sl_source_add_mem(sl_ctx *c, const char *path, const char *text, size_t len)
{
    if (len > SL_MAX_SOURCE_SIZE) {
        sl_error(c, SL_SPAN_NONE, "%s: file too large (%zu bytes; the limit is %zu)", path,
                 len, SL_MAX_SOURCE_SIZE);
        return -1;
    }
    sl_source s = {0};
    s.path = sl_arena_strdup(&c->arena, path);
    s.text = sl_arena_strndup(&c->arena, text, len);
    s.len = (uint32_t)len;
    index_lines(c, &s);
    SL_VEC_PUSH(&c->arena, &c->sources, s);
    return (int)c->sources.len - 1;
}

int sl_source_add_file(sl_ctx *c, const char *path, sl_span from)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_error(c, from, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        sl_error(c, from, "cannot read '%s': not a regular file", path);
        fclose(f);
        return -1;
    }
    if ((uint64_t)st.st_size > SL_MAX_SOURCE_SIZE) {
        sl_error(c, from, "%s: file too large (%lld bytes; the limit is %zu)", path,
                 (long long)st.st_size, SL_MAX_SOURCE_SIZE);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    char *buf = sl_arena_alloc(&c->arena, size + 1);
    size_t got = fread(buf, 1, size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != size) {
        sl_error(c, from, "cannot read '%s': %s", path,
                 failed ? strerror(errno) : "file changed while reading");
        return -1;
    }
    sl_source s = {0};
    s.path = sl_arena_strdup(&c->arena, path);
    s.text = buf;
    s.len = (uint32_t)size;
    index_lines(c, &s);
    SL_VEC_PUSH(&c->arena, &c->sources, s);
    return (int)c->sources.len - 1;
}

void sl_source_linecol(const sl_source *s, uint32_t off, uint32_t *line, uint32_t *col)
{
    /* Binary search for the last line start <= off. */
    uint32_t lo = 0, hi = s->n_lines;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->lines[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = lo + 1;
    *col = off - s->lines[lo] + 1;
}
