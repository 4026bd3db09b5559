"""`python -m bench.docs [--check]`: every benchmark figure in the documents, rendered from the committed results.

A figure in a document sits in a marked region, `<!-- from bench/results/FILE PART -->` ... `<!-- end -->`; this
writes there what the results file says, with the run's date and a link to the file, so a document never holds a
figure that no run produced. `make bench` and `make bench-book` run it after writing their results; --check (which a
test runs) only says which documents differ from their sources.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from devenv.embedded import REPO_ROOT

from . import book, counter_load, tables
from .configurations import book_commands, per_core

DOCUMENTS = [
    "README.md",
    "bench/README.md",
    "scale_out/README.md",
    "RELIABILITY.md",
    "django_async_views/README.md",
    "products_db/README.md",
    "starlette_app/README.md",
]
REGION = re.compile(r"(<!-- from (\S+) (\S+) -->\n)(.*?)(<!-- end -->)", re.S)


def _link(document: str, source: str, text: str) -> str:
    target = os.path.relpath(REPO_ROOT / source, (REPO_ROOT / document).parent)
    return f"[{text}]({target})"


def _book_table(results: dict, link: str) -> list[str]:
    meta, s = results["meta"], results["meta"]["settings"]
    return [
        f"The last `make bench-book` run, {meta['started'][:10]}, {meta['machine']['cores']} cores: `wrk "
        f"-t{s['threads']} -c{s['connections']} -d{s['duration_s']:g}s {s['path']}`, {s['rounds']} rounds of "
        f"{s['runs']} runs per side; ratios above 1 mean ours does better: the median of the rounds' ratios, "
        f"in brackets their lowest and highest ({link}: how it was measured, every run).",
        "",
        *book.table(results),
    ]


def _brands(keys: Callable[[int], list[str]] | None) -> Callable[[dict, str], list[str]]:
    def render(results: dict, link: str) -> list[str]:
        meta = results["meta"]
        plan = meta["plan"]
        chosen = keys(meta["machine"]["cores"]) if keys else None
        return [
            f"The last `make bench` run, {meta['started'][:10]}, {meta['machine']['cores']} cores: `GET /brands`, "
            f"`wrk -t{plan['threads']} -c{plan['connections']}`, {plan['repeats']} x {plan['duration_s']:g} s per cell "
            f"({link}: every cell, and its CPU). {tables.BRANDS_INTRO}",
            "",
            *tables.brands_table(results, chosen),
        ]

    return render


def _section(name: Callable[[dict], list[str]]) -> Callable[[dict, str], list[str]]:
    """A section of results.md without its title, its source linked."""

    def render(results: dict, link: str) -> list[str]:
        lines = name(results)[3:]  # past "", "## title", ""
        return [f"From the last `make bench` run, {results['meta']['started'][:10]} ({link}).", "", *lines]

    return render


def _book_and_per_core(cores: int) -> list[str]:
    return [c.key for c in [*book_commands(), *per_core(cores)]]


def _scale_out(cores: int) -> list[str]:
    return ["aiohttp-1", f"aiohttp-{cores}", f"aiohttp-nginx-{cores}", "aiohttp-nginx-8", "starlette-8"] + [
        f"cluster-{hosts}" for hosts in (1, 2, 4)
    ]


def _held(results: dict, link: str) -> list[str]:
    intro = f"The last `make bench-held` run ({link}: every figure, the commands and the settings): "
    return [intro + tables.held_intro(results), "", *tables.held_table(results)]


def _mutation(results: dict, link: str) -> list[str]:
    """`make mutate`'s score per module (devenv/mutation.py writes it)."""
    return [
        f"The last `make mutate` run, {results['meta']['started'][:10]} ({link}):",
        "",
        "| module | mutants | killed |",
        "| --- | ---: | ---: |",
        *(
            f"| `{row['module'].rsplit('.', 1)[-1]}.py` | {row['mutants']} | {row['killed']} "
            f"({100 * row['killed'] / row['mutants']:.1f} %) |"
            for row in results["modules"]
        ),
    ]


PARTS: dict[str, Callable[[dict, str], list[str]]] = {
    "comparison": _book_table,
    "brands": _brands(None),
    "brands-per-core": _brands(_book_and_per_core),
    "scale-out": _brands(_scale_out),
    "limit": _section(tables._limit),
    "sweep": _section(tables._sweep),
    "held": _held,
    "mutation": _mutation,
    "counter": counter_load.readme,
}


def _shown(figure: dict) -> str:
    """'6.0 s', or '1.1 to 1.7 s' when the runs differ at the precision shown."""
    digits = 1 if figure["unit"] == "s" and figure["high"] < 100 else 0  # tenths of a second, else whole units
    low, high = f"{figure['low']:,.{digits}f}", f"{figure['high']:,.{digits}f}"
    return f"{low} {figure['unit']}" if low == high else f"{low} to {high} {figure['unit']}"


def _figures(group: str) -> Callable[[dict, str], list[str]]:
    """The figures the tests measured of one group (tests/figures.py writes them): one row each."""

    def render(results: dict, link: str) -> list[str]:
        rows = [figure for figure in results["figures"] if figure["group"] == group]
        if not rows:
            raise ValueError(f"no figure of the group {group!r}: python -m tests.figures measures them")
        return [
            f"Measured by the tests, `python -m tests.figures`, {results['meta']['started'][:10]}, "
            f"{results['meta']['machine']['cores']} cores ({link}); a range is the lowest and highest of the run.",
            "",
            "| measured | figure | times |",
            "| --- | ---: | ---: |",
            *(f"| {figure['what']} | {_shown(figure)} | {figure['count']} |" for figure in rows),
        ]

    return render


def render(document: str, text: str) -> str:
    """The document with every marked region rewritten from its source."""

    def region(match: re.Match[str]) -> str:
        opening, source, part = match.group(1), match.group(2), match.group(3)
        results = json.loads((REPO_ROOT / source).read_text())
        shown = source.replace(".json", ".md")
        shown = shown if (REPO_ROOT / shown).exists() else source  # a results file with no page of its own
        part_of = _figures(part) if source.endswith("figures.json") else PARTS[part]
        lines = part_of(results, _link(document, shown, f"`{Path(shown).name}`"))
        return opening + "\n".join(lines) + "\n" + match.group(5)

    return REGION.sub(region, text)


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    differ = []
    for document in DOCUMENTS:
        path = REPO_ROOT / document
        text = path.read_text()
        rendered = render(document, text)
        if rendered != text:
            differ.append(document)
            if not check:
                path.write_text(rendered)
    if check and differ:
        print(f"differ from their results (python -m bench.docs rewrites them): {', '.join(differ)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
