"""Benchmark of the medical applications on the offline data, on CPU.

Usage::

    python -m dimedia_course.course.benchmarks.applications [--quick] [--out-dir DIR] [--seeds 0 1 2] [--figures DIR]
        [--data mni152|mednist|decathlon-brain [--data-root DIR] [--download]] [--tasks anomaly segmentation ...]

Trains tiny diffusion models on 32 x 32 MNI152 slices (healthy, or with synthetic lesions) and writes
``results.csv`` (long format: seed, task, method, metric, value) and ``results_table.md`` (the table shown in
the book) to ``--out-dir``. Tasks and what is compared:

- anomaly detection (Wolleb et al. 2022; Pinaya et al. 2022): pixel AUROC and Dice, partial noising vs
  DDIM inversion, model trained on healthy slices only; baseline: intensity thresholding (lesions are
  hypo-intense, so the score is the darkness of a pixel inside the brain);
- lesion segmentation (Wolleb et al. 2021): Dice of the ensemble mean and of single samples, variance
  on errors vs on correct pixels (its own, larger lesions of radius 3-6 px; the mask model predicts
  the clean mask, ``prediction_type="sample"``); baseline: the same UNet trained as a plain supervised
  segmenter (binary cross-entropy, one forward pass);
- MRI 4x Cartesian undersampling: zero-filled vs diffusion with data consistency / DPS (PSNR, SSIM);
- sparse-view CT: FBP vs diffusion with CG data consistency (PSNR, SSIM);
- class-conditional synthesis (healthy / lesion) with classifier-free guidance: MMD to real images and
  MS-SSIM diversity (real images' diversity for reference);
- latent diffusion with MONAI's AutoencoderKL: autoencoder PSNR/SSIM, sample MMD and diversity.

Every seed re-draws the data split, lesions, network initialisations and sampling noise; the tables report
mean +- standard deviation over seeds. ``--figures DIR`` writes example figures (first seed). ``--quick``
(used by the tests, ~1-2 min) trains for a handful of steps: its numbers are meaningless except as a
smoke test. The full mode takes ~6-15 minutes per seed on 2 CPU cores.

``--data`` takes the images from a real dataset instead (:func:`dimedia_course.data.medical.load_dataset`, from
``--data-root``; ``--download`` fetches it through MONAI), split into train / validation / test slices by the seed:

- ``decathlon-brain`` (MSD Task01 BrainTumour, FLAIR slices): slices without tumour play the healthy images, slices
  with tumour and their tumour masks the lesioned images (anomaly detection, segmentation) and the two form the
  classes of synthesis; tumours are bright in FLAIR, so the threshold baseline scores brightness. Slices, not
  patients, are split, so one patient can appear in training and test.
- ``mednist`` (no lesion masks): the images of all classes; synthesis uses the MedNIST classes. Anomaly detection
  and segmentation need lesion masks: ask for the other tasks with ``--tasks`` (the run stops at once otherwise).
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
import time
from pathlib import Path

import torch

from dimedia_course import make_generator

QUICK = dict(
    n_train=32,
    n_test=4,
    train_steps=4,
    seg_steps=4,
    synth_steps=4,
    batch_size=8,
    infer_steps=4,
    seg_samples=2,
    synth_per_class=3,
    ae_steps=4,
    ldm_steps=4,
    ldm_samples=4,
    dps_images=2,
    base_channels=8,
)
FULL = dict(
    n_train=384,
    n_test=24,
    train_steps=700,
    seg_steps=500,
    synth_steps=600,
    batch_size=32,
    infer_steps=25,
    seg_samples=5,
    synth_per_class=24,
    ae_steps=400,
    ldm_steps=700,
    ldm_samples=32,
    dps_images=8,
    base_channels=16,
)

SIZE = 32
LESIONS = dict(n_lesions=(1, 2), radius=(1.5, 3.5), intensity=(-0.6, -0.4))  # dark (hypo-intense) lesions
# segmentation gets its own, larger lesions (radius 3-6 px at 32 x 32): 1.5-3.5 px blobs are a handful of
# pixels, where one-pixel boundary errors dominate Dice
SEG_LESIONS = dict(LESIONS, radius=(3.0, 6.0))


def _unet(cfg, in_channels=1, num_classes=None):
    from dimedia_course.nn import SmallUNet

    # three levels so the (always present) middle self-attention runs at 8 x 8, which keeps CPU time low
    return SmallUNet(
        in_channels=in_channels,
        out_channels=1,
        base_channels=cfg["base_channels"],
        channel_mults=(1, 2, 2),
        attention_levels=(False, False, False),
        num_classes=num_classes,
    )


def _scheduler(prediction_type="epsilon", clip_sample=True):
    from dimedia_course.schedulers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000, schedule="linear_beta", prediction_type=prediction_type, clip_sample=clip_sample
    )


def _train(model, images, sched, cfg, steps, g, **kw):
    """Adam + cosine learning-rate decay on the simple loss (:func:`dimedia_course.training.train_diffusion`)."""
    from dimedia_course.training import train_diffusion
    from dimedia_course.validation import model_device

    return train_diffusion(
        model,
        images,
        sched,
        steps=steps,
        batch_size=cfg["batch_size"],
        lr=2e-3,
        lr_schedule="cosine",
        grad_clip=None,
        generator=g,
        device=model_device(model),
        progress=False,
        **kw,
    )


#: the tasks (``--tasks`` names and the task column of the results)
TASKS = {
    "anomaly": "anomaly",
    "segmentation": "segmentation",
    "mri": "MRI 4x",
    "ct": "CT 8 views",
    "synthesis": "synthesis",
    "latent": "latent diffusion",
}
#: the datasets with lesion masks, which the anomaly and segmentation tasks need
LESION_MASKS = {"mni152": "synthetic lesions", "decathlon-brain": "tumour masks"}
DATA_DESCRIPTION = {"mni152": "MNI152 slices", "mednist": "MedNIST images", "decathlon-brain": "BraTS FLAIR slices"}


class DataError(ValueError):
    """The chosen ``--data`` cannot serve the benchmark (unknown, no lesion masks, too few images)."""


def check_tasks(data: str, tasks) -> None:
    """Stop at once (:class:`DataError`) when ``tasks`` need lesion masks that dataset ``data`` does not have."""
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise DataError(f"--tasks: unknown {unknown}; expected some of {list(TASKS)}")
    if data not in (*LESION_MASKS, "mednist"):
        raise DataError(f"--data: unknown dataset {data!r}; expected mni152, mednist or decathlon-brain")
    need = [t for t in tasks if t in ("anomaly", "segmentation")]
    if need and data not in LESION_MASKS:
        others = " ".join(t for t in TASKS if t not in need)
        raise DataError(
            f"--data {data} has no lesion masks, which the task(s) {', '.join(need)} need: use --data mni152 "
            f"(synthetic lesions) or --data decathlon-brain (tumour masks), or leave them out (--tasks {others})"
        )


@functools.lru_cache(maxsize=2)
def _load(name: str, root, download: bool):
    """Images, labels and masks of a real dataset, loaded once for all seeds."""
    from dimedia_course.data.medical import load_dataset

    return load_dataset(name, size=SIZE, root=root, download=download, return_masks=True)


def _data(cfg, seed, data: str = "mni152", root=None, download: bool = False):
    """Train / val / test splits, each a dict of tensors: ``healthy`` images (without lesions), their ``brain``
    masks, ``lesioned`` images and their lesion ``masks`` (anomaly detection), ``seg_images`` / ``seg_masks``
    (segmentation), ``classes`` / ``class_labels`` (synthesis); plus ``info`` (``lesion_sign``: -1 for dark
    lesions, +1 for bright ones). ``data`` is ``mni152`` (synthetic lesions, offline) or a dataset of
    :func:`~dimedia_course.data.medical.load_dataset` (its missing tensors are left out)."""
    if data == "mni152":
        return _mni152_data(cfg, seed)
    check_tasks(data, ())
    images, labels, masks = _load(data, None if root is None else str(root), download)
    n_train, n_test = cfg["n_train"], cfg["n_test"]
    need = n_train + 2 * n_test
    perm = torch.randperm(images.shape[0], generator=make_generator(seed))
    images, labels = images[perm], labels[perm]
    split = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_test), "test": slice(n_train + n_test, need)}
    if masks is None:  # mednist: every image is a "healthy" one; synthesis learns the classes
        if images.shape[0] < need:
            raise DataError(f"--data {data}: {images.shape[0]} images, the benchmark needs {need}")
        out = {k: {"healthy": images[s], "classes": images[s], "class_labels": labels[s]} for k, s in split.items()}
        return {**out, "info": {"lesion_sign": -1}}
    masks = masks[perm]
    healthy, tumour = (labels == 0).nonzero().flatten(), (labels == 1).nonzero().flatten()
    if min(len(healthy), len(tumour)) < need:
        raise DataError(
            f"--data {data}: {len(healthy)} slices without and {len(tumour)} with tumour; the benchmark needs "
            f"{need} of each ({n_train} training + 2 x {n_test} test)"
        )
    out = {"info": {"lesion_sign": 1}}  # tumours are bright in FLAIR
    for name, s in split.items():
        h, t = images[healthy[s]], images[tumour[s]]
        out[name] = {
            "healthy": h,
            "brain": (h > -0.98).float(),  # the background is -1
            "lesioned": t,
            "masks": masks[tumour[s]],
            "seg_images": t,
            "seg_masks": masks[tumour[s]],
            "classes": torch.cat([h, t]),
            "class_labels": torch.cat([torch.zeros(len(h)), torch.ones(len(t))]).long(),
        }
    return out


def _mni152_data(cfg, seed):
    """Healthy train/test slices and lesioned copies (dark lesions inside the brain)."""
    from dimedia_course.data import make_lesion_dataset, mni152_slices

    n_train, n_test = cfg["n_train"], cfg["n_test"]
    images, brain = mni152_slices(n=n_train + 2 * n_test, size=SIZE, seed=seed, return_mask=True)
    perm = torch.randperm(images.shape[0], generator=make_generator(seed))
    images, brain = images[perm], brain[perm]
    region = brain * (images > -0.3).float()
    split = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_test), "test": slice(n_train + n_test, None)}
    out = {}
    for name, s in split.items():
        les = make_lesion_dataset(images[s], p_lesion=1.0, mask_region=region[s], seed=seed + len(name), **LESIONS)
        seg = make_lesion_dataset(
            images[s], p_lesion=1.0, mask_region=region[s], seed=seed + 10 + len(name), **SEG_LESIONS
        )
        out[name] = {
            "healthy": images[s],
            "brain": brain[s],
            "lesioned": les["images"],
            "masks": les["masks"],
            "seg_images": seg["images"],
            "seg_masks": seg["masks"],
            "classes": torch.cat([images[s], les["images"]]),
            "class_labels": torch.cat([torch.zeros(len(images[s])), torch.ones(len(les["images"]))]).long(),
        }
    out["info"] = {"lesion_sign": -1}
    return out


def _rows_from(task, method, metrics):
    return [{"task": task, "method": method, "metric": k, "value": float(v)} for k, v in metrics.items()]


def run_prior(data, cfg, g):
    model, sched = _unet(cfg), _scheduler()
    hist = _train(model, data["train"]["healthy"], sched, cfg, cfg["train_steps"], g)
    return model, sched, hist["loss"]


def run_anomaly(model, sched, data, cfg, g):
    from dimedia_course.applications.anomaly import anomaly_map, evaluate_anomaly_maps

    rows = []
    test, val = data["test"], data["val"]
    sched = _scheduler(sched.prediction_type, clip_sample=False)  # no clipping: DDIM inversion stays invertible
    for method, level in (("partial_noise", 0.4), ("ddim", 0.4)):
        kw = dict(noise_level=level, num_inference_steps=cfg["infer_steps"], method=method, smooth_sigma=1.0)
        _, healthy_maps = anomaly_map(model, sched, val["healthy"], mask=val["brain"], generator=g, **kw)
        threshold = float(torch.quantile(healthy_maps[val["brain"].bool()], 0.98))
        _, maps = anomaly_map(model, sched, test["lesioned"], mask=test["brain"], generator=g, **kw)
        res = evaluate_anomaly_maps(maps, test["masks"], region=test["brain"], threshold=threshold)
        rows += _rows_from(
            "anomaly",
            f"{method} (L={level})",
            {"AUROC": res["auroc"], "Dice@p98 healthy": res["dice"], "Dice max": res["best_dice"]},
        )
        FIGURES[f"anomaly_{method}"] = maps[:4]
    baseline = _threshold_baseline(val, test, data["info"]["lesion_sign"])
    rows += _rows_from("anomaly", "baseline: intensity threshold", baseline)
    FIGURES["anomaly_images"], FIGURES["anomaly_masks"] = test["lesioned"][:4], test["masks"][:4]
    return rows


def _threshold_baseline(val, test, sign: int = -1) -> dict:
    """Intensity thresholding: the anomaly score is how dark (``sign=-1``: -x) or bright (``+1``) a pixel is,
    smoothed like the diffusion maps."""
    from dimedia_course.applications.anomaly import evaluate_anomaly_maps, gaussian_smooth

    def score(images, brain):
        return gaussian_smooth(sign * images, 1.0) * brain

    healthy = score(val["healthy"], val["brain"])
    threshold = float(torch.quantile(healthy[val["brain"].bool()], 0.98))
    res = evaluate_anomaly_maps(
        score(test["lesioned"], test["brain"]), test["masks"], region=test["brain"], threshold=threshold
    )
    return {"AUROC": res["auroc"], "Dice@p98 healthy": res["dice"], "Dice max": res["best_dice"]}


def run_segmentation(data, cfg, g):
    from dimedia_course.applications.segmentation import evaluate_segmentation, segment, train_segmentation_model

    # the network predicts the clean mask ("sample"): masks are nearly binary, which it learns fast
    model, sched = _unet(cfg, in_channels=2), _scheduler("sample")
    train_segmentation_model(
        model,
        data["train"]["seg_images"],
        data["train"]["seg_masks"],
        sched,
        steps=cfg["seg_steps"],
        batch_size=cfg["batch_size"],
        generator=g,
    )
    res = segment(
        model,
        sched,
        data["test"]["seg_images"],
        n_samples=cfg["seg_samples"],
        num_inference_steps=cfg["infer_steps"],
        generator=g,
    )
    ev = evaluate_segmentation(res, data["test"]["seg_masks"])
    FIGURES["seg_images"], FIGURES["seg_masks"] = data["test"]["seg_images"][:4], data["test"]["seg_masks"][:4]
    FIGURES["seg_mean"], FIGURES["seg_variance"] = res["mean"][:4], res["variance"][:4]
    rows = _rows_from(
        "segmentation",
        f"diffusion ensemble (n={cfg['seg_samples']})",
        {
            "Dice": ev["dice"],
            "Dice single sample": ev["dice_single_sample"],
            "variance on errors": ev["variance_on_errors"],
            "variance on correct": ev["variance_on_correct"],
        },
    )
    return rows + _rows_from("segmentation", "baseline: supervised UNet", _supervised_segmentation(data, cfg, g))


def _supervised_segmentation(data, cfg, g) -> dict:
    """The same UNet as a plain supervised segmenter: logits = net(image, t=0), binary cross-entropy, Adam."""
    import torch.nn.functional as F

    from dimedia_course.metrics import dice

    net = _unet(cfg)
    images, masks = data["train"]["seg_images"], data["train"]["seg_masks"]
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    zeros = torch.zeros(cfg["batch_size"], dtype=torch.long)
    for _ in range(cfg["seg_steps"]):
        idx = torch.randint(0, images.shape[0], (cfg["batch_size"],), generator=g)
        loss = F.binary_cross_entropy_with_logits(net(images[idx], zeros), masks[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    test = data["test"]
    with torch.no_grad():
        pred = (net(test["seg_images"], torch.zeros(test["seg_images"].shape[0], dtype=torch.long)) > 0).float()
    return {"Dice": float(dice(pred, test["seg_masks"]).mean())}


def _quality(x, ref):
    from dimedia_course.metrics import psnr, ssim

    return {"PSNR": float(psnr(x, ref)), "SSIM": float(ssim(x, ref))}


def run_mri(model, sched, data, cfg, g):
    from dimedia_course.applications.reconstruction import MRIOperator, cartesian_mask, diffusion_reconstruct

    x = data["test"]["healthy"]
    op = MRIOperator(cartesian_mask(SIZE, acceleration=4, center_fraction=0.125, generator=g))
    k = op(x)
    rows = _rows_from("MRI 4x", "zero-filled", _quality(op.zero_filled(k).clamp(-1, 1), x))
    rec = diffusion_reconstruct(model, sched, op, k, method="dc", num_inference_steps=cfg["infer_steps"], generator=g)
    rows += _rows_from("MRI 4x", "diffusion + data consistency", _quality(rec, x))
    FIGURES["mri_truth"], FIGURES["mri_zero_filled"] = x[:4], op.zero_filled(k[:4]).clamp(-1, 1)
    FIGURES["mri_dc"] = rec[:4]
    n = cfg["dps_images"]
    rec = diffusion_reconstruct(
        model, sched, op, k[:n], method="dps", num_inference_steps=cfg["infer_steps"], dps_scale=1.0, generator=g
    )
    rows += _rows_from("MRI 4x", f"zero-filled (first {n})", _quality(op.zero_filled(k[:n]).clamp(-1, 1), x[:n]))
    rows += _rows_from("MRI 4x", f"diffusion DPS (first {n})", _quality(rec, x[:n]))
    return rows


def run_ct(model, sched, data, cfg, g):
    from dimedia_course.applications.reconstruction import CTOperator, diffusion_reconstruct

    x = data["test"]["healthy"]
    op = CTOperator(SIZE, n_views=8)
    sino = op(x)
    rows = _rows_from("CT 8 views", "FBP (ramp)", _quality(op.fbp(sino), x))
    rec = diffusion_reconstruct(
        model, sched, op, sino, method="dc", num_inference_steps=cfg["infer_steps"], cg_iterations=5, generator=g
    )
    rows += _rows_from("CT 8 views", "diffusion + CG data consistency", _quality(rec, x))
    FIGURES["ct_truth"], FIGURES["ct_fbp"], FIGURES["ct_dc"] = x[:4], op.fbp(sino[:4]), rec[:4]
    return rows


def run_synthesis(data, cfg, g):
    from dimedia_course.applications.synthesis import evaluate_synthesis, synthesize

    train, test, val = data["train"], data["test"], data["val"]
    k = int(train["class_labels"].max()) + 1  # classes: healthy / lesion (mni152), or the dataset's classes
    model, sched = _unet(cfg, num_classes=k), _scheduler()
    _train(
        model,
        train["classes"],
        sched,
        cfg,
        cfg["synth_steps"],
        g,
        labels=train["class_labels"],
        p_uncond=0.1,
        num_classes=k,
    )
    real = torch.cat([test["classes"], val["classes"]])
    real_labels = torch.cat([test["class_labels"], val["class_labels"]])
    m = cfg["synth_per_class"]
    sample_labels = torch.arange(k).repeat_interleave(m)
    rows = []
    for w in (1.0, 3.0):  # guidance scale s (1 = plain conditional)
        samples = synthesize(
            model,
            sched,
            sample_labels,
            image_shape=(1, SIZE, SIZE),
            num_classes=k,
            guidance_scale=w,
            num_inference_steps=cfg["infer_steps"],
            generator=g,
        )
        # all pairs (max_pairs=None) so the real images' diversity is the same number in every row
        ev = evaluate_synthesis(samples, sample_labels, real, real_labels, max_pairs=None)
        FIGURES[f"synthesis_s{w:g}"] = torch.cat([samples[:4], samples[m : m + 4]])
        rows += _rows_from(
            "synthesis",
            f"CFG s={w:g}",
            {"MMD": ev["mmd"], "MS-SSIM (samples)": ev["ms_ssim"], "MS-SSIM (real)": ev["ms_ssim_real"]},
        )
    return rows


def run_latent(data, cfg, g):
    from dimedia_course.applications.synthesis import SMALL_MS_SSIM
    from dimedia_course.latent import LatentDiffusion
    from dimedia_course.metrics import mmd, pairwise_ms_ssim

    ldm = LatentDiffusion(image_size=SIZE, latent_channels=2, ae_channels=(16, 32))
    train = data["train"]["healthy"]
    ldm.fit_autoencoder(train, steps=cfg["ae_steps"], batch_size=cfg["batch_size"], generator=g)
    ldm.fit_diffusion(train, steps=cfg["ldm_steps"], batch_size=cfg["batch_size"], generator=g)
    test = torch.cat([data["test"]["healthy"], data["val"]["healthy"]])
    rows = _rows_from("latent diffusion", "AutoencoderKL reconstruction", _quality(ldm.reconstruct(test), test))
    samples = ldm.sample(cfg["ldm_samples"], num_inference_steps=cfg["infer_steps"], generator=g)
    FIGURES["ldm_samples"] = samples[:8]
    rows += _rows_from(
        "latent diffusion",
        "LDM samples (healthy)",
        {
            "MMD": float(mmd(samples, test)),
            "MS-SSIM (samples)": float(pairwise_ms_ssim(samples, **SMALL_MS_SSIM)),
            "MS-SSIM (real)": float(pairwise_ms_ssim(test, **SMALL_MS_SSIM)),
            "latent scale factor": ldm.scale_factor,
        },
    )
    return rows


#: example tensors of the last run, drawn by :func:`write_figures`
FIGURES: dict[str, torch.Tensor] = {}


def run(
    quick: bool = False, seed: int = 0, data: str = "mni152", root=None, download: bool = False, tasks=tuple(TASKS)
) -> tuple[list[dict], dict]:
    """Run the ``tasks`` (default: all, see :data:`TASKS`) for one seed on dataset ``data``; returns (rows,
    seconds per task)."""
    check_tasks(data, tasks)
    cfg = QUICK if quick else FULL
    timings: dict[str, float] = {}
    rows: list[dict] = []
    FIGURES.clear()

    def timed(name, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
        print(f"[applications benchmark, seed {seed}] {name}: {timings[name]:.1f} s", file=sys.stderr, flush=True)
        return out

    splits = timed("data", _data, cfg, seed, data, root, download)
    if {"anomaly", "mri", "ct"} & set(tasks):
        model, sched, _ = timed("train healthy prior (shared)", run_prior, splits, cfg, make_generator(seed))
    for i, (task, fn, uses_prior) in enumerate(
        [
            ("anomaly", run_anomaly, True),
            ("segmentation", run_segmentation, False),
            ("mri", run_mri, True),
            ("ct", run_ct, True),
            ("synthesis", run_synthesis, False),
            ("latent", run_latent, False),
        ]
    ):
        if task in tasks:
            args = (model, sched, splits) if uses_prior else (splits,)
            rows += timed(TASKS[task], fn, *args, cfg, make_generator(seed + 1 + i))
    return rows, timings


def summarize(per_seed: dict[int, list[dict]]) -> list[dict]:
    """Mean and standard deviation (ddof=1; 0 for a single seed) of every (task, method, metric) over seeds."""
    groups: dict[tuple, list[float]] = {}
    for rows in per_seed.values():
        for r in rows:
            groups.setdefault((r["task"], r["method"], r["metric"]), []).append(float(r["value"]))
    out = []
    for (task, method, metric), values in groups.items():
        v = torch.tensor(values, dtype=torch.float64)
        std = float(v.std()) if len(values) > 1 else 0.0
        out.append(
            {"task": task, "method": method, "metric": metric, "mean": float(v.mean()), "std": std, "n": len(values)}
        )
    return out


FIGURE_PANELS = {
    "anomaly": [
        ("anomaly_images", "lesioned slice", (-1, 1)),
        ("anomaly_masks", "true lesion", (0, 1)),
        ("anomaly_partial_noise", "map: partial noising", None),
        ("anomaly_ddim", "map: DDIM inversion", None),
    ],
    "segmentation": [
        ("seg_images", "image", (-1, 1)),
        ("seg_masks", "true mask", (0, 1)),
        ("seg_mean", "ensemble mean", (0, 1)),
        ("seg_variance", "ensemble variance", None),
    ],
    "reconstruction": [
        ("mri_truth", "MRI: truth", (-1, 1)),
        ("mri_zero_filled", "MRI: zero-filled 4x", (-1, 1)),
        ("mri_dc", "MRI: diffusion + DC", (-1, 1)),
        ("ct_truth", "CT: truth", (-1, 1)),
        ("ct_fbp", "CT: FBP, 8 views", (-1, 1)),
        ("ct_dc", "CT: diffusion + CG DC", (-1, 1)),
    ],
    "synthesis": [
        ("synthesis_s1", "CFG s = 1", (-1, 1)),
        ("synthesis_s3", "CFG s = 3", (-1, 1)),
        ("ldm_samples", "latent diffusion", (-1, 1)),
    ],
}


def write_figures(out_dir: Path) -> list[Path]:
    """Draw the example tensors of the last run: one PNG per application, a row per panel, 4-8 examples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, panels in FIGURE_PANELS.items():
        panels = [p for p in panels if p[0] in FIGURES]
        if not panels:
            continue
        ncol = max(FIGURES[key].shape[0] for key, _, _ in panels)
        fig, axes = plt.subplots(len(panels), ncol, figsize=(1.3 * ncol + 1.2, 1.35 * len(panels)), squeeze=False)
        for row, (key, title, limits) in enumerate(panels):
            images = FIGURES[key].detach().cpu().float()
            for col in range(ncol):
                ax = axes[row][col]
                ax.set_xticks([])
                ax.set_yticks([])
                if col < images.shape[0]:
                    vmin, vmax = limits if limits else (None, None)
                    ax.imshow(images[col, 0].numpy(), cmap="gray" if limits else "magma", vmin=vmin, vmax=vmax)
                else:
                    ax.axis("off")
            axes[row][0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_results(
    per_seed: dict[int, list[dict]],
    timings: dict[int, dict],
    out_dir: Path,
    quick: bool,
    data: str = "mni152",
    tasks=tuple(TASKS),
) -> tuple[Path, Path]:
    """Write ``results.csv`` (seed, task, method, metric, value; timings as metric ``seconds``) and
    ``results_table.md`` (mean +- std over seeds, and wall-clock times), which the book's results page
    includes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "results.csv", out_dir / "results_table.md"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["seed", "task", "method", "metric", "value"])
        writer.writeheader()
        for seed, rows in per_seed.items():
            extra = [
                {"task": k, "method": "(wall clock)", "metric": "seconds", "value": v} for k, v in timings[seed].items()
            ]
            for r in rows + extra:
                writer.writerow({"seed": seed, **r, "value": f"{r['value']:.4f}"})
    cfg = QUICK if quick else FULL
    seeds = list(per_seed)
    summary = summarize(per_seed)
    flags = " --quick" if quick else ""
    flags += "" if data == "mni152" else f" --data {data}"
    flags += "" if list(tasks) == list(TASKS) else f" --tasks {' '.join(tasks)}"
    unit = "images" if data == "mednist" else "slices"
    lines = [
        f"`python -m dimedia_course.course.benchmarks.applications{flags} --seeds "
        f"{' '.join(map(str, seeds))}`: 32 x 32 {DATA_DESCRIPTION[data]}, {cfg['n_train']} training {unit}, "
        f"{cfg['n_test']} test {unit}; training steps (batch {cfg['batch_size']}): healthy prior "
        f"{cfg['train_steps']}, segmentation {cfg['seg_steps']}, synthesis {cfg['synth_steps']}, autoencoder "
        f"{cfg['ae_steps']}, latent UNet {cfg['ldm_steps']}; {cfg['infer_steps']} DDIM steps (trailing spacing); "
        f"CPU, {torch.get_num_threads()} thread(s). Mean +- standard deviation over {len(seeds)} seed(s).",
        "",
        "| task | method | metric | mean +- std |",
        "| --- | --- | --- | ---: |",
    ]
    lines += [f"| {r['task']} | {r['method']} | {r['metric']} | {r['mean']:.3f} +- {r['std']:.3f} |" for r in summary]
    lines += ["", "| step | wall-clock seconds per seed (mean) |", "| --- | ---: |"]
    steps = list(next(iter(timings.values())))
    for k in steps:
        lines.append(f"| {k} | {sum(t[k] for t in timings.values()) / len(timings):.1f} |")
    total = sum(sum(t.values()) for t in timings.values()) / len(timings)
    lines += [f"| **total** | {total:.1f} |", ""]
    md_path.write_text("\n".join(lines))
    return csv_path, md_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test configuration (~1-2 minutes)")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmark_results"), help="where to write results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to run (report mean +- std)")
    parser.add_argument("--figures", type=Path, default=None, help="write example figures (first seed) here")
    parser.add_argument(
        "--data",
        choices=list(LESION_MASKS) + ["mednist"],
        default="mni152",
        help="images: mni152 (offline, synthetic lesions), decathlon-brain (tumour masks) or mednist (no masks)",
    )
    parser.add_argument("--data-root", type=Path, default=None, help="dataset folder (default: $DIMEDIA_DATA)")
    parser.add_argument("--download", action="store_true", help="fetch --data through MONAI when missing")
    parser.add_argument(
        "--tasks", nargs="+", choices=list(TASKS), default=list(TASKS), help="tasks to run (default: all)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is faster on a busy machine)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error("--seeds must be distinct")
    from dimedia_course.data.medical import DatasetUnavailableError

    per_seed, timings = {}, {}
    try:
        check_tasks(args.data, args.tasks)
        for i, seed in enumerate(args.seeds):
            per_seed[seed], timings[seed] = run(args.quick, seed, args.data, args.data_root, args.download, args.tasks)
            if i == 0 and args.figures is not None:
                for path in write_figures(args.figures):
                    print(f"wrote {path}")
    except DatasetUnavailableError as err:  # say at once what is missing and how to get it
        parser.error(f"{err} Here: add --download.")
    except DataError as err:  # tasks that the data cannot serve
        parser.error(str(err))
    csv_path, md_path = write_results(per_seed, timings, args.out_dir, args.quick, args.data, args.tasks)
    print(md_path.read_text())
    print(f"wrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
