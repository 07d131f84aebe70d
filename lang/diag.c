/* diag.c - diagnostics: "file:line:col: error: message", the source line,
 * and a caret under the span; colour on a terminal; an error limit; each
 * distinct diagnostic printed once (layer bodies are checked once per use). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lang.h"

const sl_span SL_SPAN_NONE = {-1, 0, 0};

bool sl_span_is_none(sl_span s) { return s.file < 0; }

sl_span sl_span_join(sl_span a, sl_span b)
{
    if (sl_span_is_none(a))
        return b;
    if (sl_span_is_none(b) || a.file != b.file)
        return a;
    sl_span r = a;
    if (b.begin < r.begin)
        r.begin = b.begin;
    if (b.end > r.end)
        r.end = b.end;
    return r;
}

void sl_ctx_init(sl_ctx *c, const char *prog)
{
    memset(c, 0, sizeof *c);
    sl_arena_init(&c->arena);
    c->prog = prog;
    c->diag.out = stderr;
    c->diag.error_limit = 20;
    const char *no_color = getenv("NO_COLOR");
    c->diag.color = isatty(fileno(stderr)) && !(no_color && *no_color);
}

void sl_ctx_free(sl_ctx *c)
{
    sl_arena_free(&c->arena);
    free(c->seen);
    c->seen = NULL;
    c->seen_cap = c->seen_len = 0;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

/* True if this exact diagnostic was printed before.  The set of hashes is
 * open-addressed and malloc'd (it grows with warnings, which are not capped). */
