"""Grader-side checks: what a hidden test is, and how the trusted grader judges a student's value.

A hidden test of the course is a list of :class:`Case` objects per autograded test cell, kept in the
instructor-only file ``solutions/<assignment>/grader_checks.py`` (never released). A case is evaluated in
two places:

- in the student's sandboxed kernel (:mod:`dimedia_course.grading.runner`): ``setup`` runs in a copy of the
  notebook's namespace, the ``given`` values computed by the grader are added, and the ``student``
  expression's value is sent back as plain data (tensors, numbers, strings, containers of these);
- in the grader's own process: the same ``setup`` runs after the release notebook's read-only set-up cell,
  the ``reference`` expression gives the expected value, and ``compare(got, expected)`` decides.

Nothing the student's kernel does can change the expected value or the comparison: they never enter it.
Messages of the comparators say *what* is wrong, never the inputs or the expected values.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dimedia_course.grading.settings import RELEASE_DIR, SOURCE_DIR

__all__ = [
    "Case",
    "all_of",
    "error_of",
    "evaluate_in_process",
    "expected_values",
    "is_error",
    "judge",
    "load_assignment_checks",
    "load_checks",
    "public_name",
    "release_prelude",
    "raises",
    "scalar_close",
    "tensor_close",
    "tensor_equal",
    "tuple_of",
]

Compare = Callable[[object, object], "str | None"]


@dataclass(frozen=True)
class Case:
    """One hidden check of an autograded test cell.

    setup:     Python statements run on both sides (student kernel and grader) after the notebook's set-up
               cell; may build inputs from ``torch`` and the notebook's helpers, never the reference.
    student:   expression evaluated in the student's kernel (their functions + the setup's names + given).
    reference: expression evaluated in the grader (may use the reference imports of the checks module).
    compare:   ``compare(got, expected) -> None`` when right, else a short message without values.
    given:     name -> grader-side expression whose value (a tensor or number) is handed to the student
               side, for inputs that need the reference (e.g. a scheduler's timesteps).
    message:   what the case checks, in words shown in feedback.
    """

    setup: str
    student: str
    reference: str
    compare: Compare
    given: dict = field(default_factory=dict)
    message: str = ""


# ----------------------------------------------------------------------------------------------
# Values coming back from a kernel: plain data; errors and unsupported values as marked dicts
# ----------------------------------------------------------------------------------------------
def error_of(exc: BaseException) -> dict:
    """How a kernel reports an exception raised by the student expression."""
    return {"__error__": type(exc).__name__, "message": str(exc)[:200]}


def is_error(value) -> bool:
    return isinstance(value, dict) and "__error__" in value


#: The exception and type names feedback may repeat: a fixed vocabulary. Anything else a kernel reports (a class
#: it made up, whose name could spell out the hidden inputs) is only "an exception" / "an object".
KNOWN_EXCEPTIONS = frozenset(
    "ArithmeticError AssertionError AttributeError IndexError KeyError LookupError MemoryError NameError "
    "NotImplementedError OverflowError RecursionError RuntimeError StopIteration TypeError UnboundLocalError "
    "ValueError ZeroDivisionError ImportError ModuleNotFoundError KeyboardInterrupt SystemExit".split()
)
KNOWN_TYPES = frozenset(
    "bool int float complex str bytes list tuple dict set frozenset NoneType ndarray Tensor Parameter "
    "function method generator module type".split()
)


#: Elements a per-item comparison may broadcast to (32 MiB in float64).
MAX_BROADCAST = 2**22


def public_name(name, known=KNOWN_EXCEPTIONS, other: str = "an exception") -> str:
    """``name`` if it is in the vocabulary ``known``, else ``other`` (for names that come from a kernel)."""
    return name if isinstance(name, str) and name in known else other


def _describe(value) -> str:
    if is_error(value):
        return f"raised {public_name(value['__error__'])}"
    if isinstance(value, dict) and "__unsupported__" in value:
        return f"returned an object of type {public_name(value['__unsupported__'], KNOWN_TYPES, 'unsupported')}"
    return f"returned {public_name(type(value).__name__, KNOWN_TYPES, 'an unsupported value')}"


# ----------------------------------------------------------------------------------------------
# Comparators (trusted): messages never contain values or inputs
# ----------------------------------------------------------------------------------------------
def tensor_close(rtol: float, atol: float, *, dtype: torch.dtype | None = None, per_item: bool = False) -> Compare:
    """A tensor of the expected shape, of ``dtype`` if given, finite where the expected value is finite, and
    close in float64: ``|got - exp| <= atol + rtol |exp|``. With ``per_item``, any shape that holds one
    value per batch item or one per element is accepted (e.g. a variance of shape (B,), (B, 1, 1, 1) or
    (B, C, H, W)): both are flattened to (B, -1) and broadcast."""

    def compare(got, expected):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, {_describe(got)}"
        if dtype is not None and got.dtype != dtype:
            return f"expected dtype {str(dtype).replace('torch.', '')}, got {str(got.dtype).replace('torch.', '')}"
        exp = torch.as_tensor(expected)
        if got.numel() == 0 and exp.numel() > 0:
            return f"wrong shape {tuple(got.shape)} (no values)"
        if per_item:
            batch = exp.shape[0]
            if got.ndim == 0 or got.shape[0] != batch:
                return f"expected one value per batch item, got shape {tuple(got.shape)}"
            got, exp = got.reshape(batch, -1), exp.reshape(batch, -1)
            if got.shape[1] != exp.shape[1] and 1 not in (got.shape[1], exp.shape[1]):
                return f"wrong shape {tuple(got.shape)}"
            if batch * max(got.shape[1], exp.shape[1]) > MAX_BROADCAST:  # the grader's memory stays bounded
                return f"wrong shape {tuple(got.shape)} (too many values)"
            got, exp = torch.broadcast_tensors(got, exp)
        elif tuple(got.shape) != tuple(exp.shape):
            return f"wrong shape {tuple(got.shape)}"
        if got.is_complex() or got.dtype == torch.bool:
            return f"unexpected dtype {got.dtype}"
        g, e = got.detach().double(), exp.detach().double()
        if bool((torch.isfinite(e) & ~torch.isfinite(g)).any()):
            return "the result has NaN or infinite values"
        if not torch.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
            return "values differ from the expected result"
        return None

    return compare


def tensor_equal(*, dtype: torch.dtype | None = None) -> Compare:
    """A tensor equal to the expected one (same shape, exactly the same values; dtype if given)."""

    def compare(got, expected):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, {_describe(got)}"
        if dtype is not None and got.dtype != dtype:
            return f"expected dtype {str(dtype).replace('torch.', '')}, got {str(got.dtype).replace('torch.', '')}"
        if tuple(got.shape) != tuple(expected.shape):
            return f"wrong shape {tuple(got.shape)}"
        if not torch.equal(got.detach().to(expected.dtype), expected):
            return "values differ from the expected result"
        return None

    return compare


def scalar_close(rtol: float, atol: float, *, kind: type | None = None) -> Compare:
    """A number close to the expected one. ``kind=float`` demands a Python float, ``kind=torch.Tensor``
    a 0-d tensor; without ``kind`` any real number or 0-d/1-element tensor is accepted."""

    def compare(got, expected):
        if kind is torch.Tensor:
            if not isinstance(got, torch.Tensor):
                return f"expected a 0-d tensor, {_describe(got)}"
            if got.ndim != 0:
                return f"expected a 0-d tensor, got shape {tuple(got.shape)}"
        elif kind is float:
            if not isinstance(got, float):
                return f"expected a Python float, {_describe(got)}"
        if isinstance(got, torch.Tensor):
            if got.numel() != 1:
                return f"expected a single number, got a tensor of shape {tuple(got.shape)}"
            got = got.detach().double().item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"expected a number, {_describe(got)}"
        exp = float(expected.item() if isinstance(expected, torch.Tensor) else expected)
        if not math.isfinite(got):
            return "the result is NaN or infinite"
        if abs(got - exp) > atol + rtol * abs(exp):
            return "the value differs from the expected result"
        return None

    return compare


def raises(*names: str) -> Compare:
    """The student expression must raise an exception of one of these class names (the expected value
    is ignored)."""

    def compare(got, expected):
        if is_error(got) and got["__error__"] in names:
            return None
        return f"expected {' or '.join(names)} to be raised, {_describe(got)}"

    compare.accepts_errors = True
    return compare


def tuple_of(*parts: Compare) -> Compare:
    """A tuple or list with one comparator per element."""

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != len(parts):
            return f"expected a tuple of {len(parts)} values, {_describe(got)}"
        for i, (part, g, e) in enumerate(zip(parts, got, expected, strict=True)):
            problem = part(g, e)
            if problem:
                return f"element {i}: {problem}"
        return None

    return compare


def all_of(*comparators: Compare) -> Compare:
    """Every comparator must accept the value (the first problem is reported)."""

    def compare(got, expected):
        for comparator in comparators:
            problem = comparator(got, expected)
            if problem:
                return problem
        return None

    return compare


# ----------------------------------------------------------------------------------------------
# Loading checks and computing expected values (grader side)
# ----------------------------------------------------------------------------------------------
@dataclass
class AssignmentChecks:
    """The contents of one ``grader_checks.py``."""

    notebook: str
    prelude: str  # the release notebook's read-only set-up code (filled in by the grader)
    reference_imports: str
    blocked: list
    checks: dict  # grade_id -> [Case, ...]


def load_checks(assignment_dir) -> AssignmentChecks:
    """Import ``<assignment_dir>/grader_checks.py`` by path (it is not part of any package)."""
    path = Path(assignment_dir) / "grader_checks.py"
    if not path.is_file():
        raise FileNotFoundError(f"assignment_dir: no grader_checks.py in {assignment_dir}")
    spec = importlib.util.spec_from_file_location(f"_grader_checks_{Path(assignment_dir).name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("NOTEBOOK", "BLOCKED", "CHECKS"):
        if not hasattr(module, name):
            raise ValueError(f"{path}: missing {name}")
    for gid, cases in module.CHECKS.items():
        if not cases or not all(isinstance(c, Case) for c in cases):
            raise ValueError(f"{path}: CHECKS[{gid!r}] must be a non-empty list of Case")
    return AssignmentChecks(
        notebook=module.NOTEBOOK,
        prelude="",
        reference_imports=getattr(module, "REFERENCE_IMPORTS", ""),
        blocked=list(module.BLOCKED),
        checks=dict(module.CHECKS),
    )


def setup_namespace(prelude: str) -> dict:
    """A fresh namespace with the notebook's set-up cell run in it (warnings silenced)."""
    import warnings

    ns: dict = {"__name__": "__grader__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(prelude, ns)  # noqa: S102 (instructor-owned source from the release notebook)
    return ns


def expected_values(checks: AssignmentChecks) -> dict:
    """Grader side: ``{grade_id: [(given, expected), ...]}`` for every case (an exception in the reference
    is a bug in the checks, so it propagates)."""
    import warnings

    out = {}
    base = setup_namespace(checks.prelude)
    exec(checks.reference_imports, base)  # noqa: S102 (instructor-owned)
    for gid, cases in checks.checks.items():
        out[gid] = []
        for case in cases:
            ns = dict(base)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(case.setup, ns)  # noqa: S102
                given = {name: eval(expr, ns) for name, expr in case.given.items()}  # noqa: S307
                ns.update(given)
                expected = eval(case.reference, ns)  # noqa: S307
            out[gid].append((given, expected))
    return out


def judge(case: Case, got, expected) -> str | None:
    """Trusted verdict for one case: ``None`` if right, else what is wrong, in words safe to show the student
    (no input, no expected value; ``case.message`` says which case it was, for the instructor's log)."""
    if is_error(got) and not getattr(case.compare, "accepts_errors", False):
        return _describe(got)
    try:
        return case.compare(got, expected)
    except Exception as err:  # noqa: BLE001 (a strange value must never crash the grader)
        return f"the result could not be compared ({type(err).__name__})"


def evaluate_in_process(checks: AssignmentChecks, functions: dict, expected: dict | None = None) -> dict:
    """Test helper (never used to grade students): run every case with ``functions`` (the candidate's
    answers, e.g. from ``exec`` of a solution variant) in this process and judge it.
    Returns ``{grade_id: [message or None, ...]}``."""
    import warnings

    expected = expected if expected is not None else expected_values(checks)
    verdicts = {}
    for gid, cases in checks.checks.items():
        verdicts[gid] = []
        for case, (given, exp) in zip(cases, expected[gid], strict=True):
            ns = setup_namespace(checks.prelude)
            ns.update(functions)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exec(case.setup, ns)  # noqa: S102
                    ns.update(given)
                    got = eval(case.student, ns)  # noqa: S307
            except Exception as err:  # noqa: BLE001
                got = error_of(err)
            verdicts[gid].append(judge(case, got, exp))
    return verdicts


def release_prelude(notebook_path) -> str:
    """The read-only set-up code of a release notebook (its locked code cells that are neither answers nor
    tests), which defines the notebook's helpers (toy models, data)."""
    import nbformat

    nb = nbformat.read(str(notebook_path), as_version=4)
    parts = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("locked") and not meta.get("grade") and not meta.get("solution"):
            parts.append(cell.source)
    return "\n\n".join(parts)


def load_assignment_checks(root, assignment: str, release_dir=RELEASE_DIR) -> AssignmentChecks:
    """Checks of ``root/solutions/<assignment>`` with the prelude taken from the release notebook in
    ``root/release_dir`` (``release_dir`` may also be an absolute folder, e.g. a fresh release)."""
    root = Path(root)
    checks = load_checks(root / SOURCE_DIR / assignment)
    checks.prelude = release_prelude(root / release_dir / assignment / checks.notebook)
    return checks
