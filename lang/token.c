/* token.c - token names (for "expected X, found Y") and the token dump. */
#include <stdio.h>

#include "lang.h"

static const char *const keyword_names[] = {
    [SL_T_NL - SL_T_NL] = "end of line",
    [SL_T_IDENT - SL_T_NL] = "identifier",
    [SL_T_INT - SL_T_NL] = "integer",
    [SL_T_FLOAT - SL_T_NL] = "number",
    [SL_T_STRING - SL_T_NL] = "string",
    [SL_T_MODEL - SL_T_NL] = "'model'",
    [SL_T_LAYER - SL_T_NL] = "'layer'",
    [SL_T_IMPORT - SL_T_NL] = "'import'",
    [SL_T_INPUT - SL_T_NL] = "'input'",
    [SL_T_OUTPUT - SL_T_NL] = "'output'",
    [SL_T_PARAM - SL_T_NL] = "'param'",
    [SL_T_THRESHOLD - SL_T_NL] = "'threshold'",
    [SL_T_WEIGHTS - SL_T_NL] = "'weights'",
    [SL_T_GATE - SL_T_NL] = "'gate'",
    [SL_T_ELSE - SL_T_NL] = "'else'",
    [SL_T_EXIT - SL_T_NL] = "'exit'",
    [SL_T_WHEN - SL_T_NL] = "'when'",
    [SL_T_ROUTE - SL_T_NL] = "'route'",
    [SL_T_TOP - SL_T_NL] = "'top'",
    [SL_T_BY - SL_T_NL] = "'by'",
    [SL_T_EXPERT - SL_T_NL] = "'expert'",
    [SL_T_OF - SL_T_NL] = "'of'",
    [SL_T_BLOCKS - SL_T_NL] = "'blocks'",
    [SL_T_F32 - SL_T_NL] = "'f32'",
    [SL_T_TRUE - SL_T_NL] = "'true'",
    [SL_T_FALSE - SL_T_NL] = "'false'",
    [SL_T_AND - SL_T_NL] = "'and'",
    [SL_T_OR - SL_T_NL] = "'or'",
    [SL_T_NOT - SL_T_NL] = "'not'",
    [SL_T_ARROW - SL_T_NL] = "'->'",
    [SL_T_LE - SL_T_NL] = "'<='",
    [SL_T_GE - SL_T_NL] = "'>='",
    [SL_T_EQ - SL_T_NL] = "'=='",
    [SL_T_NE - SL_T_NL] = "'!='",
    [SL_T_TOKENS - SL_T_NL] = "'tokens'",
    [SL_T_FOR - SL_T_NL] = "'for'",
    [SL_T_IN - SL_T_NL] = "'in'",
    [SL_T_FROM - SL_T_NL] = "'from'",
    [SL_T_I32 - SL_T_NL] = "'i32'",
};

const char *sl_tok_name(int kind)
{
    static const char *const punct[] = {
        ['{'] = "'{'", ['}'] = "'}'", ['('] = "'('", [')'] = "')'", ['['] = "'['",
        [']'] = "']'", [','] = "','", [':'] = "':'", ['='] = "'='", ['+'] = "'+'",
        ['-'] = "'-'", ['*'] = "'*'", ['/'] = "'/'", ['<'] = "'<'", ['>'] = "'>'",
    };
    if (kind == SL_T_EOF)
        return "end of file";
    if (kind > 0 && kind < (int)(sizeof punct / sizeof *punct) && punct[kind])
        return punct[kind];
    if (kind >= SL_T_NL && kind < SL_T_LAST)
        return keyword_names[kind - SL_T_NL];
    return "token";
}

char *sl_span_text(sl_ctx *c, sl_span s)
{
    const sl_source *src = &c->sources.items[s.file];
    return sl_arena_strndup(&c->arena, src->text + s.begin, s.end - s.begin);
}

/* One token per line: "line:col name 'text'"; the text of identifiers,
 * literals and strings only (the name says the rest). */
void sl_tokens_dump(sl_ctx *c, sl_tokens toks, FILE *out)
{
    for (size_t i = 0; i < toks.len; i++) {
        sl_token t = toks.items[i];
        uint32_t line, col;
        sl_source_linecol(&c->sources.items[t.span.file], t.span.begin, &line, &col);
        fprintf(out, "%u:%u %s", line, col, sl_tok_name(t.kind));
        if (t.kind == SL_T_IDENT || t.kind == SL_T_INT || t.kind == SL_T_FLOAT ||
            t.kind == SL_T_STRING)
            fprintf(out, " %s", sl_span_text(c, t.span));
        fputc('\n', out);
    }
}
