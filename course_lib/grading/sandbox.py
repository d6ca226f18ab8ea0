"""Grade one notebook in a sandbox: a separate, limited process that cannot see the course.

The grader (:mod:`course_lib.grading.grade`) hands each rebuilt notebook to a *worker*: a
subprocess (``python course_lib/grading/sandbox.py``) that reads the job as JSON on stdin,
runs the notebook cell by cell in its own Jupyter kernel and writes the per-cell outcomes as
one JSON line on stdout. The kernel is the worker's child, so the kernel, its ZMQ ports and
everything a submission starts live and die with the worker.

Isolation, best first (:func:`detect`, printed once per class):

``bwrap``
    The worker runs under bubblewrap with every namespace unshared (``--unshare-all``: no
    network but a private loopback, its own PIDs, IPC and hostname), ``--die-with-parent``
    and ``--new-session``. The file system is the machine's, read-only, with empty tmpfs
    mounts over the course repository, the grader's working folder and home, the submissions
    and the grades folder and the instructor's notebooks; only ``course_lib/``, ``data/`` and
    the Python environment are bound back (read-only). The working folder and ``HOME`` are a
    private, size-limited tmpfs. When the grader runs as root, the sandbox runs as a
    dedicated unprivileged uid per parallel slot where the Python environment is readable to
    it (otherwise as the grader's uid without any capability).
``subprocess``
    Where bubblewrap is missing or does not work (macOS, Windows, locked-down kernels): the
    worker is still a separate process with the same limits, a private temporary working
    folder and a clean environment, killed with its whole process group (and cgroup, where
    there is one) when its notebook is done. It can read whatever files the grader's user
    can read: a weaker guarantee, announced with a warning.

Limits (:class:`Limits`, set from ``grade``'s command line): memory per process
(``RLIMIT_DATA``: unlike ``RLIMIT_AS`` it lets torch reserve address space it never uses),
plus a memory and process-count cgroup for the whole notebook where the grader may create
one (root, cgroup v1, or a delegated cgroup v2); CPU seconds per process (``RLIMIT_CPU``);
processes (``RLIMIT_NPROC`` when the sandbox has a uid of its own); size of any file written
(``RLIMIT_FSIZE``) and of the tmpfs working folder; output kept per cell.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __name__ == "__main__":  # the worker: load the grading code without course_lib/__init__ (torch)
    import types

    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    _pkg = types.ModuleType("course_lib")
    _pkg.__path__ = [str(Path(__file__).resolve().parent.parent)]
    sys.modules.setdefault("course_lib", _pkg)

from course_lib.assets import REPO_ROOT  # noqa: E402

WORKER = str(Path(__file__).resolve())  # run as a script: see the top of this file
SANDBOX_UID_BASE = 1_700_000_000  # one unused uid per parallel slot when the grader is root
WORKDIR = "/tmp/work"  # the sandbox's private working folder and HOME (a tmpfs)
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH")
ENV_KEEP_PREFIXES = ("COURSE_", "OMP_", "MKL_", "OPENBLAS_")


@dataclass
class Limits:
    """Resource limits for the grading of one notebook."""

    memory_mb: int = 4096  # per process (RLIMIT_DATA) and for the notebook (cgroup, if any)
    cpu_seconds: int = 1800  # per process (RLIMIT_CPU); the kernel is restarted if it dies
    processes: int = 64  # per notebook (pids cgroup) or per sandbox uid (RLIMIT_NPROC)
    output_kb: int = 256  # output kept per cell; the rest is dropped
    disk_mb: int = 512  # size of the private working folder (tmpfs) and of any one file


@dataclass
class WorkerResult:
    """What came back from one sandboxed run."""

    ok: bool
    data: dict | None = None  # the worker's answer when ok
    status: str = ""  # when not ok: "aborted" | "error"
    detail: str = ""


# ------------------------------------------------------------------ cgroups (optional)


class _Cgroup:
    """A memory + pids cgroup for one notebook, under the grader's own cgroup; or nothing."""

    def __init__(self, name: str, limits: Limits, owner: int | None):
        self.dirs: list[Path] = []
        try:
            self._create(name, limits, owner)
        except OSError:
            self.remove()
            self.dirs = []

    @staticmethod
    def _own(controller: str) -> str | None:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(","):
                return path
        return None

    def _create(self, name: str, limits: Limits, owner: int | None) -> None:
        if sys.platform != "linux" or os.geteuid() != 0:
            return  # (a delegated cgroup v2 for a normal user is not attempted: documented)
        mem_v1, pids_v1 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/pids")
        if (mem_v1 / "memory.limit_in_bytes").exists():
            mem = mem_v1 / (self._own("memory") or "/").lstrip("/") / name
            mem.mkdir()
            self.dirs.append(mem)
            (mem / "memory.limit_in_bytes").write_text(str(limits.memory_mb * 2**20))
            if pids_v1.is_dir():
                pids = pids_v1 / (self._own("pids") or "/").lstrip("/") / name
                pids.mkdir()
                self.dirs.append(pids)
                (pids / "pids.max").write_text(str(limits.processes))
        elif Path("/sys/fs/cgroup/cgroup.controllers").exists():
            own = Path("/sys/fs/cgroup") / (self._own("") or "/").lstrip("/")
            if "memory" not in (own / "cgroup.subtree_control").read_text().split():
                return
            cg = own / name
            cg.mkdir()
            self.dirs.append(cg)
            (cg / "memory.max").write_text(str(limits.memory_mb * 2**20))
            (cg / "memory.swap.max").write_text("0") if (cg / "memory.swap.max").exists() else None
            if (cg / "pids.max").exists():
                (cg / "pids.max").write_text(str(limits.processes))
        if owner is not None:
            for d in self.dirs:
                os.chown(d / "cgroup.procs", owner, -1)

    @classmethod
    def available(cls, limits: Limits) -> bool:
        probe = cls(f"course-grade-probe-{os.getpid()}", limits, None)
        ok = bool(probe.dirs)
        probe.remove()
        return ok

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run by a shell that first moves itself into the cgroup(s)."""
        if not self.dirs:
            return argv
        joins = " && ".join(f"echo $$ > '{d / 'cgroup.procs'}'" for d in self.dirs)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *argv]

    def kill_all(self) -> None:
        for _ in range(20):
            pids = set()
            for d in self.dirs:
                try:
                    pids |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
                except OSError:
                    pass
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for d in reversed(self.dirs):
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


# ------------------------------------------------------------------ choosing the isolation


def _realdir(p) -> Path | None:
    try:
        p = Path(p).resolve()
    except OSError:
        return None
    return p if p.exists() else None


def _needed_paths(private: list[Path]) -> list[Path]:
    """What the worker and kernel must read: Python, the environment, course_lib and data.

    Extra package folders on ``sys.path`` (PYTHONPATH) are included, unless they lie in the
    repository or in one of the ``private`` folders.
    """
    found = [sys.prefix, sys.base_prefix, sys.exec_prefix, Path(sys.executable).resolve().parent.parent,
             REPO_ROOT / "course_lib", REPO_ROOT / "data"]  # fmt: skip
    private = [REPO_ROOT.resolve(), *private]
    for entry in sys.path:
        p = _realdir(entry) if entry else None
        if p is not None and p.is_dir() and not any(_inside(p, q) for q in private):
            found.append(p)
    out = []
    for p in found:
        p = _realdir(p)
        if p is not None and p not in out:
            out.append(p)
    return out


def _inside(p: Path, parent: Path) -> bool:
    return p == parent or parent in p.parents


def _default_hidden() -> list[Path]:
    """Folders always replaced by an empty tmpfs in the sandbox (Python is bound back)."""
    return [REPO_ROOT, Path.cwd(), Path.home(), Path("/home"), Path("/root"), Path("/mnt"), Path("/media"),
            Path("/srv"), Path("/tmp"), Path("/var/tmp"), Path("/run")]  # fmt: skip


def _env(workdir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k.startswith(ENV_KEEP_PREFIXES)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(HOME=workdir, TMPDIR=workdir, JUPYTER_PLATFORM_DIRS="1", PYTHONDONTWRITEBYTECODE="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="Agg")  # fmt: skip
    env.pop("PYTHONSTARTUP", None)
    return env


class Sandbox:
    """Runs workers for one class. ``isolation`` is ``auto``, ``bwrap`` or ``subprocess``."""

    def __init__(self, limits: Limits | None = None, hide: list[Path] = (), isolation: str = "auto"):
        self.limits = limits or Limits()
        private = [p for p in (_realdir(h) for h in hide) if p is not None]
        self.hide = [p for p in (_realdir(h) for h in _default_hidden()) if p is not None] + private
        self.needed = _needed_paths(private)
        self.bwrap = shutil.which("bwrap") if isolation in ("auto", "bwrap") else None
        self.uid_base: int | None = SANDBOX_UID_BASE if os.name == "posix" and os.geteuid() == 0 else None
        self.isolation = "subprocess"
        self.why = ""
        if isolation == "subprocess":
            self.why = "asked for (--isolation subprocess)"
        elif self.bwrap is None:
            self.why = "bubblewrap (bwrap) is not installed"
        else:
            self.why = self._probe()
            if not self.why:
                self.isolation = "bwrap"
        if isolation == "bwrap" and self.isolation != "bwrap":
            raise SystemExit(f"--isolation bwrap: bubblewrap does not work here: {self.why}")
        if self.isolation == "subprocess" and self.uid_base is not None and not self._probe_fallback_uid():
            self.uid_base = None
        self._slots = list(range(256))
        self._claims: dict[int, int] = {}  # slot -> file descriptor holding its lock
        self._lock = threading.Lock()

    # -- description

    def describe(self) -> str:
        lim = self.limits
        mem = f"{lim.memory_mb} MB per process (RLIMIT_DATA)"
        if _Cgroup.available(lim):
            mem += " and per notebook (cgroup)"
        user = f"uid {self.uid_base}+slot" if self.uid_base is not None else f"uid {os.geteuid()}" if os.name == "posix" else ""
        limits = (f"limits: memory {mem}, CPU {lim.cpu_seconds} s per process, {lim.processes} processes, "
                  f"output {lim.output_kb} KB per cell, disk {lim.disk_mb} MB")  # fmt: skip
        if self.isolation == "bwrap":
            return (f"Isolation: bubblewrap sandbox per notebook (no network, own PIDs, read-only system, "
                    f"course material hidden, private working folder; {user}); {limits}.")  # fmt: skip
        return (f"WARNING: isolation: plain subprocess per notebook ({self.why}). Submissions run in a "
                f"temporary folder with limits, but can read files the grader's user can read "
                f"({user}). Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) for the "
                f"sandbox. {limits}.")  # fmt: skip

    # -- probes

    def _probe(self) -> str:
        """Empty if a bwrap sandbox can start Python and import the grader; else why not."""
        check = f"import zmq, ipykernel, nbclient; open({WORKER!r}).close()"
        for uid in ([self.uid_base] if self.uid_base is not None else []) + [None]:
            argv = [*self._bwrap_argv(), sys.executable, "-c", check]
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/", **self._user_kw(uid))
            except (OSError, subprocess.SubprocessError) as e:
                return f"bwrap failed to start: {e}"
            if r.returncode == 0:
                self.uid_base = uid
                return ""
            err = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        return f"bwrap failed: {err}"

    def _probe_fallback_uid(self) -> bool:
        try:
            r = subprocess.run([sys.executable, "-c", "import course_lib.grading.grade"], capture_output=True,
                               timeout=120, cwd="/", **self._user_kw(self.uid_base))  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return False
        return r.returncode == 0

    @staticmethod
    def _user_kw(uid: int | None) -> dict:
        return {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}

    # -- command lines

    def _bwrap_argv(self) -> list[str]:
        lim = self.limits
        argv = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
                "--dev", "/dev", "--proc", "/proc", "--size", str(lim.disk_mb * 2**20), "--tmpfs", "/tmp",
                "--size", str(64 * 2**20), "--tmpfs", "/dev/shm"]  # fmt: skip
        hidden = []
        for h in sorted(set(self.hide), key=lambda p: len(p.parts)):
            if h != Path("/") and h.is_dir() and not any(_inside(h, o) for o in hidden):
                hidden.append(h)
        for h in hidden:
            if h != Path("/tmp"):
                argv += ["--tmpfs", str(h)]
        for k in sorted(self.needed, key=lambda p: len(p.parts)):
            if any(_inside(k, h) for h in hidden):
                argv += ["--ro-bind", str(k), str(k)]
        # course_lib and data where the editable install looks for them (REPO_ROOT may be a link)
        for sub in ("course_lib", "data"):
            src = _realdir(REPO_ROOT / sub)
            if src is not None and Path(REPO_ROOT / sub) != src:
                argv += ["--ro-bind", str(src), str(REPO_ROOT / sub)]
        argv += ["--dir", WORKDIR, "--chdir", WORKDIR, "--clearenv"]
        for k, v in _env(WORKDIR).items():
            argv += ["--setenv", k, v]
        return argv + ["--"]

    # -- running one notebook

    def _slot(self) -> int:
        """A free slot (and so a sandbox uid) for this run. With a uid of its own per slot, the
        slot is also claimed across processes (an exclusive lock file), so that two graders
        running at once never share a uid: each kills its uid's processes after a notebook."""
        while True:
            with self._lock:
                for i, slot in enumerate(self._slots):
                    if self.uid_base is None or self._claim(slot):
                        return self._slots.pop(i)
            time.sleep(0.2)  # every slot is held by another grader: wait for one

    def _claim(self, slot: int) -> bool:
        import fcntl  # POSIX only, as is a uid of its own per slot

        folder = Path(tempfile.gettempdir()) / f"course-grade-slots-{os.geteuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(folder / f"{self.uid_base + slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._claims[slot] = fd
        return True

    def _free(self, slot: int) -> None:
        with self._lock:
            fd = self._claims.pop(slot, None)
            if fd is not None:
                os.close(fd)  # releases the lock
            self._slots.insert(0, slot)

    def run(self, job: dict, wall_seconds: float) -> WorkerResult:
        """Run ``job`` in a fresh worker; never raises for anything the submission does."""
        slot = self._slot()
        uid = None if self.uid_base is None else self.uid_base + slot
        tmp, nonce, tag = None, secrets.token_hex(16), secrets.token_hex(16)  # the kernel may see tag, not nonce
        cgroup = _Cgroup(f"course-grade-{os.getpid()}-{slot}-{secrets.token_hex(3)}", self.limits, uid)
        try:
            if self.isolation == "bwrap":
                argv, cwd, env = [*self._bwrap_argv(), sys.executable, WORKER], None, None
            else:
                tmp = tempfile.mkdtemp(prefix="course-grade-")
                if uid is not None:
                    os.chown(tmp, uid, uid)
                argv, cwd, env = [sys.executable, WORKER], tmp, {**_env(tmp), "COURSE_GRADER_JOB": tag}
            payload = json.dumps({"nonce": nonce, "limits": asdict(self.limits), "job": job}).encode()
            return self._communicate(cgroup.wrap(argv), cwd, env, uid, payload, nonce, wall_seconds)
        finally:
            cgroup.remove()
            if self.isolation == "subprocess":
                _kill_tagged(tag)
            if uid is not None and self.isolation == "subprocess":
                _kill_uid(uid)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            self._free(slot)

    def _communicate(self, argv, cwd, env, uid, payload, nonce, wall_seconds) -> WorkerResult:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=cwd, env=env, start_new_session=True, **self._user_kw(uid))  # fmt: skip
        except OSError as e:
            return WorkerResult(False, status="error", detail=f"the grader could not start its worker: {e}")
        try:
            out, err = proc.communicate(payload, timeout=wall_seconds)
        except subprocess.TimeoutExpired:
            _killpg(proc)
            proc.communicate()
            return WorkerResult(False, status="aborted",
                             detail=f"grading this notebook took longer than {wall_seconds:.0f} s and was stopped")  # fmt: skip
        finally:
            _killpg(proc)
        for line in reversed(out.decode(errors="replace").splitlines()):
            if line.startswith(nonce + " "):
                try:
                    return WorkerResult(True, data=json.loads(line[len(nonce) + 1 :]))
                except json.JSONDecodeError:
                    break
        code = proc.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        if "course-grader-error:" in tail[0]:  # the worker's own failure (not the submission's)
            return WorkerResult(False, status="error", detail=tail[0].split("course-grader-error:", 1)[1].strip())
        return WorkerResult(False, status="aborted",
                         detail=f"the submission stopped the grader's process for this notebook ({how})")  # fmt: skip


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def _kill_uid(uid: int) -> None:
    """Kill every process of a sandbox uid (the fallback's containment, when the grader is root)."""
    for _ in range(10):
        found = False
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                status = (p / "status").read_text()
            except OSError:
                continue
            uids = next((ln.split()[1:] for ln in status.splitlines() if ln.startswith("Uid:")), [])
            if str(uid) in uids:
                found = True
                try:
                    os.kill(int(p.name), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.05)


