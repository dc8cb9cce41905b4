"""The probe that tries to import reference code (shared by the grading tests): one script, two callers."""

from __future__ import annotations

import json


def reach_probe(names) -> str:
    """Python source that tries to import each ``"module:qualname"`` of ``names`` (an empty qualname: the
    module itself) and prints ``REACHED [...]``, the JSON list of those it could reach."""
    return (
        "import importlib, json\n"
        "reached = []\n"
        f"for name in {list(names)!r}:\n"
        "    module, _, qualname = name.partition(':')\n"
        "    try:\n"
        "        obj = importlib.import_module(module)\n"
        "        for part in filter(None, qualname.split('.')):\n"
        "            obj = getattr(obj, part)\n"
        "        reached.append(name)\n"
        "    except Exception:\n"
        "        pass\n"
        "print('REACHED', json.dumps(reached))\n"
    )


def reached(output: str) -> list[str]:
    """The list printed by the last ``REACHED`` line of a probe's output."""
    line = [ln for ln in output.splitlines() if ln.startswith("REACHED ")][-1]
    return json.loads(line[len("REACHED ") :])
