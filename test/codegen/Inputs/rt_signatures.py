"""The runtime functions generated code calls are declared twice: by the
compiler (compiler/lower_emit.c, em_rt, as LLVM function types) and by
runtime/include/sluice/kernels.h (as C prototypes).  Check that they agree.

    rt_signatures.py SRC_ROOT SLUICEC OUT_DIR

Compiles every model file under examples/ and test/ that compiles
(`--emit=llvm -O0`, into OUT_DIR) and reads the runtime functions its IR
declares.  Every function named in em_rt's table must be declared by one of
them (so a new one is checked too), and every declaration must match its C
prototype: pointers are ptr, int64_t i64, int32_t and int i32, float,
double, void.  Prints one line per function; exits 1 on a mismatch or a
function no model calls.
"""
import os
import re
import subprocess
import sys

C_TYPES = {"int64_t": "i64", "int32_t": "i32", "int": "i32", "float": "float",
           "double": "double", "void": "void", "uint64_t": "i64", "uint32_t": "i32"}


def c_type(decl):
    """The LLVM type of one C parameter or return type."""
    decl = decl.strip()
    if "*" in decl:
        return "ptr"
    words = [w for w in decl.replace("const", " ").split()]
    # drop the parameter's name: the type is the first word here
    return C_TYPES.get(words[0], "?" + words[0]) if words else "?"


def prototypes(header):
    text = open(header).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = {}
    for m in re.finditer(r"^([A-Za-z_][\w \*]*?)\b(sl_rt_\w+)\s*\(([^)]*)\)\s*;", text, re.M):
        ret, name, params = m.group(1), m.group(2), m.group(3)
        ps = [] if params.strip() in ("", "void") else [c_type(p) for p in params.split(",")]
        out[name] = (c_type(ret), ps)
    return out


def declarations(paths):
    out = {}
    for p in paths:
        for line in open(p):
            m = re.match(r"declare (?:\w+ )*?(void|i32|i64|float|double|ptr) @(sl_rt_\w+)\((.*)\)",
                         line)
            if m:
                ps = [a.split()[0] for a in m.group(3).split(",") if a.strip()]
                out.setdefault(m.group(2), (m.group(1), ps))
    return out


def compile_all(root, sluicec, out):
    irs = []
    for top in ("examples", "test"):
        for d, _, files in sorted(os.walk(os.path.join(root, top))):
            for f in sorted(files):
                if not f.endswith(".slu"):
                    continue
                ll = os.path.join(out, "%d.ll" % len(irs))
                r = subprocess.run([sluicec, "--emit=llvm", "-O0", os.path.join(d, f), "-o", ll],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if r.returncode == 0:
                    irs.append(ll)
    return irs


def main():
    root, sluicec, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    irs = compile_all(root, sluicec, out)
    table = open(os.path.join(root, "compiler", "lower_emit.c")).read()
    called = sorted(set(re.findall(r'"(sl_rt_\w+)"', table)))
    protos = prototypes(os.path.join(root, "runtime", "include", "sluice", "kernels.h"))
    decls = declarations(irs)
    bad = 0
    for name in called:
        if name not in decls:
            print("%s: no model here calls it: add one that does" % name)
            bad += 1
        elif name not in protos:
            print("%s: not declared in kernels.h" % name)
            bad += 1
        elif decls[name] != protos[name]:
            print("%s: the compiler calls it as %s (%s), kernels.h declares %s (%s)" % (
                name, decls[name][0], ", ".join(decls[name][1]), protos[name][0],
                ", ".join(protos[name][1])))
            bad += 1
        else:
            print("%s: %s (%s)" % (name, decls[name][0], ", ".join(decls[name][1])))
    print("%d runtime functions, %d mismatches" % (len(called), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
