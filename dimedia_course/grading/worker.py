"""Grade-side worker for one submission: run its notebook in a sandboxed kernel and collect the values of
the hidden checks. The worker itself is trusted (it runs outside the sandbox, started by
:func:`dimedia_course.grading.autograde.autograde`); only the kernel runs student code.

Usage::

    python -m dimedia_course.grading.worker JOB_DIR

``JOB_DIR`` holds ``job.json`` (notebook, isolation, limits, timeouts), ``spec.json`` (prelude and, per
test cell, the ``(setup, student)`` pairs of its checks), the notebook to run, ``stub/`` (the package copy
without the reference), ``given.pt`` (the inputs of the hidden checks: copied into ``kernel/`` only when the
checks run, after the cells whose outputs the student sees) and ``kernel/`` (the only folder the kernel may
write).
Results: ``executed.ipynb`` (outputs as received by this process, before any check ran, so nothing of the
checks can appear in it), ``kernel/probe/<grade_id>.pt`` (untrusted values written by the kernel), and
``result.json`` (what happened, cell by cell).

Pass 1 runs every cell, then the checks of every test cell in the same kernel. If the kernel died or got
stuck before the end, pass 2 runs the notebook again in a fresh kernel, up to the failing cell, with each
test cell's checks right after it (its outputs are thrown away), so the parts that ran still count.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from dimedia_course.grading.cells import grade_id

# Runs in the student's kernel; {gid}, {cases}, {prelude} and {shared} are filled in.
PROBE = r"""
def _dimedia_probe(_gid={gid!r}, _cases={cases!r}, _prelude={prelude!r}, _shared={shared!r}):
    import warnings
    import torch

    def plain(value, depth=0):
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().clone()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if depth < 3 and isinstance(value, (list, tuple)) and len(value) <= 64:
            items = [plain(v, depth + 1) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        return {{"__unsupported__": type(value).__name__}}

    given_all = torch.load(_shared + "/given.pt", weights_only=True)[_gid]
    user = dict(globals())
    results = []
    for (setup, student), given in zip(_cases, given_all):
        ns = dict(user)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(_prelude, ns)
                exec(setup, ns)
                ns.update(given)
                results.append(plain(eval(student, ns)))
        except KeyboardInterrupt:
            raise  # the grader's interrupt after the time limit: no values for this test cell
        except BaseException as err:
            results.append({{"__error__": type(err).__name__, "message": str(err)[:200]}})
    torch.save(results, _shared + "/probe/" + _gid + ".pt")


_dimedia_probe()
del _dimedia_probe
"""

MAX_TEXT = 20_000  # characters kept per text output
MAX_OUTPUTS = 50  # outputs kept per cell
MAX_IMAGE = 1_000_000  # bytes of base64 kept per image


def trim_outputs(cell) -> bool:
    """Cut a cell's outputs to a reasonable size in place; True if anything was cut."""
    cut = len(cell.get("outputs", [])) > MAX_OUTPUTS
    kept = []
    for out in cell.get("outputs", [])[:MAX_OUTPUTS]:
        if out.get("output_type") == "stream" and len(out.get("text", "")) > MAX_TEXT:
            out["text"], cut = out["text"][:MAX_TEXT] + "\n... [output truncated]\n", True
        data = out.get("data", {})
        for key in list(data):
            value = data[key]
            if isinstance(value, str) and key.startswith("text") and len(value) > MAX_TEXT:
                data[key], cut = value[:MAX_TEXT] + "\n... [output truncated]", True
            elif isinstance(value, str) and key.startswith("image") and len(value) > MAX_IMAGE:
                del data[key]
                data.setdefault("text/plain", "[image too large: removed]")
                cut = True
        if out.get("output_type") == "error":
            out["traceback"] = [line[:2000] for line in out.get("traceback", [])[-30:]]
        kept.append(out)
    cell["outputs"] = kept
    return cut


class _Run:
    """One kernel, one pass over the notebook."""

    GRACE = 5  # seconds an interrupted kernel gets to answer before it is killed (a live one answers in ms)

    def __init__(self, job: Path, config: dict, nb, spec: dict, interleave: bool, stop_before: int | None):
        self.job, self.config, self.nb, self.spec = job, config, nb, spec
        self.interleave, self.stop_before = interleave, stop_before
        self.events: list[dict] = []
        self.failed_at: int | None = None
        self.finished = False
        self.stuck = False
        self.given_placed = False

    def _client(self):
        from jupyter_client import AsyncKernelManager
        from jupyter_client.kernelspec import KernelSpecManager
        from nbclient import NotebookClient

        class SandboxKernelManager(AsyncKernelManager):
            """Run by root, the kernel is the host user ``nobody``: it gets its connection file (written 0600 by
            jupyter_client, in the kernel's own 0700 folder) before it starts."""

            async def _async_pre_start_kernel(self, **kw):
                out = await super()._async_pre_start_kernel(**kw)
                if os.geteuid() == 0:
                    from dimedia_course.grading.sandbox import NOBODY

                    os.chown(self.connection_file, NOBODY, NOBODY, follow_symlinks=False)
                return out

        shared = self.job / "kernel"
        km = SandboxKernelManager(
            kernel_name="dimedia-sandbox",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self.job / "kernelspec")]),
            transport="ipc",
            ip=str(shared / "ipc"),
            connection_file=str(shared / "connection.json"),
        )
        return NotebookClient(
            self.nb, km=km, timeout=self.config["cell_timeout"], interrupt_on_timeout=False, startup_timeout=120,
            allow_errors=True, record_timing=False, resources={"metadata": {"path": str(shared)}},
        )  # fmt: skip

    @staticmethod
    def _kill_kernel(client) -> None:
        process = getattr(client.km.provisioner, "process", None)
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # bwrap and, with it, the whole sandbox

    def _execute(self, client, cell, index) -> bool:
        """Run one cell. After the cell timeout the kernel is interrupted (by message: it runs in another PID
        namespace); if it does not answer within ``GRACE`` s it is killed (DeadKernelError). A watchdog
        thread kills it anyway if anything here blocks longer. Returns True if the cell timed out."""
        from jupyter_core.utils import run_sync
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        def kill():
            self.stuck = True
            self._kill_kernel(client)

        backstop = threading.Timer(float(self.config["cell_timeout"]) + 3 * self.GRACE, kill)
        backstop.daemon = True
        backstop.start()
        try:
            client.execute_cell(cell, index)
            return False
        except CellTimeoutError:
            with contextlib.suppress(Exception):
                run_sync(client.km.interrupt_kernel)()
            saved, client.timeout = client.timeout, self.GRACE
            try:
                with self._alone(client, "pass") as alive:
                    client.execute_cell(alive, 0)
            except CellTimeoutError:
                kill()
                raise DeadKernelError("the kernel did not respond to an interrupt") from None
            finally:
                client.timeout = saved
            return True
        finally:
            backstop.cancel()

    @staticmethod
    @contextlib.contextmanager
    def _alone(client, source: str):
        """A cell with ``source`` as the only cell of a throw-away notebook while the block runs: neither its
        outputs nor display updates can reach the student's notebook."""
        import nbformat

        cell = nbformat.v4.new_code_cell(source)
        saved = client.nb
        client.nb = nbformat.v4.new_notebook(cells=[cell])
        try:
            yield cell
        finally:
            client.nb = saved

    def _side_cell(self, client, source: str) -> bool:
        """Run ``source`` in the kernel, :meth:`_alone`, with the time limits of :meth:`_execute`. Returns True if
        it timed out."""
        with self._alone(client, source) as cell:
            return self._execute(client, cell, 0)

    def _probe(self, client, gid) -> None:
        """The kernel computes the student's values of the checks of test cell ``gid``."""
        if not self.given_placed:  # the hidden inputs reach the kernel only now, after the cells it shows ran
            place_file(self.job / "given.pt", self.job / "kernel", "given.pt")
            self.given_placed = True
        source = PROBE.format(
            gid=gid, cases=self.spec["cases"][gid], prelude=self.spec["prelude"], shared=str(self.job / "kernel")
        )
        if self._side_cell(client, source):
            self.events.append({"cell": None, "grade_id": gid, "event": "check timeout"})

    def run(self, log) -> None:
        import nbformat
        from nbclient.exceptions import DeadKernelError

        client = self._client()
        index = None
        try:
            with client.setup_kernel(stdout=log, stderr=subprocess.STDOUT):
                for index, cell in enumerate(self.nb.cells):
                    if self.stop_before is not None and index >= self.stop_before:
                        break
                    if cell.cell_type != "code":
                        continue
                    gid = grade_id(cell)
                    if self._execute(client, cell, index):
                        limit = self.config["cell_timeout"]
                        text = f"CellTimeoutError: the cell did not finish within {limit} s and was interrupted"
                        cell.outputs.append(
                            nbformat.v4.new_output(
                                "error", ename="CellTimeoutError", evalue=text.split(": ", 1)[1], traceback=[text]
                            )
                        )
                    if trim_outputs(cell):
                        self.events.append({"cell": index, "grade_id": gid, "event": "output truncated"})
                    for out in cell.get("outputs", []):
                        if out.get("output_type") == "error":
                            ename = str(out.get("ename"))[:100]
                            self.events.append({"cell": index, "grade_id": gid, "event": "error", "ename": ename})
                    if self.interleave and gid in self.spec["cases"]:
                        self._probe(client, gid)
                index = None
                self.finished = True
                if not self.interleave:
                    nbformat.write(self.nb, str(self.job / "executed.ipynb"))  # before any check runs
                    for gid in self.spec["cases"]:
                        self._probe(client, gid)
        except DeadKernelError:
            self.events.append({"cell": index, "event": "kernel stuck" if self.stuck else "kernel died"})
            self.failed_at = index
            self.finished = False
        except Exception as err:  # noqa: BLE001 (reported; the grader decides)
            import traceback

            log.write(traceback.format_exc().encode("utf-8", "replace"))  # the instructor's log, never feedback
            self.events.append({"cell": index, "event": "worker error", "ename": type(err).__name__})
            self.failed_at = index
            self.finished = False


