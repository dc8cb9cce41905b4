CORRECT = {
    "linear betas with linspace in float32": {
        "linear_betas": (
            "def linear_betas(num_steps, beta_start=1e-4, beta_end=0.02):\n"
            "    return torch.linspace(beta_start, beta_end, num_steps)\n"
        )
    },
    "cosine betas in float32 (as MONAI computes them)": {
        "cosine_betas": (
            "def cosine_betas(num_steps, s=0.008, max_beta=0.999):\n"
            "    x = torch.linspace(0, num_steps, num_steps + 1)\n"
            "    ab = torch.cos(((x / num_steps) + s) / (1 + s) * math.pi * 0.5) ** 2\n"
            "    ab = ab / ab[0].item()\n"
            "    return torch.clip(1 - (ab[1:] / ab[:-1]), 0, max_beta)\n"
        )
    },
    "cosine betas from alphabar(t) directly, min() for the clipping": {
        "cosine_betas": (
            "def cosine_betas(num_steps, s=0.008, max_beta=0.999):\n"
            "    def f(t):\n"
            "        return math.cos((t / num_steps + s) / (1 + s) * math.pi / 2) ** 2\n"
            "    values = [min(1 - f(i + 1) / f(i), max_beta) for i in range(num_steps)]\n"
            "    return torch.tensor(values, dtype=torch.float32)\n"
        )
    },
    "alphabar by exp(cumsum(log1p(-beta))) in float64": {
        "alphas_cumprod": (
            "def alphas_cumprod(betas):\n    return torch.exp(torch.cumsum(torch.log1p(-betas.double()), 0)).float()\n"
        )
    },
    "q_sample in float32 with a view": {
        "q_sample": (
            "def q_sample(x0, t, noise, alphas_cumprod):\n"
            "    a = alphas_cumprod[t].view(-1, *([1] * (x0.dim() - 1)))\n"
            "    return torch.sqrt(a) * x0 + torch.sqrt(1.0 - a) * noise\n"
        )
    },
    "q_posterior in float32, textbook formulas, variance of shape (B,)": {
        "q_posterior": (
            "def q_posterior(x0, x_t, t, betas):\n"
            "    alphas = 1 - betas\n"
            "    ab = torch.cumprod(alphas, 0)\n"
            "    ab_prev = torch.cat([torch.ones(1), ab[:-1]])\n"
            "    shape = (-1,) + (1,) * (x_t.ndim - 1)\n"
            "    c0 = (ab_prev[t].sqrt() * betas[t] / (1 - ab[t])).reshape(shape)\n"
            "    ct = (alphas[t].sqrt() * (1 - ab_prev[t]) / (1 - ab[t])).reshape(shape)\n"
            "    var = (1 - ab_prev[t]) / (1 - ab[t]) * betas[t]\n"
            "    return c0 * x0 + ct * x_t, var\n"
        )
    },
}

WRONG = {
    "linear betas one step short of beta_end": ("linear_betas", [("max(num_steps - 1, 1)", "num_steps")]),
    "linear betas returned in float64": ("linear_betas", [("return betas.to(torch.float32)", "return betas")]),
    "cosine without the square": ("cosine_betas", [("* math.pi / 2) ** 2", "* math.pi / 2)")]),
    "cosine betas ignoring max_beta": ("cosine_betas", [("clamp(0.0, max_beta)", "clamp(0.0, 0.999)")]),
    "cosine betas not clipped": ("cosine_betas", [(".clamp(0.0, max_beta)", "")]),
    "cosine with alphabar shifted by one step": (
        "cosine_betas",
        [
            ("alpha_bar[1:] / alpha_bar[:-1]", "alpha_bar[2:] / alpha_bar[1:-1]"),
            ("torch.arange(num_steps + 1,", "torch.arange(num_steps + 2,"),
        ],
    ),
    "alphabar accumulated in float32": (
        "alphas_cumprod",
        [("torch.ones((), dtype=torch.float64)", "torch.ones(())"), ("betas).double()", "betas).float()")],
    ),
    "alphabar shifted by one (alphabar_{t-1})": (
        "alphas_cumprod",
        [("return torch.stack(values)", "return torch.stack([torch.ones((), dtype=torch.float64)] + values[:-1])")],
    ),
    "q_sample without square roots": (
        "q_sample",
        [("ab.sqrt() * x0 + (1 - ab).sqrt() * noise", "ab * x0 + (1 - ab) * noise")],
    ),
    "q_sample at t - 1": (
        "q_sample",
        [("alphas_cumprod.to(x0.device)[t]", "alphas_cumprod.to(x0.device)[(t - 1).clamp(min=0)]")],
    ),
    "q_sample with one alphabar for the batch": ("q_sample", [("[t].to(x0.dtype)", "[t[:1]].to(x0.dtype)")]),
    "posterior with alphabar_t for alphabar_{t-1}": ("q_posterior", [("ab_p.sqrt() * beta_t", "ab_t.sqrt() * beta_t")]),
    "posterior variance without the (1 - alphabar_{t-1}) / (1 - alphabar_t) factor": (
        "q_posterior",
        [("variance = (1 - ab_p) / (1 - ab_t) * beta_t", "variance = beta_t + 0 * ab_p")],
    ),
    "posterior mean without sqrt(alpha_t)": ("q_posterior", [("(1 - beta_t).sqrt() * (1 - ab_p)", "(1 - ab_p)")]),
}
