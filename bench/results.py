"""Render docs/results.md from the raw benchmark lines in docs/results/*.jsonl.

    .venv/bin/python bench/results.py            # rewrite docs/results.md (make results)
    .venv/bin/python bench/results.py --check    # exit 1 when docs/results.md is out of date

Each .jsonl file is one benchmark and becomes one section; each line is one measured figure, a JSON
object with at least `bench`, `date`, `machine`, `commit` and `command`, plus its sizes, settings
and values. Lines sharing command, date, machine, commit and provenance form a block: those fields
(and any field equal on every line of the block) are printed once above the block's table, the
rest become its columns. A `caveats` field (a string or a list) is listed under the block header;
a `title` field names the section (default: the file name); fields whose name starts with `_` are
for scripts (e.g. a cache key) and are not shown. Numbers print exactly as written in
the file, so a transcribed 1.01e6 stays 1.01e6. A malformed line stops the run with its file and
line number (exit code 2).

Every table row whose line was transcribed without raw output or measured on uncommitted code says
so in a first column `flag`, and a section lists those lines by file, with the ones the answers
table or the README cites. A column whose definition can mislead carries its caveat (FIELD_NOTES):
a projected count is labelled an estimate, a tau on score is read beside the cost-only tau, the old
noise ratio beside the intraclass correlation.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from common.answers import answer_rows, cited_lines, line_flags

from nas.errors import NasError
from nas.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ResultsError", "Number", "read_results", "render", "main", "REQUIRED"]

REQUIRED = ("bench", "date", "machine", "commit", "command")
CONTEXT = ("command", "date", "machine", "commit", "provenance")  # one header per block of lines
_SECTION_KEYS = ("title", "bench")  # shown in the section heading, not in tables
_CAVEATS = "caveats"
SRC = ROOT / "docs" / "results"
OUT = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
FLAG = "flag"  # the first column of a table with a transcribed or uncommitted line

# field -> (column heading, note under the table): definitions that would flatter if read bare
FIELD_NOTES = {
    "candidates_in_budget": (
        "candidates_in_budget (estimate)",
        "`candidates_in_budget` is an estimate, not a count: (budget - parent seconds) / mean seconds per "
        "candidate, projected from the 12 timed evaluations. Lines from 2026-12-04 on count the candidates "
        "evaluated within the budget instead (`candidates_counted`)."),
    "kendall_tau_score": (
        "kendall_tau_score",
        "`kendall_tau_score` is mostly cost, not proxy quality: the score is cost x exp(error) with the cost "
        "exact in proxy and retrain, so when the errors differ little it equals the cost-only ranking's tau on "
        "score by construction (`cost_only_kendall_tau_score`, where the line has it). Proxy quality is "
        "`kendall_tau_error` against `cost_only_kendall_tau_error`."),
    "snr": (
        "snr",
        "`snr` (spread across architectures / seed noise) counts the seed noise in its spread across "
        "architectures: pure noise gives about 1, not 0, and it decides nothing. The intraclass correlation "
        "`icc` (share of an error's variance that is architecture, not seed; >= 0.5: separates candidates) "
        "decides; for lines before it, the answers table computes it from the recorded seed groups where "
        "the line has them."),
    "truth_snr": (
        "truth_snr",
        "`truth_snr` counts the truth's seed noise in its spread across architectures (pure noise gives about "
        "1); `truth_icc`, where the line has it, is the share of the truth's variance that is architecture."),
}

Line = dict[str, Any]


class ResultsError(NasError):
    """A results file cannot be read or one of its lines is malformed (the message names both)."""


class Number(float):
    """A JSON number that prints as it was written, so transcribed figures keep their exact form."""

    text: str

    def __new__(cls, text: str) -> Number:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


# --- reading ------------------------------------------------------------------------------------
def _parse(text: str, where: str) -> Line:
    try:
        obj = json.loads(text, parse_float=Number, parse_int=Number)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ResultsError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise ResultsError(f"{where}: missing {', '.join(missing)} (every line needs {', '.join(REQUIRED)})")
    caveats = obj.get(_CAVEATS, [])
    if not isinstance(caveats, (str, list)) or not all(isinstance(c, str) for c in caveats):
        raise ResultsError(f"{where}: {_CAVEATS} must be a string or a list of strings")
    return obj


def read_file(path: Path) -> list[Line]:
    """The lines of one .jsonl file (blank lines skipped); ResultsError names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    lines = [_parse(t, f"{path}:{i}") for i, t in enumerate(text.splitlines(), 1) if t.strip()]
    if not lines:
        raise ResultsError(f"{path}: no result lines")
    return lines


