"""The SLURM profile on a real, single-node SLURM brought up on this machine (marked ``workflow``).

The fixture starts munge (if it is not already working), ``slurmctld`` and ``slurmd`` with a
private ``slurm.conf`` (``SLURM_CONF``) in a temporary directory: one node with this machine's CPUs
and two fake GPUs (``gres.conf`` pointing at two empty files, which slurmd counts, so that
``sbatch --gpus=1`` is really scheduled; CUDA stays unavailable in the jobs, which run on the CPU).
``/etc/slurm/slurm.conf`` is linked to it for the test's duration (the jobs' nested ``srun`` reads
only the default location: the slurm-jobstep plugin strips ``SLURM_CONF`` from its environment).
``SlurmdParameters=config_overrides`` and ``SelectTypeParameters=CR_Core`` let the profile's memory
requests (16 GB for training) through on a small machine. The daemons are stopped by the pids in
their pid files.

It skips, saying why, where SLURM cannot run: not root, slurm-wlm/munge or the Snakemake SLURM
executor plugin not installed (``.ci/run`` installs them where it can), or daemons that fail to start.

The tests run through ``snakemake --workflow-profile profiles/slurm`` and read what each job asked
for from the scheduler (``scontrol show job``: CPUs, GPUs, time limit):
- a CPU config (quick: ``fig1``, 6 models with their data, metrics and floors, plus one 2-thread
  ``dyn_local``): no GPU anywhere, CPUs = the rule's threads, the figure jobs run locally
  (``localrules``), and the trained weights and metrics equal those of a local run;
- a GPU-requesting config (quick with ``training.device: auto``), planned from a host without a
  GPU: the training job gets ``--gpus=1 --cpus-per-gpu=2``, its data job no GPU.
Without SLURM (no fixture): dry runs through the profile from a GPU-less host plan every training
job of the paper config with one GPU and none of the quick config's; a local dry run of the paper
config plans none.
"""
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
FIG1_MODELS = ["lin2/h16_d8/s0", "lin3/h16_d8/s0", "lin4/h16_d8/s0", "lin5/h16_d8/s0", "fully/h16_d8/s0",
               "cyclic/h16_d8/s0"]

pytestmark = pytest.mark.workflow

