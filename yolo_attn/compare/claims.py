"""Claims: which process trains which run, so that any number of ``compare`` processes (one host or many hosts
sharing the compare folder, local slots or Slurm array tasks) train every run exactly once.

A run is claimed through ``<out>/claims/<model>/seed<k>.json``, a small JSON file written atomically (temporary
sibling + rename) that names the holder: a random token, the host, the holder's process ids (the sweep process and
its worker) with their start times, the device slot, the Slurm task, and a heartbeat time. Every change of a claim
(take, heartbeat, release, take-over) happens under an exclusive lock of ``seed<k>.lock`` beside it
(``filelock.FileLock``, an ``flock`` on Linux), and the run's completion record is checked under the same lock, so:

- a run whose record is final is never claimed again;
- two processes never both hold a claim: the second one sees the first one's file under the lock;
- the holder heartbeats every ``lease_s / 4`` seconds (`ClaimKeeper`); the claim expires when its heartbeat is older
  than ``lease_s`` (default `LEASE_S` = 120 s; ``YOLO_ATTN_CLAIM_LEASE_S`` sets it). An expired claim, or one whose
  processes are all gone on this same host (same host name, boot and process namespace: checked at once, no wait),
  is taken over by the next process that looks; the run then resumes from its last epoch checkpoint;
- a holder that finds its claim taken over (it stalled longer than the lease) stops its worker, and the worker
  writes its record only while the claim is still its own (``RunSpec.claim_token``).

On a shared filesystem: renames are atomic and a reader sees either the old or the new file (NFS close-to-open
consistency). The lock needs working ``flock`` across hosts: Linux NFS clients (v3 with lockd, v4) map ``flock`` to
POSIX byte-range locks, which the server arbitrates; a mount with ``nolock`` or ``local_lock=flock`` (or
``local_lock=all``) makes the lock host-local and is not safe for several hosts. Expiry compares the holder's
heartbeat time with the reader's clock: hosts' clocks must agree to well within the lease (NTP does). A lock file is
never deleted (deleting a lock file others may hold breaks the lock).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from yolo_attn.compare.records import write_json

__all__ = ["LEASE_S", "Claim", "ClaimKeeper", "Claims", "host_id"]

#: Seconds after the last heartbeat at which a claim is considered abandoned and may be taken over.
LEASE_S = float(os.environ.get("YOLO_ATTN_CLAIM_LEASE_S", "120"))
_LOCK_TIMEOUT_S = 120.0  # a lock is held for milliseconds; waiting this long means the filesystem is stuck


def host_id() -> str:
    """This host and process namespace: host name, boot id and pid namespace (pids are comparable within it)."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id",):
        with contextlib.suppress(OSError):
            parts.append(Path(path).read_text().strip()[:8])
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return "/".join(parts)


