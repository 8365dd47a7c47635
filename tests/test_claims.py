"""docs/claims.md: every promise of the README and the documentation pages about numbers and files
names a test that exists.

Three checks: each quoted fragment is still in its page (a reworded promise needs its row
updated), each named test is a test function of that file, and each sentence of the pages that
uses a promise word has a row quoting part of it (a new promise needs a test)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "claims.md"
PROMISE_WORDS = ("bit for bit", "draw for draw", "the same numbers", "identical", "overwritten", "one line",
                 "exactly", "never ends", "left as it was", "same run")


def _fold(text: str) -> str:
    return " ".join(text.split())


def _rows() -> list[tuple[str, str, list[str]]]:
    rows = []
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[0].endswith(".md") and cells[0] != "file":
            rows.append((cells[0], cells[1], [t.strip() for t in cells[2].split(";")]))
    return rows


def _sentences(text: str) -> list[str]:
    """Sentences of a Markdown file's prose (code blocks dropped), white space folded."""
    prose = re.sub(r"```.*?```", " ", text, flags=re.S)
    return [s for s in re.split(r"(?<=[.:;])\s+(?=[A-Z`*(])|\n\s*\n", prose) if s.strip()]


def _pages() -> list[str]:
    """The README and every documentation page but the table itself."""
    return ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md") if p != TABLE)]


def test_the_table_is_read():
    rows = _rows()
    assert len(rows) >= 40
    assert {"README.md", "docs/runs.md", "docs/evaluation.md"} <= {file for file, _, _ in rows} <= set(_pages())


def test_every_quoted_promise_is_still_in_its_readme():
    for file, fragment, _ in _rows():
        assert _fold(fragment) in _fold((ROOT / file).read_text()), (file, fragment)


def test_every_named_test_exists():
    defined: dict = {}
    for _, fragment, tests in _rows():
        assert tests, fragment
        for ref in tests:
            path, _, name = ref.partition("::")
            if path not in defined:
                tree = ast.parse((ROOT / path).read_text())
                defined[path] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name.startswith("test_") and name in defined[path], ref


def test_every_promise_sentence_has_a_row():
    rows = _rows()
    missing = []
    for file in _pages():
        fragments = [_fold(f) for f_file, f, _ in rows if f_file == file]
        for sentence in _sentences((ROOT / file).read_text()):
            folded = _fold(sentence)
            if any(w in folded for w in PROMISE_WORDS) and not any(f in folded or folded in f for f in fragments):
                missing.append(f"{file}: {folded[:160]}")
    assert not missing, "promises without a row in docs/claims.md:\n" + "\n".join(missing)
