"""Other correct answers and subtly wrong answers of a06 (anomaly detection), for tests/test_grading_checks.py."""

CORRECT = {
    "blur with one 2D kernel (outer product), replicate padding on all sides": {
        "gaussian_smooth": (
            "def gaussian_smooth(maps, sigma):\n"
            "    if sigma == 0:\n"
            "        return maps.clone()\n"
            "    r = max(1, math.ceil(3 * sigma))\n"
            "    x = torch.arange(-r, r + 1, dtype=torch.float32)\n"
            "    k1 = torch.exp(-0.5 * (x / sigma) ** 2)\n"
            "    k2 = torch.outer(k1, k1)\n"
            "    k2 = k2 / k2.sum()\n"
            "    c = maps.shape[1]\n"
            "    padded = F.pad(maps, (r, r, r, r), mode='replicate')\n"
            "    return F.conv2d(padded, k2.expand(c, 1, -1, -1), groups=c)\n"
        )
    },
    "separable blur with a float64 kernel, vertical pass first, channels folded into the batch": {
        "gaussian_smooth": (
            "def gaussian_smooth(maps, sigma):\n"
            "    if sigma == 0:\n"
            "        return maps\n"
            "    r = max(1, math.ceil(3 * sigma))\n"
            "    j = torch.arange(-r, r + 1, dtype=torch.float64)\n"
            "    k = torch.exp(-j * j / (2 * sigma * sigma))\n"
            "    k = (k / k.sum()).float()\n"
            "    b, c, h, w = maps.shape\n"
            "    x = maps.reshape(b * c, 1, h, w)\n"
            "    x = F.conv2d(F.pad(x, (0, 0, r, r), mode='replicate'), k.view(1, 1, -1, 1))\n"
            "    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode='replicate'), k.view(1, 1, 1, -1))\n"
            "    return x.reshape(b, c, h, w)\n"
        )
    },
    "anomaly map with torch.where for the mask and an explicit channel mean": {
        "anomaly_map": (
            "def anomaly_map(images, reconstruction, sigma=1.0, mask=None):\n"
            "    err = torch.abs(reconstruction - images).sum(1, keepdim=True) / images.shape[1]\n"
            "    amap = gaussian_smooth(err, sigma)\n"
            "    if mask is not None:\n"
            "        amap = torch.where(mask.bool(), amap, torch.zeros_like(amap))\n"
            "    return amap\n"
        )
    },
    "healthy reconstruction with DDIM coefficients in float64 (z_prev = c1 x + c2 eps after clipping)": {
        "healthy_reconstruction": (
            "def healthy_reconstruction(model, images, alphas_cumprod, timesteps, start_index, generator=None):\n"
            "    ab = alphas_cumprod.double()\n"
            "    ts = timesteps.tolist()[start_index:]\n"
            "    noise = torch.randn(images.shape, generator=generator)\n"
            "    a = ab[ts[0]]\n"
            "    x = (torch.sqrt(a) * images + torch.sqrt(1 - a) * noise).float()\n"
            "    for i, t in enumerate(ts):\n"
            "        a_t = ab[t]\n"
            "        a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, dtype=torch.float64)\n"
            "        with torch.no_grad():\n"
            "            eps = model(x, torch.tensor([t] * len(x)))\n"
            "        x0 = torch.clamp((x - torch.sqrt(1 - a_t) * eps) / torch.sqrt(a_t), -1, 1)\n"
            "        x = (torch.sqrt(a_prev) * x0 + torch.sqrt(1 - a_prev) * eps).float()\n"
            "    return x\n"
        )
    },
    "Dice with boolean masks, counted in float64": {
        "dice_score": (
            "def dice_score(pred, target):\n"
            "    p, t = pred.bool().flatten(1), target.bool().flatten(1)\n"
            "    inter = (p & t).sum(1).double()\n"
            "    total = (p.sum(1) + t.sum(1)).double()\n"
            "    one = torch.tensor(1.0, dtype=torch.float64)\n"
            "    scores = [one if n == 0 else 2 * i / n for i, n in zip(inter, total)]\n"
            "    return torch.stack(scores).mean().float()\n"
        )
    },
    "AUROC by pairwise comparison, ties counted as one half": {
        "pixel_auroc": (
            "def pixel_auroc(scores, labels):\n"
            "    s, y = scores.flatten().double(), labels.flatten() > 0.5\n"
            "    pos, neg = s[y][:, None], s[~y][None, :]\n"
            "    return ((pos > neg).double().mean() + 0.5 * (pos == neg).double().mean()).item()\n"
        )
    },
    "AUROC with scipy's rankdata": {
        "pixel_auroc": (
            "def pixel_auroc(scores, labels):\n"
            "    from scipy.stats import rankdata\n"
            "    s, y = scores.flatten().numpy(), labels.flatten().numpy() == 1\n"
            "    r = rankdata(s)\n"
            "    n_pos, n_neg = int(y.sum()), int((~y).sum())\n"
            "    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / n_pos / n_neg)\n"
        )
    },
    "AUROC by the trapezoidal ROC curve over distinct thresholds": {
        "pixel_auroc": (
            "def pixel_auroc(scores, labels):\n"
            "    s, y = scores.flatten(), labels.flatten().bool()\n"
            "    thresholds = torch.unique(s).flip(0)\n"
            "    tpr = [0.0] + [float((s[y] >= th).float().mean()) for th in thresholds]\n"
            "    fpr = [0.0] + [float((s[~y] >= th).float().mean()) for th in thresholds]\n"
            "    return sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(thresholds)))\n"
        )
    },
}

