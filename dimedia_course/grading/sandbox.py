"""The sandbox of a student's kernel: bubblewrap (or a documented fallback), limits, and the package copy
without the reference.

What a sandboxed kernel sees (``bwrap`` mode, the default where the ``bwrap`` program works):

- read-only: the system (``/usr``, ``/etc``, ...), the Python installation and the virtual environment, and a
  copy of :mod:`dimedia_course` in which every reference function the assignment asks students to write is
  replaced by a stub that raises :class:`NotImplementedError` (on disk, so reloading, ``inspect`` or loading
  the file by path finds no reference either);
- writable: a private ``/tmp`` and the one folder it shares with the grader's worker (the Unix sockets of the
  kernel, the inputs of the hidden checks and the values it writes back);
- nothing else: not the course folder (``solutions/``, the gradebook, other submissions), not ``/root``,
  not the network (own network namespace with only loopback), not other processes (own PID namespace:
  when the sandbox ends or is killed every process started inside dies with it), as an unprivileged user with
  no capabilities, with limits on memory, CPU time, file size and open files (``prlimit``) and on the number
  of processes (a ``pids`` cgroup, where one can be created).

Fallbacks, chosen by ``isolation=``: ``"uid"`` runs the kernel as ``nobody`` (``setpriv``) in fresh PID and
network namespaces (``unshare``) with the same limits, where user namespaces are not allowed; it needs a
Python installation readable by ``nobody`` and hides only files that ``nobody`` may not read. ``"none"``
only applies the limits and warns loudly: use it for your own tests, never for students' work.
"""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

__all__ = [
    "ISOLATIONS",
    "Limits",
    "available_isolation",
    "kernel_command",
    "kernel_owner",
    "pids_cgroup",
    "privileged",
    "release_cgroup",
    "stub_package",
]

