"""A reference interpreter for the Sluice draft language, used to produce the
example fixtures.

It parses a .slu file (the lead's draft syntax), binds parameters from a
safetensors file by the PyTorch state_dict names the draft's manifest rules
give, and evaluates the model on ONE input at a time with real branching, in
float32 torch ops, counting FLOPs by the ledger's rules and recording every
decision (exits, gates, routes, blocks) the way the executable's ``--stats``
ledger does.  It shares no code with any training script.

Semantics (see examples/README.md):
  dense            y = W x + b  (W is [out, in]);  2*i*o + o FLOPs
  dense with `blocks K`, called as P[mask](x): rows of inactive blocks are
                   exactly 0.0, only active blocks' rows are computed;
                   (2*i*(o/K) + o/K) FLOPs per active block
  layernorm[d]     (x - mean) / sqrt(var + 1e-5) * w + b (biased var); d FLOPs
  mlp[i, h, o]     fc2(relu(fc1(x)));  dense + h + dense FLOPs
  route B(x) top K by s: K largest logits of s (descending, lower index first
                   on ties), w = softmax of the K chosen logits,
                   sum_j w_j B[idx_j](x);  cost(s) + N + K + chosen bodies +
                   2*d per chosen expert
  every other op   one FLOP per element of its largest operand (indexing and
                   names/constants: 0)
  exit v when c    cost(c) always, cost(v) only if the exit is taken
  gate c {A} else {B}: cost(c) + the taken arm
Dense FLOPs: every exit's condition and value (without leaving), every arm of
every gate, all N experts of every route (+ N + K + 2*d*N), every block.
"""

import math
import re
from collections import OrderedDict

import numpy as np
import torch

NEAR = 1e-5

