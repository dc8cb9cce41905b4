"""Plotting helpers used by the course website, slides and exercises.

Every figure of the course is drawn by one of these functions so that pages stay short and figures
look alike. All functions take tensors or arrays in the package convention: images are ``(B, C, H, W)``
(or ``(C, H, W)`` / ``(H, W)`` for one image) scaled to ``[-1, 1]``. Each function returns the
:class:`matplotlib.figure.Figure` it drew on, so notebooks can display or save it.

The forward-process figure follows Ho et al. 2020, eq. 4:
``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from dimedia_course.forward import q_sample

__all__ = [
    "html_table",
    "quality_table",
    "to_numpy_images",
    "show_images",
    "plot_schedules",
    "plot_forward_process",
    "plot_trajectory",
    "plot_image_rows",
    "plot_curve",
]


def to_numpy_images(images) -> np.ndarray:
    """Convert images to a float numpy array shaped ``(B, H, W)`` (grey) or ``(B, H, W, 3)`` (RGB).

    Accepts a tensor or array shaped ``(B, C, H, W)``, ``(C, H, W)`` with C in {1, 3}, or ``(H, W)``,
    or a list of such single images. Values are returned unchanged (no rescaling).
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images: expected at least one image, got an empty sequence")
        return np.concatenate([to_numpy_images(im) for im in images], axis=0)
    if isinstance(images, torch.Tensor):
        arr = images.detach().to("cpu", torch.float32).numpy()
    elif isinstance(images, np.ndarray):
        arr = images.astype(np.float32, copy=False)
    else:
        raise TypeError(f"images: expected a torch.Tensor, numpy array or list of them, got {type(images).__name__}")
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"images: expected shape (B, C, H, W), (C, H, W) or (H, W), got {tuple(arr.shape)}")
    channels = arr.shape[1]
    if channels == 1:
        return arr[:, 0]
    if channels == 3:
        return np.moveaxis(arr, 1, -1)
    raise ValueError(f"images: expected 1 or 3 channels, got {channels} (shape {tuple(arr.shape)})")


def _grid_shape(n: int, nrow: int | None) -> tuple[int, int]:
    """Rows and columns for ``n`` panels with ``nrow`` images per row (torchvision convention)."""
    if nrow is None:
        nrow = min(n, 8)
    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow: expected a positive integer, got {nrow!r}")
    ncols = min(nrow, n)
    return math.ceil(n / ncols), ncols


