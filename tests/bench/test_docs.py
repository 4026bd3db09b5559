"""Every benchmark figure in the documents is the committed results' own: rendered by `python -m bench.docs`."""

from __future__ import annotations

import re

import pytest

from bench import docs
from devenv.embedded import REPO_ROOT
from tests.test_documented_commands import PACKAGE_READMES

# A measured rate or CPU figure in prose: "2,384 req/s", "387 µs per request".
FIGURE = re.compile(r"\b\d[\d,.]* (?:req/s|µs)")


@pytest.mark.parametrize("document", docs.DOCUMENTS)
def test_every_region_is_what_its_results_say(document: str) -> None:
    text = (REPO_ROOT / document).read_text()
    assert docs.REGION.search(text), f"{document} has no region rendered from the results"
    assert docs.render(document, text) == text, f"{document} differs from its results: run python -m bench.docs"


@pytest.mark.parametrize("document", docs.DOCUMENTS)
def test_a_figure_changed_by_hand_is_caught(document: str) -> None:
    text = (REPO_ROOT / document).read_text()
    region = docs.REGION.search(text)
    assert region is not None
    body = region.group(4)
    digit = re.search(r"\d", body)
    assert digit is not None, f"{document}: a region with no figure"
    at = region.start(4) + digit.start()
    changed = text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :]
    assert docs.render(document, changed) != changed


READMES = [str(path.relative_to(REPO_ROOT)) for path in PACKAGE_READMES]


@pytest.mark.parametrize("document", sorted({*docs.DOCUMENTS, *READMES, "RELIABILITY.md"}))
def test_no_measured_rate_outside_the_rendered_regions(document: str) -> None:
    outside = docs.REGION.sub("", (REPO_ROOT / document).read_text())
    assert FIGURE.findall(outside) == [], f"{document}: figures with no results file behind them"


# A measured time or size in RELIABILITY.md's prose: "6.0 s", "1.1 to 1.7 s", "16 MB". (Whole seconds there are the
# tests' own limits and loads, which tests/test_reliability_doc.py checks.)
MEASURED = re.compile(r"\b\d[\d,]*\.\d+ ?(?:s|ms)\b|\b\d[\d,.]* to \d[\d,.]* ?(?:s|ms|B)\b|\b\d[\d,.]* ?[MG]B\b")


def test_no_measured_time_or_size_outside_the_rendered_regions_of_reliability() -> None:
    outside = docs.REGION.sub("", (REPO_ROOT / "RELIABILITY.md").read_text())
    assert MEASURED.findall(outside) == [], "RELIABILITY.md: figures no test wrote (python -m tests.figures does)"
