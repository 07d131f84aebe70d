"""check_words.py SRC_ROOT - the editors' word lists against the compiler's.

Three classes of words, each read from where the compiler defines it and
from docs/language.md, must be exactly the words the Vim syntax file
(editors/vim/syntax/sluice.vim) and the TextMate grammar
(editors/vscode/syntaxes/sluice.tmLanguage.json) highlight as such:

  keywords  the reserved words: lang/lexer.re's keyword rules, and the
            "Reserved words" block of docs/language.md (and its count)
  builtins  the builtin functions: the tables of compiler/check_expr.c and
            compiler/check_shape.c; with dense and layernorm (reserved by
            sema_is_reserved), the "reserved names" block of the docs
  kinds     the built-in parameter kinds: compiler/instances.c's table and
            'list'

Prints one line per class and exits 1 on the first difference, naming the
words each side lacks.
"""
import json
import re
import sys

root = sys.argv[1]


def read(rel):
    with open(f"{root}/{rel}", encoding="utf-8") as f:
        return f.read()


def fail(msg):
    print(f"check_words: error: {msg}")
    sys.exit(1)


def same(what, sets):
    """sets: [(source, set)]; all must be equal to the first."""
    name0, ref = sets[0]
    for name, s in sets[1:]:
        if s != ref:
            fail(f"{what}: {name} differs from {name0}: "
                 f"missing {sorted(ref - s)}, extra {sorted(s - ref)}")
    print(f"{what}: {len(ref)} words agree in {', '.join(n for n, _ in sets)}")


# ---- the compiler and the docs ----------------------------------------------

lexer = set(re.findall(r'^\s*"([a-z_][a-z0-9_]*)"\s*\{\s*emit\(lx, SL_T_', read("lang/lexer.re"), re.M))
if len(lexer) < 20:
    fail(f"lang/lexer.re: found only {len(lexer)} keyword rules")

lang = read("docs/language.md")
m = re.search(r"^### Reserved words\n(.*?)^```\n(.*?)^```", lang, re.S | re.M)
if not m:
    fail("docs/language.md: no code block under '### Reserved words'")
doc_kw = set(m.group(2).split())
count = re.search(r"These (\d+) words", m.group(1))
if not count or int(count.group(1)) != len(doc_kw):
    fail(f"docs/language.md: the reserved words block holds {len(doc_kw)} words, "
         f"the text before it says {count.group(1) if count else 'no number'}")
m2 = re.search(r"\*\*reserved names\*\*.*?^```\n(.*?)^```", lang[m.end():], re.S | re.M)
if not m2:
    fail("docs/language.md: no 'reserved names' code block after the reserved words")
doc_names = set(m2.group(1).split())

def table(rel, decl):
    """The names of a static table `decl[] = { {"name", ...}, ... };`."""
    text = read(rel)
    i = text.find(decl)
    if i < 0:
        fail(f"{rel}: no '{decl}'")
    body = text[i:text.index("};", i)]
    names = set(re.findall(r'\{"([a-z_][a-z0-9_]*)",', body))
    if not names:
        fail(f"{rel}: '{decl}' lists no names")
    return names

builtins = (table("compiler/check_expr.c", "builtins[] = {")
            | table("compiler/check_shape.c", "shape_builtins[] = {"))
kinds = table("compiler/instances.c", "builtin_kinds[] = {") | {"list"}

# ---- the editors --------------------------------------------------------------

vim = {"keywords": set(), "builtins": set(), "kinds": set()}
vim_class = {"sluiceBuiltin": "builtins", "sluiceKind": "kinds"}
for line in read("editors/vim/syntax/sluice.vim").splitlines():
    w = line.split()
    if len(w) >= 3 and w[0] == "syn" and w[1] == "keyword" and w[2] != "sluiceTodo":
        words = [x for x in w[3:] if not x.startswith("contained")]
        vim[vim_class.get(w[2], "keywords")].update(words)

tm = {"keywords": set(), "builtins": set(), "kinds": set()}
grammar = json.loads(read("editors/vscode/syntaxes/sluice.tmLanguage.json"))

def walk(node):
    if isinstance(node, dict):
        pat, name = node.get("match"), node.get("name", "")
        if pat:
            re.compile(pat)  # Oniguruma's syntax, in the part Python shares
            words = re.fullmatch(r"\\b\(([a-z0-9_|]+)\)\\b", pat)
            if words:
                cls = ("builtins" if name.startswith("support.function")
                       else "kinds" if name.startswith("support.type") else "keywords")
                tm[cls].update(words.group(1).split("|"))
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)

walk(grammar)
for key in ("begin", "end"):
    re.compile(grammar["repository"]["string"][key])

same("keywords", [("lang/lexer.re", lexer), ("docs/language.md", doc_kw),
                  ("editors/vim", vim["keywords"]), ("editors/vscode", tm["keywords"])])
same("builtins", [("compiler/check_expr.c+check_shape.c", builtins),
                  ("docs/language.md (reserved names less dense, layernorm)",
                   doc_names - {"dense", "layernorm"}),
                  ("editors/vim", vim["builtins"]), ("editors/vscode", tm["builtins"])])
if not {"dense", "layernorm"} <= doc_names:
    fail("docs/language.md: the reserved names lack dense or layernorm")
same("kinds", [("compiler/instances.c+list", kinds),
               ("editors/vim", vim["kinds"]), ("editors/vscode", tm["kinds"])])
