"""A real single-node Slurm (Debian's slurmctld, slurmd, munge; see slurm_cluster.py): array jobs, scancel of one
array task, and submitit submitting a job array and gathering its results. No mock of Slurm or submitit."""

from __future__ import annotations

import os
import time
from pathlib import Path

from slurm_cluster import slurm_cluster  # noqa: F401  (the session-scoped fixture)


def _wait_until(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


def test_array_job_runs(slurm_cluster, tmp_path):  # noqa: F811
    t0 = time.time()
    r = slurm_cluster.run(
        "sbatch",
        "--parsable",
        "--array=0-3",
        f"--output={tmp_path}/%A_%a.out",
        "--wrap",
        f'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID" > {tmp_path}/done.$SLURM_ARRAY_TASK_ID',
    )
    job = r.stdout.strip().split(";")[0]
    assert job.isdigit(), r.stdout
    _wait_until(lambda: len(list(tmp_path.glob("done.*"))) == 4 and not slurm_cluster.jobs(), 60, "the array job")
    print(f"4-task array job on 2 CPUs finished {time.time() - t0:.1f} s after sbatch")
    assert sorted((tmp_path / f"done.{k}").read_text().split()[1] for k in range(4)) == ["0", "1", "2", "3"]
    assert {(tmp_path / f"done.{k}").read_text().split()[-1] for k in range(4)} == {job}


def test_scancel_one_array_task(slurm_cluster, tmp_path):  # noqa: F811
    script = f"touch {tmp_path}/started.$SLURM_ARRAY_TASK_ID; sleep 30; touch {tmp_path}/finished.$SLURM_ARRAY_TASK_ID"
    job = slurm_cluster.run("sbatch", "--parsable", "--array=0-1", "-o", "/dev/null", "--wrap", script).stdout.strip()
    _wait_until(lambda: len(list(tmp_path.glob("started.*"))) == 2, 60, "both array tasks to start")
    slurm_cluster.run("scancel", f"{job}_1")
    _wait_until(lambda: f"{job}_1" not in slurm_cluster.jobs(), 30, "task 1 to leave the queue")
    state = slurm_cluster.run("squeue", "-h", "-j", job, "-o", "%i %T").stdout.split()
    assert state == [f"{job}_0", "RUNNING"], state  # the other task is untouched
    state1 = slurm_cluster.run("scontrol", "show", "job", f"{job}_1").stdout
    assert "JobState=CANCELLED" in state1
    slurm_cluster.run("scancel", job)
    _wait_until(lambda: not slurm_cluster.jobs(), 30, "the job to leave the queue")
    time.sleep(1)
    assert not list(tmp_path.glob("finished.*")), "a cancelled task kept running"


def test_submitit_job_array(slurm_cluster, tmp_path):  # noqa: F811
    import submitit  # the slurm extra (also in dev)

    executor = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="slurm")
    executor.update_parameters(slurm_partition=slurm_cluster.partition, timeout_min=5, cpus_per_task=1)
    t0 = time.time()
    # functions importable in the job's interpreter (a test module is not): the task's id and a computation
    jobs = executor.map_array(os.getenv, ["SLURM_ARRAY_TASK_ID"] * 3)
    powers = executor.map_array(pow, [1, 2, 3], [2, 2, 2])
    submitted = time.time() - t0
    assert len({j.job_id.split("_")[0] for j in jobs}) == 1  # one array
    # without accounting (no sacct) submitit cannot learn a job's state, but results arrive as files
    _wait_until(lambda: all(j.paths.result_pickle.exists() for j in jobs + powers), 60, "the arrays' results")
    print(f"submitit: map_array returned in {submitted:.2f} s, 6 results after {time.time() - t0:.1f} s")
    assert [j.result() for j in jobs] == ["0", "1", "2"]
    assert [j.result() for j in powers] == [1, 4, 9]
    assert Path(jobs[0].paths.stdout).is_file()
