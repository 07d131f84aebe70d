"""large_models.py DIR: the large model files of large-models.test."""
import os
import sys

HEAD = "model m {\n input x: f32[4]\n output y: f32[4]\n"


def write(folder, name, text):
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


def main():
    d = sys.argv[1]
    write(d, "blocks.slu", HEAD + " param s: dense[4 -> 2]\n param fc: dense[4 -> 4] blocks 2\n"
          + " x = fc[s(x) > 0](x)\n" * 8000 + " y = x\n}\n")
    write(d, "vars.slu", HEAD + "".join(f" a{i} = x\n" for i in range(100000)) + " y = a99999\n}\n")
    write(d, "gates.slu", HEAD + " gate max(x) > 0 { x = x + 1 }\n" * 20000 + " y = x\n}\n")
    write(d, "layers.slu", "".join(f"layer l{i} {{\n input x: f32[4]\n output y: f32[4]\n y = x\n}}\n"
                                   for i in range(50000)) + HEAD + " param q: l49999\n y = q(x)\n}\n")
    write(d, "imports.slu", "import nn\n" * 20000 + HEAD + " y = x\n}\n")
    write(d, "params.slu", HEAD + "".join(f" param p{i}: dense[4 -> 4]\n" for i in range(30000))
          + "".join(f" x = p{i}(x)\n" for i in range(30000)) + " y = x\n}\n")
    write(d, "chain.slu", HEAD + " y = x" + " + x" * 4000000 + "\n}\n")


if __name__ == "__main__":
    main()