ISOLATIONS = ("bwrap", "uid", "none")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (each process; ``processes`` counts the sandbox user's)."""

    wall_seconds: int = 300
    cpu_seconds: int = 600
    memory_bytes: int = 6 * 2**30
    file_bytes: int = 64 * 2**20
    tmp_bytes: int = 256 * 2**20  # size of the private /tmp (a tmpfs: memory)
    processes: int = 256
    open_files: int = 512

    def __post_init__(self):
        for limit in fields(self):
            value = getattr(self, limit.name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{limit.name}: expected a positive integer, got {value!r}")


# ----------------------------------------------------------------------------------------------
# The package copy with the reference stubbed out
# ----------------------------------------------------------------------------------------------
def _stub_body(node, where: str) -> list:
    message = f"{where} is not available while grading: write your own implementation"
    return [
        ast.Raise(
            exc=ast.Call(func=ast.Name("NotImplementedError", ast.Load()), args=[ast.Constant(message)], keywords=[])
        )
    ]


def _stub_definition(node, qualname: str) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node.body = _stub_body(node, qualname)
        return
    for child in node.body:  # a class: every method (and nested class) of it
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            _stub_definition(child, f"{qualname}.{child.name}")


def _find(tree, qualname: str):
    scope, node = tree.body, None
    for part in qualname.split("."):
        node = next(
            (
                n
                for n in scope
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        scope = node.body
    return node


def stub_package(dest, blocked) -> Path:
    """Copy :mod:`dimedia_course` into ``dest/dimedia_course`` with each ``"module:qualname"`` of ``blocked``
    (a function, or a class and all its methods) replaced by a stub raising ``NotImplementedError``.
    Returns ``dest`` (the folder to put on ``PYTHONPATH``). Unknown names are an error (a typo would
    silently leave the reference available)."""
    dest = Path(dest)
    target = dest / "dimedia_course"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    by_file: dict[Path, list[str]] = {}
    for entry in blocked:
        module, sep, qualname = str(entry).partition(":")
        if not sep or not module.startswith("dimedia_course") or not qualname:
            raise ValueError(f"blocked: expected 'dimedia_course.module:QualName', got {entry!r}")
        rel = Path(*module.split(".")[1:])
        path = target / rel.with_suffix(".py")
        if not path.is_file():
            path = target / rel / "__init__.py"
        if not path.is_file():
            raise ValueError(f"blocked: no module {module!r} in dimedia_course")
        by_file.setdefault(path, []).append(qualname)
    for path, names in by_file.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = ".".join(("dimedia_course", *path.relative_to(target).with_suffix("").parts)).removesuffix(".__init__")
        for qualname in names:
            node = _find(tree, qualname)
            if node is None:
                raise ValueError(f"blocked: {module}:{qualname} is not defined in {path.name}")
            _stub_definition(node, f"{module}.{qualname}")
        path.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n", encoding="utf-8")
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


# ----------------------------------------------------------------------------------------------
# Isolation
# ----------------------------------------------------------------------------------------------
def _works(cmd) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def available_isolation() -> str:
    """The strongest isolation that works on this machine: ``"bwrap"``, ``"uid"`` or ``"none"``."""
    if shutil.which("bwrap") and _works(_probe_command()):
        return "bwrap"
    if (
        os.geteuid() == 0
        and shutil.which("setpriv")
        and shutil.which("unshare")
        and _works(_uid_prefix() + [sys.executable, "-c", ""])
    ):
        return "uid"
    return "none"


def _parents(path: str, made: set) -> list[str]:
    """``--dir`` ops (mode 0755) for the ancestors of a bind destination that bwrap would otherwise create
    with mode 0700 (owned by root: not traversable by the sandbox user when the grader runs as root)."""
    args = []
    parts = Path(path).parts[1:-1]
    for i in range(len(parts)):
        parent = "/" + "/".join(parts[: i + 1])
        if parent in made or parent in ("/tmp", "/usr", "/etc"):
            continue
        made.add(parent)
        args += ["--perms", "0755", "--dir", parent]
    return args


def _system_binds(made: set) -> list[str]:
    args = []
    for path in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    python_dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    for path in sorted(python_dirs):
        if not any(path.startswith(p + "/") for p in ("/usr", "/etc")):
            args += [*_parents(path, made), "--ro-bind", path, path]
    return args


def privileged() -> bool:
    """True when the grader runs as root: the sandbox then uses no user namespace (whose uid 65534 would map
    to root on the host) but drops to the host's ``nobody`` with ``setpriv`` inside it."""
    return os.geteuid() == 0


def kernel_owner(isolation: str) -> int | None:
    """The host uid a sandboxed kernel runs as when it differs from the grader's (the owner its writable
    folder and connection file must have), else None."""
    if isolation == "uid" or (isolation == "bwrap" and privileged()):
        return NOBODY
    return None


_DROP = [
    "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
    "--bounding-set=-all", "--no-new-privs", "--",
]  # fmt: skip


def _bwrap_prefix(*, probe=False, stub=None, shared=None, tmp_bytes: int = 256 * 2**20) -> list[str]:
    if privileged():
        # No user namespace: its uid 65534 would be the grader's (root's) own uid on the host. bwrap keeps
        # only the two capabilities setpriv needs to become the host's nobody with no capability at all.
        isolate = [
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        ]  # fmt: skip
    else:
        isolate = [
            "--unshare-all",  # network (loopback only), PID, IPC, UTS, cgroup and user namespaces
            "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL",
        ]  # fmt: skip
    made: set = set()
    cmd = [
        "bwrap",
        *isolate,
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
        # first: a Python or venv below /tmp is bound on top of it; 1777: writable by the sandbox user
        "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp",
        *_system_binds(made),
        "--proc", "/proc",
        "--dev", "/dev",
        "--clearenv",
    ]  # fmt: skip
    if not probe:
        cmd += ["--ro-bind", stub, "/opt/dimedia", *_parents(shared, made), "--bind", shared, shared]
        cmd += ["--perms", "1777", "--dir", "/tmp/home", "--chdir", "/tmp"]
    return cmd


def _probe_command() -> list[str]:
    return _bwrap_prefix(probe=True) + (_DROP if privileged() else []) + [sys.executable, "-c", ""]


def _uid_prefix() -> list[str]:
    return [
        "unshare", "--pid", "--fork", "--kill-child", "--net", "--mount-proc", "--",
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all", "--",
    ]  # fmt: skip


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += 1
    return count


def _prlimit(limits: Limits, process_owner: int) -> list[str]:
    # RLIMIT_NPROC counts all processes of the real user outside the sandbox: allow what exists plus the limit.
    nproc = _count_processes(process_owner) + limits.processes
    return [
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_bytes}",
        f"--nproc={nproc}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _environment(home: str, pythonpath: str) -> dict:
    return {
        "HOME": home,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "PYTHONPATH": pythonpath,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONWARNINGS": "ignore",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "JUPYTER_PLATFORM_DIRS": "1",
        "OMP_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }


def pids_cgroup(name: str, limit: int) -> Path | None:
    """A fresh cgroup that allows at most ``limit`` processes (the ``pids`` controller, cgroup v1 or v2), or
    None where none can be created. ``RLIMIT_NPROC`` does not bind processes that run as root outside the
    sandbox's user namespace, so the process limit of a sandbox comes from here."""
    candidates = [Path("/sys/fs/cgroup/pids")]
    unified = Path("/sys/fs/cgroup")
    with contextlib.suppress(OSError):
        if "pids" in (unified / "cgroup.subtree_control").read_text().split():
            candidates.append(unified)
    for base in candidates:
        if not (base / "cgroup.procs").exists() or not os.access(base, os.W_OK):
            continue
        path = base / name
        try:
            path.mkdir(exist_ok=True)
            (path / "pids.max").write_text(str(int(limit)))
            return path
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


def release_cgroup(path) -> None:
    """Remove a cgroup made by :func:`pids_cgroup` once its processes are gone (a few tries)."""
    if path is None:
        return
    for _ in range(50):
        try:
            Path(path).rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def _give_to_sandbox(shared: str) -> None:
    """Make the kernel's folder (made by the grader, nothing in it yet from a kernel) the sandbox user's."""
    top = os.open(shared, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.chown(top, NOBODY, NOBODY)
        for entry in os.scandir(top):
            os.chown(entry.name, NOBODY, NOBODY, dir_fd=top, follow_symlinks=False)
    finally:
        os.close(top)


def kernel_command(shared, stub, *, isolation: str, limits: Limits, cgroup=None) -> tuple[list[str], dict]:
    """``(argv, env)`` of a kernelspec that starts an IPython kernel inside the sandbox.

    The kernel talks to the grader's notebook client over Unix sockets in ``shared`` (the only writable
    folder it shares with the grader, bound at the same path); ``stub`` holds the package copy made by
    :func:`stub_package`. ``argv`` contains jupyter's ``{connection_file}`` placeholder. With ``cgroup`` (from
    :func:`pids_cgroup`) the sandbox starts inside it.
    """
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation: expected one of {ISOLATIONS}, got {isolation!r}")
    shared, stub = str(Path(shared).resolve()), str(Path(stub).resolve())
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    enter = [] if cgroup is None else ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup)]
    if isolation == "bwrap":
        cmd = _bwrap_prefix(stub=stub, shared=shared, tmp_bytes=limits.tmp_bytes)
        for key, value in _environment("/tmp/home", "/opt/dimedia").items():
            cmd += ["--setenv", key, value]
        if privileged():
            _give_to_sandbox(shared)
            return enter + cmd + _DROP + _prlimit(limits, NOBODY) + kernel, {}
        return enter + cmd + _prlimit(limits, os.getuid()) + kernel, {}
    home = str(Path(shared) / "home")
    Path(home).mkdir(exist_ok=True)
    env = _environment(home, stub)
    if isolation == "uid":
        _give_to_sandbox(shared)
        return enter + _uid_prefix() + _prlimit(limits, NOBODY) + kernel, env
    warnings.warn(
        "grading WITHOUT a sandbox: student code runs with your rights and can read and change every "
        "file you can (solutions/, the gradebook, other submissions). Install bubblewrap.",
        RuntimeWarning,
        stacklevel=2,
    )
    return enter + _prlimit(limits, os.getuid()) + kernel, env
