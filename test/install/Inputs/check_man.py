"""check_man.py SLUICEC MANPAGE - every option `sluicec --help` names is in
the man page.

The options are every word of the help that starts with '-' (the option
column and the ones its text mentions: -fzero-skip), the --emit kinds
(the indented list under --emit) and the environment variables it names.
The man page is rendered to plain text by groff (one paragraph per line,
so nothing is hyphenated) and each must appear there as a whole word.
The page's title line must name the version `sluicec --version` prints.
Prints what it checked; exits 1 naming what is missing.
"""
import re
import subprocess
import sys

sluicec, page = sys.argv[1], sys.argv[2]
help_text = subprocess.run([sluicec, "--help"], check=True, capture_output=True,
                           text=True).stdout
man = subprocess.run(["groff", "-man", "-Tascii", "-rLL=2000n", "-P-cbou", page], check=True,
                     capture_output=True, text=True).stdout

options = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text))
emit = help_text[help_text.index("--emit="):]
kinds = set()
for line in emit.splitlines()[1:]:
    m = re.match(r" {29}([a-z]+) {2,}\S", line)
    if m:
        kinds.add(m.group(1))
    elif not line.startswith(" " * 29):
        break
env = set(re.findall(r"\b(SLUICE_[A-Z_]+|NO_COLOR)\b", help_text))
if len(options) < 20 or len(kinds) < 10:
    print(f"check_man: error: read only {len(options)} options and {len(kinds)} --emit kinds "
          "from --help: has its layout changed?")
    sys.exit(1)

def present(word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", man) is not None

version = subprocess.run([sluicec, "--version"], check=True, capture_output=True,
                         text=True).stdout.split()[2]
with open(page, encoding="utf-8") as f:
    title = next((l for l in f if l.startswith(".TH ")), "")
if f'"Sluice {version}"' not in title:
    print(f"check_man: error: {page}: the .TH line does not name Sluice {version}: {title.strip()}")
    sys.exit(1)

missing = sorted(w for w in options | kinds | env if not present(w))
if missing:
    print(f"check_man: error: {page} lacks what 'sluicec --help' names: {' '.join(missing)}")
    sys.exit(1)
print(f"{len(options)} options, {len(kinds)} --emit kinds and {len(env)} environment "
      f"variables of --help are all in the man page (Sluice {version})")
