"""The student bundle: what students get instead of the course repository (which holds ``solutions/``).

``python -m dimedia_course.grading bundle [--out DIR]`` writes ``DIR/dimedia-student-bundle.zip`` with

- ``exercises/<assignment>/<notebook>.ipynb``: the release notebooks (checked for leaks first);
- ``dimedia_course-<version>-py3-none-any.whl``: the course package, built by pip from ``pyproject.toml``
  (it contains the package only: no ``solutions/``, no tests, no book);
- ``requirements.txt``: the exact versions of the packages the notebooks and the grader use (from the
  course's pinned ``requirements.txt``, without the website, grading and test tools);
- ``README.md``: how to install, work and hand in.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["BUNDLE_NAME", "STUDENT_EXCLUDED", "student_requirements", "write_bundle"]

BUNDLE_NAME = "dimedia-student-bundle"

#: Pinned packages students do not need (website, grading, tests, benchmarks).
STUDENT_EXCLUDED = (
    "jupyter-book",
    "sphinx-mathjax-offline",
    "sphinxcontrib-bibtex",
    "sphinx-revealjs",
    "jupytext",
    "nbgrader",
    "nh3",
    "pytest",
    "pytest-timeout",
    "pytest-xdist",
    "execnet",
    "ruff",
    "diffusers",
    "httpx2",
    "httpcore2",
    "truststore",
    "scikit-learn",
)

_README = """# DiMEDIA exercises: student bundle

This bundle holds the NOTEBOOK_COUNT exercise notebooks of the DiMEDIA course, the course package `dimedia_course` and
the exact versions of the packages used for grading. It needs Python 3.10 or newer; no GPU and no internet
access while you work (only to install the packages once).

## Install

Unpack the bundle, open a terminal in the unpacked folder `dimedia-student-bundle` and create a virtual
environment there (Python 3.10 or newer):

```bash
python -m venv .venv
source .venv/bin/activate            # Windows: .venv\\Scripts\\activate
```

Linux only: the default `torch` wheel for Linux is the CUDA build (several GB). The exercises need no GPU; install
the CPU-only build first (macOS and Windows get a CPU build by default, skip this line):

```bash
pip install torch==TORCH_VERSION --index-url https://download.pytorch.org/whl/cpu
```

Then, on every system:

```bash
pip install -r requirements.txt      # the exact versions, JupyterLab and the course package (the .whl here)
python -m dimedia_course.course.preflight   # a few seconds: versions, device, data, one training step
jupyter lab exercises/
```

## Work

Write code only where a notebook says `YOUR CODE HERE`, keep the function names and do not edit or delete the
test cells. The visible tests check shapes and simple properties; the grader runs hidden checks on other
inputs, with the course package's own versions of the functions you write switched off.

## Hand in

Restart the kernel and run all cells, save, and hand in the notebook under its original file name as your
instructor asks. You get back a feedback page with your score per part.
"""


def student_requirements(requirements: Path, wheel: str | None = None) -> str:
    """The course's pinned requirements without the tools students do not need (comments kept), plus JupyterLab
    at the version installed next to nbgrader, and the course package's wheel file name when given (so that
    ``pip install -r requirements.txt`` in the unpacked bundle installs everything)."""
    from importlib import metadata

    lines = []
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        name = line.split("==")[0].split("[")[0].strip().lower()
        if name and not name.startswith("#") and name in STUDENT_EXCLUDED:
            continue
        lines.append(line)
    lines.append(f"jupyterlab=={metadata.version('jupyterlab')}  # to open the notebooks")
    if wheel:
        lines.append(f"./{wheel}  # the course package dimedia_course (in this folder)")
    return "\n".join(lines).rstrip() + "\n"


def _torch_version(requirements: Path) -> str:
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        if line.split("==")[0].strip().lower() == "torch":
            return line.split("==", 1)[1].split("#")[0].strip()
    raise RuntimeError(f"{requirements}: no torch==VERSION pin")


def _build_wheel(root: Path, out: Path) -> Path:
    """Build the package wheel from a clean copy (setuptools writes build/ and *.egg-info next to its sources)."""
    src = out / "src"
    shutil.copytree(root / "dimedia_course", src / "dimedia_course", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT"):
        shutil.copy(root / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(out.glob("dimedia_course-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"building the dimedia_course wheel failed:\n{result.stdout}{result.stderr}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        stray = [n for n in wheel.namelist() if not n.startswith(("dimedia_course/", "dimedia_course-"))]
    if stray:
        raise RuntimeError(f"the wheel holds files outside the package: {stray[:5]}")
    return wheels[0]


def write_bundle(out_dir, root=None) -> Path:
    """Write ``<out_dir>/dimedia-student-bundle.zip`` (see the module docstring) and return its path.

    Refuses (``RuntimeError``) when the release is stale or leaks solutions, hidden tests or stray files
    (:func:`dimedia_course.grading.check_release`).
    """
    from dimedia_course.grading.release import check_release
    from dimedia_course.grading.settings import COURSE_ROOT, RELEASE_DIR

    root = Path(COURSE_ROOT if root is None else root).resolve()
    problems = check_release(root)
    if problems:
        raise RuntimeError("the release is not fit to hand out:\n" + "\n".join(problems))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{BUNDLE_NAME}.zip"
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _build_wheel(root, Path(tmp))
        partial = Path(tmp) / f"{BUNDLE_NAME}.zip"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for notebook in sorted((root / RELEASE_DIR).glob("*/*.ipynb")):
                bundle.write(notebook, f"{BUNDLE_NAME}/{notebook.relative_to(root).as_posix()}")
            bundle.write(wheel, f"{BUNDLE_NAME}/{wheel.name}")
            bundle.writestr(
                f"{BUNDLE_NAME}/requirements.txt", student_requirements(root / "requirements.txt", wheel.name)
            )
            readme = _README.replace("TORCH_VERSION", _torch_version(root / "requirements.txt"))
            readme = readme.replace("NOTEBOOK_COUNT", str(len(list((root / RELEASE_DIR).glob("*/*.ipynb")))))
            bundle.writestr(f"{BUNDLE_NAME}/README.md", readme)
        shutil.move(str(partial), target)  # complete or absent: never a half-written bundle
    return target
