"""A real one-node SLURM cluster for the tests, started by hand and stopped by PID.

    ensure_installed()                     # Debian's slurm-wlm and munge, via apt when missing
    cluster = start_cluster(folder)        # munged, slurmctld, slurmd; back once the node is idle
    ... run snakemake with env=cluster.environment() ...
    cluster.jobs(workdir)                  # what the controller says ran from that folder
    cluster.stop()

Everything (config, state, logs, the munge key and socket) lives in the folder given to
`start_cluster`, on free ports, so it touches no system SLURM or munge. There is no systemd in a
container, so the daemons run in the foreground as our own child processes. The templates in
tests/slurm/ say which settings the test cluster needs and why.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import string
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TEMPLATES = Path(__file__).parent / "slurm"
APT_PACKAGES = ("slurm-wlm", "munge")
PROGRAMS = (
    "munged",
    "mungekey",
    "slurmctld",
    "slurmd",
    "sbatch",
    "srun",
    "squeue",
    "sinfo",
    "scancel",
)
# Daemons live in sbin, which a non-login PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
# The fake node claims at least this much (see slurm.conf.in): two training jobs of
# profiles/slurm at once (4 CPUs and 16 GB each), beside smaller jobs.
NODE_MINIMUM_CPUS = 16
NODE_MINIMUM_MEMORY_MB = 64 * 1024
# The node's fake GPUs, so two training jobs can run at once. SLURM wants a character device
# per GPU (a count-only entry drains the node, a plain file is refused): harmless ones stand
# in. A job given one still gets CUDA_VISIBLE_DEVICES, the GPU's index here.
FAKE_GPU_DEVICES = ("/dev/null", "/dev/zero")
NODE_GPUS = len(FAKE_GPU_DEVICES)
# What `jobs()` asks squeue for. The comment is how the Snakemake executor plugin labels a job:
# "rule_<rule>", or "rule_<rule>_wildcards_<values joined by _>".
SQUEUE_FIELDS = ("JobID", "Comment", "State", "tres-per-job", "tres-alloc", "WorkDir")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started on this machine; the message says why."""


@dataclass(frozen=True)
class SlurmJob:
    """One job as the SLURM controller records it."""

    job_id: int
    rule: str
    wildcards: str  # the wildcard values joined by "_", "" for a rule without wildcards
    state: str  # COMPLETED, FAILED, RUNNING, ...
    requested: str  # generic resources asked for, e.g. "gres:gpu:1"; "N/A" when none
    allocated: str  # what the job got, e.g. "cpu=4,mem=16000M,node=1,billing=4"
    workdir: Path

    @property
    def gpus(self) -> int:
        """GPUs asked for: "gres:gpu:2" or "gres:gpu:a100:2" -> 2."""
        match = re.search(r"gres:gpu:(?:\w+:)?(\d+)", self.requested)
        return int(match.group(1)) if match else 0


def program(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def missing_programs() -> list[str]:
    return [name for name in PROGRAMS if program(name) is None]


def ensure_installed(timeout: float = 1800) -> None:
    """Install slurm-wlm and munge with apt when any of their programs is missing.

    Raises SlurmUnavailable when that is not possible here (no root, no apt, apt failed).
    """
    missing = missing_programs()
    if not missing:
        return
    why = f"SLURM programs missing ({', '.join(missing)})"
    if os.geteuid() != 0:
        raise SlurmUnavailable(f"{why}, and installing {' '.join(APT_PACKAGES)} needs root")
    if shutil.which("apt-get") is None:
        raise SlurmUnavailable(f"{why}, and there is no apt-get to install them with")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        # Another process may hold the dpkg lock for a while: wait for it rather than fail.
        ["apt-get", "-o", "DPkg::Lock::Timeout=900", "install", "-y", *APT_PACKAGES],
    ):
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise SlurmUnavailable(
                f"{why}; `{' '.join(command)}` failed ({result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-3000:]}"
            )
    if missing_programs():
        raise SlurmUnavailable(
            f"still missing after installing {' '.join(APT_PACKAGES)}: "
            f"{', '.join(missing_programs())}"
        )


