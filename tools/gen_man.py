#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates the man pages from docs/api.md, their one source.

    gen_man.py docs/api.md OUTDIR VERSION

writes OUTDIR/man3/NAME.3 for every "### NAME" entry (functions and types)
and OUTDIR/man7/procpool.7, the overview: the text before the first "##"
section, every "##" section without entries (user sections such as
"Threads, signals and fork", each its own .SH), and an index of the pages.

An entry starts with its synopsis: a `signature` line for a function, a
fenced code block for a type. Its first sentence after that becomes the
NAME line, which must stay short. HTML comments (<!-- -->) are notes for
the source's maintainers and are left out. The generator fails, naming the
entry, on a NAME line too long or markdown left in the roff (backticks,
bold markers, links), so `make man` and `make check-docs` catch both."""
import os
import re
import sys

NAME_MAX = 72  # "name \- summary" on one line of an 80-column terminal, after its indent

src, out, version = sys.argv[1], sys.argv[2], sys.argv[3]
text = re.sub(r"<!--.*?-->\n?", "", open(src).read(), flags=re.S)
footer = f'"procpool {version}" "procpool manual"'


errors = []


def fail(where, why):
    errors.append(f"gen_man: {where}: {why}")


def esc(s):
    return s.replace("\\", "\\e").replace("-", "\\-")


def inline(s):
    """Markdown inline code, bold, emphasis and links to roff, escaped."""
    res = []
    for p in re.split(r"(`[^`]*`)", s):
        if p.startswith("`") and p.endswith("`") and len(p) >= 2:
            res.append("\\fB" + esc(p[1:-1]) + "\\fR")
            continue
        p = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", p)  # a link keeps its text
        p = esc(p)
        p = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", p)
        p = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"\\fI\1\\fR", p)
        res.append(p)
    return "".join(res)


def paragraphs(body):
    """Roff for a block of markdown: paragraphs, lists, code blocks."""
    res, code, para = [], False, []

    def flush():
        if para:
            line = inline(" ".join(para))
            res.append("\\&" + line if line.startswith((".", "'")) else line)
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
    plain = re.sub(r"\*\*?([^*]+)\*\*?", r"\1", plain)
    m = re.match(r"(.+?[.:])(\s|$)", plain)
    s = (m.group(1) if m else plain).rstrip(".:")
    return s[:1].lower() + s[1:] if s else ""


def check_roff(where, roff):
    """Fails on markdown left in running text (code blocks may hold anything)."""
    fill = True
    for line in roff.split("\n"):
        fill = {".nf": False, ".fi": True}.get(line, fill)
        for mark in ("`", "**", "]("):
            if fill and mark in line:
                fail(where, f"markdown left in the page ({mark!r}): {line}")
                return


def synopsis(eb):
    """(synopsis lines, the rest of the entry): a `signature` line, or a
    fenced code block (a type)."""
    m = re.match(r"```c?\n(.*?)\n```\s*\n?", eb, flags=re.S)
    if m:
        return m.group(1).split("\n"), eb[m.end():]
    m = re.match(r"`([^`]+)`\s*\n?", eb)
    if m:
        return [m.group(1)], eb[m.end():]
    return [], eb


intro, _, rest = text.partition("\n## ")
intro = intro.split("\n", 1)[1] if "\n" in intro else ""
sections = re.split(r"^## ", "## " + rest, flags=re.M)[1:]
pages, prose = [], []  # (section, name, synopsis, body); (title, body)
for sec in sections:
    title, _, body = sec.partition("\n")
    entries = re.split(r"^### ", body, flags=re.M)
    if len(entries) == 1:
        prose.append((title.strip(), body))
        continue
    for e in entries[1:]:
        name, _, eb = e.partition("\n")
        syn, eb = synopsis(eb.strip("\n"))
        pages.append((title.strip(), name.strip(), syn, eb.strip("\n")))

# related pages: the types a function's synopsis names, the functions naming a type
words = {name: set(re.findall(r"\bpp_[a-z_]+\b", " ".join(syn))) for _, name, syn, _ in pages}
os.makedirs(os.path.join(out, "man3"), exist_ok=True)
os.makedirs(os.path.join(out, "man7"), exist_ok=True)
files = {}  # path: roff, written once every page is right
for title, name, syn, eb in pages:
    summary = first_sentence(eb)
    if len(name) + 3 + len(summary) > NAME_MAX:
        fail(name, f"NAME line longer than {NAME_MAX} characters: make the first sentence shorter")
    related = [n for _, n, _, _ in pages if n != name and (n in words[name] or name in words[n])]
    header = "procpool_mpi.h" if name.startswith("pp_mpi_") else "procpool.h"
    page = [f'.TH {name.upper()} 3 "" {footer}',
            ".SH NAME", f"{esc(name)} \\- {esc(summary)}",
            ".SH SYNOPSIS", ".nf", f".B #include <{header}>", ".PP",
            *[("\\&" if l.startswith((".", "'")) else "") + esc(l) for l in syn], ".fi",
            ".SH DESCRIPTION", paragraphs(eb),
            ".SH SEE ALSO", *[f".BR {esc(n)} (3)," for n in related], ".BR procpool (7)"]
    roff = "\n".join(page) + "\n"
    check_roff(name, roff)
    files[os.path.join(out, "man3", name + ".3")] = roff

ov = [f'.TH PROCPOOL 7 "" {footer}', ".SH NAME",
      "procpool \\- run C functions on a pool of forked worker processes",
      ".SH SYNOPSIS", ".nf", ".B #include <procpool.h>", ".PP",
      "cc prog.c $(pkg\\-config \\-\\-cflags \\-\\-libs procpool\\-static)", ".fi",
      ".SH DESCRIPTION", paragraphs(intro)]
for title, body in prose:
    ov += [".SH " + inline(title.upper()), paragraphs(body)]
ov.append(".SH PAGES")
last = None
for title, name, _, _ in pages:
    if title != last:
        ov.append(".SS " + inline(title))
        last = title
    ov += [f".BR {esc(name)} (3)", ".br"]
ov += [".SH SEE ALSO", "README.md, design.md (how the library works) and python\\-parity.md (Python's executor,",
       "feature by feature), installed in PREFIX/share/doc/procpool."]
roff = "\n".join(ov) + "\n"
check_roff("procpool.7", roff)
files[os.path.join(out, "man7", "procpool.7")] = roff
if errors:
    sys.exit("\n".join(errors))  # nothing written: make tries again
for path, roff in files.items():
    open(path, "w").write(roff)
print(f"gen_man: {len(pages)} man3 pages and procpool.7 in {out}")
