"""Shipped checkpoints: small models trained by ``python -m dimedia_course.train`` from a checked-in config.

A demo page cannot train long enough while the website is built, so the course ships the EMA weights of
longer runs (float16, a few MB) in ``dimedia_course/checkpoints/<name>.pt``, each with a record
``<name>.json`` beside it (recipe, config hash, training time, machine, sample-quality measures of
:func:`dimedia_course.metrics.sample_quality`). The checkpoint stores the hash of the config it was trained
from (:func:`config_hash`: SHA-256 of the parsed config, so comments and key order do not count);
:func:`load_pretrained` refuses a checkpoint whose config has changed since, with a one-line error that
names the command that retrains it::

    python -m dimedia_course.pretrained retrain cpu_ddpm_axial    # train, export, measure, write the record
    python -m dimedia_course.pretrained publish cpu_ddpm_axial RUN  # the same for a finished train run
    python -m dimedia_course.pretrained check                     # every shipped checkpoint matches its config
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import time
from pathlib import Path

import torch

from dimedia_course.checkpoint import load_checkpoint, save_checkpoint
from dimedia_course.train import CONFIG_DIR, build_model, load_config, spatial_dims, train

__all__ = [
    "CHECKPOINT_DIR",
    "HASH_NEUTRAL",
    "config_hash",
    "config_values_hash",
    "load_pretrained",
    "export_pretrained",
    "real_reference_sets",
    "measure_sampler",
    "FLOW_STEPS",
    "evaluate_pretrained",
    "publish",
    "retrain",
    "main",
]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


#: Fields added to the config after checkpoints were shipped, with the value that trains exactly as before they
#: existed (``None``: the field never changes the weights, e.g. the size of the sample grid drawn at the end).
#: At that value they are left out of :func:`config_hash`, so adding an option does not orphan a checkpoint.
HASH_NEUTRAL = {("train", "lr_min_ratio"): 0.0, ("train", "sample_grid"): None}


def config_hash(cfg) -> str:
    """SHA-256 (first 16 hex digits) of a :class:`~dimedia_course.train.TrainConfig` as sorted JSON (without
    the :data:`HASH_NEUTRAL` fields at their neutral value)."""
    return config_values_hash(dataclasses.asdict(cfg))


def config_values_hash(values: dict) -> str:
    """:func:`config_hash` of a config given as the nested dict ``dataclasses.asdict`` makes (as the training
    command stores it in every run checkpoint)."""
    values = {section: dict(fields) if isinstance(fields, dict) else fields for section, fields in values.items()}
    for (section, key), neutral in HASH_NEUTRAL.items():
        if key in values.get(section, {}) and (neutral is None or values[section][key] == neutral):
            del values[section][key]
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _retrain_hint(name: str) -> str:
    return f"retrain it: python -m dimedia_course.pretrained retrain {name}"


def load_pretrained(name: str, checkpoint_dir=None, config_dir=None) -> dict:
    """Load the shipped checkpoint ``name`` and check it against ``configs/<name>.yaml``.

    Returns ``{"model", "config", "meta"}``: the denoiser in float32 and eval mode with the EMA weights, the
    :class:`~dimedia_course.train.TrainConfig` and the checkpoint's metadata. A missing file or a config whose
    hash differs from the one stored in the checkpoint raises a one-line ``ValueError`` / ``FileNotFoundError``.
    """
    checkpoint_dir = Path(checkpoint_dir or CHECKPOINT_DIR)
    config_path = Path(config_dir or CONFIG_DIR) / f"{name}.yaml"
    path = checkpoint_dir / f"{name}.pt"
    if not config_path.is_file():
        raise FileNotFoundError(f"pretrained {name!r}: no config {config_path}")
    if not path.is_file():
        raise FileNotFoundError(f"pretrained {name!r}: no checkpoint {path}; {_retrain_hint(name)}")
    cfg = load_config(config_path)
    meta = load_checkpoint(path)["meta"]
    expected, stored = config_hash(cfg), meta.get("config_hash")
    if stored != expected:
        raise ValueError(
            f"checkpoint {path.name} was trained from config hash {stored} but {config_path.name} now hashes "
            f"to {expected}; {_retrain_hint(name)}"
        )
    model = build_model(cfg.model, dims=spatial_dims(cfg.data))
    state = load_checkpoint(path)["state_dict"]
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return {"model": model.eval(), "config": cfg, "meta": meta}


def export_pretrained(run_dir, name: str, config_path=None, checkpoint_dir=None, **meta) -> Path:
    """Write the EMA weights (float16) of the run in ``run_dir`` (``checkpoint.pt`` of
    :func:`dimedia_course.train.train`) to ``<checkpoint_dir>/<name>.pt`` with the config hash."""
    config_path = Path(config_path or CONFIG_DIR / f"{name}.yaml")
    cfg = load_config(config_path)
    run = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    trained, step = run["meta"].get("config"), int(run["meta"]["step"])
    trained_hash, expected = (None if trained is None else config_values_hash(trained)), config_hash(cfg)
    if trained_hash != expected:
        raise ValueError(
            f"{run_dir}: this run was not trained from {config_path.name} as it is now (config hash "
            f"{trained_hash} vs {expected}); {_retrain_hint(name)}"
        )
    if step != cfg.train.steps:
        raise ValueError(
            f"{run_dir}: this run stopped at step {step} of {cfg.train.steps}; finish it with "
            f"python -m dimedia_course.train {config_path} --out {run_dir} --resume"
        )
    ema = run["states"].get("ema")
    weights = ema if ema is not None else run["state_dict"]
    model = build_model(cfg.model, dims=spatial_dims(cfg.data))
    model.load_state_dict(weights)
    path = Path(checkpoint_dir or CHECKPOINT_DIR) / f"{name}.pt"
    return save_checkpoint(
        path,
        model.half(),
        config_hash=expected,
        config=dataclasses.asdict(cfg),
        step=step,
        **meta,
    )


def real_reference_sets(cfg, n: int = 256) -> dict:
    """The real images of the quality measures of a config on MNI152: the training set of the config, a
    held-out set and a second real set of ``n`` images each (fresh augmentation draws, seeds 1 and 2), with
    their ``*_labels`` for ``mni152-levels``. Slices are ordered by slice position: take a subset with a
    stride, never the first ``k``."""
    from dimedia_course.data import load_dataset

    if cfg.data.name not in ("mni152", "mni152-levels", "mni152-3d"):
        raise ValueError(f"real_reference_sets: data.name must be an MNI152 dataset, got {cfg.data.name!r}")
    out = {}
    for key, (count, seed) in {"train": (cfg.data.n, 0), "held_out": (n, 1), "reference": (n, 2)}.items():
        out[key], labels = load_dataset(cfg.data.name, size=cfg.data.size, n=count, seed=seed)
        if labels is not None:
            out[f"{key}_labels"] = labels
    return out


def _features(x, cfg):
    from dimedia_course.metrics import central_slices

    return central_slices(x) if spatial_dims(cfg.data) == 3 else x


def measure_sampler(model, scheduler, num_inference_steps, count: int, real: dict, seed: int = 0) -> dict:
    """Sample ``count`` images with ``scheduler`` in ``num_inference_steps`` steps (``None``: all of them)
    through :func:`dimedia_course.sampling.sample` and measure them with
    :func:`dimedia_course.metrics.sample_quality` against ``real`` (:func:`real_reference_sets`; the floor is
    ``count`` reference slices spread over the slice positions). Adds ``n`` and ``sampling_seconds``."""
    from dimedia_course import make_generator
    from dimedia_course.metrics import sample_quality
    from dimedia_course.sampling import sample

    size = real["held_out"].shape[-1]
    tic = time.perf_counter()
    with torch.no_grad():
        x = sample(
            model,
            scheduler,
            (count, 1, size, size),
            num_inference_steps=num_inference_steps,
            generator=make_generator(seed),
        )
    n = real["reference"].shape[0]
    spread = torch.linspace(0, n - 1, count).round().long()  # the reference is ordered by slice position
    quality = sample_quality(x, real["train"], real["held_out"], real["reference"][spread])
    out = {k: round(v, 6) for k, v in quality.items()}
    return out | {"n": count, "sampling_seconds": round(time.perf_counter() - tic)}


FLOW_STEPS = (10, 25, 50)


def evaluate_pretrained(model, cfg, n: int = 256, n_ddpm: int = 32, seed: int = 0) -> dict:
    """Sample ``n`` images with DDIM-50 and ``n_ddpm`` with DDPM-1000 (``0``: none; 1000 network calls are
    slow on a CPU) and measure each set against the real sets of :func:`real_reference_sets` with
    :func:`dimedia_course.metrics.sample_quality` (its floor: as many real reference images as samples;
    volumes are measured on their central slices, :func:`dimedia_course.metrics.central_slices`, with DDIM only).

    A class-conditional model is measured per guidance scale (0, 1, 3) with DDIM-50, half of the samples per
    class: ``sample_quality`` against the held-out images, and ``judge_accuracy``: the fraction of samples a
    judge classifier (:func:`dimedia_course.nn.fit_judge`, trained on the training set) assigns to the
    requested class, next to ``judge_accuracy_real`` on the held-out real images.

    A rectified-flow config (``prediction_type: flow_velocity``) is sampled instead with Euler steps at each of
    :data:`FLOW_STEPS` (keys ``flow10``, ``flow25``, ``flow50``; :func:`measure_sampler`)."""
    from dimedia_course import make_generator
    from dimedia_course.metrics import sample_quality
    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler
    from dimedia_course.train import build_flow_scheduler

    if spatial_dims(cfg.data) == 3:
        n_ddpm = 0  # 1000 network calls per volume: hours on a CPU
    real = real_reference_sets(cfg, n)
    s = cfg.schedule
    if s.prediction_type == "flow_velocity":
        if spatial_dims(cfg.data) != 2 or cfg.model.num_classes is not None:
            raise ValueError("evaluate_pretrained: a flow_velocity config is measured for unconditional 2D images only")
        return {f"flow{k}": measure_sampler(model, build_flow_scheduler(s), k, n, real, seed) for k in FLOW_STEPS}
    shape = (1,) + (cfg.data.size,) * spatial_dims(cfg.data)
    conditional = cfg.model.num_classes is not None
    runs = {"ddim50": (DDIMScheduler, 50, n, None)}
    if conditional:
        runs = {f"ddim50_s{g:g}": (DDIMScheduler, 50, n, g) for g in (0.0, 1.0, 3.0)}
        from dimedia_course.nn import fit_judge, judge_accuracy

        judge = fit_judge(real["train"], real["train_labels"], seed=seed)
    elif n_ddpm:
        runs["ddpm1000"] = (DDPMScheduler, None, n_ddpm, None)
    out = {}
    for key, (cls, steps, count, guidance) in runs.items():
        scheduler = cls(s.num_train_timesteps, s.schedule, prediction_type=s.prediction_type)
        y = None if not conditional else torch.arange(cfg.model.num_classes).repeat_interleave(count // 2)
        count = count if y is None else len(y)
        tic = time.perf_counter()
        with torch.no_grad():
            x = sample(
                model,
                scheduler,
                (count, *shape),
                num_inference_steps=steps,
                generator=make_generator(seed),
                y=y,
                guidance_scale=1.0 if guidance is None else guidance,
            )
        spread = torch.linspace(0, n - 1, count).round().long()  # the reference is ordered by slice position
        quality = sample_quality(
            _features(x, cfg),
            _features(real["train"], cfg),
            _features(real["held_out"], cfg),
            _features(real["reference"][spread], cfg),
        )
        if conditional:
            quality["judge_accuracy"] = judge_accuracy(judge, x, y)
            quality["judge_accuracy_real"] = judge_accuracy(judge, real["held_out"], real["held_out_labels"])
        out[key] = {k: round(v, 6) for k, v in quality.items()}
        out[key] |= {"n": count, "sampling_seconds": round(time.perf_counter() - tic)}
    return out


def publish(name: str, run_dir, n_eval: int | None = None) -> dict:
    """Export the finished run in ``run_dir`` of ``configs/<name>.yaml``, measure it and write the record
    ``<name>.json`` beside the checkpoint (training time: the last row of the run's ``metrics.csv``)."""
    import csv

    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    if n_eval is None:  # 64 volumes cost about as much CPU time as 256 images
        n_eval = 64 if spatial_dims(cfg.data) == 3 else 256
    with (Path(run_dir) / "metrics.csv").open() as fh:
        minutes = float(list(csv.DictReader(fh))[-1]["seconds"]) / 60
    machine = f"{platform.machine()}, {torch.get_num_threads()} CPU thread(s), no GPU"
    path = export_pretrained(run_dir, name, training_minutes=round(minutes, 2), machine=machine)
    model = load_pretrained(name)["model"]
    record = {
        "name": name,
        "config": f"dimedia_course/configs/{name}.yaml",
        "config_hash": config_hash(cfg),
        "recipe": dataclasses.asdict(cfg),
        "training_minutes": round(minutes, 2),
        "machine": machine,
        "checkpoint": f"dimedia_course/checkpoints/{path.name}",
        "checkpoint_bytes": path.stat().st_size,
        "metrics": evaluate_pretrained(model, cfg, n_eval),
        "metrics_note": "sample_quality of dimedia_course.metrics: n samples vs n held-out real slices; the "
        "_floor values are a second set of n real slices measured the same way",
        "retrain": f"python -m dimedia_course.pretrained retrain {name}",
    }
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def retrain(name: str, out_dir=None, n_eval: int | None = None) -> dict:
    """Train ``configs/<name>.yaml`` with :func:`dimedia_course.train.train`, then :func:`publish` it."""
    out_dir = Path(out_dir or Path("runs") / name)
    train(load_config(CONFIG_DIR / f"{name}.yaml"), out_dir, progress=False)
    return publish(name, out_dir, n_eval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dimedia_course.pretrained", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("retrain", help="train, export and measure one shipped checkpoint")
    r.add_argument("name", help="config name in dimedia_course/configs (without .yaml)")
    r.add_argument("--out", type=Path, default=None, help="run folder (default runs/<name>)")
    p = sub.add_parser("publish", help="export and measure a finished run of `python -m dimedia_course.train`")
    p.add_argument("name", help="config name in dimedia_course/configs (without .yaml)")
    p.add_argument("run_dir", type=Path, help="the --out folder of that run")
    sub.add_parser("check", help="check every shipped checkpoint against its config")
    args = parser.parse_args(argv)
    if args.command in ("retrain", "publish"):
        record = retrain(args.name, args.out) if args.command == "retrain" else publish(args.name, args.run_dir)
        print(json.dumps(record["metrics"], indent=2))
        return 0
    for path in sorted(CHECKPOINT_DIR.glob("*.pt")):
        load_pretrained(path.stem)
        print(f"{path.name}: matches {path.stem}.yaml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
