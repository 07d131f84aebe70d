"""A random, well-typed Sluice model, from a seed: dense layers and ReLUs,
residual sums, gates (nested, with else arms), exits (also inside arms),
routes over expert banks (dense or stdlib mlp experts, top-k) and
block-gated layers, all on one hidden width, so any statement can follow
any other.  Conditions read the input (x[i] > c, so their rates are
known: x is standard normal) or the hidden state (a sigmoid over a
one-unit layer, about even).

    gen_model.py SEED [--depth D] [--stmts N] [--rich] > model.slu

--rich (test/gen's differential test) adds, on other random choices:
other activations (gelu, gelu_tanh, tanh, sigmoid), layernorm, gating
products (h * sigmoid(fc(h))), route scores through a ReLU (ties at 0),
gates without an else arm and `else gate` chains, confidence exits on
model thresholds (p = softmax(head(h)); exit p when max(p) >= t, entropy,
margin, argmax ==), exit values through log_softmax, and conditions with
every comparison operator, `and`, `or`, `not`, thresholds and mean(x).

The same seed (and options) gives the same model; without --rich, the
same models as before --rich existed.  Every construct is one the
reference interpreter (examples/common/sluref.py) reads, so its outputs
can be checked against PyTorch too.

As a module: generate_model(seed, depth, stmts, rich) returns a GenModel:
the source, and the structure test/gen needs to find each input's path in
`sluicec --cost`: the decisions and exits of each region in source order
(ledger names), and the input elements conditions compare with constants.
"""
import argparse
import math
import random

ACTS = ["relu", "gelu", "gelu_tanh", "tanh", "sigmoid"]
CONSTS = [-0.5, 0.0, 0.5, 1.0]


