#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates the man pages from docs/api.md, their one source:
one man3 page per "### pp_name" entry and procpool(7), the overview.

    gen_man.py docs/api.md OUTDIR VERSION

writes OUTDIR/man3/pp_*.3 and OUTDIR/man7/procpool.7."""
import os, re, sys

src, out, version = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(src).read()
footer = f'"procpool {version}" "procpool manual"'


def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return s


def inline(s):
    """Markdown inline code and emphasis to roff fonts, escaped."""
    parts = re.split(r"(`[^`]*`)", s)
    res = []
    for p in parts:
        if p.startswith("`") and p.endswith("`") and len(p) >= 2:
            res.append("\\fB" + esc(p[1:-1]) + "\\fR")
        else:
            res.append(esc(re.sub(r"\*\*([^*]+)\*\*", r"\1", p)))
    return "".join(res)


def paragraphs(body):
    """Roff for a block of markdown: paragraphs, lists, code blocks."""
    res, code, para = [], False, []

    def flush():
        if para:
            l = inline(" ".join(para))
            res.append("\\&" + l if l.startswith((".", "'")) else l)
            para.clear()

    for line in body.strip("\n").split("\n"):
        if line.startswith("```"):
            flush()
            res.append(".PP\n.nf\n.RS 4" if not code else ".RE\n.fi")
            code = not code
        elif code:
            res.append(("\\&" if line.startswith((".", "'")) else "") + esc(line))
        elif not line.strip():
            flush()
            res.append(".PP")
        elif line.startswith("- "):
            flush()
            para.append(line[2:])
            res.append(".IP \\(bu 2")
        else:
            para.append(line.strip())
    flush()
    return "\n".join(res)


def first_sentence(body):
    plain = re.sub(r"`([^`]*)`", r"\1", " ".join(body.split()))
    m = re.match(r"(.+?[.:])(\s|$)", plain)
    s = (m.group(1) if m else plain).rstrip(".:")
    return esc(s[:1].lower() + s[1:]) if s else ""


intro, _, rest = text.partition("\n## ")
intro = intro.split("\n", 1)[1] if "\n" in intro else ""
sections = re.split(r"^## ", "## " + rest, flags=re.M)[1:]
index = []
os.makedirs(os.path.join(out, "man3"), exist_ok=True)
os.makedirs(os.path.join(out, "man7"), exist_ok=True)
for sec in sections:
    title, _, body = sec.partition("\n")
    entries = re.split(r"^### ", body, flags=re.M)
    for e in entries[1:]:
        name, _, eb = e.partition("\n")
        name = name.strip()
        eb = eb.strip("\n")
        sig = ""
        m = re.match(r"`([^`]+)`\s*\n?", eb)
        if m:
            sig, eb = m.group(1), eb[m.end():]
        index.append((title.strip(), name))
        page = [f'.TH {name.upper()} 3 "" {footer}',
                ".SH NAME", f"{esc(name)} \\- {first_sentence(eb)}",
                ".SH SYNOPSIS", ".nf",
                ".B #include <procpool_mpi.h>" if name.startswith("pp_mpi_") else ".B #include <procpool.h>",
                ".PP", esc(sig), ".fi",
                ".SH DESCRIPTION", paragraphs(eb),
                ".SH SEE ALSO", ".BR procpool (7)"]
        open(os.path.join(out, "man3", name + ".3"), "w").write("\n".join(page) + "\n")

ov = [f'.TH PROCPOOL 7 "" {footer}', ".SH NAME",
      "procpool \\- a pool of forked worker processes with futures, after Python's ProcessPoolExecutor",
      ".SH SYNOPSIS", ".nf", ".B #include <procpool.h>", ".PP",
      "cc prog.c $(pkg\\-config \\-\\-cflags \\-\\-libs procpool\\-static)", ".fi",
      ".SH DESCRIPTION", paragraphs(intro), ".SH FUNCTIONS"]
last = None
for title, name in index:
    if title != last:
        ov.append(".SS " + esc(title))
        last = title
    ov.append(f".BR {esc(name)} (3)")
    ov.append(".br")
ov += [".SH SEE ALSO", "The README, docs/api.md and docs/design.md of the source tree."]
open(os.path.join(out, "man7", "procpool.7"), "w").write("\n".join(ov) + "\n")
print(f"gen_man: {len(index)} man3 pages and procpool.7 in {out}")
