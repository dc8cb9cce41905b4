"""Other correct answers and subtly wrong answers of assignment a02 (see tests/test_grading_checks.py)."""

CORRECT = {
    "targets in float32, diffusers-style get_velocity (flatten then unsqueeze)": {
        "training_target": (
            "def training_target(x0, noise, t, alphas_cumprod, prediction_type):\n"
            "    if prediction_type == 'epsilon':\n"
            "        return noise\n"
            "    if prediction_type == 'sample':\n"
            "        return x0\n"
            "    if prediction_type != 'v_prediction':\n"
            "        raise ValueError(prediction_type)\n"
            "    sqrt_alpha_prod = (alphas_cumprod[t] ** 0.5).flatten()\n"
            "    sqrt_one_minus = ((1 - alphas_cumprod[t]) ** 0.5).flatten()\n"
            "    while sqrt_alpha_prod.ndim < x0.ndim:\n"
            "        sqrt_alpha_prod = sqrt_alpha_prod.unsqueeze(-1)\n"
            "        sqrt_one_minus = sqrt_one_minus.unsqueeze(-1)\n"
            "    return sqrt_alpha_prod * noise - sqrt_one_minus * x0\n"
        )
    },
    "x0 estimates as MONAI writes them (alpha_prod ** 0.5, beta_prod ** 0.5), float32": {
        "predict_x0": (
            "def predict_x0(model_output, x_t, t, alphas_cumprod, prediction_type):\n"
            "    alpha_prod = alphas_cumprod[t].view(-1, *([1] * (x_t.dim() - 1)))\n"
            "    beta_prod = 1 - alpha_prod\n"
            "    if prediction_type == 'epsilon':\n"
            "        return (x_t - beta_prod ** 0.5 * model_output) / alpha_prod ** 0.5\n"
            "    elif prediction_type == 'sample':\n"
            "        return model_output\n"
            "    elif prediction_type == 'v_prediction':\n"
            "        return (alpha_prod ** 0.5) * x_t - (beta_prod ** 0.5) * model_output\n"
            "    else:\n"
            "        raise ValueError('unknown prediction_type')\n"
        )
    },
    "x0 estimate with rsqrt and multiplications": {
        "predict_x0": (
            "def predict_x0(model_output, x_t, t, alphas_cumprod, prediction_type):\n"
            "    if prediction_type not in ('epsilon', 'sample', 'v_prediction'):\n"
            "        raise ValueError(prediction_type)\n"
            "    a = alphas_cumprod.gather(0, t).reshape(len(t), *([1] * (x_t.ndim - 1)))\n"
            "    if prediction_type == 'epsilon':\n"
            "        return torch.rsqrt(a) * x_t - torch.sqrt(1 / a - 1) * model_output\n"
            "    if prediction_type == 'sample':\n"
            "        return model_output.clone()\n"
            "    return torch.sqrt(a) * x_t - torch.sqrt(1 - a) * model_output\n"
        )
    },
    "loss with an explicit mean of squares and its own x_t": {
        "ddpm_loss": (
            "def ddpm_loss(model, x0, t, noise, alphas_cumprod, prediction_type='epsilon'):\n"
            "    a = alphas_cumprod[t][:, None, None, None]\n"
            "    x_t = torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise\n"
            "    pred = model(x_t, t)\n"
            "    target = training_target(x0, noise, t, alphas_cumprod, prediction_type)\n"
            "    return ((pred - target) ** 2).mean()\n"
        )
    },
    "loss computed in float64 and returned in float32": {
        "ddpm_loss": (
            "def ddpm_loss(model, x0, t, noise, alphas_cumprod, prediction_type='epsilon'):\n"
            "    a = alphas_cumprod.double()[t].reshape(-1, 1, 1, 1)\n"
            "    x_t = (a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()).float()\n"
            "    target = training_target(x0.double(), noise.double(), t, alphas_cumprod.double(), prediction_type)\n"
            "    return F.mse_loss(model(x_t, t).double(), target).float()\n"
        )
    },
    "ancestral step in the form of Algorithm 2, float32": {
        "ddpm_step": (
            "def ddpm_step(model_output, x_t, t, betas, noise):\n"
            "    alphas = 1 - betas\n"
            "    ab = torch.cumprod(alphas, 0)\n"
            "    mean = (x_t - betas[t] / torch.sqrt(1 - ab[t]) * model_output) / torch.sqrt(alphas[t])\n"
            "    if t == 0:\n"
            "        return mean\n"
            "    sigma2 = (1 - ab[t - 1]) / (1 - ab[t]) * betas[t]\n"
            "    return mean + torch.sqrt(sigma2) * noise\n"
        )
    },
    "ancestral step as diffusers' DDPMScheduler.step, float32": {
        "ddpm_step": (
            "def ddpm_step(model_output, x_t, t, betas, noise):\n"
            "    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)\n"
            "    alpha_prod_t = alphas_cumprod[t]\n"
            "    alpha_prod_t_prev = alphas_cumprod[t - 1] if t > 0 else torch.tensor(1.0)\n"
            "    beta_prod_t = 1 - alpha_prod_t\n"
            "    beta_prod_t_prev = 1 - alpha_prod_t_prev\n"
            "    current_alpha_t = alpha_prod_t / alpha_prod_t_prev\n"
            "    current_beta_t = 1 - current_alpha_t\n"
            "    pred_original_sample = (x_t - beta_prod_t ** 0.5 * model_output) / alpha_prod_t ** 0.5\n"
            "    pred_original_sample_coeff = (alpha_prod_t_prev ** 0.5 * current_beta_t) / beta_prod_t\n"
            "    current_sample_coeff = current_alpha_t ** 0.5 * beta_prod_t_prev / beta_prod_t\n"
            "    pred_prev_sample = pred_original_sample_coeff * pred_original_sample + current_sample_coeff * x_t\n"
            "    if t > 0:\n"
            "        variance = torch.clamp((1 - alpha_prod_t_prev) / (1 - alpha_prod_t) * current_beta_t, min=1e-20)\n"
            "        pred_prev_sample = pred_prev_sample + variance ** 0.5 * noise\n"
            "    return pred_prev_sample\n"
        )
    },
    "sampling loop over reversed(range(T)) with float32 steps": {
        "ddpm_step": (
            "def ddpm_step(model_output, x_t, t, betas, noise):\n"
            "    alphas = 1 - betas\n"
            "    ab = torch.cumprod(alphas, 0)\n"
            "    mean = (x_t - betas[t] / torch.sqrt(1 - ab[t]) * model_output) / torch.sqrt(alphas[t])\n"
            "    if t == 0:\n"
            "        return mean\n"
            "    return mean + torch.sqrt((1 - ab[t - 1]) / (1 - ab[t]) * betas[t]) * noise\n"
        ),
        "ddpm_sample": (
            "@torch.no_grad()\n"
            "def ddpm_sample(model, shape, betas, generator):\n"
            "    x = torch.randn(shape, generator=generator)\n"
            "    for t in reversed(range(betas.shape[0])):\n"
            "        t_batch = torch.full((shape[0],), t, dtype=torch.long)\n"
            "        eps = model(x, t_batch)\n"
            "        z = torch.randn(shape, generator=generator) if t > 0 else None\n"
            "        x = ddpm_step(eps, x, t, betas, z)\n"
            "    return x\n"
        ),
    },
}