def place_file(source: Path, folder: Path, name: str) -> None:
    """Copy ``source`` to ``folder/name`` where the kernel can write: whatever the kernel put at that name (a
    link, a folder, a FIFO) is removed first, and the new file is created exclusively without following links,
    so the grader never writes through a path the kernel chose."""
    import shutil

    fd_dir = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with contextlib.suppress(FileNotFoundError):
            try:
                os.unlink(name, dir_fd=fd_dir)
            except IsADirectoryError:
                shutil.rmtree(name, dir_fd=fd_dir)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd_dir)
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
    finally:
        os.close(fd_dir)


def reset_kernel_folder(folder: Path) -> None:
    """Empty the kernel's folder (without following any link in it) and make ``probe/`` again: before a second
    kernel starts, nothing the first one left (links where the grader writes its connection file) remains."""
    import shutil

    from dimedia_course.grading.sandbox import give_to_sandbox_user

    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)  # fd-based on Linux: does not follow links
        else:
            os.unlink(entry.path)
    os.mkdir(folder / "probe")
    if os.geteuid() == 0:
        give_to_sandbox_user(folder)


def main(argv=None) -> int:
    import nbformat

    from dimedia_course.grading.sandbox import Limits, cpu_cgroup, kernel_command, pids_cgroup

    job = Path((argv or sys.argv[1:])[0])
    config = json.loads((job / "job.json").read_text(encoding="utf-8"))
    limits = Limits(**config["limits"])
    # The worker is trusted but holds what the kernel sends: a flood of output must not take the machine down.
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    spec = json.loads((job / "spec.json").read_text(encoding="utf-8"))
    (job / "kernel" / "probe").mkdir(parents=True, exist_ok=True)
    cgroup = pids_cgroup(f"dimedia-grading-{os.getpid()}", limits.processes)
    cpu = cpu_cgroup(f"dimedia-grading-{os.getpid()}")
    cgroups = [c for c in (cgroup, cpu) if c is not None]
    # the grader removes them if we are killed
    (job / "cgroup.txt").write_text("\n".join(map(str, cgroups)), encoding="utf-8")
    argv_k, env = kernel_command(
        job / "kernel", job / "stub", isolation=config["isolation"], limits=limits, cgroups=cgroups
    )
    spec_dir = job / "kernelspec" / "dimedia-sandbox"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec_json = {
        "argv": argv_k,
        "display_name": "sandboxed Python",
        "language": "python",
        "env": env,
        "interrupt_mode": "message",  # a signal to bwrap would not reach the kernel in its PID namespace
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec_json), encoding="utf-8")
    result = {"passes": []}
    with open(job / "kernel.log", "ab") as log:
        nb = nbformat.read(str(job / config["notebook"]), as_version=4)
        first = _Run(job, config, nb, spec, interleave=False, stop_before=None)
        first.run(log)
        result["passes"].append({"events": first.events, "finished": first.finished, "failed_at": first.failed_at})
        if not first.finished:
            if not (job / "executed.ipynb").exists():  # the cells did not all run: keep what ran before the failure
                nbformat.write(nb, str(job / "executed.ipynb"))
            reset_kernel_folder(job / "kernel")
            again = nbformat.read(str(job / config["notebook"]), as_version=4)
            second = _Run(job, config, again, spec, interleave=True, stop_before=first.failed_at)
            second.run(log)
            result["passes"].append(
                {"events": second.events, "finished": second.finished, "failed_at": second.failed_at}
            )
    result["process_limit"] = "cgroup" if cgroup else "none (no writable pids cgroup)"
    result["cpu_share"] = "cgroup" if cpu else "none (no writable cpu cgroup: the host's scheduler shares by thread)"
    (job / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0  # the grader removes the cgroup once this process (which reaps the sandbox) has exited


if __name__ == "__main__":
    sys.exit(main())
