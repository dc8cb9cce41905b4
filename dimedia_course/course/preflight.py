"""Preflight: check that a machine can run the course before the workshop starts (well under 30 s on a laptop).

``python -m dimedia_course.course.preflight [--requirements FILE]`` checks the Python version, the installed
versions against the pinned ``requirements.txt`` (the course's or the student bundle's), the compute device and
threads, the offline data (the MNI152 template shipped with nilearn), the time of one training step of the
course's small UNet and one tiny DDIM sample. It prints one line per check and, for every failure, what to do;
the exit status is 1 if any check failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["Check", "check_python", "check_versions", "run_checks", "main"]

_COURSE_REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
#: The course repository's pins when run from a checkout; in an installed package (a student environment made
#: from the bundle) ``requirements.txt`` of the current folder, the unpacked bundle.
DEFAULT_REQUIREMENTS = _COURSE_REQUIREMENTS if _COURSE_REQUIREMENTS.is_file() else Path("requirements.txt")


@dataclass
class Check:
    """One line of the report: ``ok`` or not, what was found, and what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_python(version=None) -> Check:
    version = tuple(sys.version_info[:2] if version is None else version)
    ok = version >= (3, 10)
    fix = "install Python 3.10 or newer and create the virtual environment again" if not ok else ""
    return Check("python", ok, ".".join(map(str, version)), fix)


def check_versions(requirements: Path) -> Check:
    """Every ``name==version`` pin of ``requirements`` installed at exactly that version."""
    requirements = Path(requirements)
    if not requirements.is_file():
        return Check("versions", False, f"{requirements} not found", "pass --requirements PATH/requirements.txt")
    wrong = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" not in line:
            continue
        name, want = (part.strip() for part in line.split("==", 1))
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have is None or have.split("+")[0] != want:  # a local label (torch 2.13.0+cpu) is the same release
            wrong.append(f"{name} {have or 'missing'} (want {want})")
    if wrong:
        return Check("versions", False, "; ".join(wrong), f"pip install -r {requirements}")
    return Check("versions", True, f"all pins of {requirements.name} installed")


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_checks(requirements: Path = DEFAULT_REQUIREMENTS) -> list[Check]:
    """All checks, in order; later ones are skipped (failed with a reason) when torch is unusable."""
    checks = [check_python(), check_versions(requirements)]
    try:
        import torch

        from dimedia_course import get_device
    except Exception as err:  # noqa: BLE001 - report any import problem as a failed check
        checks.append(Check("torch", False, f"cannot import: {err}", f"pip install -r {requirements}"))
        return checks
    device = get_device()
    checks.append(Check("device", True, f"{device} ({torch.get_num_threads()} CPU threads, torch {torch.__version__})"))
    try:
        from dimedia_course.data import mni152_slices

        images, seconds = _timed(lambda: mni152_slices(n=16, size=32, seed=0))
        checks.append(Check("data", True, f"MNI152 slices {tuple(images.shape)} in {seconds:.1f} s (offline)"))
    except Exception as err:  # noqa: BLE001
        checks.append(Check("data", False, f"MNI152 template: {err}", "pip install nilearn (it ships the template)"))
        return checks
    from dimedia_course import make_generator
    from dimedia_course.losses import diffusion_loss
    from dimedia_course.nn import SmallUNet
    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import DDIMScheduler

    torch.manual_seed(0)
    model = SmallUNet(base_channels=16).to(device)
    scheduler = DDIMScheduler(1000)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = images[:8].to(device)

    def step():
        loss = diffusion_loss(model, batch, scheduler, generator=make_generator(0, device=device))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    step()  # warm-up
    loss, seconds = _timed(step)
    fast = seconds < 2.0
    checks.append(
        Check(
            "training step",
            fast,
            f"{seconds * 1000:.0f} ms for a batch of 8 at 32 x 32 (loss {loss:.3f})",
            "" if fast else "close other programs or set OMP_NUM_THREADS=1; the demos will be slow on this machine",
        )
    )
    out, seconds = _timed(lambda: sample(model, scheduler, (2, 1, 32, 32), num_inference_steps=5, generator=None))
    finite = bool(torch.isfinite(out).all())
    checks.append(
        Check("sampling", finite, f"5 DDIM steps in {seconds:.2f} s", "" if finite else "reinstall torch: NaN samples")
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dimedia_course.course.preflight", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS, help="pinned requirements file")
    args = parser.parse_args(argv)
    checks = run_checks(args.requirements)
    for c in checks:
        print(f"[{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" + (f"\n       fix: {c.fix}" if c.fix else ""))
    failed = [c for c in checks if not c.ok]
    print("ready for the course" if not failed else f"{len(failed)} check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
