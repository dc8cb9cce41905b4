"""Timing benchmark of the course's core pieces on the current device.

Usage::

    python -m dimedia_course.course.benchmarks.core [--quick] [--out results.json] [--device cpu] [--threads N]

Reports

1. the time of one :class:`~dimedia_course.nn.SmallUNet` training step (forward + backward + Adam
   update, batch 16 at 32x32 by default);
2. the time to draw samples with DDPM using all 1000 steps (Ho et al. 2020, Algorithm 2) versus
   DDIM using 50 steps (Song et al. 2021), with the course's schedulers
   (:mod:`dimedia_course.schedulers`) and with MONAI's (:mod:`monai.networks.schedulers`), driving
   the *same* network, so the numbers show (a) why few-step samplers matter (sampling cost is the
   number of network evaluations) and (b) that scheduler overhead is negligible next to the network;
3. the bare per-step overhead of each scheduler (network replaced by a zero function).

Numbers are printed as a table and optionally written as JSON. ``--quick`` uses tiny sizes and a
few steps (a smoke test of the script, used by the test suite): its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

FULL = {
    "image_size": 32,
    "train_batch": 16,
    "train_repeats": 10,
    "sample_batch": 4,
    "ddpm_steps": 1000,
    "ddim_steps": 50,
    "num_train_timesteps": 1000,
    "base_channels": 32,
    "channel_mults": (1, 2, 2),
    "attention_levels": (False, False, True),
}
QUICK = {
    "image_size": 8,
    "train_batch": 2,
    "train_repeats": 2,
    "sample_batch": 1,
    "ddpm_steps": 10,
    "ddim_steps": 3,
    "num_train_timesteps": 10,
    "base_channels": 8,
    "channel_mults": (1, 2),
    "attention_levels": (False, True),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_train_step(
    model,
    batch_size: int,
    image_size: int,
    repeats: int,
    device: torch.device,
    num_train_timesteps: int = 1000,
    warmup: int = 2,
) -> dict:
    """Milliseconds per training step (forward + backward + Adam step) of ``model``.

    The first ``warmup`` steps (one-off kernel/primitive set-up costs) are not timed.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, model.in_channels, image_size, image_size, generator=g).to(device)
    noise = torch.randn(x.shape, generator=g).to(device)
    t = torch.randint(0, num_train_timesteps, (batch_size,), generator=g).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        start = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(x, t), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    model.eval()
    return {"mean_ms": statistics.mean(times), "std_ms": statistics.pstdev(times), "repeats": repeats}


@torch.no_grad()
def time_sampling(model, scheduler, num_inference_steps: int, shape, device: torch.device) -> dict:
    """Seconds to run a full reverse process ``x_T -> x_0`` with ``scheduler`` and ``model``.

    Works with any scheduler following the MONAI API (``set_timesteps``, ``timesteps``,
    ``step(model_output, t, sample)``).
    """
    g = torch.Generator().manual_seed(0)
    scheduler.set_timesteps(num_inference_steps, device=device)
    x = torch.randn(shape, generator=g).to(device)
    model(x, torch.zeros(shape[0], dtype=torch.long, device=device))  # warm-up call, not timed
    _sync(device)
    start = time.perf_counter()
    n = 0
    for t in scheduler.timesteps:
        t_batch = torch.full((shape[0],), int(t), dtype=torch.long, device=device)
        x, _ = scheduler.step(model(x, t_batch), t, x)
        n += 1
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "steps": n,
        "ms_per_step": 1000 * seconds / max(n, 1),
        "finite": bool(torch.isfinite(x).all()),
    }


def _zero_model(x, t, y=None):
    return torch.zeros_like(x)


def _schedulers(num_train_timesteps: int):
    """(library, sampler name, scheduler) for the course's and MONAI's DDPM / DDIM schedulers."""
    from monai.networks.schedulers import DDIMScheduler as MonaiDDIM
    from monai.networks.schedulers import DDPMScheduler as MonaiDDPM

    from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler

    return [
        ("dimedia_course", "DDPM", DDPMScheduler(num_train_timesteps=num_train_timesteps)),
        ("dimedia_course", "DDIM", DDIMScheduler(num_train_timesteps=num_train_timesteps)),
        ("monai", "DDPM", MonaiDDPM(num_train_timesteps=num_train_timesteps)),
        ("monai", "DDIM", MonaiDDIM(num_train_timesteps=num_train_timesteps)),
    ]


def run_benchmarks(quick: bool = False, device=None, seed: int = 0) -> dict:
    """Run all benchmarks and return the results as a JSON-serialisable dict."""
    from dimedia_course.device import get_device
    from dimedia_course.nn import SmallUNet, count_parameters

    cfg = dict(QUICK if quick else FULL)
    device = get_device(device)
    torch.manual_seed(seed)  # weights only; the timings do not depend on them
    model = SmallUNet(
        base_channels=cfg["base_channels"], channel_mults=cfg["channel_mults"], attention_levels=cfg["attention_levels"]
    ).to(device)
    results = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "quick": quick,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "model": {"name": "SmallUNet", "parameters": count_parameters(model)},
    }
    results["train_step"] = {
        "batch_size": cfg["train_batch"],
        "image_size": cfg["image_size"],
        **time_train_step(
            model, cfg["train_batch"], cfg["image_size"], cfg["train_repeats"], device, cfg["num_train_timesteps"]
        ),
    }
    shape = (cfg["sample_batch"], 1, cfg["image_size"], cfg["image_size"])
    sampling, overhead = [], []
    for library, sampler, scheduler in _schedulers(cfg["num_train_timesteps"]):
        steps = cfg["ddpm_steps"] if sampler == "DDPM" else cfg["ddim_steps"]
        timing = time_sampling(model, scheduler, steps, shape, device)
        sampling.append({"library": library, "sampler": sampler, "batch_size": shape[0], **timing})
        bare = time_sampling(_zero_model, scheduler, steps, shape, device)
        overhead.append({"library": library, "sampler": sampler, "ms_per_step": bare["ms_per_step"]})
    results["sampling"] = sampling
    results["scheduler_overhead"] = overhead
    return results


def format_table(results: dict) -> str:
    """The results as a plain-text table."""
    ts = results["train_step"]
    lines = [
        f"device: {results['device']}  torch {results['torch']}  threads {results['threads']}"
        + ("  (QUICK MODE: numbers are meaningless)" if results["quick"] else ""),
        f"SmallUNet ({results['model']['parameters']:,} parameters) training step, batch "
        f"{ts['batch_size']} at {ts['image_size']}x{ts['image_size']}: "
        f"{ts['mean_ms']:.1f} +/- {ts['std_ms']:.1f} ms",
        "",
        f"{'library':<16}{'sampler':<9}{'steps':>7}{'seconds':>10}{'ms/step':>10}{'sched. ms/step':>16}",
    ]
    for row, bare in zip(results["sampling"], results["scheduler_overhead"]):
        lines.append(
            f"{row['library']:<16}{row['sampler']:<9}{row['steps']:>7}{row['seconds']:>10.2f}"
            f"{row['ms_per_step']:>10.2f}{bare['ms_per_step']:>16.3f}"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps (smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON to this file")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is best on a busy machine)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    results = run_benchmarks(quick=args.quick, device=args.device, seed=args.seed)
    print(format_table(results))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        print(f"\nwritten to {args.out}")
    return results


if __name__ == "__main__":
    main()
