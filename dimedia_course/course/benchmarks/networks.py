"""Side-by-side speed of the denoising networks: the course's SmallUNet, MONAI's DiffusionModelUNet and diffusers'
UNet2DModel at matched parameter counts (within 10 %), in one run on the same machine.

Usage::

    python -m dimedia_course.course.benchmarks.networks [--quick] [--sizes 32 64] [--threads N] [--compile] [--out DIR]

``--quality`` adds quality per CPU-minute for the DDPM demo: the course's SmallUNet and MONAI's DiffusionModelUNet at
matched size are trained on 32 x 32 MNI152 slices, and at a few checkpoints the MMD of DDIM samples to held-out
slices (:func:`dimedia_course.metrics.mmd`) is recorded against the wall-clock training time.

For every network and image size it times one training step (forward, backward and an Adam update on a batch of 16)
and one inference forward pass (``torch.inference_mode``, batch 16: the cost of one sampling step), each in the
default memory format and in ``channels_last``; ``--compile`` adds ``torch.compile`` (its warm-up is reported
separately). The table prints milliseconds and the ratio to the fastest network of the same column; ``--out``
writes the rows as CSV and JSON. Timings are medians of repeated runs after a warm-up: a speed check, not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import time
from pathlib import Path

import torch

__all__ = ["build_networks", "time_network", "run", "main"]

BATCH = 16


class _MonaiCall(torch.nn.Module):
    """MONAI's network called as ``net(x, t)``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t):
        return self.net(x, timesteps=t)


