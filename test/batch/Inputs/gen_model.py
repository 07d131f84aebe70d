"""A random, well-typed Sluice model, from a seed: dense layers and ReLUs,
residual sums, gates (nested, with else arms), exits (also inside arms),
routes over expert banks (dense or stdlib mlp experts, top-k) and
block-gated layers, all on one hidden width, so any statement can follow
any other.  Conditions read the input (x[i] > c, so their rates are
known: x is standard normal) or the hidden state (a sigmoid over a
one-unit layer, about even).

    gen_model.py SEED [--depth D] [--stmts N] > model.slu

The same seed gives the same model.  Every construct the reference
interpreter (examples/common/sluref.py) reads, so its outputs can be
checked against PyTorch too.
"""
import argparse
import random


class Gen:
    def __init__(self, rng, n_in, d, n_out):
        self.rng, self.n_in, self.d, self.n_out = rng, n_in, d, n_out
        self.params = []          # declarations, in order
        self.n = 0                # names used
        self.uses_nn = False
        self.indent = 1           # of the statements being written

    def name(self, base):
        self.n += 1
        return "%s%d" % (base, self.n)

    def param(self, base, kind):
        p = self.name(base)
        self.params.append("  param %s: %s" % (p, kind))
        return p

    def dense(self, n_in, n_out, base="fc"):
        return self.param(base, "dense[%d -> %d]" % (n_in, n_out))

    def cond(self):
        r = self.rng
        if r.random() < 0.6:  # on the input: rates known
            return "x[%d] > %.2f" % (r.randrange(self.n_in), r.choice([-0.5, 0.0, 0.5, 1.0]))
        g = self.dense(self.d, 1, "g")
        return "sigmoid(%s(h))[0] > 0.5" % g

    def stmt(self, depth, out):
        """Statements changing h; exits allowed (model level and arms)."""
        r, d = self.rng, self.d
        kinds = ["dense", "dense", "residual", "blocks", "route", "exit"]
        if depth > 0:
            kinds += ["gate", "gate"]
        k = r.choice(kinds)
        ind = "  " * self.indent
        if k == "dense":
            out.append("%sh = relu(%s(h))" % (ind, self.dense(d, d)))
        elif k == "residual":
            out.append("%sh = h + %s(relu(%s(h)))" % (ind, self.dense(d, d), self.dense(d, d)))
        elif k == "blocks":
            blocks = r.choice([2, 4])
            p = self.param("blk", "dense[%d -> %d] blocks %d" % (d, d, blocks))
            pol = self.dense(d, blocks, "pol")
            out.append("%sh = relu(%s[sigmoid(%s(h)) > 0.5](h))" % (ind, p, pol))
        elif k == "route":
            n = r.choice([2, 3, 4])
            top = r.randint(1, min(2, n))
            if r.random() < 0.5:
                self.uses_nn = True
                bank = self.param("ffn", "expert[%d] of mlp[%d, %d, %d]" % (n, d, d + 4, d))
            else:
                bank = self.param("ffn", "expert[%d] of dense[%d -> %d]" % (n, d, d))
            router = self.dense(d, n, "router")
            out.append("%sh = h + route %s(h) top %d by %s(h)" % (ind, bank, top, router))
        elif k == "exit":
            head = self.dense(d, self.n_out, "head")
            out.append("%sexit softmax(%s(h)) when %s" % (ind, head, self.cond()))
        else:  # gate
            c = self.cond()
            out.append("%sgate %s {" % (ind, c))
            self.indent += 1
            for _ in range(r.randint(1, 2)):
                self.stmt(depth - 1, out)
            self.indent -= 1
            out.append("%s} else {" % ind)
            self.indent += 1
            for _ in range(r.randint(1, 2)):
                self.stmt(depth - 1, out)
            self.indent -= 1
            out.append("%s}" % ind)


def generate(seed, depth, stmts):
    rng = random.Random(seed)
    n_in, d, n_out = rng.choice([8, 12, 16]), rng.choice([8, 12, 16, 24]), rng.choice([3, 5, 10])
    g = Gen(rng, n_in, d, n_out)
    body = ["  h = relu(%s(x))" % g.dense(n_in, d)]
    for _ in range(stmts):
        g.stmt(depth, body)
    body.append("  y = softmax(%s(h))" % g.dense(d, n_out, "out"))
    lines = ["# gen_model.py %d (depth %d, %d statements)" % (seed, depth, stmts)]
    if g.uses_nn:
        lines.append("import nn")
    lines += ["", "model gen%d {" % seed, "  input  x: f32[%d]" % n_in,
              "  output y: f32[%d]" % n_out] + g.params + [""] + body + ["}"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("seed", type=int)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--stmts", type=int, default=5)
    a = ap.parse_args()
    print(generate(a.seed, a.depth, a.stmts), end="")


if __name__ == "__main__":
    main()
