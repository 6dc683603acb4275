"""Every paper section label that the repository cites ("spec E.8", "paper G.4", "docs/dynamics.md
E.6", "paper_spec C.4") names a heading of docs/paper.md, so a reader can open it (issue 29, item 5).

A label is a capital A-G, a dot and one or two digits, as a whole token: "E.8", "G.4", "A.5";
"D.1.5" (step 5 of D.1) counts as D.1. Not labels: "E.g." (no digits), "0.5", "v1.2", "E.100" (three
digits), "E.1e-8" (a number), "x.E.1" (inside a dotted name). Scanned: *.py, *.md, *.smk, *.yaml,
*.yml and *.rst under src/, workflow/, docs/, studies/, tests/, benchmarks/, config/, and README.md;
skipped: docs/paper.md itself, data copies (*.csv, *.tsv, *.json are never scanned), caches and
files that are not UTF-8 text. Fast, no torch.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "docs" / "paper.md"
SCAN_DIRS = ("src", "workflow", "docs", "studies", "tests", "benchmarks", "config")
SCAN_FILES = ("README.md",)
SUFFIXES = {".py", ".md", ".smk", ".yaml", ".yml", ".rst"}
SKIP_PARTS = {"__pycache__", ".snakemake", ".git", ".venv", "node_modules", ".pytest_cache", ".ruff_cache"}

# not after a letter, digit, underscore or dot; not followed by a word character (a third digit,
# an exponent "e-8", a letter) or by ".<letter>" (dotted names); ".<digit>" (a sub-step) is allowed
LABEL = re.compile(r"(?<![\w.])([A-G]\.[0-9]{1,2})(?!\w)(?!\.[A-Za-z_])")
HEADING = re.compile(r"^#{1,6}[ \t]+([A-G]\.[0-9]{1,2})(?=[ \t]|$)", re.MULTILINE)


def labels_in(text: str) -> set[str]:
    """The section labels a text cites."""
    return set(LABEL.findall(text))


def paper_sections(text: str) -> list[str]:
    """The labels of the headings of docs/paper.md, in order (duplicates kept)."""
    return HEADING.findall(text)


def scanned_files(root: Path = ROOT) -> list[Path]:
    files = [root / f for f in SCAN_FILES if (root / f).is_file()]
    for d in SCAN_DIRS:
        for f in sorted((root / d).rglob("*")):
            rel = f.relative_to(root)
            if (f.is_file() and f.suffix in SUFFIXES and f != PAPER
                    and not SKIP_PARTS.intersection(rel.parts)):
                files.append(f)
    return files


def _read_text(f: Path) -> str | None:
    data = f.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def unresolved(texts: dict[str, str], sections: set[str]) -> dict[str, str]:
    """Labels cited in ``texts`` (name -> text) that are not in ``sections``: label -> first name
    (in sorted order) that cites it."""
    out: dict[str, str] = {}
    for name in sorted(texts):
        for lab in sorted(labels_in(texts[name]) - sections):
            out.setdefault(lab, name)
    return out


def _repo_texts() -> dict[str, str]:
    texts = {}
    for f in scanned_files():
        t = _read_text(f)
        if t is not None:
            texts[str(f.relative_to(ROOT))] = t
    return texts


def _report(missing: dict[str, str]) -> str:
    return "labels cited but missing from docs/paper.md headings:\n" + "\n".join(
        f"  {lab} (e.g. {name})" for lab, name in sorted(missing.items()))


def test_every_cited_label_has_a_section_in_paper_md():
    sections = set(paper_sections(PAPER.read_text()))
    texts = _repo_texts()
    cited = set().union(*(labels_in(t) for t in texts.values()))
    # the scan really sees the repository's citations (a broken glob must not pass vacuously)
    assert len(texts) > 50 and {"A.5", "D.1", "E.8", "G.4"} <= cited, (len(texts), sorted(cited))
    missing = unresolved(texts, sections)
    assert not missing, _report(missing)


def test_paper_md_has_each_label_once_and_says_what_it_is():
    text = PAPER.read_text()
    heads = paper_sections(text)
    dup = sorted({h for h in heads if heads.count(h) > 1})
    assert not dup, f"labels with more than one heading in docs/paper.md: {dup}"
    assert heads == sorted(heads, key=lambda h: (h[0], int(h[2:]))), "sections out of order"
    intro = text.split("\n## ", 1)[0]
    assert "2510.25674" in intro and "authority" in intro


def test_a_label_missing_from_paper_md_is_reported():
    """Must-fail: a planted citation of a section that docs/paper.md lacks is reported, with the
    file that cites it; labels that exist, and look-alikes that are not labels, are not."""
    sections = set(paper_sections(PAPER.read_text()))
    fake = "G." + "99"  # built, so that this file itself cites no missing label
    planted = {
        "planted/a.py": f'"""As in paper {fake}, and E.8."""\n',
        "planted/b.md": f"see spec §{fake} and G.4\n",
        "planted/c.md": "E.g. 0.5, v1.2, E.100, E.1e-8, x.E.1, np.A.5, D.1.5, (E.2-E.4), A.5;\n",
    }
    missing = unresolved(planted, sections)
    assert missing == {fake: "planted/a.py"}, missing
    assert fake in _report(missing) and "planted/a.py" in _report(missing)


def test_label_pattern():
    assert labels_in("spec §E.8-E.11, (G.4), A.5; D.1.5 and `C.6`") == {"E.8", "E.11", "G.4", "A.5", "D.1", "C.6"}
    assert labels_in("E.g. e.g. 0.5 v1.2 E.100 E.1e-8 x.E.1 np.A.5 H.2 AE.5 a.5 E.x") == set()
    assert paper_sections("### E.8 Kick neurons\n## E.9\n#### G.4: x\n### EE.1 no\nE.3 text\n") == ["E.8", "E.9"]
