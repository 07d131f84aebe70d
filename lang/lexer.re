/* lexer.re - the Sluice lexer (re2c).  Turns a whole source into tokens.
 *
 * Newlines end statements the way Go's semicolons are inserted: a newline
 * becomes an SL_T_NL token when the token before it can end a statement (a
 * name, a literal, `f32`, `i32`, `)`, `]`, `}`) and it is not inside ( ) or [ ];
 * an SL_T_NL right before `else` is dropped, so `}` and `else` may sit on
 * different lines.  `;` is an explicit SL_T_NL.  Any byte sequence lexes:
 * bad bytes get a diagnostic and are skipped. */
#include <string.h>

#include "lang.h"

static sl_span span_of(sl_lexer *lx, const unsigned char *b, const unsigned char *e)
{
    return (sl_span){lx->file, (uint32_t)(b - lx->base), (uint32_t)(e - lx->base)};
}

static int last_kind(sl_lexer *lx)
{
    return lx->toks.len ? lx->toks.items[lx->toks.len - 1].kind : SL_T_EOF;
}

static void emit(sl_lexer *lx, int kind, const unsigned char *b, const unsigned char *e)
{
    /* `}` newline `else`: the newline does not end the gate (a `;` does). */
    if (kind == SL_T_ELSE && last_kind(lx) == SL_T_NL &&
        lx->base[lx->toks.items[lx->toks.len - 1].span.begin] != ';')
        lx->toks.len--;
    sl_token t = {kind, span_of(lx, b, e)};
    SL_VEC_PUSH(&lx->c->arena, &lx->toks, t);
}

static bool ends_statement(int kind)
{
    switch (kind) {
    case SL_T_IDENT: case SL_T_INT: case SL_T_FLOAT: case SL_T_STRING:
    case SL_T_TRUE: case SL_T_FALSE: case SL_T_F32: case SL_T_I32:
    case ')': case ']': case '}':
        return true;
    default:
        return false;
    }
}

static void newline(sl_lexer *lx, const unsigned char *at)
{
    if (lx->depth > 0 && lx->brackets[lx->depth - 1] != '{')
        return;
    if (ends_statement(last_kind(lx)))
        emit(lx, SL_T_NL, at, at + 1);
}

static void open_bracket(sl_lexer *lx, int kind, const unsigned char *b)
{
    if (lx->depth == SL_MAX_NESTING) {
        sl_diag(lx->c, SL_FATAL, span_of(lx, b, b + 1),
                "brackets nested too deeply (the limit is %d)", SL_MAX_NESTING);
        lx->fatal = true;
        return;
    }
    lx->bracket_at[lx->depth] = (uint32_t)(b - lx->base);
    lx->brackets[lx->depth++] = (char)kind;
    emit(lx, kind, b, b + 1);
}

static void close_bracket(sl_lexer *lx, int kind, const unsigned char *b)
{
    int open = kind == ')' ? '(' : kind == ']' ? '[' : '{';
    /* A stray closer is left for the parser to report; a matching one pops. */
    for (int i = lx->depth - 1; i >= 0; i--)
        if (lx->brackets[i] == open) {
            lx->depth = i;
            break;
        }
    emit(lx, kind, b, b + 1);
}

/* Length of the valid UTF-8 sequence at p, 0 if invalid (overlong forms,
 * surrogates and values past U+10FFFF are invalid); *cp gets the value. */
static int utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
    unsigned char b = p[0];
    int len;
    uint32_t min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        len = 2, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        len = 3, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        len = 4, min = 0x10000;
    } else {
        return 0;
    }
    if (end - p < len)
        return 0;
    uint32_t v = b & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Comments and strings may hold any UTF-8 text, but no NUL and no invalid
 * UTF-8: report the first bad byte of [b, e). */
static void check_text(sl_lexer *lx, const unsigned char *b, const unsigned char *e,
                       const char *what)
{
    for (const unsigned char *p = b; p < e;) {
        uint32_t cp;
        int n = utf8_decode(p, e, &cp);
        if (n == 0) {
            sl_error(lx->c, span_of(lx, p, p + 1), "invalid UTF-8 byte 0x%02x in %s", *p, what);
            return;
        }
        if (cp == 0) {
            sl_error(lx->c, span_of(lx, p, p + 1), "null character in %s", what);
            return;
        }
        p += n;
    }
}

/* A byte no token starts with: say what it is, skip it (and the rest of a
 * valid UTF-8 sequence). */