SLURM_CONF = """\
ClusterName=rnnhmmtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
SlurmctldDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=64000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _munge_ok() -> bool:
    try:
        enc = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        dec = subprocess.run(["unmunge"], input=enc.stdout, capture_output=True, timeout=10)
        return enc.returncode == 0 and dec.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _stop(pidfile: Path, timeout: float = 15.0) -> None:
    """Stop the daemon whose pid is in ``pidfile`` (TERM, then KILL)."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.time() + timeout
    while time.time() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node SLURM; yields (environment for its clients, its directory)."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("SLURM test needs root (it starts slurmctld/slurmd as root)")
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "munge", "munged")
               if shutil.which(b) is None]
    if missing:
        pytest.skip(f"SLURM/munge not installed (missing {', '.join(missing)}); "
                    "apt-get install slurm-wlm munge (.ci/run does this when it can)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm not installed (pip install '.[workflow]')")

    d = tmp_path_factory.mktemp("slurm")
    started_munge = None
    if not _munge_ok():
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        started_munge = run_dir / "munged.pid"
        subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", f"munged --pid-file={started_munge}"],
                       capture_output=True, timeout=30)
        for _ in range(50):
            if _munge_ok():
                break
            time.sleep(0.1)
        else:
            _stop(started_munge)
            pytest.skip("munged did not start (munge -n | unmunge fails)")

    host = socket.gethostname().split(".")[0]
    (d / "state").mkdir()
    (d / "spool").mkdir()
    for i in range(2):
        (d / f"fakegpu{i}").touch()
    conf = d / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, dir=d, cpus=max(2, os.cpu_count() or 2),
                                      ctld_port=_free_port(), d_port=_free_port()))
    (d / "gres.conf").write_text(f"NodeName={host} Name=gpu File={d}/fakegpu[0-1]\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    # The slurm-jobstep plugin runs each job's `srun` with every SLURM_* variable removed,
    # SLURM_CONF included, so srun inside a job reads the default /etc/slurm/slurm.conf. Link it
    # to ours for the test's duration, unless a real configuration is there.
    etc_conf = Path("/etc/slurm/slurm.conf")
    if etc_conf.is_symlink() and not etc_conf.exists():
        etc_conf.unlink()  # dangling link left by an earlier, killed run of this test
    if etc_conf.exists() or etc_conf.is_symlink():
        pytest.skip(f"{etc_conf} exists (a real SLURM configuration?); not touching it")
    etc_conf.parent.mkdir(parents=True, exist_ok=True)
    etc_conf.symlink_to(conf)

    def teardown():
        _stop(d / "slurmd.pid")
        _stop(d / "slurmctld.pid")
        if started_munge is not None:
            _stop(started_munge)
        if etc_conf.is_symlink() and os.readlink(etc_conf) == str(conf):
            etc_conf.unlink()

    try:
        for daemon in ("slurmctld", "slurmd"):
            out = subprocess.run([daemon, "-f", str(conf)], env=env, capture_output=True, text=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError(f"{daemon} failed: {out.stderr.strip()[-500:]}")
        for _ in range(120):
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            log = (d / "slurmd.log").read_text()[-1000:] if (d / "slurmd.log").exists() else ""
            raise RuntimeError(f"node not idle after 60 s (sinfo: {state!r}); slurmd.log: {log}")
        probe = subprocess.run(["srun", "-N1", "--gpus=1", "hostname"], env=env, capture_output=True, text=True,
                               timeout=60)
        if probe.returncode != 0:
            raise RuntimeError(f"srun --gpus=1 failed: {probe.stderr.strip()[-500:]}")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        teardown()
        pytest.skip(f"SLURM daemons could not be brought up: {e}")
    yield env, d
    teardown()


def _metrics_values(path: Path) -> dict:
    blob = json.loads(path.read_text())
    blob.pop("provenance", None)
    return blob


def _submitted(text: str) -> dict[str, set[str]]:
    """rule -> SLURM job ids, from Snakemake's "... SLURM jobid N (log: .../slurm_logs/rule_R/...)"."""
    out: dict[str, set[str]] = {}
    for jid, rule in re.findall(r"SLURM jobid (\d+) \(log: [^)]*slurm_logs/rule_(\w+)/", text):
        out.setdefault(rule, set()).add(jid)
    return out


def _job(env, jid: str) -> dict[str, str]:
    """squeue's / scontrol's view of one job (finished jobs are kept: MinJobAge=3600)."""
    text = subprocess.run(["scontrol", "-o", "show", "job", jid], env=env, capture_output=True, text=True).stdout
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


def _run_on_slurm(workdir: Path, config: Path, targets: list[str], env) -> str:
    out = subprocess.run(
        [*SNAKEMAKE, "--workflow-profile", str(ROOT / "profiles/slurm"), f"--configfile={config}",
         "--directory", str(workdir), "--slurm-init-seconds-before-status-checks", "2", *targets],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=1500)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-6000:]
    return text


def _planned_train_gpus(args: list[str], tmp_path: Path) -> list[int]:
    """gpu= of every planned ``train`` job of a dry run (resources lines of ``snakemake -n``), planned
    from a host without a GPU (``RNNHMM_CUDA=0``)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "-n", *args], cwd=tmp_path,
                         env={**os.environ, "RNNHMM_CUDA": "0"}, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    blocks = re.findall(r"rule train:\n(.*?)\n(?:\[|rule |localrule |$)", text, flags=re.S)
    assert blocks, text[-3000:]
    gpus = []
    for b in blocks:
        res = re.search(r"resources: (.*)", b).group(1)
        m = re.search(r"\bgpu=(\d+)", res)
        gpus.append(int(m.group(1)) if m else 0)
    return gpus


@pytest.mark.skipif(importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
                    reason="snakemake-executor-plugin-slurm not installed")
def test_slurm_profile_plans_paper_training_on_gpus_from_a_gpu_less_host(tmp_path):
    """The paper config (training.device: auto) through the SLURM profile, planned (-n) on a host
    without a GPU, as a login node: every training job asks for one GPU; the quick config
    (training.device: cpu) asks for none; the paper config planned for a local run asks for none
    (on a local run 'auto' means a GPU only where one is visible). Each of the three is the case
    where only one condition differs."""
    profile = ["--workflow-profile", str(ROOT / "profiles/slurm")]
    from rnnhmm.config import load_config
    from rnnhmm.training.grouping import training_groups

    n_groups = len(training_groups(load_config(ROOT / "config/config.yaml")))  # 150 models
    paper = _planned_train_gpus([*profile, f"--configfile={ROOT / 'config/config.yaml'}"], tmp_path / "a")
    assert len(paper) == n_groups and set(paper) == {1}, paper
    quick = _planned_train_gpus([*profile, f"--configfile={ROOT / 'config/quick.yaml'}"], tmp_path / "b")
    assert quick and set(quick) == {0}, quick
    local = _planned_train_gpus(["--cores", "2", f"--configfile={ROOT / 'config/config.yaml'}"], tmp_path / "c")
    assert len(local) == n_groups and set(local) == {0}, local


def test_quick_fig1_through_slurm_equals_local_run(slurm, request, tmp_path):
    """A CPU config (training.device: cpu): no job asks for a GPU, CPUs follow the rules' threads,
    the profile's runtimes reach sbatch, the figure jobs run locally, results equal a local run (the
    session's quick run, tests/conftest.py: the same config run locally, fig1's models among all)."""
    env, sdir = slurm
    quick = ROOT / "config/quick.yaml"
    on_slurm = tmp_path / "slurm"
    on_slurm.mkdir()
    t0 = time.time()
    # fig1 (6 trainings, their data, metrics and floors) and one 2-thread analysis (dyn_local)
    text = _run_on_slurm(on_slurm, quick, ["fig1", "results/analysis/local/lin2/h16_d8/s0.npz"], env)
    slurm_s = time.time() - t0

    # the jobs went through the scheduler
    ids = set(re.findall(r"external jobid '(\d+)'", text)) | set(re.findall(r"SLURM jobid (\d+)", text))
    assert ids, text[-3000:]
    ctld = (sdir / "slurmctld.log").read_text()
    allocated = set(re.findall(r"(?:sched: Allocate|_start_job: Started) JobId=(\d+)", ctld))  # main or backfill
    assert ids <= allocated, (sorted(ids), sorted(allocated))
    by_rule = _submitted(text)
    assert len(by_rule.get("train", ())) == len(FIG1_MODELS), text[-3000:]
    assert set(by_rule) >= {"train", "hmm_data", "hmm_floor", "dyn_local"}, sorted(by_rule)
    # figure data and figures are localrules: never submitted, yet produced
    assert not {"fig1", "fig1_data"} & set(by_rule), sorted(by_rule)
    assert "localrule fig1_data:" in text and "localrule fig1:" in text
    # what was asked for, as the scheduler recorded it
    for rule, jids in by_rule.items():
        for jid in jids:
            job = _job(env, jid)
            assert job["JobState"] == "COMPLETED", (rule, job)
            assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", ""), (rule, job)
            expected_cpus = 2 if rule in ("dyn_local", "dyn_subspaces") else 1  # the rules' threads
            assert job["NumCPUs"] == str(expected_cpus), (rule, job["NumCPUs"])
            assert job["TimeLimit"] == ("15:00:00" if rule == "train" else "01:00:00"), (rule, job["TimeLimit"])

    # the same results as a local run of the same config (requested here, not as an argument: a
    # session fixture would be set up before `slurm`, which may skip)
    local = request.getfixturevalue("quick_run").check()
    for model in FIG1_MODELS:
        a = torch.load(on_slurm / f"results/models/{model}/model.pt", weights_only=False)
        b = torch.load(local / f"results/models/{model}/model.pt", weights_only=False)
        for k in b["last"]:
            assert torch.equal(a["last"][k], b["last"][k]), (model, k)
        assert a["val_loss"] == b["val_loss"], model
        assert _metrics_values(on_slurm / f"results/metrics/models/{model}.json") == \
            _metrics_values(local / f"results/metrics/models/{model}.json"), model
    assert (on_slurm / "results/figures/fig1.pdf").stat().st_size > 10_000
    print(f"fig1 through SLURM: {len(ids)} SLURM jobs in {slurm_s:.0f} s")


def test_gpu_config_asks_for_a_gpu_for_training_only(slurm, tmp_path):
    """A GPU config (training.device: auto, as the paper's): the training job is submitted with
    --gpus=1 and --cpus-per-gpu=2 and granted them; the data job asks for no GPU. CUDA is not
    there inside the job (fake GPUs), so 'auto' trains on the CPU."""
    env, _ = slurm
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["training"]["device"] = "auto"
    gpu_cfg = tmp_path / "gpu.yaml"
    gpu_cfg.write_text(yaml.safe_dump(cfg))
    work = tmp_path / "run"
    work.mkdir()
    # planned as on a login node without a GPU (RNNHMM_CUDA=0: rnnhmm.training.placement.cuda_present says no):
    # under the SLURM executor 'auto' still asks for one; inside the job CUDA is absent and 'auto'
    # trains on the CPU
    text = _run_on_slurm(work, gpu_cfg, ["results/models/lin2/h16_d8/s0/model.pt"], {**env, "RNNHMM_CUDA": "0"})
    by_rule = _submitted(text)
    assert set(by_rule) == {"train", "hmm_data"}, sorted(by_rule)
    (train_id,) = by_rule["train"]
    job = _job(env, train_id)
    assert job["JobState"] == "COMPLETED", job
    assert re.fullmatch(r"gres[:/]gpu[:=]1", job.get("TresPerJob", "")), job  # sbatch --gpus=1
    assert re.search(r"gpu[:=]2", job.get("CpusPerTres", "")), job  # sbatch --cpus-per-gpu=2
    assert job["NumCPUs"] == "2" and job["TimeLimit"] == "15:00:00", job
    for data_id in by_rule["hmm_data"]:  # the training group's seeds: one data job each
        data = _job(env, data_id)
        assert "gpu" not in data.get("TresPerJob", "") and data["NumCPUs"] == "1", data
