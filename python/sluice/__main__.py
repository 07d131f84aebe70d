"""python3 -m sluice sweep|rank|zeros ...: the research tools (docs/analysis.md)."""
import importlib
import sys

from ._model import Error

USAGE = """usage: python3 -m sluice COMMAND [options]

commands:
  sweep LIB.so INPUTS.npy --labels LABELS.npy [--grid NAME=LO:HI:STEPS ...] [--out DIR]
        accuracy, FLOPs and exits at every threshold setting; the Pareto front
  rank LEDGER.jsonl [LEDGER2.jsonl ...] [--images X.npy --shape 8x8] [--out DIR]
        inputs ranked by compute; rank correlations between ledgers
  zeros MODEL.slu|LIB.so INPUTS.npy [--out DIR]
        each ReLU's exact zeros per input and per unit (sluicec -fzero-stats)

'python3 -m sluice COMMAND --help' describes a command's options.
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in ("sweep", "rank", "zeros"):
        sys.stderr.write("sluice: error: unknown command '%s'\n%s" % (cmd, USAGE))
        return 2
    tool = importlib.import_module("." + cmd, __package__)
    # A tool's failure, for every tool alike: its message, exit status 1.
    try:
        return tool.main(rest)
    except Error as e:
        print("sluice %s: error: %s" % (cmd, e.msg), file=sys.stderr)
    except (OSError, ValueError) as e:  # a file that cannot be read, or is no .npy
        print("sluice %s: error: %s" % (cmd, e), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
