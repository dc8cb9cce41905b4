"""The sandbox command, the limits, the notebook repair and the argument checks of the grader (fast unit tests;
the sandbox itself is exercised end to end in test_exercises_grading.py)."""

from __future__ import annotations

import os

import pytest

nbformat = pytest.importorskip("nbformat")

from dimedia_course.grading import COURSE_ROOT, autograde  # noqa: E402
from dimedia_course.grading.autograde import prepare_notebook  # noqa: E402
from dimedia_course.grading.sandbox import (  # noqa: E402
    ISOLATIONS,
    Limits,
    available_isolation,
    kernel_command,
    privileged,
)

RELEASE = COURSE_ROOT / "exercises" / "a01_forward_process" / "forward_process.ipynb"


def test_bwrap_command_binds_only_the_system_python_stub_and_socket_folder(tmp_path):
    (tmp_path / "kernel").mkdir()
    argv, env = kernel_command(tmp_path / "kernel", tmp_path / "stub", isolation="bwrap", limits=Limits())
    assert argv[0] == "bwrap" and env == {}
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv or (flag.startswith("--unshare-") and "--unshare-all" in argv)
    if privileged():  # no user namespace (its uid 65534 would be root on the host): setpriv to the host's nobody
        assert "--unshare-user" not in argv and "--uid" not in argv
        drop = argv[argv.index("setpriv") :]
        for flag in ("--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"):
            assert flag in drop
        assert "--no-new-privs" in drop and drop.index("--") < drop.index("prlimit")
        caps = [argv[i + 1] for i, a in enumerate(argv) if a == "--cap-add"]
        assert sorted(caps) == ["CAP_SETGID", "CAP_SETUID"]
        assert (tmp_path / "kernel").stat().st_uid == 65534
    else:
        assert argv[argv.index("--cap-drop") + 1] == "ALL" and argv[argv.index("--uid") + 1] == "65534"
    tmpfs = argv.index("--tmpfs")
    assert argv[tmpfs - 4 : tmpfs] == ["--perms", "1777", "--size", str(Limits().tmp_bytes)]
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
# What a kernel leaves in its folder: links, bombs, expanded tensors (no kernel needed)
# ----------------------------------------------------------------------------------------------
def _job_with_probe(folder, gid="test_x", value=None):
    import torch

    (folder / "kernel" / "probe").mkdir(parents=True)
    torch.save([torch.ones(3)] if value is None else value, folder / "kernel" / "probe" / f"{gid}.pt")
    return folder


def test_probe_values_are_never_read_through_a_link_or_from_a_fifo(tmp_path):
    from dimedia_course.grading.autograde import _load_probe

    neighbour = _job_with_probe(tmp_path / "jobs" / "0")
    values, problem = _load_probe(neighbour, "test_x")
    assert problem is None and float(values[0].sum()) == 3.0  # the honest case reads
    own = tmp_path / "jobs" / "1"
    (own / "kernel").mkdir(parents=True)
    (own / "kernel" / "probe").symlink_to(neighbour / "kernel" / "probe")  # the folder linked to a neighbour's
    assert _load_probe(own, "test_x") == (None, "did not run (the notebook stopped before this test cell)")
    (own / "kernel" / "probe").unlink()
    (own / "kernel" / "probe").mkdir()
    (own / "kernel" / "probe" / "test_x.pt").symlink_to(neighbour / "kernel" / "probe" / "test_x.pt")
    assert _load_probe(own, "test_x")[0] is None
    (own / "kernel" / "probe" / "test_x.pt").unlink()
    os.mkfifo(own / "kernel" / "probe" / "test_x.pt")  # would block a plain open()
    assert _load_probe(own, "test_x")[0] is None
    (own / "kernel" / "probe" / "test_x.pt").unlink()
    (own / "kernel").rename(own / "kernel.real")
    (own / "kernel").symlink_to(neighbour / "kernel")
    assert _load_probe(own, "test_x")[0] is None


_BOMBS = r"""
import os, resource, sys, zipfile
import torch
from pathlib import Path
from dimedia_course.grading.autograde import _load_probe
from dimedia_course.grading.checks import judge, Case, tensor_close

job = Path(sys.argv[1])
probe = job / "kernel" / "probe"
probe.mkdir(parents=True)
with zipfile.ZipFile(probe / "test_bomb.pt", "w", zipfile.ZIP_DEFLATED) as archive:  # 64 MiB of zeros, 64 kB
    archive.writestr("archive/version", "3")
    with archive.open("archive/data.pkl", "w") as member:
        for _ in range(4):
            member.write(bytes(2**24))
torch.save([torch.zeros(1).expand(2**30)], probe / "test_stride0.pt")  # 1 kB on disk, 2**30 elements
case = Case("", "", "", tensor_close(1e-3, 1e-3, per_item=True))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
problems = []
for gid in ("test_bomb", "test_stride0"):
    values, problem = _load_probe(job, gid)
    problems.append(problem)
    if values is not None:
        problems.append(judge(case, values[0], torch.zeros(4, 1)))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("SIZES", os.path.getsize(probe / "test_bomb.pt"), os.path.getsize(probe / "test_stride0.pt"))
print("PROBLEMS", problems)
print("PEAK", before, after)
"""


def test_a_deflate_bomb_and_a_stride0_tensor_leave_the_grader_memory_bounded(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _BOMBS, str(tmp_path / "job")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert "compressed archive" in lines["PROBLEMS"] and "too large" in lines["PROBLEMS"], lines
    before, after = map(int, lines["PEAK"].split())
    assert after - before < 100 * 1024, f"peak RSS grew by {(after - before) / 1024:.0f} MiB"  # kB


def test_cleanup_of_a_submission_never_follows_its_links(tmp_path):
    import stat

    from dimedia_course.grading.autograde import _chmod_tree, _remove_tree

    host = tmp_path / "host.txt"
    host.write_text("secret")
    host.chmod(0o640)
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    host_dir.chmod(0o751)
    sub = tmp_path / "submitted"
    (sub / "inner").mkdir(parents=True)
    (sub / "inner" / "file.txt").write_text("x")
    (sub / "link").symlink_to(host)
    (sub / "inner" / "dirlink").symlink_to(host_dir)
    _chmod_tree(sub, dirs=0o555, files=0o444)
    assert stat.S_IMODE((sub / "inner" / "file.txt").stat().st_mode) == 0o444
    _remove_tree(sub)
    assert not sub.exists() and host.read_text() == "secret"
    assert stat.S_IMODE(host.stat().st_mode) == 0o640 and stat.S_IMODE(host_dir.stat().st_mode) == 0o751


def test_verdicts_repeat_no_name_or_shape_a_kernel_chose():
    import torch

    from dimedia_course.grading.checks import Case, exception_name, judge, tensor_close

    assert exception_name("ValueError") == "ValueError"
    assert exception_name("Leak_0_1234_beta_0_02" * 10) == "an exception of its own class"
    case = Case("", "", "", tensor_close(1e-3, 1e-3, per_item=True))
    assert judge(case, {"__error__": "Secret_17_inputs", "message": "x"}, torch.zeros(2)) == (
        "raised an exception of its own class"
    )
    assert "1234" not in judge(case, torch.zeros(1234), torch.zeros(2))
    assert "empty" in judge(case, torch.zeros(2, 0), torch.zeros(2))  # (B, 0) passed a per-item check before
    assert judge(case, torch.zeros(2, 1), torch.zeros(2)) is None
