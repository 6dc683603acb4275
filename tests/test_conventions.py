"""The Snakemake ecosystem's bar: ``snakemake --lint`` and ``snakefmt --check`` clean, a
``min_version`` in the Snakefile, and one conda environment per kind of rule (conda-forge only,
valid YAML, a pinned lock file beside each range file), and ``ruff check`` clean on the package,
the workflow's scripts, the tests, the benchmarks and the studies. Seconds, no jobs run.

``snakemake --sdm conda -n`` needs a ``conda`` executable even for a dry run (it calls
``conda info``): where conda is installed the test runs it on the paper config; elsewhere it
checks, without conda, what that dry run would use: every rule's ``conda:`` file exists and is a
valid conda-forge environment.
"""
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
RULE_FILES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))


def test_snakemake_lint_is_clean(tmp_path):
    for cfg in ("config/config.yaml", "config/quick.yaml"):
        out = subprocess.run([*SNAKEMAKE, f"--configfile={ROOT / cfg}", "--lint", "--directory", str(tmp_path)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
        text = out.stdout + out.stderr
        assert out.returncode == 0 and "Congratulations" in text, (cfg, text[-3000:])


def test_snakefmt_check_is_clean():
    out = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]


def _ruff() -> list[str] | None:
    """The ruff command (the ``test`` extra installs it), or None where it is not installed."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    return [exe] if exe else None


def test_ruff_is_clean():
    """``ruff check`` (rules and line length in pyproject.toml) on the package, the workflow's
    scripts, the tests, the benchmarks and the studies."""
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff not installed (pip install -e '.[test]'; ./run.sh test installs it)")
    out = subprocess.run([*ruff, "check", "--no-cache", "--output-format", "concise",
                          "src", "workflow/scripts", "tests", "benchmarks", "studies"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]


def test_snakefile_states_min_version():
    assert re.search(r'^min_version\("9\.\d+"\)', (ROOT / "Snakefile").read_text(), re.M)


def _rule_envs() -> dict[str, str]:
    """rule name -> env file (relative to the repository), from the ``conda:`` of every rule."""
    names = {}
    for line in (ROOT / "workflow/rules/common.smk").read_text().splitlines():
        m = re.match(r'^(ENV\w*)\s*=\s*"([^"]+)"', line)
        if m:
            names[m.group(1)] = m.group(2)
    out = {}

    def env(f, expr):
        path = names.get(expr.strip(), expr.strip().strip('"'))
        return str((f.parent / path).resolve().relative_to(ROOT))

    for f in RULE_FILES:
        text = f.read_text() + "\n"
        for rule, body in re.findall(r"^rule (\w+):\n((?:(?:    .*)?\n)+)", text, re.M):
            if re.search(r"^    run:", body, re.M):
                continue  # Snakemake allows conda: only with shell/script/notebook/wrapper, not run:
            m = re.search(r"^    conda:\n        (.+)$", body, re.M)
            assert m, f"rule {rule} ({f.name}) has no conda: directive"
            out[rule] = env(f, m.group(1))
        if re.search(r"^for \w+ in FIGURES:", text, re.M):
            # figures.smk: two rules per registry entry, "<fig>_data" and "<fig>", made in one loop
            from rnnhmm.figure_registry import FIGURES

            loop = text[text.index("for "):]
            rules = re.findall(r"^    rule:\n", loop, re.M)
            envs = re.findall(r"^        conda:\n            (.+)$", loop, re.M)
            assert len(rules) == 2 and len(envs) == 2, f"{f.name}: every generated rule needs a conda: directive"
            for fig in FIGURES:
                out[f"{fig.name}_data"], out[fig.name] = env(f, envs[0]), env(f, envs[1])
    return out


def test_rules_made_in_a_loop_do_not_run_with_the_last_loop_value():
    """In a rule made in a ``for`` loop, ``script:``/``shell:``/``run:`` are evaluated when the job
    runs, after the loop has ended: naming the loop variable there runs every rule with the last
    figure's value (the path must come through ``{params.*}`` instead)."""
    for f in RULE_FILES:
        text = f.read_text()
        for var, body in re.findall(r"^for (\w+) in .+:\n((?:(?:    .*)?\n)+)", text + "\n", re.M):
            for kind, value in re.findall(r"^        (script|shell|run):\n((?:            .*\n)+)", body, re.M):
                assert not re.search(rf"\b{var}\b", value), (f.name, kind, value)


def test_every_rule_has_a_valid_conda_forge_env_with_a_lock_file():
    envs = _rule_envs()
    assert len(envs) > 30
    torch_rules = {"train", "model_metrics", "hmm_floor", "dyn_state_space", "dyn_local", "dyn_noise",
                   "dyn_subspaces", "mech_kick", "mech_interventions", "mech_evolution", "mech_readout",
                   "import_external", "model_likelihood", "null_model"}
    for rule, env in envs.items():
        spec = yaml.safe_load((ROOT / env).read_text())
        assert spec["channels"] == ["conda-forge"], (env, spec["channels"])
        assert "nodefaults" not in spec["channels"]
        deps = [d for d in spec["dependencies"] if isinstance(d, str)]
        names = {re.split(r"[<>=! ]", d)[0] for d in deps}
        assert "python" in names and "jsonschema" in names and "pyyaml" in names, env
        assert ("pytorch" in names) == (rule in torch_rules), (rule, env)
        lock = ROOT / env.replace(".yaml", ".lock.yaml")
        pinned = yaml.safe_load(lock.read_text())
        assert pinned["channels"] == ["conda-forge"]
        pins = {re.split(r"=", d)[0]: d for d in pinned["dependencies"] if isinstance(d, str)}
        assert set(pins) >= names, (lock, names - set(pins))
        assert all(re.fullmatch(r"[\w.-]+=[\w.]+", d) for d in pins.values()), lock
    # the light environment really is light
    assert "pytorch" not in (ROOT / "envs/plots.yaml").read_text()


def test_conda_dry_run_plans_the_paper_config(tmp_path):
    if shutil.which("conda") is None:
        pytest.skip("conda not installed: `--sdm conda -n` needs it even for a dry run (it runs "
                    "`conda info`); the env files are checked by the test above")
    out = subprocess.run([*SNAKEMAKE, "--sdm", "conda", "-n", "--cores", "2", "--directory", str(tmp_path),
                          f"--configfile={ROOT / 'config/config.yaml'}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert re.search(r"^train\s+150$", out.stdout + out.stderr, re.M)


@pytest.mark.slow
def test_plain_pip_install_loads_a_config_and_imports_every_module(tmp_path):
    """``pip install .`` (not editable, no extras) into a fresh venv: every third-party import of
    the package is declared, and a config validates against the schema shipped with it. torch is
    installed first by the same command run.sh uses (TORCH_SPEC; a local wheel where there is one)."""
    import os

    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "results", "logs", ".snakemake",
                                                             "__pycache__", "*.egg-info", "build", "docs"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for args in ([os.environ.get("TORCH_SPEC", "torch==2.13.0")], [str(src)]):
        out = subprocess.run([py, "-m", "pip", "install", "-q", *args], env=env, capture_output=True, text=True,
                             timeout=1200)
        assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-3000:])
    modules = sorted(p.stem for p in (ROOT / "src/rnnhmm").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, rnnhmm, rnnhmm.config as c\n"
        "assert 'site-packages' in rnnhmm.__file__, rnnhmm.__file__\n"
        f"for m in {modules!r}: importlib.import_module('rnnhmm.' + m)\n"
        f"cfg = c.load_config({str(ROOT / 'config/quick.yaml')!r})\n"
        f"paper = c.load_config({str(ROOT / 'config/config.yaml')!r})\n"
        "print(len(c.expand_models(cfg)), len(c.expand_models(paper)))\n"
    )
    out = subprocess.run([py, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1] == "150"


def _package_import_graph() -> dict[str, set[str]]:
    """module -> the rnnhmm modules it imports anywhere in its text (top level or inside functions)."""
    import ast

    src = ROOT / "src"
    mods = {".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__"): p
            for p in (src / "rnnhmm").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if t in mods and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles among modules (a package importing its own submodule is not one)."""
    found, state = [], {}

    def visit(n, stack):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if n.startswith(d + ".") or d.startswith(n + "."):
                continue  # package <-> its submodule
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])
    return found


def test_no_import_circle_in_the_package():
    """No two modules of rnnhmm import each other, directly or through others, at any level (a
    function-level import counts: the engine and the old training loop used to). Must-fail: the
    detector finds a planted circle."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    graph = _package_import_graph()
    assert "rnnhmm.training.settings" in graph["rnnhmm.training.engine"]
    assert _cycles(graph) == []


def _anchors(md: str) -> set[str]:
    """GitHub's heading anchors of a Markdown text."""
    out = set()
    for line in md.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_readme_is_short_starts_with_the_two_commands_and_its_links_resolve():
    """Issue 20: README under 12 KB; its first code block is exactly the two set-up commands (the
    quick run, the tests); every relative link names a file of the repository (and a heading of it
    where it has an anchor). Must-fail: a made-up link is caught."""
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) < 12_000, len(text.encode())
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["./run.sh quick", "./run.sh test"]

    def broken(md: str) -> list[str]:
        bad = []
        for target in re.findall(r"\]\(([^)#\s]+)(#[^)\s]+)?\)", md):
            path, anchor = target
            if path.startswith("http"):
                continue
            f = ROOT / path
            if not f.exists():
                bad.append(path)
            elif anchor and f.suffix == ".md" and anchor[1:] not in _anchors(f.read_text()):
                bad.append(path + anchor)
        return bad

    assert broken(text) == []
    assert broken("[x](docs/nowhere.md) [y](docs/reproduction.md#no-such-heading)") == [
        "docs/nowhere.md", "docs/reproduction.md#no-such-heading"]


def _private_imports(sources: dict[str, str]) -> list[str]:
    """'file: from MODULE import _name' for every import of an underscore name from another module
    (dunder names excepted) in ``sources`` (path -> text)."""
    import ast

    out = []
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                out += [f"{path}: from {'.' * node.level}{node.module or ''} import {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    return out


def test_no_module_imports_another_modules_underscore_name():
    """Issue 29: helpers shared across modules have public names; no module (package, workflow
    scripts, studies, benchmarks, tests) imports another's underscore name. Must-fail: a planted
    private import is found."""
    assert _private_imports({"x.py": "from .a import _b, c\nfrom . import __version__\n"}) == [
        "x.py: from .a import _b"]
    files = [p for d in ("src", "workflow/scripts", "studies", "benchmarks", "tests") for p in (ROOT / d).rglob("*.py")]
    found = set(_private_imports({str(p.relative_to(ROOT)): p.read_text() for p in files}))
    assert found == set(), sorted(found)