class _DiffusersCall(torch.nn.Module):
    """diffusers' UNet2DModel called as ``net(x, t)`` returning a tensor."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t):
        return self.net(x, t).sample


def build_networks(quick: bool = False) -> dict[str, torch.nn.Module]:
    """MONAI's and diffusers' UNets with channels 32-64-64 (two downsamplings, one residual block per level,
    self-attention at the lowest level, 1.11 M parameters), and the course's SmallUNet twice: with the same
    channels (it has one up-block per level where the others have two: 0.83 M parameters) and with the same
    parameter count (channels 32-64-64-64, a third downsampling, attention at the lowest level: 1.11 M).
    Widths are multiples of 8 (a SmallUNet at 36-72-72, 1.05 M parameters, trained 1.2-1.3x slower than MONAI's
    for fewer FLOPs: odd widths and GroupNorm with 4 groups vectorise badly on CPU)."""
    from diffusers import UNet2DModel
    from monai.networks.nets import DiffusionModelUNet

    from dimedia_course.nn import SmallUNet

    torch.manual_seed(0)
    channels = (8, 16, 16) if quick else (32, 64, 64)
    base = channels[0]
    return {
        "SmallUNet, same channels (dimedia_course)": SmallUNet(base_channels=base),
        "SmallUNet, same parameters (dimedia_course)": SmallUNet(
            base_channels=base, channel_mults=(1, 2, 2, 2), attention_levels=(False, False, False, True)
        ),
        "DiffusionModelUNet (MONAI)": _MonaiCall(
            DiffusionModelUNet(
                spatial_dims=2,
                in_channels=1,
                out_channels=1,
                channels=channels,
                attention_levels=(False, False, True),
                num_res_blocks=1,
                num_head_channels=channels[-1],
                norm_num_groups=8,
            )
        ),
        "UNet2DModel (diffusers)": _DiffusersCall(
            UNet2DModel(
                in_channels=1,
                out_channels=1,
                block_out_channels=channels,
                layers_per_block=1,
                down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
                norm_num_groups=8,
            )
        ),
    }


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def time_network(net: torch.nn.Module, size: int, repeats: int, channels_last: bool = False) -> dict:
    """Median milliseconds of a training step and of an inference forward pass at ``size`` x ``size``."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = torch.randn(BATCH, 1, size, size).to(memory_format=fmt)
    t = torch.randint(0, 1000, (BATCH,))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-4)

    def train_step():
        net.train()
        loss = (net(x, t) - x).pow(2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    def forward():
        net.eval()
        with torch.inference_mode():
            net(x, t)

    return {"train_ms": _median_ms(train_step, repeats), "forward_ms": _median_ms(forward, repeats)}


def run(sizes=(32, 64), quick: bool = False, compile_: bool = False) -> list[dict]:
    """Time every network, size and variant; returns rows with parameter counts and milliseconds."""
    rows = []
    repeats = 2 if quick else 7
    for size in sizes:
        for name, net in build_networks(quick).items():
            params = sum(p.numel() for p in net.parameters())
            variants = [("default", False), ("channels_last", True)]
            for variant, channels_last in variants:
                timing = time_network(net, size, repeats, channels_last)
                rows.append({"size": size, "network": name, "params": params, "variant": variant, **timing})
            if compile_:
                start = time.perf_counter()
                compiled = torch.compile(net)
                timing = time_network(compiled, size, repeats)
                warm = time.perf_counter() - start
                rows.append(
                    {
                        "size": size,
                        "network": name,
                        "params": params,
                        "variant": "compile",
                        **timing,
                        "compile_warmup_s": warm,
                    }
                )
    fastest = {}
    for r in rows:
        key = (r["size"], r["variant"])
        for col in ("train_ms", "forward_ms"):
            fastest[key + (col,)] = min(fastest.get(key + (col,), float("inf")), r[col])
    for r in rows:
        for col in ("train_ms", "forward_ms"):
            r[col.replace("_ms", "_ratio")] = r[col] / fastest[(r["size"], r["variant"], col)]
    return rows


def quality_per_minute(checkpoints=(50, 100, 200, 400), n_samples: int = 64, quick: bool = False) -> list[dict]:
    """MMD of samples to held-out real slices vs training wall clock, SmallUNet vs MONAI's UNet (matched size)."""
    from dimedia_course import make_generator
    from dimedia_course.data import mni152_slices
    from dimedia_course.metrics import mmd
    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler
    from dimedia_course.training import train_diffusion

    if quick:
        checkpoints, n_samples = (2, 4), 4
    data = mni152_slices(n=768, size=32, axis="all", slice_range=(0, 1), min_brain_fraction=0.2, seed=0)
    perm = torch.randperm(data.shape[0], generator=make_generator(0))
    train, held_out = data[perm[:512]], data[perm[512:]]
    scheduler = DDPMScheduler(1000, prediction_type="v_prediction")
    ddim = DDIMScheduler(1000, prediction_type="v_prediction")
    rows = []
    for name, net in build_networks(quick).items():
        if "diffusers" in name or "same channels" in name:
            continue  # quality per minute: the course's network and MONAI's at the same parameter count
        params = sum(p.numel() for p in net.parameters())
        optimiser, seconds, done = None, 0.0, 0
        for target in checkpoints:
            start = time.perf_counter()
            history = train_diffusion(
                net,
                train,
                scheduler,
                steps=target - done,
                batch_size=32,
                lr=2e-3,
                seed=done,
                device="cpu",
                progress=False,
                optimizer=optimiser,
            )
            seconds += time.perf_counter() - start
            optimiser, done = history["optimizer"], target
            samples = sample(net, ddim, (n_samples, 1, 32, 32), num_inference_steps=25, generator=make_generator(1))
            value = float(mmd(samples, held_out[: max(n_samples, 64)]))
            rows.append({"network": name, "params": params, "steps": target, "train_seconds": seconds, "mmd": value})
    return rows


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s), "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def format_table(rows: list[dict]) -> str:
    lines = [
        "| size | network | params | variant | train step ms (x fastest) | forward ms (x fastest) |",
        "| ---: | --- | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['network']} | {r['params']:,} | {r['variant']} | "
            f"{r['train_ms']:.1f} ({r['train_ratio']:.2f}) | {r['forward_ms']:.1f} ({r['forward_ratio']:.2f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny networks and 2 repeats (a smoke test)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="image sizes (multiples of 4)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow warm-up on CPU)")
    parser.add_argument("--quality", action="store_true", help="also measure MMD vs training time (a few minutes)")
    parser.add_argument("--out", type=Path, default=None, help="write networks.csv and networks.json here")
    args = parser.parse_args(argv)
    if any(s < 8 or s % 8 for s in args.sizes):
        parser.error("--sizes must be multiples of 8 (up to three downsamplings)")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    rows = run(args.sizes, quick=args.quick, compile_=args.compile)
    print(f"Denoising networks, batch {BATCH}, on {machine()}")
    print(format_table(rows))
    quality = quality_per_minute(quick=args.quick) if args.quality else []
    if quality:
        print("\n| network | training steps | training seconds | MMD to held-out slices |")
        print("| --- | ---: | ---: | ---: |")
        for r in quality:
            print(f"| {r['network']} | {r['steps']} | {r['train_seconds']:.0f} | {r['mmd']:.3f} |")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "networks.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
            writer.writeheader()
            writer.writerows(rows)
        (args.out / "networks.json").write_text(
            json.dumps({"machine": machine(), "rows": rows, "quality": quality}, indent=1)
        )
        print(f"wrote {args.out / 'networks.csv'} and {args.out / 'networks.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