static bool already_seen(sl_ctx *c, sl_severity sev, sl_span at, const char *msg)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_bytes(h, &sev, sizeof sev);
    h = hash_bytes(h, &at, sizeof at);
    h = hash_bytes(h, msg, strlen(msg));
    if (h == 0)
        h = 1;
    if (c->seen_len * 2 >= c->seen_cap) {
        size_t cap = c->seen_cap ? c->seen_cap * 2 : 256;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            sl_out_of_memory();
        for (size_t i = 0; i < c->seen_cap; i++)
            if (c->seen[i]) {
                size_t j = c->seen[i] & (cap - 1);
                while (t[j])
                    j = (j + 1) & (cap - 1);
                t[j] = c->seen[i];
            }
        free(c->seen);
        c->seen = t;
        c->seen_cap = cap;
    }
    size_t j = h & (c->seen_cap - 1);
    while (c->seen[j]) {
        if (c->seen[j] == h)
            return true;
        j = (j + 1) & (c->seen_cap - 1);
    }
    c->seen[j] = h;
    c->seen_len++;
    return false;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static int utf8_len(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    int len;
    uint32_t min;
    if (b < 0x80)
        return 1;
    else if ((b & 0xe0) == 0xc0)
        len = 2, min = 0x80;
    else if ((b & 0xf0) == 0xe0)
        len = 3, min = 0x800;
    else if ((b & 0xf8) == 0xf0)
        len = 4, min = 0x10000;
    else
        return 0;
    if ((size_t)len > n)
        return 0;
    uint32_t cp = b & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Lines longer than this are shown as a window around the caret. */
enum { SHOW_MAX = 160, SHOW_BEFORE = 60 };

/* Print the source line of `at` and a caret line under the span.  Tabs are
 * kept (the caret line copies them), other control bytes and invalid UTF-8
 * are shown as '?', so the caret stays under the right character. */
static void print_snippet(sl_ctx *c, sl_span at)
{
    const sl_source *s = &c->sources.items[at.file];
    uint32_t line, col;
    sl_source_linecol(s, at.begin, &line, &col);
    uint32_t start = s->lines[line - 1];
    uint32_t end = start;
    while (end < s->len && s->text[end] != '\n')
        end++;
    if (end > start && s->text[end - 1] == '\r')
        end--; /* a CRLF line ends before its CR */
    uint32_t caret = at.begin > end ? end : at.begin;
    uint32_t caret_end = at.end > end ? end : at.end;
    if (caret_end <= caret)
        caret_end = caret + 1;

    uint32_t from = start, to = end;
    bool cut_left = false, cut_right = false;
    if (end - start > SHOW_MAX) {
        if (caret - start > SHOW_BEFORE) {
            from = caret - SHOW_BEFORE;
            cut_left = true;
        }
        if (to - from > SHOW_MAX) {
            to = from + SHOW_MAX;
            cut_right = true;
        }
        /* Do not start or end in the middle of a UTF-8 sequence. */
        while (from > start && ((unsigned char)s->text[from] & 0xc0) == 0x80)
            from--;
        while (to < end && ((unsigned char)s->text[to] & 0xc0) == 0x80)
            to++;
    }

    FILE *out = c->diag.out;
    const unsigned char *t = (const unsigned char *)s->text;
    if (cut_left)
        fputs("...", out);
    for (uint32_t i = from; i < to;) {
        int n = utf8_len(t + i, to - i);
        if (t[i] == '\t' || (n == 1 && t[i] >= 0x20 && t[i] != 0x7f))
            fputc(t[i], out);
        else if (n > 1)
            fwrite(t + i, 1, (size_t)n, out);
        else
            fputc('?', out);
        i += n ? (uint32_t)n : 1;
    }
    if (cut_right)
        fputs("...", out);
    fputc('\n', out);

    if (cut_left)
        fputs("   ", out);
    for (uint32_t i = from; i < caret && i < to;) {
        int n = utf8_len(t + i, to - i);
        fputc(t[i] == '\t' ? '\t' : ' ', out);
        i += n ? (uint32_t)n : 1;
    }
    if (c->diag.color)
        fputs("\033[1;32m", out);
    fputc('^', out);
    int first = caret < to ? utf8_len(t + caret, to - caret) : 1;
    for (uint32_t i = caret + (first ? (uint32_t)first : 1); i < caret_end && i < to;) {
        int n = utf8_len(t + i, to - i);
        fputc('~', out);
        i += n ? (uint32_t)n : 1;
    }
    if (c->diag.color)
        fputs("\033[0m", out);
    fputc('\n', out);
}

bool sl_diag(sl_ctx *c, sl_severity sev, sl_span at, const char *fmt, ...)
{
    if (c->too_many_errors)
        return false;
    if (sev == SL_WARNING && c->diag.no_warnings)
        return false;
    bool promoted = sev == SL_WARNING && c->diag.werror;

    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sev != SL_NOTE && already_seen(c, sev, at, msg))
        return false;

    static const char *const names[] = {"note", "warning", "error", "fatal error"};
    static const char *const colors[] = {"\033[1;36m", "\033[1;35m", "\033[1;31m", "\033[1;31m"};
    sl_severity shown = promoted ? SL_ERROR : sev;
    FILE *out = c->diag.out;
    bool color = c->diag.color;

    if (color)
        fputs("\033[1m", out);
    if (sl_span_is_none(at)) {
        fprintf(out, "%s: ", c->prog);
    } else {
        uint32_t line, col;
        const sl_source *s = &c->sources.items[at.file];
        sl_source_linecol(s, at.begin, &line, &col);
        fprintf(out, "%s:%u:%u: ", s->path, line, col);
    }
    if (color)
        fputs(colors[shown], out);
    fprintf(out, "%s: ", names[shown]);
    if (color)
        fputs("\033[0m\033[1m", out);
    fputs(msg, out);
    if (promoted)
        fputs(" [-Werror]", out);
    if (color)
        fputs("\033[0m", out);
    fputc('\n', out);
    if (!sl_span_is_none(at))
        print_snippet(c, at);

    if (sev == SL_WARNING && !promoted)
        c->n_warnings++;
    if (shown >= SL_ERROR) {
        c->n_errors++;
        if (sev == SL_FATAL ||
            (c->diag.error_limit > 0 && c->n_errors >= c->diag.error_limit)) {
            if (sev != SL_FATAL) {
                if (color)
                    fputs("\033[1m", out);
                fprintf(out, "%s: %sfatal error: %stoo many errors emitted, stopping now "
                        "[-ferror-limit=]\n", c->prog, color ? "\033[1;31m" : "",
                        color ? "\033[0m\033[1m" : "");
                if (color)
                    fputs("\033[0m", out);
            }
            c->too_many_errors = true;
        }
    }
    return true;
}