def read_results(src: Path) -> dict[Path, list[Line]]:
    """Every `*.jsonl` file in `src`, by file name."""
    if not src.is_dir():
        raise ResultsError(f"{src}: no such folder of results")
    files = sorted(src.glob("*.jsonl"))
    if not files:
        raise ResultsError(f"{src}: no *.jsonl files")
    return {path: read_file(path) for path in files}


# --- rendering ----------------------------------------------------------------------------------
def cell(value: Any) -> str:
    """One value as Markdown table text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{cell(k)}={cell(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def _groups(lines: Sequence[Line], key) -> list[list[Line]]:
    """Lines grouped by key(line), groups in order of first appearance."""
    out: dict[Any, list[Line]] = {}
    for line in lines:
        out.setdefault(key(line), []).append(line)
    return list(out.values())


def _shared(lines: Sequence[Line], keys: Iterable[str]) -> list[str]:
    """Those of `keys` every line holds with one value: printed once above the lines."""
    first = lines[0]
    return [k for k in keys if k in first and all(k in line and cell(line[k]) == cell(first[k]) for line in lines)]


def _fields(lines: Sequence[Line]) -> list[str]:
    """Shared measured fields (not context, heading or caveats) of two or more lines."""
    if len(lines) < 2:
        return []
    return _shared(lines, [k for k in lines[0] if k not in (*CONTEXT, *_SECTION_KEYS, _CAVEATS)])


def _caveats(lines: Iterable[Line]) -> list[str]:
    """Distinct caveats in order of first appearance."""
    seen: dict[str, None] = {}
    for line in lines:
        value = line.get(_CAVEATS) or []
        for text in [value] if isinstance(value, str) else value:
            seen.setdefault(cell(text), None)
    return list(seen)


def _header(first: Line, keys: Sequence[str], caveats: Sequence[str]) -> list[str]:
    out = []
    if "command" in keys:
        out.append(f"- command: `{first['command']}`")
    out += [f"- {k}: {cell(first[k])}" for k in keys if k != "command" and cell(first[k])]
    out += [f"- caveat: {text}" for text in caveats]
    return out + [""] if out else []


def flag(line: Line) -> str:
    """The `flag` cell of a line: how it was not measured from committed code with raw output kept."""
    return "; ".join(line_flags(line))


def _with_notes(header: list[str], keys: Iterable[str]) -> list[str]:
    """A header (ending in a blank line) with the FIELD_NOTES of the fields it shows added."""
    notes = [f"- note: {FIELD_NOTES[k][1]}" for k in keys if k in FIELD_NOTES]
    return header[:-1] + notes + [""] if notes and header else header


def _table(rows: Sequence[Line], skip: set[str]) -> list[str]:
    columns = [k for k in rows[0] if k not in skip]
    if not columns:
        return []
    flagged = any(flag(r) for r in rows)
    heads = [FLAG] * flagged + [FIELD_NOTES.get(k, (k,))[0] for k in columns]
    out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    out += ["| " + " | ".join([cell(flag(r))] * flagged + [cell(r.get(k)) for k in columns]) + " |" for r in rows]
    notes = [f"- note: {FIELD_NOTES[k][1]}" for k in columns if k in FIELD_NOTES]
    return out + [""] + (notes + [""] if notes else [])


def render_block(block: Sequence[Line], above: set[str], above_caveats: Sequence[str]) -> list[str]:
    """What the section header did not say (context, shared fields, caveats), then one table per
    set of fields."""
    keys = [k for k in (*CONTEXT, *_fields(block)) if k not in above and k in block[0]]
    out = _header(block[0], keys, [c for c in _caveats(block) if c not in above_caveats])
    out = _with_notes(out, keys)
    skip = {*CONTEXT, *_SECTION_KEYS, _CAVEATS, *above, *keys}
    for rows in _groups(block, lambda line: tuple(k for k in line if k not in skip)):
        out += _table(rows, skip)
    return out


def title_of(path: Path, lines: Sequence[Line]) -> str:
    return cell(lines[0].get("title")) or path.stem


def render_section(path: Path, lines: Sequence[Line]) -> list[str]:
    """Heading, what all lines share, then one block per (command, date, machine, commit, provenance)."""
    lines = [{k: v for k, v in line.items() if not k.startswith("_")} for line in lines]
    benches = list(dict.fromkeys(cell(line["bench"]) for line in lines))
    above = [*_shared(lines, CONTEXT), *_fields(lines)]
    everywhere = [c for c in _caveats(lines) if all(c in _caveats([line]) for line in lines)]
    out = [f"## {title_of(path, lines)}", "",
           f"From [`{path.parent.name}/{path.name}`]({path.parent.name}/{path.name}): {len(lines)} line(s), "
           f"bench {', '.join(f'`{b}`' for b in benches)}.", ""]
    out += _with_notes(_header(lines[0], above, everywhere), above)
    for block in _groups(lines, lambda line: tuple(cell(line.get(k)) for k in CONTEXT)):
        out += render_block(block, set(above), everywhere)
    return out


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


HEADER = """# Measured results