def show_images(
    images,
    nrow: int | None = None,
    titles: Sequence[str] | None = None,
    ax=None,
    fig=None,
    *,
    vmin: float | None = -1.0,
    vmax: float | None = 1.0,
    cmap: str = "gray",
    suptitle: str | None = None,
    panel_size: float = 1.6,
):
    """Show a batch of images as a grid, ``nrow`` images per row.

    Args:
        images: ``(B, C, H, W)`` tensor/array (C = 1 or 3), a single image, or a list of images.
        nrow: images per row (default ``min(B, 8)``).
        titles: optional one title per image.
        ax: draw a single mosaic into this existing axes instead of a grid of axes.
        fig: draw into this existing figure (its axes are replaced by the grid).
        vmin, vmax: grey-level range; ``None`` lets matplotlib scale each image.
        cmap: colour map for grey images.
        suptitle: optional figure title.
        panel_size: size in inches of one panel.

    Returns:
        The matplotlib figure.
    """
    arr = to_numpy_images(images)
    n = arr.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles: expected {n} titles (one per image), got {len(titles)}")
    rows, cols = _grid_shape(n, nrow)

    if ax is not None:
        # One mosaic in a single axes (useful inside a larger figure).
        h, w = arr.shape[1:3]
        pad = 1
        shape = (rows * (h + pad) - pad, cols * (w + pad) - pad) + arr.shape[3:]
        fill = vmax if vmax is not None else float(arr.max())
        mosaic = np.full(shape, fill, dtype=np.float32)
        for i in range(n):
            r, c = divmod(i, cols)
            mosaic[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = arr[i]
        ax.imshow(mosaic, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_axis_off()
        if suptitle:
            ax.set_title(suptitle)
        return ax.figure

    if fig is None:
        fig = plt.figure(figsize=(cols * panel_size, rows * panel_size + (0.3 if suptitle else 0.0)))
    else:
        fig.clear()
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, a in enumerate(axes.flat):
        a.set_axis_off()
        if i >= n:
            continue
        a.imshow(arr[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            a.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def _as_1d_numpy(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D sequence, got shape {arr.shape}")
    return arr


def plot_schedules(
    schedules: Mapping[str, object], *, quantities: Sequence[str] = ("betas", "alphas_cumprod", "log_snr"), fig=None
):
    """Compare noise schedules: beta_t, alpha_bar_t and log SNR_t = log(alpha_bar_t / (1 - alpha_bar_t)).

    Args:
        schedules: mapping ``label -> betas`` where ``betas`` is a 1-D tensor/array of length T
            (e.g. from ``dimedia_course.schedules.make_beta_schedule``), or an object with a ``betas``
            attribute (``NoiseSchedule``, a scheduler).
        quantities: which panels to draw, any of ``"betas"``, ``"alphas_cumprod"``, ``"log_snr"``.
        fig: optional existing figure.

    Returns:
        The matplotlib figure (one panel per quantity). See Ho et al. 2020 (linear) and
        Nichol & Dhariwal 2021, eq. 17 (cosine).
    """
    if not isinstance(schedules, Mapping) or len(schedules) == 0:
        raise ValueError("schedules: expected a non-empty mapping label -> betas")
    allowed = {"betas": r"$\beta_t$", "alphas_cumprod": r"$\bar\alpha_t$", "log_snr": r"$\log \mathrm{SNR}(t)$"}
    for q in quantities:
        if q not in allowed:
            raise ValueError(f"quantities: unknown quantity {q!r}; expected some of {sorted(allowed)}")
    if fig is None:
        fig = plt.figure(figsize=(3.4 * len(quantities), 2.8))
    else:
        fig.clear()
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    for label, sched in schedules.items():
        betas = _as_1d_numpy(getattr(sched, "betas", sched), f"schedules[{label!r}]")
        if np.any(betas <= 0) or np.any(betas >= 1):
            raise ValueError(f"schedules[{label!r}]: betas must lie in (0, 1)")
        abar = np.cumprod(1.0 - betas)
        series = {"betas": betas, "alphas_cumprod": abar, "log_snr": np.log(abar) - np.log1p(-abar)}
        for a, q in zip(axes, quantities):
            a.plot(np.arange(len(betas)), series[q], label=str(label))
    for a, q in zip(axes, quantities):
        a.set_xlabel("timestep $t$")
        a.set_title(allowed[q])
        a.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_forward_process(
    x0,
    alphas_cumprod,
    timesteps: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    noise=None,
    fig=None,
    panel_size: float = 1.6,
):
    """Show images noised by the forward process at several timesteps (Ho et al. 2020, eq. 4).

    Each row is one image of ``x0`` and each column one timestep ``t``:
    ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`` with the same ``eps`` across columns.

    Args:
        x0: clean images ``(B, C, H, W)`` in ``[-1, 1]`` (or one image ``(C, H, W)``).
        alphas_cumprod: 1-D tensor of cumulative products of ``1 - beta_t``.
        timesteps: timesteps to show (0-based indices into ``alphas_cumprod``).
        generator: torch generator for the noise (ignored when ``noise`` is given).
        noise: optional noise tensor shaped like ``x0``.

    Returns:
        The matplotlib figure.
    """
    if not isinstance(x0, torch.Tensor):
        x0 = torch.as_tensor(np.asarray(x0), dtype=torch.float32)
    if x0.ndim == 3:
        x0 = x0[None]
    if x0.ndim != 4:
        raise ValueError(f"x0: expected shape (B, C, H, W), got {tuple(x0.shape)}")
    abar = torch.as_tensor(alphas_cumprod, dtype=torch.float32).flatten().cpu()
    steps = [int(t) for t in timesteps]
    if not steps:
        raise ValueError("timesteps: expected at least one timestep")
    for t in steps:
        if not 0 <= t < abar.numel():
            raise ValueError(f"timesteps: {t} is outside [0, {abar.numel() - 1}]")
    x0 = x0.detach().to("cpu", torch.float32)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator)
    elif tuple(noise.shape) != tuple(x0.shape):
        raise ValueError(f"noise: expected shape {tuple(x0.shape)} like x0, got {tuple(noise.shape)}")
    noise = noise.detach().to("cpu", torch.float32)
    columns = [q_sample(x0, t, noise, abar) for t in steps]  # Ho et al. 2020, eq. 4
    grid = torch.stack(columns, dim=1).flatten(0, 1)  # row-major: image i, timestep j
    titles = [f"t = {steps[j]}" if i == 0 else "" for i in range(x0.shape[0]) for j in range(len(steps))]
    return show_images(grid, nrow=len(steps), titles=titles, fig=fig, vmin=-1.5, vmax=1.5, panel_size=panel_size)


def plot_trajectory(
    trajectory,
    *,
    num_frames: int = 8,
    labels: Sequence[str] | None = None,
    index: int = 0,
    fig=None,
    panel_size: float = 1.6,
):
    """Show the reverse-process trajectory ``x_T -> ... -> x_0`` of one sample.

    Args:
        trajectory: list of ``(B, C, H, W)`` tensors (as returned by
            ``dimedia_course.sampling.sample(..., return_trajectory=True)``) or a tensor ``(S, B, C, H, W)``.
        num_frames: how many evenly spaced frames to show (first and last always included).
        labels: optional labels, one per trajectory entry (e.g. the timesteps).
        index: which batch element to follow.

    Returns:
        The matplotlib figure.
    """
    frames = list(trajectory) if not isinstance(trajectory, torch.Tensor) else list(trajectory.unbind(0))
    if len(frames) == 0:
        raise ValueError("trajectory: expected at least one step")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"labels: expected {len(frames)} labels (one per step), got {len(labels)}")
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames: expected a positive integer, got {num_frames!r}")
    picks = sorted(set(np.linspace(0, len(frames) - 1, min(num_frames, len(frames))).round().astype(int).tolist()))
    images = []
    for p in picks:
        f = frames[p]
        f = f if isinstance(f, torch.Tensor) else torch.as_tensor(np.asarray(f))
        if f.ndim == 4:
            if not 0 <= index < f.shape[0]:
                raise ValueError(f"index: {index} is outside the batch of size {f.shape[0]}")
            f = f[index]
        images.append(f.detach().cpu().float())
    titles = [str(labels[p]) if labels is not None else f"step {p}" for p in picks]
    return show_images(
        torch.stack(images), nrow=len(images), titles=titles, fig=fig, vmin=-1.5, vmax=1.5, panel_size=panel_size
    )


def plot_image_rows(
    rows: Mapping[str, object],
    *,
    fig=None,
    panel_size: float = 1.6,
    vmin: float | None = -1.0,
    vmax: float | None = 1.0,
    col_titles: Sequence[str] | None = None,
):
    """Show several batches of images as labelled rows (e.g. originals / reconstructions / errors).

    Args:
        rows: mapping ``row label -> images (B, C, H, W)``; every row must have the same ``B``.
        col_titles: optional titles for the columns.

    Returns:
        The matplotlib figure.
    """
    if not isinstance(rows, Mapping) or len(rows) == 0:
        raise ValueError("rows: expected a non-empty mapping label -> images")
    arrays = {k: to_numpy_images(v) for k, v in rows.items()}
    counts = {k: a.shape[0] for k, a in arrays.items()}
    ncols = next(iter(counts.values()))
    if any(c != ncols for c in counts.values()):
        raise ValueError(f"rows: every row must hold the same number of images, got {counts}")
    if col_titles is not None and len(col_titles) != ncols:
        raise ValueError(f"col_titles: expected {ncols} titles, got {len(col_titles)}")
    if fig is None:
        fig = plt.figure(figsize=(ncols * panel_size + 0.8, len(arrays) * panel_size))
    else:
        fig.clear()
    axes = fig.subplots(len(arrays), ncols, squeeze=False)
    for r, (label, arr) in enumerate(arrays.items()):
        for c in range(ncols):
            a = axes[r, c]
            a.imshow(arr[c], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            if c == 0:
                a.set_ylabel(str(label), fontsize=9)
            if r == 0 and col_titles is not None:
                a.set_title(str(col_titles[c]), fontsize=8)
    fig.tight_layout()
    return fig


def plot_curve(
    x,
    ys: Mapping[str, object] | object,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    logy: bool = False,
    fig=None,
):
    """Line plot of one or several curves against ``x`` (training losses, errors versus scale, ...).

    Args:
        x: 1-D x values (or ``None`` to use 0..N-1).
        ys: a 1-D sequence, or a mapping ``label -> 1-D sequence``.
        logy: logarithmic y axis.

    Returns:
        The matplotlib figure.
    """
    series = dict(ys) if isinstance(ys, Mapping) else {"": ys}
    if not series:
        raise ValueError("ys: expected at least one curve")
    if fig is None:
        fig = plt.figure(figsize=(4.5, 3.0))
    else:
        fig.clear()
    ax = fig.subplots()
    for label, y in series.items():
        yv = _as_1d_numpy(y, f"ys[{label!r}]")
        xv = np.arange(len(yv)) if x is None else _as_1d_numpy(x, "x")
        if len(xv) != len(yv):
            raise ValueError(f"x and ys[{label!r}]: expected equal lengths, got {len(xv)} and {len(yv)}")
        ax.plot(xv, yv, marker="o" if len(yv) <= 12 else None, label=str(label) if label else None)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if any(series.keys()) and any(k for k in series):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def html_table(header, rows, caption: str | None = None) -> str:
    """An HTML table (myst-nb renders ``IPython.display.Markdown`` as CommonMark, which has no tables).

    ``header`` is a sequence of column titles, ``rows`` a sequence of rows of cells; every cell is escaped
    (``str()`` of it), so the table shows exactly the values given. ``caption`` becomes a ``<caption>``.
    """
    import html

    header = [str(h) for h in header]
    if not header:
        raise ValueError("header: expected at least one column title")
    body = []
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"rows[{i}]: expected {len(header)} cells (one per column), got {len(row)}")
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def quality_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """An HTML table of :func:`dimedia_course.metrics.sample_quality` results, one row per sample set, each
    measure next to its real-vs-real floor (myst-nb renders Markdown without tables, so this is HTML)."""
    import html

    cols = [
        ("MMD&sup2; (&times;10&sup3;)", "mmd", 1e3, "{:.2f}"),
        ("KID (&times;10&sup3;)", "kid", 1e3, "{:.2f}"),
        ("precision", "precision", 1, "{:.2f}"),
        ("recall", "recall", 1, "{:.2f}"),
        ("NN distance to training", "nn_distance", 1, "{:.2f}"),
    ]
    head = "".join(f"<th>{name}<br><small>sample / real floor</small></th>" for name, *_ in cols)
    body = []
    for label, q in rows.items():
        cells = "".join(
            f"<td>{fmt.format(q[key] * scale)} / {fmt.format(q[key + '_floor'] * scale)}</td>"
            for _, key, scale, fmt in cols
        )
        body.append(
            f"<tr><td>{html.escape(str(label))}</td><td>{q['mmd'] / q['mmd_floor']:.1f}&times;</td>{cells}</tr>"
        )
    return (
        "<table><thead><tr><th>samples</th><th>MMD / floor</th>"
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )
