"""The sandbox command, the limits, the notebook repair and the argument checks of the grader (fast unit tests;
the sandbox itself is exercised end to end in test_exercises_grading.py)."""

from __future__ import annotations

import os

import pytest

nbformat = pytest.importorskip("nbformat")

from dimedia_course.grading import COURSE_ROOT, autograde  # noqa: E402
from dimedia_course.grading.autograde import prepare_notebook  # noqa: E402
from dimedia_course.grading.sandbox import ISOLATIONS, Limits, available_isolation, kernel_command  # noqa: E402

RELEASE = COURSE_ROOT / "exercises" / "a01_forward_process" / "forward_process.ipynb"


def test_bwrap_command_binds_only_the_system_python_stub_and_socket_folder(tmp_path):
    (tmp_path / "kernel").mkdir()
    argv, env = kernel_command(tmp_path / "kernel", tmp_path / "stub", isolation="bwrap", limits=Limits())
    assert argv[0] == "bwrap" and env == {}
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv or (flag != "--clearenv" and "--unshare-all" in argv)
    if os.geteuid() == 0:  # no user namespace (it would map the sandbox user to root); setpriv to nobody
        assert "--unshare-user" not in argv and "--unshare-all" not in argv
        drop = argv.index("setpriv")
        assert argv[drop : drop + 8] == [
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--",
        ]  # fmt: skip
        assert "--setenv" in argv[:drop] and "--setenv" not in argv[drop:]  # after all of bwrap's options
        assert os.stat(tmp_path / "kernel").st_uid == 65534  # the kernel's folder is the sandbox user's
    else:
        assert argv[argv.index("--cap-drop") + 1] == "ALL" and argv[argv.index("--uid") + 1] == "65534"
    mounted = [argv[i + 2] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")]
    assert "/opt/dimedia" in mounted and str(tmp_path / "kernel") in mounted
    assert not any(str(COURSE_ROOT) == m or m.startswith(str(COURSE_ROOT / "solutions")) for m in mounted)
    writable = [argv[i + 2] for i, a in enumerate(argv) if a == "--bind"]
    assert writable == [str(tmp_path / "kernel")]
    assert "prlimit" in argv and argv[-3:] == ["ipykernel_launcher", "-f", "{connection_file}"]
    assert argv[-1] == "{connection_file}"


def test_no_isolation_warns_loudly(tmp_path):
    (tmp_path / "kernel").mkdir()
    with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
        argv, env = kernel_command(tmp_path / "kernel", tmp_path / "stub", isolation="none", limits=Limits())
    assert argv[0] == "prlimit" and env["PYTHONPATH"] == str((tmp_path / "stub").resolve())


def test_bad_arguments_name_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="isolation"):
        kernel_command(tmp_path, tmp_path, isolation="docker", limits=Limits())
    with pytest.raises(ValueError, match="Limits.wall_seconds"):
        Limits(wall_seconds=0)
    with pytest.raises(ValueError, match="timeout"):
        autograde(tmp_path, timeout=0)
    with pytest.raises(ValueError, match="workers"):
        autograde(tmp_path, workers=-1)
    with pytest.raises(ValueError, match="isolation"):
        autograde(tmp_path, isolation="docker")
    with pytest.raises(ValueError, match="submissions"):
        autograde(tmp_path / "missing", isolation="none")
    assert available_isolation() in ISOLATIONS