Generated by `bench/results.py` from the raw lines in `docs/results/*.jsonl` (one file per
benchmark, one JSON line per measured figure); do not edit it by hand: add lines to a `.jsonl` file
and run `make results`. Each block names the command that produced its lines, the date, the machine
and the commit. Lines whose provenance reads "transcribed from the README at commit 5af3ee1; raw
output not kept" were measured by earlier runs whose raw output is gone: their values are copied
exactly as the README stated them, and their `commit` is the commit that first recorded the figure.
"""


def render_answers(results: dict[Path, list[Line]]) -> list[str]:
    """The opening table: each question a user asks -> the answer -> its scope -> the lines behind it."""
    rows = answer_rows({path.stem: lines for path, lines in results.items()})
    out = ["## Answers", "", "| question | answer | scope (device, size, budget, date) | from |", "|---|---|---|---|"]
    last = None
    for q, answer, scope, src in rows:
        out.append(f"| {cell(q) if q != last else ''} | {cell(answer)} | {cell(scope)} | {src} |")
        last = q
    return out + [""]


def _flag_count(lines: Sequence[Line]) -> str:
    n = sum(bool(flag(x)) for x in lines)
    return f", {n} flagged" if n else ""


def readme_cited(readme: Path = README) -> set[str]:
    """The results files (stems) the README links to directly."""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    return set(re.findall(r"results/([\w.-]+)\.jsonl", text))


def render_flagged(results: dict[Path, list[Line]], readme: Path = README) -> list[str]:
    """Which lines are transcribed or measured on uncommitted code, by file, and which of them the
    answers table or the README cites (those are what a re-measurement must replace first)."""
    stems = {path.stem: lines for path, lines in results.items()}
    cited: dict[int, list[str]] = {}
    for q, line in cited_lines(stems):
        cited.setdefault(id(line), []).append(f"answers: {q}")
    in_readme = readme_cited(readme)
    out = ["## Lines without raw output or measured on uncommitted code", "",
           "Every table below marks these lines in its first column (`flag`). Transcribed lines were measured "
           "by runs whose raw output is gone (their values copied from an older README); uncommitted lines were "
           "measured on code that differs from their commit. By file (`date` of the run: lines, flag; who cites "
           "them):", ""]
    out += ["| file | run (date, commit) | lines | flag | cited by |", "|---|---|---|---|---|"]
    any_cited = False
    for path, lines in results.items():
        for block in _groups([x for x in lines if flag(x)], lambda x: (cell(x.get("date")), cell(x.get("commit")))):
            by = list(dict.fromkeys(b for x in block for b in cited.get(id(x), [])))
            by += ["README"] if path.stem in in_readme else []
            any_cited |= bool(by)
            out.append(f"| [{path.name}](results/{path.name}) | {cell(block[0].get('date'))}, "
                       f"{cell(block[0].get('commit'))} | {len(block)} | {flag(block[0])} | "
                       f"{', '.join(by) or 'nothing'} |")
    total = sum(bool(flag(x)) for lines in results.values() for x in lines)
    out += ["", f"{total} line(s) in all; "
            + ("the cited ones are flagged in the answers table too." if any_cited
               else "none of them is cited by the answers table or the README."), ""]
    return out


def render(results: dict[Path, list[Line]]) -> str:
    """The whole results page: the answers, the flagged lines, then one section per benchmark."""
    toc = [f"- [{title_of(p, ls)}](#{anchor(title_of(p, ls))}) ({len(ls)} line(s){_flag_count(ls)})"
           for p, ls in results.items()]
    body: list[str] = []
    for path, lines in results.items():
        body += render_section(path, lines)
    return "\n".join([HEADER, *render_answers(results), *render_flagged(results), "## Sections", "", *toc, "",
                      *body]).rstrip("\n") + "\n"


# --- command line -------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render docs/results.md from the raw benchmark lines in "
                                 "docs/results/*.jsonl (one section per file, one table row per line).")
    ap.add_argument("--src", type=Path, default=SRC, help="folder of *.jsonl files (default docs/results)")
    ap.add_argument("--out", type=Path, default=OUT, help="Markdown file to write (default docs/results.md)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when --out differs from what would be rendered")
    args = ap.parse_args(argv)
    try:
        page = render(read_results(args.src))
        if args.check:
            current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
            if current != page:
                print(f"{args.out} is out of date: run `make results`", file=sys.stderr)
                return 1
            return 0
        write_text_atomic(args.out, page)
    except NasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(page.splitlines())} lines", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
