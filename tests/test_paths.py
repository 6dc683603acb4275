"""The results layout stated once (issue 29, item 1): rnnhmm.paths builds the model id, its inverse,
the training group id and every path; ModelSpec and TrainGroup use it; and no other file of the
package or the workflow spells out a model path or a results path (a must-fail case shows the
scanner finds one). Pure Python, no jobs."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rnnhmm import paths
from rnnhmm.config import ConfigError, ModelSpec
from rnnhmm.training.grouping import TrainGroup

ROOT = Path(__file__).resolve().parents[1]


def test_model_id_and_its_inverse():
    assert paths.model_id("lin2", 150, 100, 0) == "lin2/h150_d100/s0"
    assert paths.model_id("lin2", 150, 100, 0, "shuffle") == "lin2/h150_d100/s0-null-shuffle"
    assert paths.parse_model_id("lin2/h150_d100/s0-null-shuffle") == ("lin2", 150, 100, 0, "shuffle")
    assert paths.parse_model_id("/ref_lin2/h16_d8/s3/") == ("ref_lin2", 16, 8, 3, "")
    for bad in ("lin2/h150/s0", "lin2/h150_d100/s0-null-", "lin2/h150_d100/sx"):
        with pytest.raises(ConfigError, match="bad model id"):
            paths.parse_model_id(bad)
    spec = ModelSpec("cyclic", 50, 10, 2, "plateau")
    assert spec.id == paths.model_id("cyclic", 50, 10, 2, "plateau") and ModelSpec.parse(spec.id) == spec
    assert TrainGroup("lin2", 16, 8, (0, 1, 2), "{}").id == paths.group_id("lin2", 16, 8, [0, 1, 2]) == \
        "lin2/h16_d8/s0_1_2"


def test_patterns_carry_the_rule_wildcards():
    assert paths.MODEL == "{hmm}/h{hidden}_d{input}/s{seed}"
    assert paths.NULL_MODEL == "{hmm}/h{hidden}_d{input}/s{seed}-null-{kind}"
    assert paths.model_file("model.pt") == "results/models/{hmm}/h{hidden}_d{input}/s{seed}/model.pt"
    assert paths.model_file("model.pt", "lin2/h16_d8/s0") == "results/models/lin2/h16_d8/s0/model.pt"
    assert paths.analysis_file("kick", ext="json") == "results/analysis/kick/{hmm}/h{hidden}_d{input}/s{seed}.json"
    assert paths.data_file() == "results/data/{hmm}/s{seed}.npz"
    assert paths.log_file("analysis", "local", paths.MODEL) == \
        "logs/analysis/local/{hmm}/h{hidden}_d{input}/s{seed}.log"
    assert paths.group_model_dir("lin2/h16_d8/s0_1", 1) == "results/train_groups/lin2/h16_d8/s0_1/s1"
    assert re.fullmatch(paths.GROUP_REGEX, "lin2/h16_d8/s0_1_2") and not re.fullmatch(paths.GROUP_REGEX, "lin2/h16_d8")
    # a rule's wildcards: a null network's seed carries its kind, or the rule names the kind apart
    assert paths.wildcards_id({"hmm": "lin2", "hidden": "16", "input": "8", "seed": "0-null-shuffle"}) == \
        paths.wildcards_id({"hmm": "lin2", "hidden": "16", "input": "8", "seed": "0", "kind": "shuffle"}) == \
        "lin2/h16_d8/s0-null-shuffle"


# a model id or a results/logs path written by hand: "/h{", "_d{", "/h[0-9]" (a regex of the id), or a
# string that starts with "results/" or "logs/"
HAND_WRITTEN = re.compile(r"/h\{|_d\{|/h\[0-9\]|^[\"']?(results|logs)/")


def hand_written_paths(name: str, text: str) -> list[str]:
    """'name: string' for every string of ``text`` (Python, or a Snakemake file: its comments and
    docstrings are skipped) that writes a model path or a results path by hand."""
    if name.endswith(".py"):
        tree = ast.parse(text)
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        found = []
        for n in ast.walk(tree):
            if isinstance(n, ast.JoinedStr):
                found.append(ast.get_source_segment(text, n))
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                found.append(n.value)
        return [f"{name}: {s}" for s in found if s and HAND_WRITTEN.search(s)]
    code = re.sub(r'"""(?:.|\n)*?"""', "", text)
    code = "\n".join(line.split("#")[0] for line in code.splitlines())
    return [f"{name}: {s}" for s in re.findall(r'f?"[^"\n]*"', code) if HAND_WRITTEN.search(s.lstrip("f"))]


def test_no_model_or_results_path_outside_the_paths_module():
    smk = 'rule a:\n    """results/x"""\n    output:\n        "results/x.csv",  # results/y\n'
    assert hand_written_paths("x.smk", smk) == ['x.smk: "results/x.csv"']
    assert hand_written_paths("x.py", '"""results/x"""\nm = f"{h}/h{H}_d{D}/s{s}"\nq = "logs/a.log"\n') == \
        ['x.py: f"{h}/h{H}_d{D}/s{s}"', "x.py: logs/a.log"]
    files = [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk"),
             *(ROOT / "workflow" / "scripts").glob("*.py"), *(ROOT / "src" / "rnnhmm").rglob("*.py")]
    found = [hit for f in files if f.name != "paths.py"
             for hit in hand_written_paths(str(f.relative_to(ROOT)), f.read_text())]
    assert found == [], found
