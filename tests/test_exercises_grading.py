"""Autograding round trips and attacks, on a copy of the course (python -m dimedia_course.grading ...).

One grading run holds: the good and the blank submission of every assignment, and for assignment 1 a
crowd of dishonest and careless students, graded in parallel next to the good one. It shows that

- good notebooks get full marks and blank ones zero;
- every cheat scores no more than its honest content (each adversary below answers one part wrongly or
  not at all and attacks the grader; that part must score 0, the other parts keep their points);
- careless notebooks (pasted foreign cells, exit in the last cell, stderr, huge output, invalid JSON,
  renamed, deleted or edited test cells, endless loops, a kernel that ignores interrupts) get credit for
  the parts that ran, with a log that says why;
- no file of the course or of the submissions changes, no process survives, the sandbox sees none of
  the course, and neither feedback nor logs contain the hidden checks or other students;
- grading again is idempotent; grades export to CSV and HTML feedback is generated.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import resource
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

from grading_probe import reach_probe  # noqa: E402

from dimedia_course import grading  # noqa: E402
from dimedia_course.course.benchmarks.grading import solved_notebook  # noqa: E402
from dimedia_course.grading.allowlist import reference_names  # noqa: E402
from dimedia_course.grading.checks import load_checks  # noqa: E402
from dimedia_course.grading.sandbox import available_isolation  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = grading.COURSE_ROOT
ASSIGNMENTS = grading.list_assignments(ROOT)
A1 = "a01_forward_process"
NB1 = "forward_process.ipynb"
CELL_TIMEOUT = 15  # seconds per cell while grading here (an endless loop costs this much)
MARKER = "dimedia-attack-marker-7f3a"  # in the command line of every process an attack starts
ISOLATION = available_isolation()


def _good_notebook(assignment: str):
    """The release with every answer filled in (what a good student submits)."""
    return solved_notebook(ROOT, assignment)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _wrong(nb, grade_id, body: str, attack: str = ""):
    """Answer cell ``grade_id``: keep its `def` line, replace the body; then append attack code."""
    cell = _cell(nb, grade_id)
    head = cell.source.split("\n")[0]
    cell.source = head + "\n" + "\n".join("    " + ln for ln in body.strip().splitlines()) + "\n" + attack


def _reach_probe(assignment: str) -> str:
    """A cell that tries every piece of reference code the assignment's hidden checks name, and the packages
    students do not get; prints ``REACHED [...]`` with what it could import."""
    return reach_probe(reference_names(load_checks(ROOT / "solutions" / assignment)) + ["diffusers:", "sklearn:"])


def _plain_cell(nb, source, after=None):
    cell = nbformat.v4.new_code_cell(source)
    index = len(nb.cells) if after is None else nb.cells.index(_cell(nb, after)) + 1
    nb.cells.insert(index, cell)


def _adversaries(course: Path, subs: Path):
    """student -> (build(nb), the test cell that must score 0 or None, words the log must name)."""
    zeros = "return torch.zeros(num_steps)"

    def patch_grader(nb):  # the grader's judge, comparisons and builtins patched from an answer cell
        attack = (
            "import builtins, torch, dimedia_course.grading.checks as _c\n"
            "_c.judge = lambda *a, **k: None\n"
            "torch.allclose = lambda *a, **k: True\n"
            "torch.equal = lambda *a, **k: True\n"
            "builtins.abs = lambda x: 0\n"
        )
        _wrong(nb, "linear_betas", zeros, attack)

    def reference(nb):  # every way to reach the reference from the package
        body = (
            "import importlib, importlib.util, inspect, dimedia_course, dimedia_course.schedules as s\n"
            "for attempt in (lambda: s.make_beta_schedule('cosine', num_steps, cosine_s=s_),\n"
            "                lambda: importlib.reload(s).make_beta_schedule('cosine', num_steps, cosine_s=s_)):\n"
            "    try:\n"
            "        return attempt().clamp(max=max_beta)\n"
            "    except Exception:\n"
            "        pass\n"
            "spec = importlib.util.spec_from_file_location('fresh', s.__file__)\n"
            "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
            "return mod.make_beta_schedule('cosine', num_steps, cosine_s=s_).clamp(max=max_beta)"
        )
        cell = _cell(nb, "cosine_betas")
        cell.source = (
            cell.source.split("\n")[0].replace("s=0.008", "s_=0.008")
            + "\n"
            + "\n".join("    " + ln for ln in body.splitlines())
        )
        _plain_cell(
            nb,
            "import inspect, dimedia_course.schedules as s\n"
            "print('REFSOURCE', 'linspace' in inspect.getsource(s.make_beta_schedule))",
            after="cosine_betas",
        )

    def private_and_test_only(nb):  # reference code the old deny-list missed: 5 of 13 points before the allow-list
        _wrong(
            nb,
            "linear_betas",
            "from diffusers import DDPMScheduler\n"
            "return DDPMScheduler(num_train_timesteps=num_steps, beta_start=beta_start, beta_end=beta_end).betas",
        )
        _wrong(
            nb,
            "cosine_betas",
            "from dimedia_course.schedules import _cosine_betas\n"
            "return _cosine_betas(num_steps, s).clamp(max=max_beta)",
        )

    def reads_course(nb):  # looks for the hidden checks, the gradebook and other students
        probe = (
            "import glob, os, sys\n"
            f"paths = [{str(course)!r}, {str(course / 'solutions')!r}, {str(course / 'gradebook.db')!r}, {str(subs)!r},"
            f" {str(ROOT / 'solutions')!r}, {str(ROOT / 'dimedia_course')!r}, '/root/.bash_history', '/root/.ssh']\n"
            "print('SEEN', [p for p in paths if os.path.exists(p)])\n"
            "print('BESIDE-VENV', sorted(os.listdir(os.path.dirname(sys.prefix))))\n"
            "print('FOUND', glob.glob('/tmp/**/grader_checks.py', recursive=True)[:3],"
            " len(glob.glob('/tmp/dimedia-grade-*/jobs/*')), glob.glob('/tmp/dimedia-grade-*/stubs'))\n"
            "print('PROCS', sorted(open(f'/proc/{p}/cmdline').read().split(chr(0))[0] for p in os.listdir('/proc')"
            " if p.isdigit())[:20])\n"
        )
        _wrong(nb, "alphas_cumprod", "return torch.ones_like(betas)", probe)

    def writes_everywhere(nb):  # tries to change the course, the package, the gradebook and a neighbour
        attack = (
            "import os, dimedia_course\n"
            f"for p in [{str(course / 'solutions' / A1 / 'grader_checks.py')!r}, dimedia_course.__file__,"
            f" {str(course / 'gradebook.db')!r}, {str(subs / 'good' / A1 / NB1)!r}, '/etc/hostname']:\n"
            "    try:\n"
            "        open(p, 'a').write('# pwned')\n"
            "        print('WROTE', p)\n"
            "    except Exception as e:\n"
            "        print('BLOCKED', type(e).__name__)\n"
        )
        _wrong(nb, "q_sample", "return x0", attack)

    def kills_and_spawns(nb):  # kills whatever it can, leaves detached children holding the output
        _wrong(nb, "q_posterior", "return x_t, torch.zeros(x_t.shape[0])")
        _plain_cell(
            nb,
            "import os, signal, subprocess, sys\n"
            f"for _ in range(3):\n"
            f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{MARKER}'],"
            " start_new_session=True)\n"
            "os.system('(sleep 600 &) ; true')\n"
            "for pid in (os.getppid(), 1):\n"
            "    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n"
            "    except Exception as e:\n"
            "        print('KILL', pid, type(e).__name__)\n",
        )

    def network_and_limits(nb):
        probe = (
            "import socket, os, subprocess, sys\n"
            "try:\n"
            "    socket.create_connection(('1.1.1.1', 80), timeout=3); print('NET open')\n"
            "except OSError as e:\n"
            "    print('NET blocked', type(e).__name__)\n"
            "try:\n"
            "    for i in range(32):  # 1 GiB in files of 32 MiB (each below the file size limit)\n"
            "        with open(f'/tmp/fill{i}', 'wb') as f:\n"
            "            f.write(bytes(32 * 2**20))\n"
            "    print('TMP allowed')\n"
            "except OSError as e:\n"
            "    print('TMP blocked', e.errno)\n"
            "for name in os.listdir('/tmp'):\n"
            "    if name.startswith('fill'):\n"
            "        os.remove('/tmp/' + name)\n"
            "import ipykernel\n"
            "own = os.path.dirname(ipykernel.get_connection_file())  # its folder on the host: the probe's home\n"
            "try:\n"
            "    for i in range(20):  # 640 MiB in files of 32 MiB\n"
            "        with open(os.path.join(own, f'fill{i}'), 'wb') as f:\n"
            "            f.write(bytes(32 * 2**20))\n"
            "    print('FOLDER allowed')\n"
            "except OSError as e:\n"
            "    print('FOLDER blocked', e.errno)\n"
            "for name in os.listdir(own):\n"
            "    if name.startswith('fill'):\n"
            "        os.remove(os.path.join(own, name))\n"
            "try:\n"
            "    big = bytearray(40 * 2**30); print('MEM allowed')\n"
            "except MemoryError:\n"
            "    print('MEM blocked')\n"
            "children = []\n"
            "try:\n"
            "    for _ in range(2000):\n"
            f"        children.append(subprocess.Popen(['sh', '-c', 'sleep 600', '{MARKER}']))\n"
            "except OSError as e:\n"
            "    print('PROCS stopped at', len(children), type(e).__name__)\n"
            "for child in children:\n"
            "    child.kill()\n"
            "    child.wait()\n"
        )
        _wrong(nb, "linear_betas", "return torch.linspace(beta_start, beta_end, num_steps + 1)[:-1]", probe)

    def forges_values(nb):  # writes its own 'results' for every check, then exits the kernel
        _wrong(nb, "cosine_betas", "return torch.zeros(num_steps)")
        _plain_cell(
            nb,
            "import glob, os, torch\n"
            "for d in glob.glob('/tmp/dimedia-grade-*/jobs/*/kernel/probe'):\n"
            "    for gid in ['test_linear_betas', 'test_cosine_betas', 'test_alphas_cumprod', 'test_q_sample',"
            " 'test_q_posterior']:\n"
            "        torch.save([torch.zeros(1)] * 4, os.path.join(d, gid + '.pt'))\n"
            "os._exit(0)",
        )

    def transformer(nb):  # an IPython input transformer that empties every later cell (probes included)
        _wrong(nb, "alphas_cumprod", "return betas")
        _plain_cell(nb, "get_ipython().input_transformers_cleanup.append(lambda lines: [])", after="alphas_cumprod")

    def shadow_torch(nb):  # a torch.py beside the notebook (handed in), and a wrong answer
        _wrong(nb, "q_sample", "return noise")

    def display_trick(nb):  # a display value before a failing assert, in the test cell (nbgrader's hole)
        _wrong(nb, "linear_betas", zeros)
        _cell(nb, "test_linear_betas").source = (
            "from IPython.display import display\ndisplay(1)\n" + _cell(nb, "test_linear_betas").source
        )

    def xss_feedback(nb):  # markup that runs script in whoever opens the feedback page
        _plain_cell(
            nb,
            "from IPython.display import HTML, Markdown, display\n"
            "display(HTML('<img src=x onerror=\"alert(1)\"><script>alert(2)</script>'))\n"
            "display(Markdown('[click](javascript:alert(3))'))",
        )
        nb.cells.insert(1, nbformat.v4.new_markdown_cell("<script>alert(4)</script><svg onload='alert(5)'></svg>"))

    # careless students
    def exits_last(nb):
        _plain_cell(nb, "import os\nos._exit(3)")

    def pasted_foreign(nb):  # a cell pasted from another assignment, metadata included
        _, other = _good_notebook("a06_anomaly_detection")
        pasted = next(c for c in other.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "dice_score")
        nb.cells.insert(3, pasted)

    def stderr(nb):
        _cell(nb, "q_sample").source += "\nimport logging\nlogging.warning('a harmless warning')\n"

    def huge_output(nb):
        _plain_cell(nb, "print('x' * 20_000_000)\nfor i in range(100_000):\n    print(i)", after="q_sample")

    def loop(nb):  # never returns; each call of it runs into the time limit (sleeping: ignores_interrupt spins)
        _wrong(nb, "alphas_cumprod", "import time\nwhile True:\n    time.sleep(0.05)")

    def ignores_interrupt(nb):  # an endless loop that ignores SIGINT, in the answer of q_posterior
        _wrong(nb, "q_posterior", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")

    def edited_test(nb):
        _wrong(nb, "linear_betas", zeros)
        _cell(nb, "test_linear_betas").source = "pass"

    def deleted_test(nb):
        _wrong(nb, "cosine_betas", zeros)
        nb.cells.remove(_cell(nb, "test_cosine_betas"))

    def missing_function(nb):
        cell = _cell(nb, "q_sample")
        cell.source = cell.source.replace("def q_sample(", "def my_q_sample(")

    def links_probe(nb):  # points its probe folder at the previous job's, to take a classmate's values
        _wrong(nb, "linear_betas", zeros)
        _plain_cell(
            nb,
            "import os, sys\n"
            "here = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])  # .../jobs/N/kernel\n"
            "os.chdir(here)\n"
            "jobs = os.path.dirname(os.path.dirname(here))\n"
            "for n in range(8):\n"
            "    target = os.path.join(jobs, str(n), 'kernel', 'probe')\n"
            "    if target != os.path.join(here, 'probe'):\n"
            "        break\n"
            "os.rmdir('probe')\n"
            "os.symlink(target, 'probe')\n"
            "print('LINKED', os.path.islink('probe'))\n",
        )

    def root_on_host(nb):  # who am I on the host? a setuid binary for later, and the host's secrets
        _wrong(nb, "linear_betas", zeros)
        _plain_cell(
            nb,
            "import os, shutil\n"
            "print('UID', os.getuid(), os.geteuid())\n"
            "try:\n"
            "    open('/etc/shadow').read(); print('SHADOW read')\n"
            "except OSError as e:\n"
            "    print('SHADOW', type(e).__name__)\n"
            "shutil.copy('/usr/bin/id', 'suid-id'); os.chmod('suid-id', 0o4755)\n"
            "print('SUID-OWNER', os.stat('suid-id').st_uid)\n",
        )

    def leaks_inputs(nb):  # the hidden inputs, spelled out in the name of an exception raised at check time
        _wrong(
            nb,
            "cosine_betas",
            "raise type(f'Leak{int(num_steps)}x{s}x{max_beta}'.replace('.', '_'), (Exception,), {})()",
        )

    def bomb_values(nb):  # a few bytes on disk, gigabytes once broadcast by the checks
        _wrong(nb, "q_sample", "return torch.zeros(()).expand(x0.shape[0], 2**28)")

    return {
        "links_probe": (
            links_probe,
            ["test_linear_betas", "test_cosine_betas", "test_alphas_cumprod", "test_q_sample", "test_q_posterior"],
            ["did not run"],
        ),
        "root_on_host": (root_on_host, ["test_linear_betas"], ["test_linear_betas"]),
        "leaks_inputs": (leaks_inputs, ["test_cosine_betas"], ["test_cosine_betas"]),
        # (the kernel's own copy of the value fails first; a file written directly: test_grading_sandbox.py)
        "bomb_values": (bomb_values, ["test_q_sample"], ["test_q_sample"]),
        "patch_grader": (patch_grader, ["test_linear_betas"], ["test_linear_betas"]),
        "calls_reference": (reference, ["test_cosine_betas"], ["test_cosine_betas", "ModuleNotFoundError"]),
        "private_and_test_only": (
            private_and_test_only,
            ["test_linear_betas", "test_cosine_betas"],
            ["ModuleNotFoundError"],
        ),
        "reads_course": (reads_course, ["test_alphas_cumprod"], ["test_alphas_cumprod"]),
        "writes_everywhere": (writes_everywhere, ["test_q_sample"], ["test_q_sample"]),
        "kills_and_spawns": (kills_and_spawns, ["test_q_posterior"], ["test_q_posterior"]),
        "network_and_limits": (network_and_limits, ["test_linear_betas"], ["test_linear_betas"]),
        "forges_values": (
            forges_values,
            ["test_cosine_betas"],
            ["test_cosine_betas", "kernel died", "second run"],
        ),
        # the transformer also empties the grader's requests for values: the cheat only harms itself
        "input_transformer": (
            transformer,
            ["test_linear_betas", "test_cosine_betas", "test_alphas_cumprod", "test_q_sample", "test_q_posterior"],
            ["did not run"],
        ),
        "xss_feedback": (xss_feedback, [], []),
        "shadow_torch": (shadow_torch, ["test_q_sample"], ["test_q_sample"]),
        "display_trick": (display_trick, ["test_linear_betas"], ["test_linear_betas", "edited"]),
        "exits_in_last_cell": (exits_last, [], ["kernel died"]),
        "pasted_foreign_cell": (pasted_foreign, [], ["dice_score", "plain cell"]),
        "writes_stderr": (stderr, [], []),
        "huge_output": (huge_output, [], ["truncated"]),
        "endless_loop": (loop, ["test_alphas_cumprod"], ["test_alphas_cumprod", "CellTimeoutError"]),
        "ignores_interrupt": (ignores_interrupt, ["test_q_posterior"], ["test_q_posterior", "did not respond"]),
        "edited_test": (edited_test, ["test_linear_betas"], ["test_linear_betas", "edited"]),
        "deleted_test": (deleted_test, ["test_cosine_betas"], ["test_cosine_betas", "deleted"]),
        "missing_function": (missing_function, ["test_q_sample"], ["test_q_sample", "NameError"]),
    }


def _tree_digest(path: Path, skip=()) -> dict:
    out = {}
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if rel.parts and rel.parts[0] in skip:
            continue
        if p.is_file() and not p.is_symlink():
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _survivors() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if MARKER in cmd or "sleep 600" in cmd:
            found.append(cmd)
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    course = base / "course"
    course.mkdir()
    shutil.copytree(ROOT / "solutions", course / "solutions")
    subs = base / "submissions"
    for assignment in ASSIGNMENTS:
        name, nb = _good_notebook(assignment)
        _plain_cell(nb, _reach_probe(assignment))  # an honest student who also looks for the reference
        (subs / "good" / assignment).mkdir(parents=True)
        nbformat.write(nb, str(subs / "good" / assignment / name))
        (subs / "blank" / assignment).mkdir(parents=True)
        shutil.copy(ROOT / "exercises" / assignment / name, subs / "blank" / assignment / name)
    adversaries = _adversaries(course, subs)
    for student, (build, _, _) in adversaries.items():
        _, nb = _good_notebook(A1)
        build(nb)
        (subs / student / A1).mkdir(parents=True)
        nbformat.write(nb, str(subs / student / A1 / NB1))
    (subs / "shadow_torch" / A1 / "torch.py").write_text("allclose = lambda *a, **k: True\n")
    (subs / "invalid_json" / A1).mkdir(parents=True)
    text = nbformat.writes(_good_notebook(A1)[1])
    (subs / "invalid_json" / A1 / NB1).write_text(text[: len(text) // 2], encoding="utf-8")
    (subs / "renamed_notebook" / A1).mkdir(parents=True)
    nbformat.write(_good_notebook(A1)[1], str(subs / "renamed_notebook" / A1 / "forward_process (1).ipynb"))

    (subs / "good" / A1 / "solutions-link").symlink_to(course / "solutions")  # a link in a zip or a repository
    modes_before = {str(p): p.lstat().st_mode for p in [course, *course.rglob("*")]}
    before_course = _tree_digest(course)
    before_subs = _tree_digest(subs)
    # 3 at a time on 2 cores: the kernels spend part of their time starting up or waiting out a time limit
    results = grading.autograde(subs, root=course, timeout=CELL_TIMEOUT, workers=3, verbose=True)
    return {
        "course": course,
        "subs": subs,
        "results": {(r.student, r.assignment): r for r in results},
        "adversaries": adversaries,
        "before_course": before_course,
        "before_subs": before_subs,
        "survivors": _survivors(),
        "modes_before": modes_before,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _log(result) -> str:
    return result.log_path.read_text(encoding="utf-8")


def _outputs(course, student, assignment=A1, name=NB1) -> str:
    nb = nbformat.read(str(course / "autograded" / student / assignment / name), 4)
    return "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) + str(o.get("evalue", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def test_grading_runs_in_a_sandbox():
    assert ISOLATION == "bwrap", "bubblewrap should be installed (.ci/run installs it)"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_good_notebooks_get_full_marks(graded, assignment):
    r = graded["results"][("good", assignment)]
    assert r.ok and r.max_score > 0 and r.score == r.max_score, _log(r)
    assert r.seconds < 60, f"{assignment} took {r.seconds:.0f} s to grade"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_gets_zero(graded, assignment):
    r = graded["results"][("blank", assignment)]
    assert r.ok and r.max_score > 0 and r.score == 0, _log(r)
    assert "NotImplementedError" in _log(r)


@pytest.mark.parametrize("student", sorted(_adversaries(Path("/c"), Path("/s"))))
def test_each_cheat_or_accident_loses_exactly_its_broken_parts(graded, student):
    results = graded["results"]
    _, broken, words = graded["adversaries"][student]
    r = results[(student, A1)]
    log = _log(r)
    for key, (score, max_score) in r.cell_scores.items():
        expected = 0 if key.split(":")[1] in broken else max_score
        assert (score or 0) == expected, f"{student} {key}: {score} / {max_score}\n{log}"
    assert r.max_score == results[("good", A1)].max_score
    for word in words:
        assert word.lower() in log.lower(), f"the log should name {word!r}:\n{log}"


def test_honest_neighbours_are_unharmed(graded):
    for assignment in ASSIGNMENTS:
        r = graded["results"][("good", assignment)]
        assert r.score == r.max_score


def test_sandbox_sees_nothing_of_the_course_and_cannot_write_or_connect(graded):
    course = graded["course"]
    seen = _outputs(course, "reads_course")
    assert "SEEN []" in seen and "FOUND [] 1 []" in seen, seen  # only its own job folder
    beside = f"BESIDE-VENV {sorted([Path(sys.prefix).name])}"
    assert beside in seen or Path(sys.prefix).parent == Path("/"), seen  # the venv's folder shows nothing else
    assert "grader" not in seen.split("PROCS")[1] and "good" not in seen.split("PROCS")[1]
    wrote = _outputs(course, "writes_everywhere")
    assert "WROTE" not in wrote and wrote.count("BLOCKED") == 5, wrote
    limits = _outputs(course, "network_and_limits")
    assert "NET blocked" in limits and "MEM blocked" in limits and "PROCS stopped at" in limits, limits
    assert "TMP blocked 28" in limits, limits  # ENOSPC: the private /tmp is a size-limited tmpfs
    if os.geteuid() == 0:  # graded by root: the kernel's folder on the host is a tmpfs of Limits.folder_bytes
        assert "FOLDER blocked 28" in limits, limits
    out = _outputs(course, "calls_reference")
    assert "REFSOURCE" not in out and "No module named" in out, "the package copy holds no reference module"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_reference_code_or_test_only_package_is_importable_in_the_kernel(graded, assignment):
    name = _good_notebook(assignment)[0]
    out = _outputs(graded["course"], "good", assignment, name)
    assert "REACHED []" in out, out[-2000:]


def test_no_file_outside_the_sandbox_changed_and_submissions_are_kept_read_only(graded):
    course, subs = graded["course"], graded["subs"]
    assert _tree_digest(subs) == graded["before_subs"]
    after = _tree_digest(course, skip=("autograded", "submitted", "feedback", "gradebook.db"))
    assert after == graded["before_course"]
    kept = course / "submitted" / "good" / A1 / NB1
    assert (
        kept.read_bytes() == (subs / "good" / A1 / NB1).read_bytes()
        and not os.access(kept, os.W_OK)
        or os.getuid() == 0
    )
    assert not (kept.stat().st_mode & 0o222)


def test_no_process_survives(graded):
    assert graded["survivors"] == []


def test_huge_output_is_truncated(graded):
    path = graded["course"] / "autograded" / "huge_output" / A1 / NB1
    assert path.stat().st_size < 2_000_000


def test_invalid_json_and_renamed_notebooks(graded):
    results = graded["results"]
    r = results[("invalid_json", A1)]
    assert r.score == 0 and r.max_score == results[("good", A1)].max_score and "invalid JSON" in _log(r)
    r = results[("renamed_notebook", A1)]
    assert r.score == r.max_score > 0 and "forward_process (1).ipynb" in _log(r)


@pytest.fixture(scope="module")
def feedback(graded):
    """The feedback pages of assignment 1, made once."""
    assert grading.main(["--root", str(graded["course"]), "feedback", A1]) == 0
    return graded["course"] / "feedback"


def test_feedback_is_safe_to_open_offline_and_says_when_a_notebook_was_unreadable(feedback):
    page = (feedback / "xss_feedback" / A1 / NB1.replace(".ipynb", ".html")).read_text(encoding="utf-8")
    body = page[page.index("<body") :]
    assert not re.search(r"<script[^>]*>\s*alert", body) and not re.search(r"<[a-z][^>]*\son\w+\s*=", body)
    assert "<svg" not in body and 'href="javascript' not in body  # (the code cell's source shows them escaped)
    assert "cdnjs" not in page and 'src="mathjax/tex-svg.js"' in page and ">Test: q sample</a>" in page
    assert (feedback / "xss_feedback" / A1 / "mathjax" / "tex-svg.js").is_file()
    unreadable = (feedback / "invalid_json" / A1 / NB1.replace(".ipynb", ".html")).read_text(encoding="utf-8")
    assert "could not be read" in unreadable and "invalid JSON" in unreadable


def test_nothing_hidden_in_feedback_or_logs(graded, feedback):
    course, results = graded["course"], graded["results"]
    secrets, descriptions = set(), set()
    for assignment in ASSIGNMENTS:
        checks = load_checks(ROOT / "solutions" / assignment)
        for cases in checks.checks.values():
            for case in cases:
                lines = (case.setup + "\n" + case.reference).splitlines()
                secrets |= {ln.strip() for ln in lines if len(ln.strip()) > 12}
                descriptions.add(case.message)  # may name inputs (shapes, eta): instructor log only
    others = {s for s, _ in results} - {"good"}
    html = course / "feedback" / "good" / A1 / NB1.replace(".ipynb", ".html")
    assert html.exists() and "Hidden checks passed" in html.read_text(encoding="utf-8")
    for path in list((course / "feedback").rglob("*.html")) + list((course / "autograded").rglob("*.log")):
        text = path.read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, f"{path}: {secret!r}"
        if "feedback" in path.parts:
            assert not any(d in text for d in descriptions if d), path
        if "feedback" in path.parts and path.parts[-3] == "good":
            assert not any(f"/{o}/" in text for o in others)
    failed = (course / "feedback" / "edited_test" / A1 / NB1.replace(".ipynb", ".html")).read_text(encoding="utf-8")
    assert "hidden checks failed" in failed and "values differ from the expected result" in failed


@pytest.fixture(scope="module")
def regraded(graded):
    """One second grading of assignment 1 for the good and the blank student, the good one's folder copied with
    its link kept (a zip or a repository can hold links); shared by the two tests below (one grading run)."""
    course, subs = graded["course"], graded["subs"]
    again = subs.parent / "again"
    shutil.copytree(subs / "good" / A1, again / "good" / A1, symlinks=True)
    shutil.copytree(subs / "blank" / A1, again / "blank" / A1)
    return grading.autograde(again, root=course, assignments=[A1], timeout=CELL_TIMEOUT, verbose=False)


def test_regrading_is_idempotent_and_exports(graded, regraded, tmp_path):
    course, results = graded["course"], graded["results"]
    assert sorted(r.student for r in regraded) == ["blank", "good"]
    for r in regraded:
        assert r.score == results[(r.student, A1)].score
    out = tmp_path / "grades.csv"
    assert grading.main(["--root", str(course), "export", "--to", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    by_key = {(row["student_id"], row["assignment"]): row for row in rows}
    assert len(rows) == len(by_key)  # one row per student and assignment
    for key, r in results.items():
        assert by_key[key]["status"] == "graded" and float(by_key[key]["score"]) == pytest.approx(r.score), key
        assert by_key[key]["timestamp"].endswith(" UTC"), key
    missing = by_key[("edited_test", "a02_ddpm_loss_sampling")]  # work never handed in is not a 0
    assert missing["status"] == "not submitted" and missing["score"] == "" and missing["timestamp"] == ""


def test_no_root_on_the_host_and_no_host_secret(graded):
    out = _outputs(graded["course"], "root_on_host")
    if os.geteuid() == 0:  # run as root: the kernel is the host user nobody, not root mapped into a namespace
        assert "UID 65534 65534" in out and "SUID-OWNER 65534" in out, out
    assert "SHADOW PermissionError" in out and "SHADOW read" not in out, out


def test_a_linked_probe_folder_takes_no_classmate_values(graded):
    assert "LINKED True" in _outputs(graded["course"], "links_probe")
    r = graded["results"][("links_probe", A1)]
    assert r.score == 0, _log(r)  # its own values are unreadable too: the link only harms the cheat


def test_exception_names_carry_no_inputs_into_feedback_or_logs(graded, feedback):
    course = graded["course"]
    texts = [p.read_text(encoding="utf-8") for p in (course / "feedback" / "leaks_inputs").rglob("*.html")]
    texts += [p.read_text(encoding="utf-8") for p in (course / "autograded").rglob("*.log")]
    leaked = {name for t in texts for name in re.findall(r"Leak\d\w*", t)}
    # the visible test cell calls cosine_betas(1000) with the defaults (s 0.008, max_beta 0.999): the student's own
    # error there is theirs to see; the names of the hidden cases (other lengths, offsets, caps) must not appear
    assert texts and leaked <= {"Leak1000x0_008x0_999"}, leaked


def test_the_grader_memory_stays_bounded_whatever_a_kernel_sends(graded):
    # the expanded tensor holds 2**28 elements per item (GiBs in float64 once broadcast): refused at load
    assert graded["peak_rss_kib"] < 3 * 2**20, f"grader peak RSS {graded['peak_rss_kib'] / 2**20:.2f} GiB"


def test_links_in_submissions_are_not_followed_and_modes_are_unchanged(graded, regraded):
    course = graded["course"]
    good = next(r for r in regraded if r.student == "good")
    assert good.score == good.max_score  # a regrade of a submission with a link in it
    assert not (course / "submitted" / "good" / A1 / "solutions-link").exists()
    after = {str(p): p.lstat().st_mode for p in [course, *course.rglob("*")] if str(p) in graded["modes_before"]}
    assert after == graded["modes_before"]
