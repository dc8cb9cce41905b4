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
    "give_to_sandbox_user",
    "folder_quota",
    "release_folder_quota",
    "pids_cgroup",
    "cpu_cgroup",
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
    folder_bytes: int = 256 * 2**20  # size of the kernel's own folder on the host (a tmpfs where root grades)
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
    if shutil.which("bwrap") and _works(_bwrap_prefix(probe=True) + [sys.executable, "-c", ""]):
        return "bwrap"
    if (
        os.geteuid() == 0
        and shutil.which("setpriv")
        and shutil.which("unshare")
        and _works(_uid_prefix() + [sys.executable, "-c", ""])
    ):
        return "uid"
    return "none"


def _parent_dirs(path: str, made: set) -> list[str]:
    """``--dir`` options for the ancestors of a mount point, traversable by the sandbox user (bwrap run by root
    would create them 0700: a kernel running as ``nobody`` could not reach a Python below ``/root``)."""
    args = []
    parts = Path(path).parts
    for i in range(2, len(parts)):
        parent = str(Path(*parts[:i]))
        if parent not in made and parent not in ("/usr", "/etc", "/tmp"):
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def _system_binds(extra=()) -> list[str]:
    args, made = [], set()
    for path in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    python_dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    for path in sorted(python_dirs):
        if not any(path.startswith(p + "/") for p in ("/usr", "/etc")):
            args += _parent_dirs(path, made) + ["--ro-bind", path, path]
    for path in extra:  # mount points bound later (the job's folder): only their parents here
        args += _parent_dirs(path, made)
    return args


def _privileged() -> bool:
    """True when the grader runs as root: then the sandbox needs no user namespace and must not use one."""
    return os.geteuid() == 0


def _bwrap_prefix(*, probe=False, stub=None, shared=None, tmp_bytes: int = 256 * 2**20) -> list[str]:
    """The ``bwrap`` command line up to the program it runs.

    Run by root, a user namespace would map the sandbox's uid back to the caller's host uid (root): files the
    kernel writes would be root's on the host and root-only files readable. So root uses no user namespace:
    bwrap keeps only ``CAP_SETUID``/``CAP_SETGID``, and :func:`_drop_privileges` (``setpriv``) makes the
    kernel the host user ``nobody`` with no capabilities and ``no_new_privs`` (setuid files cannot raise it).
    Run by anyone else, the unprivileged user namespace maps ``nobody`` inside to the caller, who has no
    privilege to give away. Every writable mount of bwrap is ``nosuid,nodev``."""
    if _privileged():
        identity = [
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        ]  # fmt: skip
    else:
        identity = ["--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL"]
    cmd = [
        "bwrap",
        *identity,
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
        # first: a Python or venv below /tmp is bound on top of it
        "--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
        *_system_binds(() if probe else (shared, "/opt/dimedia")),
        "--proc", "/proc",
        "--dev", "/dev",
        "--clearenv",
    ]  # fmt: skip
    if not probe:
        # /opt made traversable first: bwrap run by root creates it 0700, and the kernel (nobody) must reach its
        # package copy (else `import diffusers` falls through to site-packages past the copy's shadows)
        cmd += ["--perms", "0755", "--dir", "/opt", "--ro-bind", stub, "/opt/dimedia"]
        cmd += ["--bind", shared, shared, "--chdir", "/tmp"]
    return cmd + _drop_privileges()


def _drop_privileges() -> list[str]:
    """Inside bwrap run by root: become host ``nobody`` with no capabilities, no groups, ``no_new_privs``."""
    if not _privileged():
        return []
    return [
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all", "--no-new-privs", "--",
    ]  # fmt: skip


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


def give_to_sandbox_user(folder) -> None:
    """Make ``folder`` and what is in it (made by the grader, before the kernel starts) the sandbox user's,
    so that a kernel running as ``nobody`` can write there. Links are changed, never followed."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), NOBODY, NOBODY, follow_symlinks=False)
    os.chown(folder, NOBODY, NOBODY, follow_symlinks=False)
    os.chmod(folder, 0o700)


def folder_quota(folder, size_bytes: int) -> bool:
    """Mount a tmpfs of ``size_bytes`` (``nosuid,nodev,noexec``) on ``folder``, the kernel's folder: the one
    place on the host a kernel can write. Filling it fills neither the grader's disk nor a neighbour's job.
    Needs root; True if mounted, False where the grader cannot mount (then only the file size limit binds)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    opts = f"size={int(size_bytes)},mode=0700,nosuid,nodev,noexec"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "dimedia-job", str(folder)], capture_output=True, check=False
    )
    return done.returncode == 0