static const unsigned char *bad_char(sl_lexer *lx, const unsigned char *b, const unsigned char *lim)
{
    uint32_t cp;
    int n = utf8_decode(b, lim, &cp);
    sl_span at = span_of(lx, b, b + (n ? n : 1));
    if (n == 0)
        sl_error(lx->c, at, "invalid UTF-8 byte 0x%02x", *b);
    else if (cp == 0)
        sl_error(lx->c, at, "null character in source");
    else if (cp >= 0x80)
        sl_error(lx->c, at, "unexpected character U+%04X", (unsigned)cp);
    else if (cp < 0x20 || cp == 0x7f)
        sl_error(lx->c, at, "unexpected control character 0x%02x", (unsigned)cp);
    else
        sl_error(lx->c, at, "unexpected character '%c'", (int)cp);
    return b + (n ? n : 1);
}

static bool ident_start(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool ident_char(unsigned char ch)
{
    return ident_start(ch) || (ch >= '0' && ch <= '9');
}

/* Module prefixes of Python code: `torch.relu(x)` is `relu(x)` here. */
static bool foreign_module(const unsigned char *b, size_t n)
{
    static const char *const names[] = {"torch", "F", "nn", "np", "numpy", "math"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && memcmp(names[i], b, n) == 0)
            return true;
    return false;
}

/* A dotted name `a.b.c` as Python writes it, from the identifier at b (its
 * first part ends at e, where the '.' is): one error for the whole name,
 * which then reads as its last part (`torch.relu(x)` as `relu(x)`), so the
 * parser has nothing more to say.  Returns where lexing goes on. */
static const unsigned char *dotted_name(sl_lexer *lx, const unsigned char *b,
                                        const unsigned char *e)
{
    const unsigned char *last = e + 1, *end = e + 1; /* the last part, the name's end */
    for (;;) {
        while (end < lx->lim && ident_char(*end))
            end++;
        if (end + 1 < lx->lim && *end == '.' && ident_start(end[1])) {
            last = ++end;
            continue;
        }
        break;
    }
    int n = end - b > 60 ? 60 : (int)(end - b);        /* the name as written */
    int ln = end - last > 40 ? 40 : (int)(end - last); /* its last part */
    int fn = e - b > 40 ? 40 : (int)(e - b);           /* its first part */
    const char *name = (const char *)b, *part = (const char *)last;
    sl_span at = span_of(lx, b, end);
    const char *op = "'.' is not an operator in Sluice";
    if (foreign_module(b, (size_t)(e - b)))
        sl_error(lx->c, at, "%s; builtins are called by name: '%.*s', not '%.*s'", op, ln, part,
                 n, name);
    else if (e - b == 4 && memcmp(b, "self", 4) == 0)
        sl_error(lx->c, at, "%s; parameters are used by name: '%.*s', not '%.*s'", op, ln, part,
                 n, name);
    else if (last == e + 1 && end < lx->lim && *end == '(')
        sl_error(lx->c, at, "%s; builtins are called by name: '%.*s(%.*s)', not '%.*s(%s)'", op,
                 ln, part, fn, name, n, name,
                 end + 1 < lx->lim && end[1] == ')' ? "" : "...");
    else
        sl_error(lx->c, at, "%s, and names have no parts; builtins are called by name: relu(x)",
                 op);
    return last;
}

void sl_lexer_init(sl_lexer *lx, sl_ctx *c, int file)
{
    const sl_source *src = &c->sources.items[file];
    memset(lx, 0, sizeof *lx);
    lx->c = c;
    lx->file = file;
    lx->base = lx->cur = (const unsigned char *)src->text;
    lx->lim = lx->base + src->len;
}

/* Lex until at least one more token is out, or the end.  A newline token is
 * not final until the token after it is known (`else` removes it), so the
 * parser asks for one token of lookahead. */
void sl_lex_more(sl_lexer *lx)
{
    sl_ctx *c = lx->c;
    const unsigned char *cur = lx->cur, *lim = lx->lim, *mar, *tok;
    size_t had = lx->toks.len;
    while (!lx->done && lx->toks.len == had) {
        if (lx->fatal || c->too_many_errors)
            break;
        tok = cur;
/*!re2c
    re2c:define:YYCTYPE = "unsigned char";
    re2c:define:YYCURSOR = cur;
    re2c:define:YYMARKER = mar;
    re2c:define:YYLIMIT = lim;
    re2c:yyfill:enable = 0;
    re2c:eof = 0;

    dec   = [0-9]+;
    exp   = [eE] [+-]? [0-9]+;
    float = (dec "." [0-9]* | "." [0-9]+) exp? | dec exp;
    ident = [a-zA-Z_] [a-zA-Z0-9_]*;

    $                    { lx->done = true; break; }
    [ \t\r\f\v]+         { continue; }
    "\n"                 { newline(lx, tok); continue; }
    "#" [^\n]*           { check_text(lx, tok + 1, cur, "comment"); continue; }
    ";"                  { if (last_kind(lx) != SL_T_NL) emit(lx, SL_T_NL, tok, cur); continue; }

    "model"              { emit(lx, SL_T_MODEL, tok, cur); continue; }
    "layer"              { emit(lx, SL_T_LAYER, tok, cur); continue; }
    "import"             { emit(lx, SL_T_IMPORT, tok, cur); continue; }
    "input"              { emit(lx, SL_T_INPUT, tok, cur); continue; }
    "output"             { emit(lx, SL_T_OUTPUT, tok, cur); continue; }
    "param"              { emit(lx, SL_T_PARAM, tok, cur); continue; }
    "threshold"          { emit(lx, SL_T_THRESHOLD, tok, cur); continue; }
    "weights"            { emit(lx, SL_T_WEIGHTS, tok, cur); continue; }
    "gate"               { emit(lx, SL_T_GATE, tok, cur); continue; }
    "else"               { emit(lx, SL_T_ELSE, tok, cur); continue; }
    "exit"               { emit(lx, SL_T_EXIT, tok, cur); continue; }
    "when"               { emit(lx, SL_T_WHEN, tok, cur); continue; }
    "route"              { emit(lx, SL_T_ROUTE, tok, cur); continue; }
    "top"                { emit(lx, SL_T_TOP, tok, cur); continue; }
    "by"                 { emit(lx, SL_T_BY, tok, cur); continue; }
    "expert"             { emit(lx, SL_T_EXPERT, tok, cur); continue; }
    "of"                 { emit(lx, SL_T_OF, tok, cur); continue; }
    "blocks"             { emit(lx, SL_T_BLOCKS, tok, cur); continue; }
    "f32"                { emit(lx, SL_T_F32, tok, cur); continue; }
    "true"               { emit(lx, SL_T_TRUE, tok, cur); continue; }
    "false"              { emit(lx, SL_T_FALSE, tok, cur); continue; }
    "and"                { emit(lx, SL_T_AND, tok, cur); continue; }
    "or"                 { emit(lx, SL_T_OR, tok, cur); continue; }
    "not"                { emit(lx, SL_T_NOT, tok, cur); continue; }
    "tokens"             { emit(lx, SL_T_TOKENS, tok, cur); continue; }
    "for"                { emit(lx, SL_T_FOR, tok, cur); continue; }
    "in"                 { emit(lx, SL_T_IN, tok, cur); continue; }
    "from"               { emit(lx, SL_T_FROM, tok, cur); continue; }
    "i32"                { emit(lx, SL_T_I32, tok, cur); continue; }
    ident                {
        if (cur + 1 < lim && *cur == '.' && ident_start(cur[1])) {
            cur = dotted_name(lx, tok, cur); /* `torch.relu`: one error, then `relu` */
            continue;
        }
        emit(lx, SL_T_IDENT, tok, cur);
        continue;
    }

    dec                  { emit(lx, SL_T_INT, tok, cur); continue; }
    float                { emit(lx, SL_T_FLOAT, tok, cur); continue; }
    [0-9] [0-9a-zA-Z_.]* {
        sl_error(c, span_of(lx, tok, cur), "invalid number '%.*s'",
                 (int)(cur - tok > 40 ? 40 : cur - tok), (const char *)tok);
        emit(lx, SL_T_INT, tok, cur); /* keep the parser in step */
        continue;
    }
    "\"" ([^"\\\n] | "\\" [^\n])* "\"" {
        check_text(lx, tok + 1, cur - 1, "string");
        emit(lx, SL_T_STRING, tok, cur);
        continue;
    }
    "\"" ([^"\\\n] | "\\" [^\n])* "\\"? {
        sl_error(c, span_of(lx, tok, tok + 1), "missing terminating '\"' character");
        emit(lx, SL_T_STRING, tok, cur); /* keep the parser in step */
        continue;
    }

    "->"                 { emit(lx, SL_T_ARROW, tok, cur); continue; }
    "<="                 { emit(lx, SL_T_LE, tok, cur); continue; }
    ">="                 { emit(lx, SL_T_GE, tok, cur); continue; }
    "=="                 { emit(lx, SL_T_EQ, tok, cur); continue; }
    "!="                 { emit(lx, SL_T_NE, tok, cur); continue; }
    [([{]                { open_bracket(lx, *tok, tok); continue; }
    [)\]}]               { close_bracket(lx, *tok, tok); continue; }
    [,:=+\-*/<>]         { emit(lx, *tok, tok, cur); continue; }

    *                    { cur = bad_char(lx, tok, lim); continue; }
*/
    }
    lx->cur = cur;
    if ((lx->done || lx->fatal || c->too_many_errors) && !lx->finished) {
        if (ends_statement(last_kind(lx)))
            emit(lx, SL_T_NL, lim, lim);
        emit(lx, SL_T_EOF, lim, lim);
        lx->finished = true;
        lx->done = true;
    }
}

sl_tokens sl_lex(sl_ctx *c, int file)
{
    sl_lexer lx;
    sl_lexer_init(&lx, c, file);
    while (!lx.finished)
        sl_lex_more(&lx);
    return (sl_tokens){lx.toks.items, lx.toks.len};
}
