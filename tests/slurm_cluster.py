"""A real single-node Slurm cluster for tests: Debian's munge, slurmctld and slurmd, started as root in a temp dir.

Nothing is mocked: the daemons are the packaged ones (``bash .ci/install-slurm`` installs them: ``slurmctld``,
``slurmd``, ``slurm-client``, ``munge``). The cluster is private to the test session:

- its own munge key and ``munged`` socket (``AuthInfo=socket=...``), so the system's munge (if any) is not used;
- its own ``slurm.conf`` (``SLURM_CONF`` points clients at it), state and spool dirs, and free TCP ports;
- one node named after this host (``CPUs=2``, the CI machine's size) in one partition, ``debug``;
- container-safe settings: ``ProctrackType=proctrack/linuxproc`` and ``TaskPlugin=task/none`` (no cgroups), no
  accounting (``sacct`` answers "accounting storage is disabled"; ``squeue`` and ``scontrol`` work).

The daemons run in the foreground (``-D``) as children of the test process and are stopped by PID (SIGTERM, then
SIGKILL after 10 s), after every job left in the cluster is cancelled.

Usage::

    from slurm_cluster import slurm_cluster  # noqa: F401  (the session-scoped fixture)

    def test_x(slurm_cluster):
        subprocess.run(["sbatch", "--wrap", "true"], env=slurm_cluster.env, check=True)

A machine without the packages, or a non-root user, makes the fixture fail with what to install or do (it never
skips).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["SLURM_PACKAGES", "SlurmCluster", "missing_slurm_tools", "slurm_cluster", "start_slurm_cluster"]

#: The Debian packages the cluster needs (installed by ``.ci/install-slurm``).
SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "scontrol")
_SBIN_PATH = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/sbin"))


def missing_slurm_tools() -> list[str]:
    """Return the daemons and client commands the cluster needs that are not installed (empty when all are)."""
    return [t for t in _TOOLS if shutil.which(t, path=_SBIN_PATH) is None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    """A running single-node cluster.

    Attributes:
        root (Path): Its folder (config, munge key and socket, state, spool, logs).
        conf (Path): Its ``slurm.conf``; clients find it through ``SLURM_CONF``.
        partition (str): The only partition (default of the cluster).
        node (str): The node name (this host's short name).
        cpus (int): CPUs of the node.
        env (dict): ``os.environ`` plus ``SLURM_CONF`` (and a PATH with the sbin dirs): pass it to subprocesses.
    """

    root: Path
    conf: Path
    partition: str
    node: str
    cpus: int
    env: dict
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a Slurm client command (``sbatch``, ``squeue``, ...) against this cluster; return the result."""
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    def jobs(self) -> list[str]:
        """Ids of the jobs (array tasks as ``<job>_<task>``) pending, running or completing in the cluster."""
        r = self.run("squeue", "-h", "-o", "%i", check=False)
        return r.stdout.split() if r.returncode == 0 else []

    def log_tails(self, lines: int = 20) -> str:
        """The last lines of every daemon log (for failure messages)."""
        parts = []
        for p in sorted((self.root / "log").glob("*")):
            text = p.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {p.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job left in the cluster, then stop slurmd, slurmctld and munged by PID."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            jobs = self.jobs()
            if jobs:
                self.run("scancel", *jobs, check=False)
                deadline = time.time() + 20
                while self.jobs() and time.time() < deadline:
                    time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _slurm_conf(root: Path, node: str, cpus: int, partition: str) -> str:
    return f"""\
# A single-node test cluster (written by tests/slurm_cluster.py)
ClusterName=yoloattn
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
MailProg=/bin/true
# no cgroups in a container: track processes through /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# a killed job's processes are cleaned up quickly; completed jobs leave squeue quickly
KillWait=5
MinJobAge=60
NodeName={node} NodeHostname={node} NodeAddr=127.0.0.1 CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1 State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""


def _wait(predicate, timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.time() + timeout
    while not predicate():
        for name, proc in cluster._procs.items():
            if proc.poll() is not None:
                cluster.stop()
                raise RuntimeError(f"{name} exited with status {proc.returncode} while {what}:\n{cluster.log_tails()}")
        if time.time() > deadline:
            cluster.stop()
            raise RuntimeError(f"timed out after {timeout:.0f} s {what}:\n{cluster.log_tails()}")
        time.sleep(0.2)


def start_slurm_cluster(root: str | Path | None = None, cpus: int = 2, partition: str = "debug") -> SlurmCluster:
    """Start munged, slurmctld and slurmd for a one-node cluster in ``root`` (a new temp dir by default).

    Returns once the node is idle and accepts jobs (a few seconds). Raises ``RuntimeError`` naming what is missing
    (packages, root) or the daemon that failed, with its log.
    """
    missing = missing_slurm_tools()
    if missing:
        raise RuntimeError(
            f"the Slurm test cluster needs {', '.join(missing)}: install Debian's {' '.join(SLURM_PACKAGES)} "
            "(`bash .ci/install-slurm`, i.e. apt-get install -y " + " ".join(SLURM_PACKAGES) + ")"
        )
    if os.geteuid() != 0:
        raise RuntimeError("the Slurm test cluster starts slurmd, which runs jobs as their user: run the tests as root")
    # a short path: the munge socket path must fit in a unix socket address (108 bytes)
    root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="ya-slurm-", dir="/tmp"))
    for d in ("munge", "key", "state", "spool", "run", "log"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    os.chmod(root / "munge", 0o755)  # munged: the socket's dir must be searchable by all
    os.chmod(root / "key", 0o700)
    key = root / "key" / "munge.key"
    key.write_bytes(os.urandom(128))
    os.chmod(key, 0o600)
    node = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, node, cpus, partition))
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": _SBIN_PATH}
    cluster = SlurmCluster(root=root, conf=conf, partition=partition, node=node, cpus=cpus, env=env)

    def start(name: str, cmd: list[str]) -> None:
        log = open(root / "log" / f"{name}.out", "w")  # noqa: SIM115 - the daemon's stdout for its lifetime
        cluster._procs[name] = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()

    sock = root / "munge" / "munge.socket"
    start(
        "munged",
        [
            shutil.which("munged", path=_SBIN_PATH),
            "--foreground",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={root / 'run' / 'munged.pid'}",
            f"--seed-file={root / 'run' / 'munged.seed'}",
            "--num-threads=2",
        ],
    )
    _wait(sock.exists, 20, "starting munged", cluster)
    start("slurmctld", [shutil.which("slurmctld", path=_SBIN_PATH), "-D", "-f", str(conf)])
    _wait(lambda: cluster.run("scontrol", "ping", check=False).returncode == 0, 30, "starting slurmctld", cluster)
    start("slurmd", [shutil.which("slurmd", path=_SBIN_PATH), "-D", "-N", node, "-f", str(conf)])

    def node_idle() -> bool:
        r = cluster.run("sinfo", "-h", "-N", "-n", node, "-o", "%T", check=False)
        return r.returncode == 0 and r.stdout.strip().rstrip("*") == "idle"

    _wait(node_idle, 30, f"waiting for node {node} to become idle", cluster)
    return cluster


@pytest.fixture(scope="session")
def slurm_cluster():
    """The session's Slurm cluster; ``SLURM_CONF`` is set in ``os.environ`` while it runs (clients, submitit)."""
    try:
        cluster = start_slurm_cluster()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    old = {k: os.environ.get(k) for k in ("SLURM_CONF", "PATH")}
    os.environ.update({"SLURM_CONF": cluster.env["SLURM_CONF"], "PATH": cluster.env["PATH"]})
    try:
        yield cluster
    finally:
        cluster.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(cluster.root, ignore_errors=True)


def _bench(repeats: int = 5) -> None:
    """Fixed start-up cost of a submitit submission to this single-node cluster: submit a trivial function, time
    until it runs (from inside the job) and until its result file exists."""
    import logging

    import submitit

    logging.getLogger("submitit").setLevel(logging.ERROR)  # no sacct without accounting: status warnings
    cluster = start_slurm_cluster()
    os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]
    os.environ["PATH"] = cluster.env["PATH"]
    try:
        folder = cluster.root / "bench"
        executor = submitit.SlurmExecutor(folder=folder / "%j")
        executor.update_parameters(partition=cluster.partition, time=5, cpus_per_task=1)
        for _ in range(repeats):
            t0 = time.time()
            job = executor.submit(time.time)
            t_submit = time.time() - t0
            while not job.paths.result_pickle.exists():
                time.sleep(0.02)
            t_result = time.time() - t0
            print(
                f"submit() returned after {t_submit:.3f} s; the function ran {job.result() - t0:.2f} s after "
                f"submit(); its result was on disk after {t_result:.2f} s"
            )
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


if __name__ == "__main__":  # python tests/slurm_cluster.py: the submission start-up benchmark
    _bench()