def release_folder_quota(folder) -> None:
    """Unmount the tmpfs of :func:`folder_quota` (lazily: a dying kernel may still hold a file open)."""
    if os.path.ismount(folder):
        subprocess.run(["umount", "--lazy", str(folder)], capture_output=True, check=False)


def _fresh_cgroup(name: str, controller: str, v1: tuple[str, str], v2: tuple[str, str]) -> Path | None:
    """A cgroup ``name`` of ``controller`` with one setting written (``v1`` = (file, value) under
    ``/sys/fs/cgroup/<controller>``, else ``v2`` where the unified root delegates the controller), or None
    where none can be created."""
    unified = Path("/sys/fs/cgroup")
    candidates = [(unified / controller, *v1)]
    with contextlib.suppress(OSError):
        if controller in (unified / "cgroup.subtree_control").read_text().split():
            candidates.append((unified, *v2))
    for base, knob, value in candidates:
        if not (base / "cgroup.procs").exists() or not os.access(base, os.W_OK):
            continue
        path = base / name
        try:
            path.mkdir(exist_ok=True)
            (path / knob).write_text(value)
            return path
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


def pids_cgroup(name: str, limit: int) -> Path | None:
    """A fresh cgroup that allows at most ``limit`` processes (the ``pids`` controller, cgroup v1 or v2), or
    None where none can be created. ``RLIMIT_NPROC`` does not bind processes that run as root outside the
    sandbox's user namespace, so the process limit of a sandbox comes from here."""
    return _fresh_cgroup(name, "pids", ("pids.max", str(int(limit))), ("pids.max", str(int(limit))))


def cpu_cgroup(name: str) -> Path | None:
    """A fresh cgroup of the ``cpu`` controller with the default weight (``cpu.shares`` 1024 in cgroup v1,
    ``cpu.weight`` 100 in v2), or None where none can be created. The scheduler then shares the CPU between
    sandboxes, not between their threads: a kernel that starts a hundred busy threads gets the time of one job,
    and an honest neighbour keeps its share."""
    return _fresh_cgroup(name, "cpu", ("cpu.shares", "1024"), ("cpu.weight", "100"))


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


def kernel_command(shared, stub, *, isolation: str, limits: Limits, cgroups=()) -> tuple[list[str], dict]:
    """``(argv, env)`` of a kernelspec that starts an IPython kernel inside the sandbox.

    The kernel talks to the grader's notebook client over Unix sockets in ``shared`` (the only writable
    folder it shares with the grader, bound at the same path); ``stub`` holds the package copy made by
    :func:`stub_package`. ``argv`` contains jupyter's ``{connection_file}`` placeholder. The sandbox starts
    inside each of ``cgroups`` (from :func:`pids_cgroup` and :func:`cpu_cgroup`), or not at all.
    """
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation: expected one of {ISOLATIONS}, got {isolation!r}")
    shared, stub = str(Path(shared).resolve()), str(Path(stub).resolve())
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    cgroups = [str(c) for c in cgroups if c is not None]
    # sh's $1 is how many cgroups follow; it joins each (failing loudly) and then becomes the sandbox
    join = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 1; shift; n=$((n-1)); done'
    enter = ["sh", "-c", join + '; exec "$@"', "join-cgroups", str(len(cgroups)), *cgroups] if cgroups else []
    if isolation == "bwrap":
        cmd = _bwrap_prefix(stub=stub, shared=shared, tmp_bytes=limits.tmp_bytes)
        drop = _drop_privileges()
        cmd = cmd[: len(cmd) - len(drop)]  # the --setenv options belong to bwrap, before setpriv
        for key, value in _environment("/tmp", "/opt/dimedia").items():
            cmd += ["--setenv", key, value]
        if _privileged():
            give_to_sandbox_user(shared)
        owner = NOBODY if _privileged() else os.getuid()
        return enter + cmd + drop + _prlimit(limits, owner) + kernel, {}
    home = str(Path(shared) / "home")
    Path(home).mkdir(exist_ok=True)
    env = _environment(home, stub)
    if isolation == "uid":
        give_to_sandbox_user(shared)
        return enter + _uid_prefix() + _prlimit(limits, NOBODY) + kernel, env
    warnings.warn(
        "grading WITHOUT a sandbox: student code runs with your rights and can read and change every "
        "file you can (solutions/, the gradebook, other submissions). Install bubblewrap.",
        RuntimeWarning,
        stacklevel=2,
    )
    return enter + _prlimit(limits, os.getuid()) + kernel, env