WRONG = {
    "velocity with the wrong sign": (
        "training_target",
        [("return ab.sqrt() * noise - (1 - ab).sqrt() * x0", "return (1 - ab).sqrt() * x0 - ab.sqrt() * noise")],
    ),
    "velocity without square roots": (
        "training_target",
        [("return ab.sqrt() * noise - (1 - ab).sqrt() * x0", "return ab * noise - (1 - ab) * x0")],
    ),
    "velocity at alphabar_{t-1}": (
        "training_target",
        [("ab = alphas_cumprod[t]", "ab = alphas_cumprod[(t - 1).clamp(min=0)]")],
    ),
    "an unknown prediction_type gives the noise": (
        "training_target",
        [('raise ValueError(f"unknown prediction_type {prediction_type!r}")', "return noise")],
    ),
    "x0 from epsilon without the square root of alphabar": (
        "predict_x0",
        [("* model_output) / ab.sqrt()", "* model_output) / ab")],
    ),
    "x0 from v with swapped coefficients": (
        "predict_x0",
        [
            (
                "return ab.sqrt() * x_t - (1 - ab).sqrt() * model_output",
                "return (1 - ab).sqrt() * x_t - ab.sqrt() * model_output",
            )
        ],
    ),
    "x0 from epsilon at alphabar_{t+1}": (
        "predict_x0",
        [("ab = alphas_cumprod[t]", "ab = alphas_cumprod[(t + 1).clamp(max=len(alphas_cumprod) - 1)]")],
    ),
    "x0 for an unknown prediction_type is the output": (
        "predict_x0",
        [('raise ValueError(f"unknown prediction_type {prediction_type!r}")', "return model_output")],
    ),
    "loss summed instead of averaged": (
        "ddpm_loss",
        [("F.mse_loss(model(x_t, t), target)", "F.mse_loss(model(x_t, t), target, reduction='sum')")],
    ),
    "loss with the network evaluated on x0": (
        "ddpm_loss",
        [("F.mse_loss(model(x_t, t), target)", "F.mse_loss(model(x0, t), target)")],
    ),
    "x_t without square roots in the loss": (
        "ddpm_loss",
        [("x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise", "x_t = ab * x0 + (1 - ab) * noise")],
    ),
    "loss detached from the network": (
        "ddpm_loss",
        [("F.mse_loss(model(x_t, t), target)", "F.mse_loss(model(x_t, t).detach(), target)")],
    ),
    "step with alphabar_t for alphabar_{t-1}": (
        "ddpm_step",
        [("ab_prev = ab[t - 1] if t > 0", "ab_prev = ab[t] if t > 0")],
    ),
    "step with the fixed large variance beta_t": (
        "ddpm_step",
        [("variance = (1 - ab_prev) / (1 - ab_t) * b[t]", "variance = b[t]")],
    ),
    "step adding the variance instead of the standard deviation": (
        "ddpm_step",
        [("mean = mean + variance.sqrt() * noise.double()", "mean = mean + variance * noise.double()")],
    ),
    "step with alphabar_{-1} = alphabar_0 at t = 0": (
        "ddpm_step",
        [("else torch.ones((), dtype=torch.float64)", "else ab[0]")],
    ),
    "step without noise": (
        "ddpm_step",
        [("mean = mean + variance.sqrt() * noise.double()", "mean = mean")],
    ),
    "step returned in float64": ("ddpm_step", [("return mean.to(x_t.dtype)", "return mean")]),
    "sampling loop that skips T - 1": (
        "ddpm_sample",
        [("range(len(betas) - 1, -1, -1)", "range(len(betas) - 2, -1, -1)")],
    ),
    "sampling loop that stops before t = 0": (
        "ddpm_sample",
        [("range(len(betas) - 1, -1, -1)", "range(len(betas) - 1, 0, -1)")],
    ),
    "sampling noise from the global generator": (
        "ddpm_sample",
        [("z = torch.randn(shape, generator=generator)", "z = torch.randn(shape)")],
    ),
    "all the noise drawn before x_T": (
        "ddpm_sample",
        [
            (
                "x = torch.randn(shape, generator=generator)\n",
                "zs = torch.randn((len(betas) - 1, *shape), generator=generator)\n"
                "        x = torch.randn(shape, generator=generator)\n",
            ),
            ("z = torch.randn(shape, generator=generator)", "z = zs[t - 1]"),
        ],
    ),
    "network called at t + 1": (
        "ddpm_sample",
        [("torch.full((shape[0],), t, dtype", "torch.full((shape[0],), min(t + 1, len(betas) - 1), dtype")],
    ),
}