class SlurmCluster:
    """The daemons of a one-node cluster whose files all live under `root`."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "slurm.conf"
        self.processes: dict[str, subprocess.Popen] = {}

    def environment(self) -> dict[str, str]:
        """What a process needs to use this cluster: SLURM_CONF, and `srun` from bin/.

        sbatch passes this environment on to the job (the executor submits with --export=ALL),
        but the executor's job step drops every SLURM_* variable before it calls srun. A real
        node finds its config in /etc/slurm or through the controller; this one must not touch
        the system, so bin/srun puts SLURM_CONF back.
        """
        return {
            "SLURM_CONF": str(self.config),
            "PATH": os.pathsep.join([str(self.root / "bin"), os.environ.get("PATH", "")]),
        }

    def command(self, *args: str, timeout: float = 60) -> str:
        """Run a SLURM client command on this cluster; its output, or an error saying why."""
        result = subprocess.run(
            [program(args[0]) or args[0], *args[1:]],
            env={**os.environ, **self.environment()},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise SlurmUnavailable(
                f"`{' '.join(args)}` failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.daemon_logs()}"
            )
        return result.stdout

    def jobs(self, workdir: Path | None = None) -> list[SlurmJob]:
        """Every job the controller remembers (MinJobAge keeps finished ones for an hour),
        oldest first; only those that ran in `workdir` when given."""
        fields = ",".join(f"{field}:|" for field in SQUEUE_FIELDS)
        output = self.command("squeue", "--states=all", "--noheader", f"--Format={fields}")
        jobs = []
        for line in output.splitlines():
            job_id, comment, state, requested, allocated, job_workdir = (
                value.strip() for value in line.split("|")[: len(SQUEUE_FIELDS)]
            )
            if workdir is not None and Path(job_workdir) != Path(workdir):
                continue
            rule, _, wildcards = comment.removeprefix("rule_").partition("_wildcards_")
            jobs.append(
                SlurmJob(
                    int(job_id), rule, wildcards, state, requested, allocated, Path(job_workdir)
                )
            )
        return sorted(jobs, key=lambda job: job.job_id)

    def no_job_is_active(self) -> bool:
        active = self.command("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING")
        return not active.strip()

    def node_state(self) -> str:
        return self.command("sinfo", "--noheader", "--Node", "--format=%T").strip()

    def daemon_logs(self) -> str:
        logs = [self.root / f"{name}.log" for name in ("munged", "slurmctld", "slurmd")]
        return "\n".join(
            f"--- {log}\n{log.read_text(errors='replace')[-2000:]}" for log in logs if log.exists()
        )

    def start_daemon(self, name: str, *args: str) -> None:
        with open(self.root / f"{name}.out", "w") as output:
            self.processes[name] = subprocess.Popen(
                [program(name), *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.environment()},
            )

    def wait_for(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise SlurmUnavailable(
                        f"{name} exited ({process.returncode}) while waiting for {what}:\n"
                        f"{(self.root / f'{name}.out').read_text(errors='replace')[-2000:]}\n"
                        f"{self.daemon_logs()}"
                    )
            if time.monotonic() > deadline:
                raise SlurmUnavailable(
                    f"timed out after {timeout:.0f} s waiting for {what}\n{self.daemon_logs()}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Cancel the jobs still queued or running, then stop the daemons by PID, newest first."""
        controller = self.processes.get("slurmctld")
        if controller is not None and controller.poll() is None:
            try:
                self.command("scancel", "--full", f"--user={getpass.getuser()}")
                # Cancelling is asynchronous: the node must end the jobs' processes before
                # slurmd goes, or they outlive the cluster.
                self.wait_for("cancelled jobs to end", self.no_job_is_active, timeout=60)
            except (SlurmUnavailable, subprocess.TimeoutExpired):
                pass  # stopping anyway; the daemons' logs stay under self.root
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_cluster(root: Path, timeout: float = 90) -> SlurmCluster:
    """Start munged, slurmctld and slurmd with a one-node config written into `root`; return
    once the node is idle."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurmd runs jobs as their user, so it must be started as root")
    for folder in ("munge", "state", "spool"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    cpus = max(os.cpu_count() or 1, NODE_MINIMUM_CPUS)
    memory_mb = max(total_memory_mb(), NODE_MINIMUM_MEMORY_MB)
    values = {
        "root": root,
        "hostname": socket.gethostname().split(".")[0],
        "controller_port": free_port(),
        "node_port": free_port(),
        "cpus": cpus,
        "memory_mb": memory_mb,
        "memory_per_cpu": memory_mb // cpus,
        "gpus": NODE_GPUS,
    }
    render("slurm.conf.in", root / "slurm.conf", values)
    (root / "gres.conf").write_text(
        "".join(
            f"NodeName={values['hostname']} Name=gpu File={device}\n" for device in FAKE_GPU_DEVICES
        )
    )
    srun = root / "bin" / "srun"
    srun.parent.mkdir(exist_ok=True)
    srun.write_text(f'#!/bin/sh\nSLURM_CONF="{root}/slurm.conf" exec {program("srun")} "$@"\n')
    srun.chmod(0o755)

    cluster = SlurmCluster(root)
    try:
        munge = root / "munge"
        subprocess.run(
            [program("mungekey"), "--create", f"--keyfile={munge / 'munge.key'}"], check=True
        )
        cluster.start_daemon(
            "munged",
            "--foreground",
            "--force",  # --force: root, and a socket under /tmp
            f"--socket={munge / 'munge.socket'}",
            f"--key-file={munge / 'munge.key'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
            f"--log-file={root / 'munged.log'}",
        )
        cluster.wait_for("munged's socket", (munge / "munge.socket").exists, timeout)
        cluster.start_daemon("slurmctld", "-D", "-i", f"-f{cluster.config}")
        cluster.start_daemon("slurmd", "-D", f"-f{cluster.config}")
        cluster.wait_for("the node to be idle", lambda: node_is_idle(cluster), timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def node_is_idle(cluster: SlurmCluster) -> bool:
    try:
        return cluster.node_state() == "idle"
    except (SlurmUnavailable, subprocess.TimeoutExpired):
        return False  # the controller is not answering yet


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def total_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SlurmUnavailable("no MemTotal in /proc/meminfo")


def render(template: str, target: Path, values: dict) -> None:
    text = (TEMPLATES / template).read_text()
    target.write_text(string.Template(text).substitute(values))