class Gen:
    def __init__(self, rng, n_in, d, n_out, rich=False):
        self.rng, self.n_in, self.d, self.n_out = rng, n_in, d, n_out
        self.rich = rich
        self.params = []          # declarations, in order
        self.decls = {}           # param name -> its kind, for exit values
        self.thresholds = []      # declarations (--rich)
        self.n = 0                # names used
        self.uses_nn = False
        self.indent = 1           # of the statements being written
        self.gates = self.exits = 0
        self.boundaries = []      # (i, c): a condition compares x[i] with c

    def name(self, base):
        self.n += 1
        return "%s%d" % (base, self.n)

    def param(self, base, kind):
        p = self.name(base)
        self.params.append("  param %s: %s" % (p, kind))
        self.decls[p] = kind
        return p

    def dense(self, n_in, n_out, base="fc"):
        return self.param(base, "dense[%d -> %d]" % (n_in, n_out))

    def threshold(self, value):
        t = self.name("t")
        self.thresholds.append("  threshold %s = %s" % (t, fmt(value)))
        return t

    def cond(self):
        r = self.rng
        if self.rich:
            return self.rich_cond()
        if r.random() < 0.6:  # on the input: rates known
            i, c = r.randrange(self.n_in), r.choice(CONSTS)
            self.boundaries.append((i, c))
            return "x[%d] > %.2f" % (i, c)
        g = self.dense(self.d, 1, "g")
        return "sigmoid(%s(h))[0] > 0.5" % g

    def atom(self):
        """One comparison (--rich)."""
        r = self.rng
        u = r.random()
        if u < 0.45:
            i, c = r.randrange(self.n_in), r.choice(CONSTS)
            op = r.choice([">", ">", ">=", "<", "<=", "==", "!="])
            self.boundaries.append((i, c))
            return "x[%d] %s %s" % (i, op, fmt(c))
        if u < 0.6:
            i, c = r.randrange(self.n_in), r.choice(CONSTS)
            self.boundaries.append((i, c))
            return "x[%d] %s %s" % (i, r.choice([">", ">=", "<"]), self.threshold(c))
        if u < 0.7:
            return "mean(x) > %s" % fmt(r.choice([-0.25, 0.0, 0.25]))
        g = self.dense(self.d, 1, "g")
        return "sigmoid(%s(h))[0] %s 0.5" % (g, r.choice([">", "<=", ">="]))

    def rich_cond(self):
        u = self.rng.random()
        if u < 0.2:
            return "%s and %s" % (self.atom(), self.atom())
        if u < 0.35:
            return "%s or %s" % (self.atom(), self.atom())
        if u < 0.45:
            return "not %s" % self.atom()
        return self.atom()

    def exit_item(self, value):
        """The tree item of an exit returning `value` (source text)."""
        eid = "exit%d" % self.exits
        self.exits += 1
        used = [p for p in self.decls if "%s(" % p in value]
        return {"kind": "exit", "name": eid, "value": value,
                "params": ["  param %s: %s" % (p, self.decls[p]) for p in used]}

    def arm(self, depth, out, n):
        """n statements one level in; their tree."""
        tree = []
        self.indent += 1
        for _ in range(n):
            self.stmt(depth, out, tree)
        self.indent -= 1
        return tree

    def stmt(self, depth, out, tree):
        """Statements changing h; exits allowed (model level and arms)."""
        r, d = self.rng, self.d
        kinds = ["dense", "dense", "residual", "blocks", "route", "exit"]
        if self.rich:
            kinds += ["act", "norm", "mul", "confidence"]
        if depth > 0:
            kinds += ["gate", "gate"]
        k = r.choice(kinds)
        ind = "  " * self.indent
        if k == "dense":
            out.append("%sh = relu(%s(h))" % (ind, self.dense(d, d)))
        elif k == "act":
            out.append("%sh = %s(%s(h))" % (ind, r.choice(ACTS), self.dense(d, d)))
        elif k == "norm":
            out.append("%sh = %s(h)" % (ind, self.param("ln", "layernorm[%d]" % d)))
        elif k == "mul":
            out.append("%sh = h * sigmoid(%s(h))" % (ind, self.dense(d, d)))
        elif k == "residual":
            out.append("%sh = h + %s(relu(%s(h)))" % (ind, self.dense(d, d), self.dense(d, d)))
        elif k == "blocks":
            blocks = r.choice([2, 4])
            p = self.param("blk", "dense[%d -> %d] blocks %d" % (d, d, blocks))
            pol = self.dense(d, blocks, "pol")
            out.append("%sh = relu(%s[sigmoid(%s(h)) > 0.5](h))" % (ind, p, pol))
            tree.append({"kind": "blocks", "name": p, "blocks": blocks})
        elif k == "route":
            n = r.choice([2, 3, 4])
            top = r.randint(1, min(2, n))
            if r.random() < 0.5:
                self.uses_nn = True
                bank = self.param("ffn", "expert[%d] of mlp[%d, %d, %d]" % (n, d, d + 4, d))
            else:
                bank = self.param("ffn", "expert[%d] of dense[%d -> %d]" % (n, d, d))
            router = self.dense(d, n, "router")
            scores = "%s(h)" % router
            if self.rich and r.random() < 0.25:  # zeros: ties between experts
                scores = "relu(%s)" % scores
            out.append("%sh = h + route %s(h) top %d by %s" % (ind, bank, top, scores))
            tree.append({"kind": "route", "name": bank, "experts": n, "top": top, "width": d})
        elif k == "exit":
            head = self.dense(d, self.n_out, "head")
            f = "softmax" if not self.rich or r.random() < 0.7 else "log_softmax"
            value = "%s(%s(h))" % (f, head)
            item = self.exit_item(value)
            out.append("%sexit %s when %s" % (ind, value, self.cond()))
            tree.append(item)
        elif k == "confidence":
            p = self.name("p")
            out.append("%s%s = softmax(%s(h))" % (ind, p, self.dense(d, self.n_out, "head")))
            n = self.n_out
            form = r.choice(["max", "max", "entropy", "margin", "argmax"])
            if form == "max":
                c = "max(%s) >= %s" % (p, self.threshold(r.uniform(1.0 / n + 0.05, 0.9)))
            elif form == "entropy":
                c = "entropy(%s) < %s" % (p, self.threshold(r.uniform(0.3, 0.9) * math.log(n)))
            elif form == "margin":
                c = "margin(%s) > %s" % (p, self.threshold(r.uniform(0.05, 0.5)))
            else:
                c = "argmax(%s) == %d or max(%s) >= %s" % (p, r.randrange(n), p,
                                                          self.threshold(r.uniform(0.5, 0.9)))
            item = self.exit_item(p)
            out.append("%sexit %s when %s" % (ind, p, c))
            tree.append(item)
        else:  # gate
            form = r.choice(["else", "else", "none", "chain"]) if self.rich else "else"
            c = self.cond()
            g = {"kind": "gate", "name": "gate%d" % self.gates}
            self.gates += 1
            out.append("%sgate %s {" % (ind, c))
            g["then"] = self.arm(depth - 1, out, r.randint(1, 2))
            if form == "none":
                out.append("%s}" % ind)
                g["else"] = []
            elif form == "chain":  # else gate c2 { ... } else { ... }: a gate in the else arm
                c2 = self.cond()
                g2 = {"kind": "gate", "name": "gate%d" % self.gates}
                self.gates += 1
                out.append("%s} else gate %s {" % (ind, c2))
                g2["then"] = self.arm(depth - 1, out, r.randint(1, 2))
                out.append("%s} else {" % ind)
                g2["else"] = self.arm(depth - 1, out, r.randint(1, 2))
                out.append("%s}" % ind)
                g["else"] = [g2]
            else:
                out.append("%s} else {" % ind)
                g["else"] = self.arm(depth - 1, out, r.randint(1, 2))
                out.append("%s}" % ind)
            tree.append(g)