def _ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def test_prepare_notebook_restores_tests_keeps_answers_and_drops_foreign_metadata():
    release = nbformat.read(str(RELEASE), 4)
    student = nbformat.read(str(RELEASE), 4)
    answer = next(c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q_sample")
    answer.source = "def q_sample(x0, t, noise, alphas_cumprod):\n    return x0"
    test = next(c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_q_sample")
    test.source = "pass"
    student.cells.remove(next(c for c in student.cells if _ids_one(c) == "test_cosine_betas"))
    foreign = nbformat.v4.new_code_cell("x = 1")
    foreign.metadata["nbgrader"] = {"grade_id": "dice_score", "solution": True, "grade": True, "points": 99}
    student.cells.insert(2, foreign)
    student.cells.insert(3, nbformat.v4.new_code_cell("helper = 2", metadata={"nbgrader": {"grade_id": "setup"}}))
    notes = []
    nb = prepare_notebook(student, release, notes)
    assert [g for g in _ids(nb) if g] == [g for g in _ids(release) if g]
    by_id = {_ids_one(c): c for c in nb.cells if _ids_one(c)}
    assert by_id["q_sample"].source.endswith("return x0")
    assert by_id["test_q_sample"].source == _cell(release, "test_q_sample").source
    assert by_id["test_cosine_betas"].source == _cell(release, "test_cosine_betas").source
    assert any(c.source == "x = 1" and not c.metadata.get("nbgrader") for c in nb.cells)
    assert any(c.source == "helper = 2" and not c.metadata.get("nbgrader") for c in nb.cells)
    text = " ".join(notes)
    assert "test_q_sample" in text and "edited" in text and "test_cosine_betas" in text and "deleted" in text
    assert "dice_score" in text and "plain cell" in text
    assert all(c.get("outputs", []) == [] for c in nb.cells if c.cell_type == "code")


def _ids_one(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _cell(nb, gid):
    return next(c for c in nb.cells if _ids_one(c) == gid)


def test_missing_notebook_is_the_blank_release():
    release = nbformat.read(str(RELEASE), 4)
    nb = prepare_notebook(None, release, notes := [])
    assert [c.source for c in nb.cells] == [c.source for c in release.cells] and notes == []


def test_pids_cgroup_limits_processes_where_available():
    import subprocess

    from dimedia_course.grading.sandbox import pids_cgroup, release_cgroup

    cgroup = pids_cgroup("dimedia-grading-test", 5)
    if cgroup is None:
        pytest.skip("no writable pids cgroup on this machine (the sandbox then relies on prlimit only)")
    try:
        script = 'echo $$ > "$0/cgroup.procs"; n=0; for i in 1 2 3 4 5 6 7 8; do (sleep 1) 2>/dev/null & done; wait'
        out = subprocess.run(["sh", "-c", script, str(cgroup)], capture_output=True, text=True, timeout=30)
        assert "fork" in (out.stderr + out.stdout).lower()
    finally:
        release_cgroup(cgroup)
    assert not cgroup.exists()


# ----------------------------------------------------------------------------------------------
# What a kernel leaves in its folder: links, FIFOs, bombs, expanded tensors (fast: no kernel)
# ----------------------------------------------------------------------------------------------
def _kernel_folder_with_probe(folder, gid="test_x"):
    import torch

    (folder / "probe").mkdir(parents=True)
    torch.save([torch.ones(3)], folder / "probe" / f"{gid}.pt")
    return folder


def test_probe_values_are_never_read_through_a_link_a_hard_link_or_a_fifo(tmp_path):
    import os

    from dimedia_course.grading.autograde import _load_probe

    neighbour = _kernel_folder_with_probe(tmp_path / "0" / "kernel")
    values, problem = _load_probe(neighbour, "test_x")
    assert problem is None and float(values[0].sum()) == 3.0  # the honest case reads
    own = tmp_path / "1" / "kernel"
    own.mkdir(parents=True)
    (own / "probe").symlink_to(neighbour / "probe")  # the folder linked to a neighbour's
    assert _load_probe(own, "test_x")[0] is None
    (own / "probe").unlink()
    (own / "probe").mkdir()
    (own / "probe" / "test_x.pt").symlink_to(neighbour / "probe" / "test_x.pt")  # one file linked
    assert _load_probe(own, "test_x")[0] is None
    (own / "probe" / "test_x.pt").unlink()
    os.link(neighbour / "probe" / "test_x.pt", own / "probe" / "test_x.pt")  # a hard link
    assert _load_probe(own, "test_x")[0] is None
    (own / "probe" / "test_x.pt").unlink()
    os.mkfifo(own / "probe" / "test_x.pt")  # would block a plain open()
    assert _load_probe(own, "test_x")[0] is None


_BOMBS = r"""
import resource, sys, zipfile
import torch
from pathlib import Path
from dimedia_course.grading.autograde import _load_probe

folder = Path(sys.argv[1])
(folder / "probe").mkdir(parents=True)
with zipfile.ZipFile(folder / "probe" / "test_bomb.pt", "w", zipfile.ZIP_DEFLATED) as archive:  # 64 MiB, 64 kB
    archive.writestr("archive/version", "3")
    with archive.open("archive/data.pkl", "w") as member:
        for _ in range(4):
            member.write(bytes(2**24))
torch.save([torch.zeros(1).expand(2**28)], folder / "probe" / "test_stride0.pt")  # 1 kB on disk
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
problems = [_load_probe(folder, gid)[1] for gid in ("test_bomb", "test_stride0")]
print("PROBLEMS", problems)
print("PEAK", before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_a_deflate_bomb_and_a_stride0_tensor_leave_the_grader_peak_rss_bounded(tmp_path):
    """The grading run's own bound (peak RSS of the whole test process) is coarse; here, in a fresh process:
    the stride-0 tensor (2**28 elements on 1 element of storage) grew the peak by 2,054 MiB once broadcast
    and converted to float64 before it was refused at load."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _BOMBS, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["PROBLEMS"].count("None") == 0 and "too large" in lines["PROBLEMS"], lines
    before, after = map(int, lines["PEAK"].split())
    assert after - before < 100 * 1024, f"peak RSS grew by {(after - before) / 1024:.0f} MiB"  # kB


def test_verdicts_repeat_no_exception_name_a_kernel_chose_and_refuse_empty_answers():
    import torch

    from dimedia_course.grading.checks import Case, judge, tensor_close

    case = Case("", "", "", tensor_close(1e-3, 1e-3, per_item=True))
    leak = {"__error__": "Leak_beta_0_02_T_1000", "message": "x"}
    assert judge(case, leak, torch.zeros(2)) == "raised an exception"
    assert judge(case, {"__error__": "ValueError", "message": ""}, torch.zeros(2)).endswith("raised ValueError")
    assert judge(case, torch.zeros(2, 0), torch.zeros(2)) is not None  # (B, 0) passed a per-item check before
    assert judge(case, torch.zeros(2, 1), torch.zeros(2)) is None


def test_the_worker_started_per_submission_imports_neither_torch_nor_nbgrader():
    import subprocess
    import sys

    code = "import sys, dimedia_course.grading.worker; print(sorted({'torch', 'nbgrader'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # 1.4 s of imports saved for each of the submissions of a grading run


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can mount the kernel folder's tmpfs")
def test_folder_quota_bounds_the_kernel_folder_and_is_released(tmp_path):
    from dimedia_course.grading.sandbox import folder_quota, release_folder_quota

    folder = tmp_path / "kernel"
    folder.mkdir()
    assert folder_quota(folder, 2**20)
    try:
        options = next(line.split()[3] for line in open("/proc/mounts") if line.split()[1] == str(folder))
        assert {"nosuid", "nodev", "noexec"} <= set(options.split(",")), options
        with pytest.raises(OSError) as full, open(folder / "fill", "wb") as f:
            f.write(bytes(2 * 2**20))
            f.flush()
        assert full.value.errno == 28  # ENOSPC: the quota, not the host's disk
    finally:
        release_folder_quota(folder)
    assert not os.path.ismount(folder) and not (folder / "fill").exists()  # the host folder underneath is empty
    release_folder_quota(folder)  # a second release is harmless


def test_cpu_cgroups_share_the_cpu_between_sandboxes_not_threads(tmp_path):
    """Two sandboxes on one core, one with six busy processes and one with a single one: each cgroup gets about
    half the core (without the cgroups the six would take about six sevenths)."""
    import shutil
    import subprocess
    import sys

    from dimedia_course.grading.sandbox import cpu_cgroup, release_cgroup

    groups = [cpu_cgroup(f"dimedia-test-{os.getpid()}-{i}") for i in range(2)]
    if None in groups or shutil.which("taskset") is None:
        pytest.skip("no writable cpu cgroup (or no taskset) here")
    busy = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass\nprint(time.process_time())"
    try:
        procs = []
        for group, copies in zip(groups, (6, 1), strict=True):
            (tmp_path / "k").mkdir(exist_ok=True)
            with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
                argv, _ = kernel_command(tmp_path / "k", tmp_path, isolation="none", limits=Limits(), cgroups=[group])
            join = argv[: argv.index(sys.executable)]  # the sh prefix that joins the cgroups
            for _ in range(copies):
                cmd = ["taskset", "-c", "0", *join, sys.executable, "-c", busy]
                procs.append((group, subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))
        cpu = {str(g): 0.0 for g in groups}
        for group, proc in procs:
            cpu[str(group)] += float(proc.communicate(timeout=30)[0])
    finally:
        for group in groups:
            release_cgroup(group)
    many, one = cpu[str(groups[0])], cpu[str(groups[1])]
    assert many < 2.0 * one, (many, one)  # by thread it would be 6 x
