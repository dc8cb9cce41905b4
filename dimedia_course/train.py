"""Training runs beyond the notebook: ``python -m dimedia_course.train CONFIG.yaml [--out DIR] [--resume] [k=v ...]``.

One entry point for the CPU demo and for GPU runs: a YAML file (see ``dimedia_course/configs/``) fills the
:class:`TrainConfig` dataclass; ``key=value`` arguments override single fields (``train.steps=100``).

- **Loss**: the simple diffusion loss of :func:`dimedia_course.losses.diffusion_loss` (Ho et al. 2020, eq. 14),
  label dropout for classifier-free guidance (:func:`dimedia_course.guidance.drop_labels`).
- **Latent diffusion** (``model.kind: latent``): :class:`dimedia_course.latent.LatentDiffusion` in two stages on
  one step counter: steps ``1 .. train.ae_steps`` train the autoencoder
  (:meth:`~dimedia_course.latent.LatentDiffusion.autoencoder_loss`), then the scale factor ``s = 1 / std(mu(x))``
  is computed over the training images and steps ``ae_steps + 1 .. ae_steps + train.steps`` train the denoiser
  (``model.denoiser``) on ``s * mu(x)`` with the same loss as above; ``metrics.csv`` and the checkpoints count the
  steps of both stages, and EMA applies to the denoiser.
- **Determinism and resume**: the images, timesteps, noise and label dropout of step ``k`` are drawn from a
  generator seeded by ``(seed, k)``, so a run killed and resumed from its last checkpoint ends with exactly the
  weights of an uninterrupted run; checkpoints (model, EMA, optimiser, step) are written atomically every
  ``checkpoint_every`` steps, so a kill loses at most one interval.
- **Many GPUs**: under ``torchrun`` the model is wrapped in PyTorch's ``DistributedDataParallel`` and every
  process takes its share of the same global batch; gradients are averaged by DDP, so N processes give the
  weights of one process with the same global batch (tested on CPU with the gloo backend).
- **Shared with the notebook loop** (:func:`dimedia_course.training.train_diffusion`): every step is drawn and
  computed the same way (:func:`~dimedia_course.training.step_generator`, then
  :func:`~dimedia_course.training.batch_indices` and :func:`~dimedia_course.training.batch_loss`: batch,
  timesteps, noise, label dropout, loss), the update (:func:`dimedia_course.training.optimisation_step`:
  backward, gradient clipping, optimiser step, EMA), the cosine learning-rate rule and the atomic file writer;
  this module adds what a long run needs (configs, sharding, resume, checkpoints, metrics, Ctrl-C).
- **Speed**: mixed precision on CUDA (``amp: true``: float16 autocast and gradient scaling), optional
  ``torch.compile``; EMA weights; metrics (step, loss, learning rate, images/s) in ``metrics.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import dataclasses
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dimedia_course.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "TrainConfig",
    "load_config",
    "spatial_dims",
    "build_model",
    "build_latent",
    "build_flow_scheduler",
    "build_sampling_scheduler",
    "train",
    "main",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class DataConfig:
    name: str = "mni152"  # mni152 | mni152-levels | mni152-3d (offline) | mednist | decathlon-brain
    size: int = 32  # image side length
    n: int | None = 256  # number of images (None: all)
    root: str | None = None  # dataset folder (default: $DIMEDIA_DATA or ~/.cache/dimedia_course/data)
    download: bool = False  # fetch mednist / decathlon-brain through MONAI when missing


@dataclass
class ModelConfig:
    kind: str = "small_unet"  # small_unet (dimedia_course.nn.SmallUNet) | monai_unet (MONAI DiffusionModelUNet)
    # | latent (dimedia_course.latent.LatentDiffusion: AutoencoderKL + the `denoiser` network on its latents)
    base_channels: int = 16  # small_unet
    channels: list[int] = field(default_factory=lambda: [64, 128, 128])  # monai_unet, per level
    attention_levels: list[bool] = field(default_factory=lambda: [False, False, True])
    num_res_blocks: int = 1
    num_head_channels: int = 32  # monai_unet
    num_classes: int | None = None  # class-conditional (classifier-free guidance needs p_uncond > 0)
    denoiser: str = "small_unet"  # latent: the kind of the latent UNet (small_unet | monai_unet, fields above)
    latent_channels: int = 2  # latent: channels of z
    ae_channels: list[int] = field(default_factory=lambda: [16, 32])  # latent: per level; each extra level halves
    kl_weight: float = 1e-4  # latent: beta of the autoencoder's KL term


@dataclass
class ScheduleConfig:
    num_train_timesteps: int = 1000
    schedule: str = "linear_beta"
    prediction_type: str = "v_prediction"


@dataclass
class RunConfig:
    steps: int = 300  # diffusion steps (for model.kind latent: after the autoencoder's ae_steps)
    ae_steps: int = 0  # model.kind latent: autoencoder steps (stage 1)
    batch_size: int = 32  # global batch, split over the processes
    lr: float = 2e-3
    lr_schedule: str = "constant"  # constant | cosine (dimedia_course.training.cosine_lr)
    lr_min_ratio: float = 0.0  # cosine: the final lr as a fraction of lr (0: the recorded recipes' decay to 0)
    optimizer: str = "adam"  # adam | sgd
    ema_decay: float | None = None
    p_uncond: float = 0.0
    grad_clip: float | None = 1.0
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 10
    amp: bool = False  # float16 autocast + GradScaler (CUDA only)
    compile: bool = False  # torch.compile the model
    sample_grid: int = 16  # images in samples.png at the end (DDIM, 20 steps); 0: no samples.png


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: RunConfig = field(default_factory=RunConfig)


def _type_ok(value, hint) -> bool:
    """Whether a YAML value fits a field's annotation (``int``, ``float | None``, ``list[int]``, ...)."""
    import types
    import typing

    if hint is typing.Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (typing.Any,)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _fill(cls, values: dict, where: str):
    import typing

    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of keys, got {values!r}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(names)}")
    kwargs = {}
    for key, value in values.items():
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key}: expected a mapping, got {value!r}")
            value = _fill(type(default), value, f"{where}.{key}")
        elif not _type_ok(value, hints[key]):
            expected = getattr(hints[key], "__name__", None) or str(hints[key])
            raise ValueError(f"{where}.{key}: expected {expected}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def load_config(path, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config (a path, or the name of a file in ``dimedia_course/configs``) and apply ``a.b=value``
    overrides. Unknown keys raise a ``ValueError`` naming them."""
    import yaml

    path = Path(path)
    if not path.is_file() and (CONFIG_DIR / path.name).is_file():
        path = CONFIG_DIR / path.name
    if not path.is_file():
        known = sorted(p.name for p in CONFIG_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"config: {path} does not exist; shipped configs: {known}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ValueError(f"{path}{where}: not valid YAML ({problem})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of sections (data, model, schedule, train), got {values!r}")
    try:
        _fill(TrainConfig, values, "config")
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected section.key=value")
        dotted, text = item.split("=", 1)
        keys = dotted.split(".")
        target = values
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ValueError(f"override {item!r}: {key} is not a section")
        try:
            target[keys[-1]] = _parse_value(text)
        except yaml.YAMLError:
            raise ValueError(f"override {item!r}: the value is not valid YAML") from None
    try:
        return _fill(TrainConfig, values, "config")
    except ValueError as error:
        raise ValueError(f"{path} with overrides {list(overrides)}: {error}") from None


def spatial_dims(data: DataConfig) -> int:
    """2 for the image datasets, 3 for the volumes of ``data.name: mni152-3d``."""
    return 3 if data.name == "mni152-3d" else 2


def build_model(cfg: ModelConfig, in_channels: int = 1, dims: int = 2) -> torch.nn.Module:
    """The denoiser of a config: the course's SmallUNet or MONAI's DiffusionModelUNet (``model(x, t, y)``);
    ``dims=3`` (volumes) needs ``kind: monai_unet``."""
    if dims == 3 and cfg.kind != "monai_unet":
        raise ValueError(f"model.kind: volumes (data.name mni152-3d) need 'monai_unet', got {cfg.kind!r}")
    if cfg.kind == "small_unet":
        from dimedia_course.nn import SmallUNet

        levels = len(cfg.attention_levels)
        return SmallUNet(
            in_channels=in_channels,
            out_channels=in_channels,
            base_channels=cfg.base_channels,
            channel_mults=(1,) + (2,) * (levels - 1),
            attention_levels=tuple(cfg.attention_levels),
            num_res_blocks=cfg.num_res_blocks,
            num_classes=cfg.num_classes,
        )
    if cfg.kind == "monai_unet":
        from dimedia_course.nn import MonaiUNetAdapter

        return MonaiUNetAdapter(
            in_channels=in_channels,
            out_channels=in_channels,
            channels=tuple(cfg.channels),
            attention_levels=tuple(cfg.attention_levels),
            num_res_blocks=cfg.num_res_blocks,
            num_head_channels=cfg.num_head_channels,
            num_classes=cfg.num_classes,
            spatial_dims=dims,
        )
    raise ValueError(f"model.kind: expected 'small_unet', 'monai_unet' or 'latent' (build_latent), got {cfg.kind!r}")


def build_flow_scheduler(schedule: ScheduleConfig):
    """The :class:`~dimedia_course.schedulers.RFlowScheduler` of a ``prediction_type: flow_velocity`` config:
    ``schedule.schedule`` names its training-time law (``uniform`` or ``logit-normal``, Esser et al. 2024,
    eq. 19); integer timesteps (MONAI's default), no resolution shift."""
    from dimedia_course.schedulers import RFlowScheduler
    from dimedia_course.schedulers.rflow import SAMPLE_METHODS

    if schedule.schedule not in SAMPLE_METHODS:
        raise ValueError(
            f"schedule.schedule: a flow_velocity config needs one of {SAMPLE_METHODS}, got {schedule.schedule!r}"
        )
    return RFlowScheduler(schedule.num_train_timesteps, use_discrete_timesteps=True, sample_method=schedule.schedule)


def build_sampling_scheduler(schedule: ScheduleConfig):
    """The scheduler that samples a model of ``schedule``: :func:`build_flow_scheduler` (Euler steps) for a
    ``prediction_type: flow_velocity`` config, else a :class:`~dimedia_course.schedulers.DDIMScheduler` (Song et al.
    2021) with the config's noise schedule and prediction type."""
    from dimedia_course.schedulers import DDIMScheduler

    if schedule.prediction_type == "flow_velocity":
        return build_flow_scheduler(schedule)
    return DDIMScheduler(schedule.num_train_timesteps, schedule.schedule, prediction_type=schedule.prediction_type)


def build_latent(
    cfg: ModelConfig, image_size: int, in_channels: int = 1, schedule: ScheduleConfig | None = None, device="cpu"
):
    """The :class:`~dimedia_course.latent.LatentDiffusion` of a ``kind: latent`` config: its autoencoder, the
    ``cfg.denoiser`` network of :func:`build_model` on the latents and a DDIM scheduler without clipping."""
    from dimedia_course.latent import LatentDiffusion
    from dimedia_course.schedulers import DDIMScheduler

    schedule = schedule or ScheduleConfig()
    if cfg.num_classes is not None:
        raise ValueError("model.kind latent: class-conditional latent models are not supported (model.num_classes)")
    return LatentDiffusion(
        image_size=image_size,
        in_channels=in_channels,
        latent_channels=cfg.latent_channels,
        ae_channels=tuple(cfg.ae_channels),
        unet=build_model(dataclasses.replace(cfg, kind=cfg.denoiser), cfg.latent_channels),
        scheduler=DDIMScheduler(
            schedule.num_train_timesteps, schedule.schedule, prediction_type=schedule.prediction_type, clip_sample=False
        ),
        kl_weight=cfg.kl_weight,
        device=device,
    )


class _AutoencoderLoss(torch.nn.Module):
    """The stage-1 loss as a module's ``forward``, so that DistributedDataParallel can wrap it."""

    def __init__(self, ldm):
        super().__init__()
        self.autoencoder, self.ldm = ldm.autoencoder, ldm

    def forward(self, x, noise):
        return self.ldm.autoencoder_loss(x, noise)


def _distributed() -> tuple[int, int]:
    """(rank, world size), initialising the process group when launched by torchrun."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def train(cfg: TrainConfig, out_dir, resume: bool = False, progress: bool = True, overwrite: bool = False) -> dict:
    """Run (or resume) a training run. An existing run folder (``checkpoint.pt`` or ``metrics.csv``) is never
    overwritten unless ``overwrite=True``; ``resume=True`` without a checkpoint raises ``FileNotFoundError``.
    Ctrl-C writes a resumable checkpoint of the last finished step and raises ``KeyboardInterrupt`` again.
    At the end ``samples.png`` (DDIM, 20 steps) and ``loss.png`` are written beside the checkpoint.
    Returns ``{"model", "ema_model", "ldm", "step", "out_dir"}`` on every rank
    (``ldm``: the :class:`~dimedia_course.latent.LatentDiffusion` of ``model.kind: latent``, else ``None``;
    ``model`` is its denoiser ``ldm.unet``: set ``ldm.unet = result["ema_model"]`` to sample with the EMA weights)."""
    from dimedia_course import get_device
    from dimedia_course.data import load_dataset
    from dimedia_course.schedulers import DDPMScheduler
    from dimedia_course.training import batch_indices, batch_loss, cosine_lr, optimisation_step, step_generator
    from dimedia_course.validation import check_positive_int

    rank, world = _distributed()
    run = cfg.train
    check_positive_int(run.steps, "train.steps")
    check_positive_int(run.batch_size, "train.batch_size")
    check_positive_int(run.checkpoint_every, "train.checkpoint_every")
    latent = cfg.model.kind == "latent"
    total = run.ae_steps + run.steps  # steps of both stages on one counter (ae_steps is 0 unless latent)
    if latent:
        check_positive_int(run.ae_steps, "train.ae_steps")
    elif run.ae_steps:
        raise ValueError(f"train.ae_steps ({run.ae_steps}) is for model.kind latent, not {cfg.model.kind!r}")
    if run.batch_size % world:
        raise ValueError(f"train.batch_size ({run.batch_size}) must be divisible by the number of processes ({world})")
    if run.p_uncond > 0 and cfg.model.num_classes is None:
        raise ValueError("train.p_uncond > 0 needs model.num_classes (classifier-free guidance)")
    device = get_device("cuda" if torch.cuda.is_available() else "cpu")
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    out_dir = Path(out_dir)
    checkpoint, metrics_path = out_dir / "checkpoint.pt", out_dir / "metrics.csv"
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: choose one")
    if resume and not checkpoint.is_file():
        raise FileNotFoundError(f"--resume: {checkpoint} does not exist (is --out right?)")
    if not resume and not overwrite and (checkpoint.exists() or metrics_path.exists()):
        raise FileExistsError(f"--out {out_dir}: holds a run already; pass --resume to continue it or --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    images, labels = load_dataset(
        cfg.data.name, size=cfg.data.size, n=cfg.data.n, root=cfg.data.root, download=cfg.data.download
    )
    if cfg.model.num_classes is not None and labels is None:
        raise ValueError(f"model.num_classes is set but dataset {cfg.data.name!r} has no labels")
    flow = cfg.schedule.prediction_type == "flow_velocity"
    if flow and latent:
        raise ValueError("schedule.prediction_type 'flow_velocity' is not supported for model.kind latent")
    scheduler = (
        build_flow_scheduler(cfg.schedule)
        if flow
        else DDPMScheduler(
            cfg.schedule.num_train_timesteps, cfg.schedule.schedule, prediction_type=cfg.schedule.prediction_type
        )
    )
    ldm = None
    # the same initial weights on every process; the caller's global random state is left as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(run.seed)
        if latent:
            ldm = build_latent(cfg.model, images.shape[-1], images.shape[1], cfg.schedule, device)
            model = ldm.unet
        else:
            model = build_model(cfg.model, images.shape[1], images.ndim - 2).to(device)
    ema = copy.deepcopy(model).eval() if run.ema_decay is not None else None
    if run.optimizer not in ("adam", "sgd"):
        raise ValueError(f"train.optimizer: expected 'adam' or 'sgd', got {run.optimizer!r}")
    optimiser_class = torch.optim.Adam if run.optimizer == "adam" else torch.optim.SGD
    optimiser = optimiser_class(model.parameters(), lr=run.lr)
    if run.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"train.lr_schedule: expected 'constant' or 'cosine', got {run.lr_schedule!r}")
    ae_optimiser = optimiser_class(ldm.autoencoder.parameters(), lr=run.lr) if latent else None
    scaler = torch.amp.GradScaler("cuda", enabled=run.amp and device.type == "cuda")
    start, seconds_before = 0, 0.0
    if resume:
        saved = load_checkpoint(checkpoint, model, map_location=device)
        states, meta = saved["states"], saved["meta"]
        optimiser.load_state_dict(states["optimizer"])
        if ema is not None and states.get("ema") is not None:
            ema.load_state_dict(states["ema"])
        scaler.load_state_dict(states["scaler"])
        if latent:
            ldm.autoencoder.load_state_dict(states["autoencoder"])
            ae_optimiser.load_state_dict(states["ae_optimizer"])
            ldm.scale_factor = meta["scale_factor"]
        start = int(meta["step"])
        seconds_before = float(meta.get("seconds", 0.0))
    net, ae_net = model, _AutoencoderLoss(ldm) if latent else None
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)
        ae_net = DistributedDataParallel(ae_net, device_ids=ids) if latent else None
    if run.compile:
        net = torch.compile(net)
    share = run.batch_size // world
    ac = None if flow else scheduler.alphas_cumprod.to(device)
    if rank == 0 and (start == 0 or not metrics_path.is_file()):
        metrics_path.write_text("step,loss,lr,seconds,images_per_s\n")
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=start, desc="training")
    tic = time.perf_counter() - seconds_before  # wall-clock seconds continue across resumes

    def save(done: int) -> None:  # the package's one checkpoint format (dimedia_course.checkpoint)
        states = {
            "ema": None if ema is None else ema.state_dict(),
            "optimizer": optimiser.state_dict(),
            "scaler": scaler.state_dict(),
        }
        meta = {"step": done, "seconds": time.perf_counter() - tic, "config": dataclasses.asdict(cfg)}
        if latent:
            states.update(autoencoder=ldm.autoencoder.state_dict(), ae_optimizer=ae_optimiser.state_dict())
            meta["scale_factor"] = None if ldm.scale_factor is None else float(ldm.scale_factor)
        save_checkpoint(checkpoint, model, states=states, **meta)

    done = start
    interrupted = []  # Ctrl-C sets this; the loop stops after the step in flight, at a consistent state
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        for step in range(start, total):
            g = step_generator(run.seed, step)  # the same draws on every process, and after a resume
            idx = batch_indices(images.shape[0], run.batch_size, g)
            mine = slice(rank * share, (rank + 1) * share)
            x0 = images[idx][mine].to(device)
            autoencoder_stage = step < run.ae_steps
            autocast = torch.autocast("cuda", dtype=torch.float16) if scaler.is_enabled() else contextlib.nullcontext()
            if autoencoder_stage:  # stage 1 of a latent model: the autoencoder
                noise = torch.randn((run.batch_size, *ldm.latent_shape), generator=g)
                ae_net.train()
                trained, opt = ldm.autoencoder, ae_optimiser
                with autocast:
                    loss = ae_net(x0, noise[mine].to(device))
            else:
                if latent:  # stage 2: the denoiser on the scaled latents s * mu(x)
                    ldm.autoencoder.eval()
                    if ldm.scale_factor is None:
                        ldm.compute_scale_factor(images)
                    x0 = ldm.encode(x0) * ldm.scale_factor
                net.train()
                trained, opt = model, optimiser
                with autocast:
                    loss = batch_loss(
                        net,
                        x0,
                        scheduler if flow else ac,
                        cfg.schedule.prediction_type,
                        g,
                        batch_size=run.batch_size,
                        share=mine,
                        y=None if cfg.model.num_classes is None else labels[idx],
                        p_uncond=run.p_uncond,
                        num_classes=cfg.model.num_classes,
                        timestep_reference=images[idx],  # a flow's timesteps (uniform or logit-normal, shifted)
                    )
            if run.lr_schedule == "cosine" and not autoencoder_stage:  # decays over the diffusion steps only
                k = step - run.ae_steps
                for group in optimiser.param_groups:
                    group["lr"] = cosine_lr(k, run.steps, run.lr, run.lr_min_ratio)
            optimisation_step(
                loss,
                opt,
                list(trained.parameters()),
                grad_clip=run.grad_clip,
                scaler=scaler,
                ema=None if autoencoder_stage else ema,
                model=model,
                ema_decay=run.ema_decay,
            )
            value = loss.detach()
            if world > 1:
                import torch.distributed as dist

                dist.all_reduce(value)
                value /= world
            done = step + 1
            if rank == 0:
                if done % run.log_every == 0 or done == total:
                    seconds = time.perf_counter() - tic
                    with metrics_path.open("a", newline="") as fh:
                        csv.writer(fh).writerow(
                            [
                                done,
                                f"{float(value):.6f}",
                                f"{optimiser.param_groups[0]['lr']:.6g}",
                                f"{seconds:.3f}",
                                f"{done * run.batch_size / seconds:.1f}",
                            ]
                        )
                if done % run.checkpoint_every == 0 or done == total:
                    save(done)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(value):.4f}")
            if interrupted:
                if rank == 0:
                    save(done)
                raise KeyboardInterrupt(f"interrupted after step {done}: checkpoint written; continue with --resume")
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if bar is not None and interrupted:
            bar.close()
    if bar is not None:
        bar.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    if latent:
        ldm.autoencoder.eval()
    if rank == 0:
        final = ema if ema is not None else model.eval()
        _write_figures(cfg, out_dir, final, ldm, images.shape[1:], device, n=run.sample_grid)
    return {"model": model.eval(), "ema_model": ema, "ldm": ldm, "step": total, "out_dir": out_dir}


def _write_figures(cfg: TrainConfig, out_dir: Path, model, ldm, image_shape, device, n: int = 16) -> None:
    """``samples.png``: ``n`` samples in 20 steps of the final (EMA) model (DDIM, Song et al. 2021; Euler steps of
    the flow for a ``flow_velocity`` config);
    ``loss.png``: the loss column of ``metrics.csv`` against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dimedia_course import make_generator
    from dimedia_course.sampling import sample

    _plot_loss(out_dir)
    if n <= 0:
        return
    g = make_generator(cfg.train.seed)
    with torch.no_grad():
        if ldm is not None:
            unet, ldm.unet = ldm.unet, model
            x = ldm.sample(n, num_inference_steps=20, generator=g)
            ldm.unet = unet
        else:
            scheduler = build_sampling_scheduler(cfg.schedule)
            y = None if cfg.model.num_classes is None else torch.arange(n, device=device) % cfg.model.num_classes
            x = sample(model, scheduler, (n, *image_shape), y=y, num_inference_steps=20, generator=g, device=device)
    x = x.detach().float().cpu()
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(x[i, 0].numpy(), cmap="gray", vmin=-1, vmax=1)
    fig.savefig(out_dir / "samples.png", dpi=80, bbox_inches="tight")
    plt.close(fig)


def _plot_loss(out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with (out_dir / "metrics.csv").open(newline="") as fh:
        rows_ = list(csv.DictReader(fh))
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([int(r["step"]) for r in rows_], [float(r["loss"]) for r in rows_])
    ax.set(xlabel="step", ylabel="loss", yscale="log", title="training loss")
    fig.savefig(out_dir / "loss.png", dpi=80, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """The command line; bad input ends in one line on stderr (exit status 2), Ctrl-C in a resumable checkpoint
    (exit status 130). ``key=value`` overrides may stand anywhere on the line."""
    import sys

    import yaml

    parser = argparse.ArgumentParser(prog="python -m dimedia_course.train", description=__doc__.split("\n")[0])
    parser.add_argument("config", help="YAML file, or the name of a shipped config (e.g. cpu_demo.yaml)")
    parser.add_argument("overrides", nargs="*", help="section.key=value anywhere on the line, e.g. train.steps=100")
    parser.add_argument("--out", type=Path, default=Path("runs/train"), help="run folder (checkpoint, metrics)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt (must exist)")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in <out>")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_intermixed_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        result = train(cfg, args.out, resume=args.resume, progress=not args.no_progress, overwrite=args.overwrite)
    except (ValueError, FileNotFoundError, FileExistsError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:
        print(f"stopped: {error or 'interrupted'}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {result['step']} steps; checkpoint and metrics in {result['out_dir']}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