def fmt(v):
    """A constant as a literal (two decimals)."""
    return "%.2f" % v


class GenModel:
    """A generated model: its source and its structure."""

    def __init__(self, seed, text, g, tree):
        self.seed, self.text, self.tree = seed, text, tree
        self.name = "gen%d" % seed
        self.n_in, self.d, self.n_out = g.n_in, g.d, g.n_out
        self.uses_nn = g.uses_nn
        self.boundaries = g.boundaries  # (i, c): x[i] == c sits on a condition's edge


def generate_model(seed, depth=3, stmts=5, rich=False):
    rng = random.Random(seed)
    n_in, d, n_out = rng.choice([8, 12, 16]), rng.choice([8, 12, 16, 24]), rng.choice([3, 5, 10])
    g = Gen(rng, n_in, d, n_out, rich)
    tree = []
    body = ["  h = relu(%s(x))" % g.dense(n_in, d)]
    for _ in range(stmts):
        g.stmt(depth, body, tree)
    body.append("  y = softmax(%s(h))" % g.dense(d, n_out, "out"))
    lines = ["# gen_model.py %d (depth %d, %d statements%s)" %
             (seed, depth, stmts, ", rich" if rich else "")]
    if g.uses_nn:
        lines.append("import nn")
    lines += ["", "model gen%d {" % seed, "  input  x: f32[%d]" % n_in,
              "  output y: f32[%d]" % n_out] + g.params + g.thresholds + [""] + body + ["}"]
    return GenModel(seed, "\n".join(lines) + "\n", g, tree)


def generate(seed, depth, stmts, rich=False):
    return generate_model(seed, depth, stmts, rich).text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("seed", type=int)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--stmts", type=int, default=5)
    ap.add_argument("--rich", action="store_true")
    a = ap.parse_args()
    print(generate(a.seed, a.depth, a.stmts, a.rich), end="")


if __name__ == "__main__":
    main()