def _start_time(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


def _alive(pid: int, started: float | None) -> bool:
    """True when process ``pid`` exists and (when known) started at ``started`` (a recycled pid does not count)."""
    try:
        import psutil
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        p = psutil.Process(pid)
        return started is None or abs(p.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


@dataclass
class Claim:
    """One claim file's content."""

    run: str  # "<model>/seed<k>"
    token: str
    host: str
    host_id: str
    pids: list[list[float]]  # [pid, start time] of the sweep process and of its worker
    slot: str = ""
    slurm_job: str = ""
    claimed_at: float = 0.0
    heartbeat_at: float = 0.0
    lease_s: float = LEASE_S
    path: str = field(default="", compare=False)

    def expired(self, now: float | None = None) -> bool:
        return (now or time.time()) - self.heartbeat_at > self.lease_s

    def processes_gone(self) -> bool:
        """True when this claim was taken on this host and none of its processes runs any more."""
        return self.host_id == host_id() and not any(_alive(int(p), s) for p, s in self.pids)

    def stale(self) -> bool:
        return self.expired() or self.processes_gone()

    def describe(self) -> str:
        who = f"{self.host} pid {','.join(str(int(p)) for p, _ in self.pids)}"
        return who + (f", Slurm {self.slurm_job}" if self.slurm_job else "") + (f", {self.slot}" if self.slot else "")


class Claims:
    """The claims of one compare folder."""

    def __init__(self, out: str | Path, lease_s: float | None = None):
        self.dir = Path(out) / "claims"
        self.lease_s = float(lease_s if lease_s is not None else LEASE_S)
        self.host_id = host_id()

    def path(self, label: str, seed: int) -> Path:
        return self.dir / label / f"seed{seed}.json"

    @staticmethod
    @contextlib.contextmanager
    def _locked(path: Path):
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_suffix(".lock")), timeout=_LOCK_TIMEOUT_S):
            yield

    @staticmethod
    def read(path: str | Path) -> Claim | None:
        """The claim in ``path``, or None when there is none (an unreadable claim counts as none: it is only ever
        written whole, so it can only be a foreign file)."""
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
            return Claim(**{k: v for k, v in obj.items() if k in Claim.__dataclass_fields__}, path=str(path))
        except (OSError, ValueError, TypeError):
            return None

    def holder(self, label: str, seed: int) -> Claim | None:
        """The current claim of a run (stale or not), without locking (for progress display)."""
        return self.read(self.path(label, seed))

    def acquire(
        self,
        label: str,
        seed: int,
        is_done: Callable[[], bool],
        slot: str = "",
        slurm_job: str = "",
        on_takeover: Callable[[Claim], None] | None = None,
    ) -> Claim | None:
        """Claim a run unless it is done (``is_done()``, checked under the lock) or validly claimed by another.

        Returns:
            (Claim | None): The new claim (this process holds it), or None.
        """
        path = self.path(label, seed)
        with self._locked(path):
            if is_done():
                return None
            cur = self.read(path)
            if cur is not None and not cur.stale():
                return None
            if cur is not None and on_takeover is not None:
                on_takeover(cur)
            now = time.time()
            me = os.getpid()
            claim = Claim(
                run=f"{label}/seed{seed}",
                token=uuid.uuid4().hex,
                host=socket.gethostname(),
                host_id=self.host_id,
                pids=[[me, _start_time(me) or 0.0]],
                slot=slot,
                slurm_job=slurm_job,
                claimed_at=now,
                heartbeat_at=now,
                lease_s=self.lease_s,
                path=str(path),
            )
            self._write(claim)
            return claim

    def _write(self, claim: Claim) -> None:
        d = asdict(claim)
        d.pop("path")
        write_json(claim.path, d)

    def _update(self, claim: Claim, change: Callable[[Claim], None]) -> bool:
        """Apply ``change`` to the claim file if it is still ``claim`` (same token); False when it was lost."""
        path = Path(claim.path)
        with self._locked(path):
            cur = self.read(path)
            if cur is None or cur.token != claim.token:
                return False
            change(claim)
            self._write(claim)
            return True

    def add_pid(self, claim: Claim, pid: int) -> bool:
        """Record the worker's process in the claim (its death and the sweep's together free the run at once)."""

        def change(c: Claim) -> None:
            c.pids.append([pid, _start_time(pid) or 0.0])
            c.heartbeat_at = time.time()

        return self._update(claim, change)

    def heartbeat(self, claim: Claim) -> bool:
        """Renew the claim's lease; False when the claim was taken over (the holder must stop its worker)."""
        return self._update(claim, lambda c: setattr(c, "heartbeat_at", time.time()))

    def release(self, claim: Claim) -> None:
        """Give the claim up (the run is finished, failed or interrupted). A claim already taken over is left."""
        path = Path(claim.path)
        with contextlib.suppress(OSError), self._locked(path):
            cur = self.read(path)
            if cur is not None and cur.token == claim.token:
                path.unlink()

    @staticmethod
    def still_mine(claim_path: str | Path, token: str) -> bool:
        """True when ``claim_path`` still holds ``token`` (a worker checks this before writing its record)."""
        if not token:
            return True
        path = Path(claim_path)
        with Claims._locked(path):
            cur = Claims.read(path)
            return cur is not None and cur.token == token


class ClaimKeeper:
    """A daemon thread that heartbeats this process's claims every ``lease_s / 4`` seconds.

    ``on_lost(claim)`` is called (from the thread) for a claim found taken over; the owner must stop that run's
    worker and must not write its record.
    """

    def __init__(self, claims: Claims, on_lost: Callable[[Claim], None]):
        self.claims = claims
        self.on_lost = on_lost
        self._held: dict[str, Claim] = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="yolo_attn-claims", daemon=True)

    def start(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def add(self, claim: Claim) -> None:
        with self._mutex:
            self._held[claim.token] = claim

    def discard(self, claim: Claim) -> None:
        with self._mutex:
            self._held.pop(claim.token, None)

    def _loop(self) -> None:
        interval = max(self.claims.lease_s / 4, 0.5)
        while not self._stop.wait(interval):
            with self._mutex:
                held = list(self._held.values())
            for claim in held:
                try:
                    ok = self.claims.heartbeat(claim)
                except Exception:  # a filesystem hiccup: try again next time (the lease allows 3 misses)
                    continue
                if not ok:
                    self.discard(claim)
                    self.on_lost(claim)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