# ---------------------------------------------------------------------------
# lexer
# ---------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""
  (?P<ws>[ \t\r]+)
 |(?P<comment>\#[^\n]*)
 |(?P<nl>\n)
 |(?P<num>(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?)
 |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
 |(?P<op>->|<=|>=|==|!=|[{}()\[\],:=+\-*/<>.])
""", re.X)

KEYWORDS = {"import", "model", "layer", "input", "output", "param", "threshold",
            "exit", "when", "gate", "else", "route", "and", "or", "not"}


class SluError(Exception):
    pass


class Tok:
    __slots__ = ("kind", "val", "line", "col")

    def __init__(self, kind, val, line, col):
        self.kind, self.val, self.line, self.col = kind, val, line, col

    def __repr__(self):
        return f"{self.kind}:{self.val!r}@{self.line}:{self.col}"


def lex(src, fname="<slu>"):
    toks = []
    pos, line, lstart = 0, 1, 0
    depth = 0  # newlines inside () and [] do not end statements
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if not m:
            raise SluError(f"{fname}:{line}:{pos - lstart + 1}: unexpected character {src[pos]!r}")
        kind = m.lastgroup
        text = m.group(kind)
        col = pos - lstart + 1
        if kind == "nl":
            if depth == 0:
                toks.append(Tok("nl", "\n", line, col))
            line += 1
            lstart = m.end()
        elif kind == "num":
            toks.append(Tok("num", text, line, col))
        elif kind == "id":
            toks.append(Tok("kw" if text in KEYWORDS else "id", text, line, col))
        elif kind == "op":
            if text in "([":
                depth += 1
            elif text in ")]":
                depth = max(0, depth - 1)
            toks.append(Tok("op", text, line, col))
        pos = m.end()
    toks.append(Tok("nl", "\n", line, 0))
    toks.append(Tok("eof", None, line, 0))
    return toks


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------

class ParamDecl:
    def __init__(self, name, kind, dims, blocks=None, inner=None):
        self.name, self.kind, self.dims, self.blocks, self.inner = name, kind, dims, blocks, inner

    def manifest(self, prefix=None):
        p = prefix if prefix is not None else self.name
        if self.kind == "dense":
            i, o = self.dims
            return [(p + ".weight", [o, i]), (p + ".bias", [o])]
        if self.kind == "layernorm":
            (d,) = self.dims
            return [(p + ".weight", [d]), (p + ".bias", [d])]
        if self.kind == "mlp":
            i, h, o = self.dims
            return [(p + ".fc1.weight", [h, i]), (p + ".fc1.bias", [h]),
                    (p + ".fc2.weight", [o, h]), (p + ".fc2.bias", [o])]
        if self.kind == "expert":
            (n,) = self.dims
            out = []
            for j in range(n):
                out += self.inner.manifest(f"{p}.{j}")
            return out
        raise SluError(f"unknown layer kind {self.kind}")

    def in_out(self):
        if self.kind == "dense":
            return self.dims[0], self.dims[1]
        if self.kind == "layernorm":
            return self.dims[0], self.dims[0]
        if self.kind == "mlp":
            return self.dims[0], self.dims[2]
        return self.inner.in_out()


class Parser:
    def __init__(self, src, fname):
        self.toks = lex(src, fname)
        self.i = 0
        self.fname = fname
        self.n_exits = 0
        self.n_gates = 0

    # helpers
    def peek(self, k=0):
        return self.toks[self.i + k]

    def err(self, msg, tok=None):
        t = tok or self.peek()
        return SluError(f"{self.fname}:{t.line}:{t.col}: {msg} (at {t.val!r})")

    def accept(self, kind, val=None):
        t = self.peek()
        if t.kind == kind and (val is None or t.val == val):
            self.i += 1
            return t
        return None

    def expect(self, kind, val=None):
        t = self.accept(kind, val)
        if t is None:
            raise self.err(f"expected {val or kind}")
        return t

    def skip_nl(self):
        while self.accept("nl"):
            pass

    def end_stmt(self):
        if self.peek().kind == "op" and self.peek().val == "}":
            return
        self.expect("nl")

    def integer(self):
        t = self.expect("num")
        if not re.fullmatch(r"\d+", t.val):
            raise self.err("expected an integer", t)
        return int(t.val)

    def number(self):
        neg = bool(self.accept("op", "-"))
        t = self.expect("num")
        v = float(t.val)
        return -v if neg else v

    # file
    def parse_file(self):
        imports, models = [], []
        self.skip_nl()
        while self.peek().kind != "eof":
            if self.accept("kw", "import"):
                imports.append(self.expect("id").val)
                self.end_stmt()
            elif self.accept("kw", "model"):
                models.append(self.parse_model())
            else:
                raise self.err("expected import or model")
            self.skip_nl()
        return imports, models

    def parse_model(self):
        name = self.expect("id").val
        self.expect("op", "{")
        m = {"name": name, "inputs": [], "outputs": [], "params": OrderedDict(),
             "thresholds": OrderedDict(), "body": []}
        while True:
            self.skip_nl()
            if self.accept("op", "}"):
                break
            t = self.peek()
            if t.kind == "kw" and t.val in ("input", "output"):
                self.i += 1
                vname = self.expect("id").val
                self.expect("op", ":")
                dt = self.expect("id").val
                if dt != "f32":
                    raise self.err("only f32 tensors are supported")
                self.expect("op", "[")
                n = self.integer()
                self.expect("op", "]")
                m[t.val + "s"].append((vname, n))
            elif t.kind == "kw" and t.val == "param":
                self.i += 1
                pname = self.expect("id").val
                self.expect("op", ":")
                decl = self.parse_ptype(pname)
                if self.peek().kind == "id" and self.peek().val == "blocks":
                    self.i += 1
                    k = self.integer()
                    if decl.kind != "dense":
                        raise self.err("`blocks` applies only to dense")
                    if decl.dims[1] % k:
                        raise self.err(f"{decl.dims[1]} outputs do not split into {k} blocks")
                    decl.blocks = k
                if pname in m["params"]:
                    raise self.err(f"duplicate param {pname}")
                m["params"][pname] = decl
            elif t.kind == "kw" and t.val == "threshold":
                self.i += 1
                tname = self.expect("id").val
                self.expect("op", "=")
                m["thresholds"][tname] = self.number()
            else:
                m["body"].append(self.parse_stmt())
                continue
            self.end_stmt()
        return m

    def parse_ptype(self, pname):
        kind = self.expect("id").val
        self.expect("op", "[")
        if kind == "dense":
            i = self.integer()
            self.expect("op", "->")
            o = self.integer()
            self.expect("op", "]")
            return ParamDecl(pname, "dense", (i, o))
        if kind == "expert":
            n = self.integer()
            self.expect("op", "]")
            if self.expect("id").val != "of":
                raise self.err("expected `of`")
            inner = self.parse_ptype(pname)
            if inner.kind == "expert":
                raise self.err("nested expert banks are not supported")
            return ParamDecl(pname, "expert", (n,), inner=inner)
        dims = [self.integer()]
        while self.accept("op", ","):
            dims.append(self.integer())
        self.expect("op", "]")
        if kind == "layernorm" and len(dims) == 1:
            return ParamDecl(pname, "layernorm", tuple(dims))
        if kind == "mlp" and len(dims) == 3:  # stdlib/nn.slu: layer mlp[i, h, o]
            return ParamDecl(pname, "mlp", tuple(dims))
        raise self.err(f"unknown layer type {kind}{dims}")

    # statements
    def parse_block(self):
        self.expect("op", "{")
        body = []
        while True:
            self.skip_nl()
            if self.accept("op", "}"):
                return body
            body.append(self.parse_stmt())

    def parse_stmt(self):
        t = self.peek()
        if self.accept("kw", "exit"):
            eid = self.n_exits
            self.n_exits += 1
            val = self.parse_expr()
            self.expect("kw", "when")
            cond = self.parse_expr()
            self.end_stmt()
            return ("exit", eid, val, cond, t.line)
        if t.kind == "kw" and t.val == "gate":
            s = self.parse_gate()
            self.end_stmt()
            return s
        if t.kind == "id" and self.peek(1).kind == "op" and self.peek(1).val == "=":
            self.i += 2
            e = self.parse_expr()
            self.end_stmt()
            return ("assign", t.val, e, t.line)
        raise self.err("expected a statement")

    def parse_gate(self):
        t = self.expect("kw", "gate")
        gid = self.n_gates
        self.n_gates += 1
        cond = self.parse_expr()
        then = self.parse_block()
        els = None
        if self.accept("kw", "else"):
            if self.peek().kind == "kw" and self.peek().val == "gate":
                els = [self.parse_gate()]
            else:
                els = self.parse_block()
        return ("gate", gid, cond, then, els, t.line)

    # expressions
    def parse_expr(self):
        e = self.parse_and()
        while self.accept("kw", "or"):
            e = ("bin", "or", e, self.parse_and())
        return e

    def parse_and(self):
        e = self.parse_not()
        while self.accept("kw", "and"):
            e = ("bin", "and", e, self.parse_not())
        return e

    def parse_not(self):
        if self.accept("kw", "not"):
            return ("not", self.parse_not())
        return self.parse_cmp()

    def parse_cmp(self):
        e = self.parse_add()
        t = self.peek()
        if t.kind == "op" and t.val in ("<", "<=", ">", ">=", "==", "!="):
            self.i += 1
            e = ("bin", t.val, e, self.parse_add())
        return e

    def parse_add(self):
        e = self.parse_mul()
        while self.peek().kind == "op" and self.peek().val in "+-":
            op = self.peek().val
            self.i += 1
            e = ("bin", op, e, self.parse_mul())
        return e

    def parse_mul(self):
        e = self.parse_unary()
        while self.peek().kind == "op" and self.peek().val in "*/":
            op = self.peek().val
            self.i += 1
            e = ("bin", op, e, self.parse_unary())
        return e

    def parse_unary(self):
        if self.accept("op", "-"):
            return ("neg", self.parse_unary())
        return self.parse_postfix()

    def parse_args(self):
        self.expect("op", "(")
        args = [self.parse_expr()]
        while self.accept("op", ","):
            args.append(self.parse_expr())
        self.expect("op", ")")
        return args

    def parse_postfix(self):
        e = self.parse_primary()
        while True:
            t = self.peek()
            if t.kind == "op" and t.val == "(":
                if e[0] != "name":
                    raise self.err("only names can be called")
                e = ("call", e[1], self.parse_args())
            elif t.kind == "op" and t.val == "[":
                self.i += 1
                inner = self.parse_expr()
                self.expect("op", "]")
                if self.peek().kind == "op" and self.peek().val == "(":
                    if e[0] != "name":
                        raise self.err("only a block-gated dense can take a mask")
                    e = ("mcall", e[1], inner, self.parse_args())
                else:
                    if inner[0] != "num" or not float(inner[1]).is_integer():
                        raise self.err("index must be an integer constant")
                    e = ("index", e, int(inner[1]))
            else:
                return e

    def parse_primary(self):
        t = self.peek()
        if t.kind == "num":
            self.i += 1
            return ("num", float(t.val))
        if t.kind == "id":
            self.i += 1
            return ("name", t.val)
        if self.accept("op", "("):
            e = self.parse_expr()
            self.expect("op", ")")
            return e
        if self.accept("kw", "route"):
            bank = self.expect("id").val
            (x,) = self.parse_args()
            if self.expect("id").val != "top":
                raise self.err("expected `top`")
            k = self.integer()
            if self.expect("id").val != "by":
                raise self.err("expected `by`")
            scores = self.parse_unary()
            return ("route", bank, x, k, scores)
        raise self.err("expected an expression")


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------

class Val:
    """A value: a float32 (or bool) tensor, 1-D or 0-D.  ``gap`` is the top-2
    gap of an argmax result; ``margin`` the distance to flipping of a bool."""
    __slots__ = ("t", "gap", "margin")

    def __init__(self, t, gap=None, margin=None):
        self.t, self.gap, self.margin = t, gap, margin

    @property
    def n(self):
        return self.t.numel()


class _Exit(Exception):
    def __init__(self, eid, val):
        self.eid, self.val = eid, val


_UNARY = {
    "relu": torch.relu,
    "gelu": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
    "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "exp": torch.exp,
    "log": torch.log,
    "softmax": lambda x: torch.softmax(x, dim=0),
    "log_softmax": lambda x: torch.log_softmax(x, dim=0),
}
_REDUCE = {"max", "min", "sum", "mean", "argmax", "entropy", "margin"}


# A ReLU input this close to 0 may round to either side in another
# implementation (a different summation order): its zero is not certain.
ZERO_NEAR = 1e-5


def _f32(v):
    return torch.tensor(v, dtype=torch.float32)


class Ctx:
    def __init__(self, model, thresholds, dense, zeros=False):
        self.m = model
        self.count_zeros = zeros and not dense
        self.th = thresholds
        self.dense = dense
        self.flops = 0
        self.env = {}
        self.gates = OrderedDict((g, None) for g in model.gate_names)
        self.routes = OrderedDict((r, None) for r in model.route_names)
        self.blocks = OrderedDict((b, None) for b in model.block_names)
        self.near = False
        self.zeros = OrderedDict()  # ReLU name -> [exact zeros, elements, |input| <= ZERO_NEAR]
        self.units = {}             # ReLU name -> zeros per unit (int64 tensor)

    def decide(self, margin):
        if margin is not None and margin <= NEAR:
            self.near = True

    def relu(self, name, a):
        """relu(a), counted as sluicec -fzero-stats counts it (lower_stats.c):
        per input its exact zeros and elements, per unit its zeros; and the
        inputs within ZERO_NEAR of 0, whose sign rounding may flip."""
        y = torch.relu(a)
        if self.count_zeros:
            if name is None:
                raise SluError("zero counts: only a ReLU of a dense layer is named here")
            z = y == 0
            c = self.zeros.setdefault(name, [0, 0, 0])
            c[0] += int(z.sum())
            c[1] += y.numel()
            c[2] += int((a.abs() <= ZERO_NEAR).sum())
            u = self.units.get(name)
            self.units[name] = z.to(torch.int64) if u is None else u + z.to(torch.int64)
        return y


class Model:
    def __init__(self, slu_path, weights=None, model_name=None):
        with open(slu_path) as f:
            src = f.read()
        p = Parser(src, slu_path)
        self.imports, models = p.parse_file()
        if model_name is None:
            if len(models) != 1:
                raise SluError(f"{slu_path}: expected exactly one model")
            md = models[0]
        else:
            md = [m for m in models if m["name"] == model_name][0]
        self.name = md["name"]
        if len(md["inputs"]) != 1 or len(md["outputs"]) != 1:
            raise SluError("exactly one input and one output supported")
        self.input, self.output = md["inputs"][0], md["outputs"][0]
        self.params = md["params"]
        self.thresholds = OrderedDict((k, v) for k, v in md["thresholds"].items())
        self.body = md["body"]
        self.n_exits = p.n_exits
        self.gate_names = [f"gate{i}" for i in range(p.n_gates)]
        self.route_names, self.block_names = [], []
        self._collect(self.body)
        self._dense = None
        self.w = None
        if weights is not None:
            self.bind(weights)

    def _collect(self, stmts):
        def walk(e):
            if e[0] == "route":
                if e[1] in self.route_names:
                    raise SluError(f"bank {e[1]} routed twice: ledger name would be ambiguous")
                walk(e[4])
                walk(e[2])
                self.route_names.append(e[1])
            elif e[0] == "mcall":
                walk(e[2])
                for a in e[3]:
                    walk(a)
                if e[1] in self.block_names:
                    raise SluError(f"block-gated {e[1]} used twice: ledger name would be ambiguous")
                self.block_names.append(e[1])
            elif e[0] == "call":
                for a in e[2]:
                    walk(a)
            elif e[0] in ("bin",):
                walk(e[2])
                walk(e[3])
            elif e[0] in ("not", "neg"):
                walk(e[1])
            elif e[0] == "index":
                walk(e[1])
        for s in stmts:
            if s[0] == "assign":
                walk(s[2])
            elif s[0] == "exit":
                walk(s[3])
                walk(s[2])
            elif s[0] == "gate":
                walk(s[2])
                self._collect(s[3])
                if s[4]:
                    self._collect(s[4])

    def manifest(self):
        out = []
        for d in self.params.values():
            out += d.manifest()
        return out

    def bank_size(self, name):
        return self.params[name].dims[0]

    def n_blocks(self, name):
        return self.params[name].blocks

    def bind(self, weights):
        """weights: mapping name -> array; must match the manifest exactly."""
        want = OrderedDict(self.manifest())
        have = set(weights)
        if have != set(want):
            raise SluError(f"weights do not match manifest: missing {sorted(set(want) - have)}, "
                           f"extra {sorted(have - set(want))}")
        self.w = {}
        for k, shp in want.items():
            a = np.asarray(weights[k], dtype=np.float32)
            if list(a.shape) != list(shp):
                raise SluError(f"tensor {k}: shape {list(a.shape)}, expected {shp}")
            self.w[k] = torch.from_numpy(a.copy())

    # -- public -----------------------------------------------------------
    def dense_flops(self):
        if self._dense is None:
            ctx = Ctx(self, self._thresholds(None), dense=True)
            ctx.env[self.input[0]] = Val(torch.zeros(self.input[1]))
            self._stmts(self.body, ctx)
            self._dense = ctx.flops
        return self._dense

    def run(self, x, thresholds=None, index=0, zeros=False):
        """Evaluate one input; returns (output float32 numpy [n_out], record).
        zeros: the record also holds "zeros" (per ReLU run: exact zeros,
        elements, inputs within ZERO_NEAR of 0) and "zero_units" (per ReLU:
        zeros per unit), as -fzero-stats counts them."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1)
        if x.numel() != self.input[1]:
            raise SluError(f"input has {x.numel()} values, expected {self.input[1]}")
        ctx = Ctx(self, self._thresholds(thresholds), dense=False, zeros=zeros)
        ctx.env[self.input[0]] = Val(x)
        exit_name = "end"
        try:
            self._stmts(self.body, ctx)
            if self.output[0] not in ctx.env:
                raise SluError(f"output {self.output[0]} not assigned")
            y = ctx.env[self.output[0]]
        except _Exit as ex:
            exit_name = f"exit{ex.eid}"
            y = ex.val
        if y.t.dtype != torch.float32 or list(y.t.shape) != [self.output[1]]:
            raise SluError(f"output has shape {list(y.t.shape)}, expected [{self.output[1]}]")
        rec = OrderedDict([("input", index), ("exit", exit_name), ("flops", ctx.flops),
                           ("dense_flops", self.dense_flops())])
        if ctx.gates:
            rec["gates"] = ctx.gates
        if ctx.routes:
            rec["routes"] = ctx.routes
        if ctx.blocks:
            rec["blocks"] = ctx.blocks
        rec["near_threshold"] = ctx.near
        if zeros:
            rec["zeros"] = ctx.zeros
            rec["zero_units"] = {k: v.numpy() for k, v in ctx.units.items()}
        return y.t.numpy().copy(), rec

    def run_batch(self, X, thresholds=None, zeros=False):
        outs, recs = [], []
        for i in range(len(X)):
            o, r = self.run(X[i], thresholds, index=i, zeros=zeros)
            outs.append(o)
            recs.append(r)
        return np.stack(outs).astype(np.float32), recs

    # -- internals --------------------------------------------------------
    def _thresholds(self, over):
        th = OrderedDict(self.thresholds)
        for k, v in (over or {}).items():
            if k not in th:
                raise SluError(f"no threshold named {k}")
            th[k] = v
        return {k: _f32(v) for k, v in th.items()}

    def _stmts(self, stmts, ctx):
        for s in stmts:
            kind = s[0]
            if kind == "assign":
                ctx.env[s[1]] = self._ev(s[2], ctx)
            elif kind == "exit":
                _, eid, val, cond, _ = s
                c = self._bool(self._ev(cond, ctx))
                if ctx.dense:
                    self._ev(val, ctx)
                    continue
                ctx.decide(c.margin)
                if bool(c.t):
                    raise _Exit(eid, self._ev(val, ctx))
            elif kind == "gate":
                _, gid, cond, then, els, _ = s
                c = self._bool(self._ev(cond, ctx))
                if ctx.dense:
                    env0 = dict(ctx.env)
                    self._stmts(then, ctx)
                    env_then = ctx.env
                    ctx.env = dict(env0)
                    if els:
                        self._stmts(els, ctx)
                    env_then.update(ctx.env)
                    ctx.env = env_then
                    continue
                ctx.decide(c.margin)
                taken = bool(c.t)
                ctx.gates[f"gate{gid}"] = 1 if taken else 0
                if taken:
                    self._stmts(then, ctx)
                elif els:
                    self._stmts(els, ctx)
            else:
                raise SluError(f"bad statement {kind}")

    @staticmethod
    def _bool(v):
        if v.t.dtype != torch.bool or v.t.dim() != 0:
            raise SluError("a condition must be a scalar bool")
        return v

    @staticmethod
    def _is_const(e):
        """A literal, or an operation on literals only: the compiler folds
        it, and it costs nothing (docs/language.md, "Constant folding")."""
        if e[0] == "num":
            return True
        if e[0] in ("neg", "not"):
            return Model._is_const(e[1])
        if e[0] == "bin":
            return Model._is_const(e[2]) and Model._is_const(e[3])
        return False

    def _ev(self, e, ctx):
        k = e[0]
        if k == "num":
            return Val(_f32(e[1]))
        if k in ("neg", "not", "bin") and self._is_const(e):
            flops = ctx.flops
            v = self._ev_op(e, ctx)
            ctx.flops = flops
            return v
        return self._ev_op(e, ctx)

    def _ev_op(self, e, ctx):
        k = e[0]
        if k == "name":
            n = e[1]
            if n in ctx.env:
                return ctx.env[n]
            if n in ctx.th:
                return Val(ctx.th[n])
            raise SluError(f"undefined name {n}")
        if k == "call":
            return self._call(e[1], e[2], ctx)
        if k == "mcall":
            return self._mcall(e[1], e[2], e[3], ctx)
        if k == "route":
            return self._route(e, ctx)
        if k == "index":
            v = self._ev(e[1], ctx)
            if v.t.dim() != 1 or not (0 <= e[2] < v.n):
                raise SluError(f"index {e[2]} out of range")
            return Val(v.t[e[2]].clone())
        if k == "neg":
            v = self._ev(e[1], ctx)
            ctx.flops += v.n
            return Val(-v.t)
        if k == "not":
            v = self._ev(e[1], ctx)
            if v.t.dtype != torch.bool:
                raise SluError("not needs a bool")
            ctx.flops += v.n
            return Val(~v.t, margin=v.margin)
        if k == "bin":
            return self._bin(e[1], self._ev(e[2], ctx), self._ev(e[3], ctx), ctx)
        raise SluError(f"bad expression {k}")

    def _bin(self, op, a, b, ctx):
        if a.t.dim() == 1 and b.t.dim() == 1 and a.n != b.n:
            raise SluError(f"shape mismatch {a.n} vs {b.n} in {op}")
        ctx.flops += max(a.n, b.n)
        if op in ("and", "or"):
            if a.t.dtype != torch.bool or b.t.dtype != torch.bool:
                raise SluError(f"{op} needs bools")
            t = (a.t & b.t) if op == "and" else (a.t | b.t)
            ms = [m for m in (a.margin, b.margin) if m is not None]
            return Val(t, margin=min(ms) if ms else None)
        if a.t.dtype == torch.bool or b.t.dtype == torch.bool:
            raise SluError(f"{op} on bools")
        x, y = a.t, b.t
        if op == "+":
            return Val(x + y)
        if op == "-":
            return Val(x - y)
        if op == "*":
            return Val(x * y)
        if op == "/":
            return Val(x / y)
        cmp = {"<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge,
               "==": torch.eq, "!=": torch.ne}[op]
        t = cmp(x, y)
        gaps = [g for g in (a.gap, b.gap) if g is not None]
        if gaps:
            margin = min(gaps)
        else:
            margin = float((x - y).abs().min())
        return Val(t, margin=margin)

    def _call(self, fname, args, ctx):
        if fname in self.params:
            if len(args) != 1:
                raise SluError(f"{fname} takes one argument")
            x = self._ev(args[0], ctx)
            d = self.params[fname]
            if d.kind == "expert":
                raise SluError(f"expert bank {fname} can only be used in route")
            if d.blocks is not None:
                raise SluError(f"{fname} is declared with blocks; call it as {fname}[mask](x)")
            return Val(self._layer(d, fname, x.t, ctx))
        if len(args) != 1:
            raise SluError(f"{fname} takes one argument")
        v = self._ev(args[0], ctx)
        t = v.t
        if t.dtype != torch.float32:
            raise SluError(f"{fname} needs f32")
        if fname == "relu":
            ctx.flops += v.n
            return Val(ctx.relu(self._relu_name(args[0]), t))
        if fname in _UNARY:
            ctx.flops += v.n
            return Val(_UNARY[fname](t))
        if fname in _REDUCE:
            if t.dim() != 1:
                raise SluError(f"{fname} needs a vector")
            ctx.flops += v.n
            if fname == "max":
                return Val(t.max())
            if fname == "min":
                return Val(t.min())
            if fname == "sum":
                return Val(t.sum())
            if fname == "mean":
                return Val(t.mean())
            if fname == "entropy":
                return Val(-torch.xlogy(t, t).sum())
            vals = t.tolist()
            order = sorted(range(len(vals)), key=lambda i: (-vals[i], i))
            if fname == "margin":
                return Val(t[order[0]] - t[order[1]])
            gap = float(t[order[0]] - t[order[1]]) if len(vals) > 1 else math.inf
            return Val(_f32(float(order[0])), gap=gap)
        raise SluError(f"unknown function {fname}")

    def _relu_name(self, arg):
        """The name sluicec -fzero-stats gives a ReLU: the dense layer it
        follows (a model's own; layers' ReLUs are named in _layer)."""
        if arg[0] in ("call", "mcall") and arg[1] in self.params and \
                self.params[arg[1]].kind == "dense":
            return arg[1]
        return None

    def _layer(self, d, prefix, x, ctx):
        """Apply layer d (weights under `prefix`) to vector x, counting FLOPs."""
        i, o = d.in_out()
        if x.dim() != 1 or x.numel() != i:
            raise SluError(f"{prefix}: input of {x.numel()} values, expected {i}")
        w = self.w
        if d.kind == "dense":
            ctx.flops += 2 * i * o + o
            return torch.mv(w[prefix + ".weight"], x) + w[prefix + ".bias"]
        if d.kind == "layernorm":
            ctx.flops += i
            mu = x.mean()
            xc = x - mu
            var = (xc * xc).mean()
            return xc / torch.sqrt(var + 1e-5) * w[prefix + ".weight"] + w[prefix + ".bias"]
        if d.kind == "mlp":
            _, h, _ = d.dims
            a = torch.mv(w[prefix + ".fc1.weight"], x) + w[prefix + ".fc1.bias"]
            a = ctx.relu(prefix + ".fc1", a)
            ctx.flops += (2 * i * h + h) + h + (2 * h * o + o)
            return torch.mv(w[prefix + ".fc2.weight"], a) + w[prefix + ".fc2.bias"]
        raise SluError(f"cannot call {d.kind}")

    def _mcall(self, pname, mask_e, args, ctx):
        d = self.params.get(pname)
        if d is None or d.kind != "dense" or d.blocks is None:
            raise SluError(f"{pname}[...] needs a dense declared with blocks")
        m = self._ev(mask_e, ctx)
        if m.t.dtype != torch.bool or m.t.dim() != 1 or m.n != d.blocks:
            raise SluError(f"{pname}: mask must be bool[{d.blocks}]")
        if len(args) != 1:
            raise SluError(f"{pname} takes one argument")
        x = self._ev(args[0], ctx).t
        i, o = d.dims
        K = d.blocks
        bs = o // K
        if x.dim() != 1 or x.numel() != i:
            raise SluError(f"{pname}: input of {x.numel()} values, expected {i}")
        W, b = self.w[pname + ".weight"], self.w[pname + ".bias"]
        if ctx.dense:
            ctx.flops += K * (2 * i * bs + bs)
            return Val(torch.mv(W, x) + b)
        mask = [bool(v) for v in m.t.tolist()]
        ctx.decide(m.margin)
        ctx.blocks[pname] = [1 if v else 0 for v in mask]
        y = torch.zeros(o, dtype=torch.float32)
        for j, on in enumerate(mask):
            if on:
                r0, r1 = j * bs, (j + 1) * bs
                y[r0:r1] = torch.mv(W[r0:r1], x) + b[r0:r1]
                ctx.flops += 2 * i * bs + bs
        return Val(y)

    def _route(self, e, ctx):
        _, bank, x_e, k, s_e = e
        d = self.params.get(bank)
        if d is None or d.kind != "expert":
            raise SluError(f"route needs an expert bank, {bank} is not one")
        N = d.dims[0]
        if not (1 <= k <= N):
            raise SluError(f"top {k} of {N} experts")
        s = self._ev(s_e, ctx)
        if s.t.dim() != 1 or s.n != N:
            raise SluError(f"route {bank}: scores must be f32[{N}]")
        x = self._ev(x_e, ctx).t
        _, dout = d.in_out()
        vals = s.t.tolist()
        order = sorted(range(N), key=lambda j: (-vals[j], j))
        ctx.flops += N  # top-k selection
        ctx.flops += k  # softmax over the chosen k
        chosen = list(range(N)) if ctx.dense else order[:k]
        if not ctx.dense:
            ctx.routes[bank] = order[:k]
            if k < N:
                ctx.decide(float(s.t[order[k - 1]] - s.t[order[k]]))
        w = torch.softmax(s.t[order[:k]], dim=0)
        acc = torch.zeros(dout, dtype=torch.float32)
        for j, ex in enumerate(chosen):
            yj = self._layer(d.inner, f"{bank}.{ex}", x, ctx)
            ctx.flops += 2 * dout
            if j < k:
                acc = acc + w[j] * yj
        return Val(acc)


def load(slu_path, st_path):
    from slutil import load_safetensors
    w, _ = load_safetensors(st_path)
    return Model(slu_path, w)