WRONG = {
    "blur with zero padding": ("gaussian_smooth", [('mode="replicate"', 'mode="constant"')]),
    "blur with reflect padding": ("gaussian_smooth", [('mode="replicate"', 'mode="reflect"')]),
    "blur with radius ceil(2 sigma)": ("gaussian_smooth", [("math.ceil(3 * sigma)", "math.ceil(2 * sigma)")]),
    "blur kernel normalised by sqrt(2 pi) sigma instead of its sum": (
        "gaussian_smooth",
        [("k = k / k.sum()", "k = k / (math.sqrt(2 * math.pi) * sigma)")],
    ),
    "blur kernel exp(-j^2 / (2 sigma))": ("gaussian_smooth", [("(2 * sigma**2)", "(2 * sigma)")]),
    "blur along one axis only": (
        "gaussian_smooth",
        [
            (
                "    return F.conv2d(F.pad(out, (0, 0, r, r)",
                "    return out\n    return F.conv2d(F.pad(out, (0, 0, r, r)",
            )
        ],
    ),
    "anomaly map summed over channels": ("anomaly_map", [(".mean(dim=1, keepdim=True)", ".sum(dim=1, keepdim=True)")]),
    "anomaly map of squared errors": (
        "anomaly_map",
        [("(images - reconstruction).abs()", "((images - reconstruction) ** 2)")],
    ),
    "anomaly map masked before smoothing too": (
        "anomaly_map",
        [(".mean(dim=1, keepdim=True), sigma)", ".mean(dim=1, keepdim=True) * (1 if mask is None else mask), sigma)")],
    ),
    "anomaly map ignoring the mask": ("anomaly_map", [("amap if mask is None else amap * mask", "amap")]),
    "healthy reconstruction without clipping x0": ("healthy_reconstruction", [(".clamp(-1, 1)", "")]),
    "healthy reconstruction noised to the previous timestep": (
        "healthy_reconstruction",
        [("ab[ts[start_index]]", "ab[ts[max(start_index - 1, 0)]]")],
    ),
    "healthy reconstruction skipping the first denoising step": (
        "healthy_reconstruction",
        [("range(start_index, len(ts))", "range(start_index + 1, len(ts))")],
    ),
    "healthy reconstruction noised without square roots": (
        "healthy_reconstruction",
        [
            (
                "ab[ts[start_index]].sqrt() * images + (1 - ab[ts[start_index]]).sqrt() * noise",
                "ab[ts[start_index]] * images + (1 - ab[ts[start_index]]) * noise",
            )
        ],
    ),
    "healthy reconstruction ending at alphabar_0 instead of 1": (
        "healthy_reconstruction",
        [("else torch.ones(())", "else ab[0]")],
    ),
    "Dice returned as a float": ("dice_score", [("return values.mean()", "return float(values.mean())")]),
    "Dice 0 for two empty masks": ("dice_score", [("torch.ones_like(total)", "torch.zeros_like(total)")]),
    "Dice pooled over the batch": ("dice_score", [("return values.mean()", "return 2 * inter.sum() / total.sum()")]),
    "Dice without the factor 2": ("dice_score", [("2 * inter / total", "inter / total")]),
    "AUROC with ordinal ranks (ties not counted as one half)": (
        "pixel_auroc",
        [("torch.repeat_interleave((starts + ends) / 2, counts)", "torch.arange(1, len(s) + 1, dtype=torch.float64)")],
    ),
    "AUROC with the highest rank of each tie": ("pixel_auroc", [("(starts + ends) / 2", "ends")]),
    "AUROC returned as a tensor": ("pixel_auroc", [("return float(", "return torch.as_tensor(")]),
    "AUROC subtracting n_neg (n_neg + 1) / 2": (
        "pixel_auroc",
        [("n_pos * (n_pos + 1) / 2", "n_neg * (n_neg + 1) / 2")],
    ),
}