# ------------------------------------------------------------------ the worker (inside the sandbox)


def _set_limits(limits: Limits, own_uid: bool) -> None:
    import resource

    def cap(kind, value):
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_DATA, limits.memory_mb * 2**20)
    cap(resource.RLIMIT_CPU, limits.cpu_seconds)
    cap(resource.RLIMIT_FSIZE, limits.disk_mb * 2**20)
    cap(resource.RLIMIT_CORE, 0)
    if own_uid and hasattr(resource, "RLIMIT_NPROC"):
        cap(resource.RLIMIT_NPROC, limits.processes)


def _prctl(option: int, value: int) -> None:
    if sys.platform == "linux":
        import ctypes

        try:
            ctypes.CDLL(None).prctl(option, value, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def _not_dumpable() -> None:
    """Keep the kernel (same uid) out of the worker's memory and file descriptors; adopt orphans."""
    _prctl(4, 0)  # PR_SET_DUMPABLE 0
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: a double-forked process stays our descendant


def _kill_descendants() -> None:
    """Kill every process below the worker (Linux; the fallback's containment)."""
    if sys.platform != "linux":
        return
    for _ in range(10):
        children: dict[int, list[int]] = {}
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(ppid, []).append(int(p.name))
        todo, found = [os.getpid()], []
        while todo:
            for c in children.get(todo.pop(), []):
                found.append(c)
                todo.append(c)
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.05)


def _kill_tagged(token: str) -> None:
    """Kill processes whose environment carries a job's token (left over by a killed worker)."""
    if sys.platform != "linux":
        return
    needle = f"COURSE_GRADER_JOB={token}".encode()
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                if needle in (p / "environ").read_bytes():
                    os.kill(int(p.name), signal.SIGKILL)
            except OSError:
                pass


def worker_main() -> int:
    raw = sys.stdin.buffer.read()
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)
    request = json.loads(raw)
    _not_dumpable()
    limits = Limits(**request["limits"])
    _set_limits(limits, own_uid=os.name == "posix" and os.getuid() >= SANDBOX_UID_BASE)
    out = os.fdopen(os.dup(1), "w")
    try:
        # Imported here, not at the top: the grader imports this module, and the worker must
        # load the grading code only after its limits are set.
        from course_lib.grading.grade import run_job

        result = run_job(request["job"], limits, Path.cwd())
    except Exception as e:  # noqa: BLE001 - reported to the grader, which records it
        print(f"course-grader-error: the grader's worker failed: {type(e).__name__}: {str(e)[:300]}", file=sys.stderr)
        return 1
    finally:
        _kill_descendants()
    out.write(f"{request['nonce']} {json.dumps(result)}\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
