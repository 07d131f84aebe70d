"""What an executable wrote on stderr (or on a pseudo-terminal) around its
progress bar, normalized for FileCheck.

    progress_check.py PLAIN WITH_BAR TOTAL [--tty]

PLAIN is stderr of a run without the bar, WITH_BAR of the same run with it
(--tty: as `script` saved a terminal's output, "\\n" written as "\\r\\n").
Prints whether PLAIN holds no carriage return; how many bar lines WITH_BAR
drew (the exact count depends on time, so "none" or "some"); the first bar
line with its rate and time left as RATE and S (they depend on time, the
rest does not); whether every bar line has the documented form, for TOTAL
inputs, fits in 79 columns and counts up; whether the bar was erased with
blanks as wide as the widest line before anything else was written; and
whether what follows it is PLAIN, but for the rate in the summary.
"""
import re
import sys

BAR = re.compile(r"^(\S+): (\[[#.]+\] )? *(\d+)% (\d+)/(\d+) inputs(, [0-9.e+-]+/s, \d+ s left)?$")


def norm(summary):
    """The summary without its rate, which depends on time."""
    return re.sub(r"[0-9.e+-]+ inputs/s", "RATE inputs/s", summary)


def main():
    plain_path, bar_path, total = sys.argv[1:4]
    tty = "--tty" in sys.argv[4:]
    plain = open(plain_path, "rb").read().decode()
    text = open(bar_path, "rb").read().decode()
    if tty:
        plain = plain.replace("\r\n", "\n")
        text = text.replace("\r\n", "\n")
    print("plain: no carriage return: %s" % ("\r" not in plain))
    segments = text.split("\r")
    if len(segments) == 1:
        print("bar: none; the rest: %s" % ("same as plain" if norm(text) == norm(plain)
                                           else "differs:\n" + text))
        return
    # "\r" BAR ... "\r" BLANKS "\r" REST: segments[0] is "", then the bars,
    # then the blanks, then what follows.
    bars, blanks, rest = segments[1:-2], segments[-2], segments[-1]
    first = bars[0] if bars else ""
    shown = re.sub(r", [0-9.e+-]+/s, \d+ s left", ", RATE/s, S s left", first.rstrip())
    print("bar: some; first: %s" % shown)
    ok, done = segments[0] == "" and bool(bars), -1
    for b in bars:
        m = BAR.match(b)
        ok = ok and m is not None and len(b) <= 79 and m.group(5) == total \
            and int(m.group(4)) > done
        done = int(m.group(4)) if m else done
    print("every bar line well-formed, counting up: %s" % ok)
    print("erased with blanks as wide as the widest: %s" % (
        blanks.strip(" ") == "" and len(blanks) == max(len(b) for b in bars)))
    print("the rest: %s" % ("same as plain" if norm(rest) == norm(plain) else "differs:\n" + rest))


if __name__ == "__main__":
    main()
