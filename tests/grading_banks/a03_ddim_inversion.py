"""Other correct answers and subtly wrong answers of assignment a03 (see tests/test_grading_checks.py)."""

CORRECT = {
    "trailing timesteps with torch.round over a float64 arange (as diffusers)": {
        "ddim_timesteps": (
            "def ddim_timesteps(num_train_timesteps, num_inference_steps):\n"
            "    T, n = num_train_timesteps, num_inference_steps\n"
            "    if n < 1 or n > T:\n"
            "        raise ValueError('num_inference_steps out of range')\n"
            "    return torch.round(torch.arange(n, 0, -1, dtype=torch.float64) * T / n).long() - 1\n"
        )
    },
    "DDIM step in float32 tensors": {
        "ddim_step": (
            "def ddim_step(model_output, x_t, alpha_bar_t, alpha_bar_prev, eta=0.0, noise=None):\n"
            "    a_t = torch.tensor(alpha_bar_t, dtype=torch.float32)\n"
            "    a_p = torch.tensor(alpha_bar_prev, dtype=torch.float32)\n"
            "    x0_hat = (x_t - torch.sqrt(1 - a_t) * model_output) / torch.sqrt(a_t)\n"
            "    sigma = eta * torch.sqrt((1 - a_p) / (1 - a_t)) * torch.sqrt(1 - a_t / a_p)\n"
            "    direction = torch.sqrt(torch.clamp(1 - a_p - sigma ** 2, min=0)) * model_output\n"
            "    x_prev = torch.sqrt(a_p) * x0_hat + direction\n"
            "    if eta != 0:\n"
            "        x_prev = x_prev + sigma * noise\n"
            "    return x_prev, x0_hat\n"
        )
    },
    "DDIM step as diffusers writes it (variance, std_dev_t, direction)": {
        "ddim_step": (
            "def ddim_step(model_output, x_t, alpha_bar_t, alpha_bar_prev, eta=0.0, noise=None):\n"
            "    alpha_prod_t, alpha_prod_t_prev = alpha_bar_t, alpha_bar_prev\n"
            "    beta_prod_t = 1 - alpha_prod_t\n"
            "    beta_prod_t_prev = 1 - alpha_prod_t_prev\n"
            "    pred_original_sample = (x_t - beta_prod_t ** 0.5 * model_output) / alpha_prod_t ** 0.5\n"
            "    variance = (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev)\n"
            "    std_dev_t = eta * variance ** 0.5\n"
            "    pred_sample_direction = (1 - alpha_prod_t_prev - std_dev_t ** 2) ** 0.5 * model_output\n"
            "    prev_sample = alpha_prod_t_prev ** 0.5 * pred_original_sample + pred_sample_direction\n"
            "    if eta > 0:\n"
            "        prev_sample = prev_sample + std_dev_t * noise\n"
            "    return prev_sample, pred_original_sample\n"
        )
    },
    "DDIM sampling and inversion with float32 alphabars and pairs of timesteps": {
        "ddim_sample": (
            "@torch.no_grad()\n"
            "def ddim_sample(model, x_T, alphas_cumprod, timesteps):\n"
            "    ts = timesteps.tolist()\n"
            "    x = x_T.clone()\n"
            "    for t, t_prev in zip(ts, ts[1:] + [-1]):\n"
            "        a_t = alphas_cumprod[t]\n"
            "        a_p = alphas_cumprod[t_prev] if t_prev >= 0 else torch.tensor(1.0)\n"
            "        eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long))\n"
            "        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()\n"
            "        x = a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps\n"
            "    return x\n"
        ),
        "ddim_invert": (
            "@torch.no_grad()\n"
            "def ddim_invert(model, x0, alphas_cumprod, timesteps):\n"
            "    ts = timesteps.flip(0).tolist()\n"
            "    x = x0.clone()\n"
            "    for t_cur, t in zip([-1] + ts[:-1], ts):\n"
            "        a_cur = alphas_cumprod[t_cur] if t_cur >= 0 else torch.tensor(1.0)\n"
            "        a_next = alphas_cumprod[t]\n"
            "        eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long))\n"
            "        x = a_next.sqrt() * (x - (1 - a_cur).sqrt() * eps) / a_cur.sqrt() + (1 - a_next).sqrt() * eps\n"
            "    return x\n"
        ),
    },
    "DDIM sampling that reuses ddim_step with float alphabars, inversion through the ratio form": {
        "ddim_sample": (
            "def ddim_sample(model, x_T, alphas_cumprod, timesteps):\n"
            "    x = x_T\n"
            "    n = len(timesteps)\n"
            "    for i in range(n):\n"
            "        t = int(timesteps[i])\n"
            "        a_prev = alphas_cumprod[int(timesteps[i + 1])].item() if i < n - 1 else 1.0\n"
            "        with torch.no_grad():\n"
            "            eps = model(x, t * torch.ones(x.shape[0], dtype=torch.long))\n"
            "        x = ddim_step(eps, x, alphas_cumprod[t].item(), a_prev, eta=0.0)[0]\n"
            "    return x\n"
        ),
        "ddim_invert": (
            "def ddim_invert(model, x0, alphas_cumprod, timesteps):\n"
            "    ts = sorted(timesteps.tolist())\n"
            "    x = x0\n"
            "    a_cur = 1.0\n"
            "    for t in ts:\n"
            "        a_next = alphas_cumprod[t].item()\n"
            "        with torch.no_grad():\n"
            "            eps = model(x, torch.full((x.shape[0],), t))\n"
            "        # x_next = sqrt(a_next / a_cur) x + (sqrt(1 - a_next) - sqrt(a_next (1 - a_cur) / a_cur)) eps\n"
            "        c_eps = (1 - a_next) ** 0.5 - (a_next * (1 - a_cur) / a_cur) ** 0.5\n"
            "        x = (a_next / a_cur) ** 0.5 * x + c_eps * eps\n"
            "        a_cur = a_next\n"
            "    return x\n"
        ),
    },
}

WRONG = {
    "timesteps without the - 1": (
        "ddim_timesteps",
        [("round(T * (n - i) / n) - 1", "round(T * (n - i) / n)")],
    ),
    "timesteps with floor instead of round": (
        "ddim_timesteps",
        [("round(T * (n - i) / n) - 1", "int(T * (n - i) / n) - 1")],
    ),
    "timesteps in ascending order": (
        "ddim_timesteps",
        [("for i in range(n)]", "for i in reversed(range(n))]")],
    ),
    "timesteps as floats": ("ddim_timesteps", [("dtype=torch.long)", "dtype=torch.float32)")]),
    "no ValueError for too many steps": (
        "ddim_timesteps",
        [("if not 1 <= num_inference_steps <= num_train_timesteps:", "if num_inference_steps < 1:")],
    ),
    "x0_hat without the square root of alphabar_t": (
        "ddim_step",
        [("* model_output) / a_t**0.5", "* model_output) / a_t")],
    ),
    "x0_hat with alphabar_prev": (
        "ddim_step",
        [
            (
                "x0_hat = (x_t - (1 - a_t) ** 0.5 * model_output) / a_t**0.5",
                "x0_hat = (x_t - (1 - a_p) ** 0.5 * model_output) / a_p**0.5",
            )
        ],
    ),
    "sigma ignoring eta (always eta = 1 when noisy)": (
        "ddim_step",
        [("sigma = eta * (", "sigma = min(eta, 1.0) ** 0 * (")],
    ),
    "sigma without its square root": (
        "ddim_step",
        [("* (1 - a_t / a_p)) ** 0.5", "* (1 - a_t / a_p))")],
    ),
    "direction without - sigma^2": (
        "ddim_step",
        [("max(1 - a_p - sigma**2, 0.0)", "max(1 - a_p, 0.0)")],
    ),
    "noise added with the wrong sign": ("ddim_step", [("x_prev + sigma * noise", "x_prev - sigma * noise")]),
    "noise required even when eta = 0": ("ddim_step", [("    if eta > 0:\n", "    if True:\n")]),
    "sampling ends at alphabar_0 instead of 1": (
        "ddim_sample",
        [("if i + 1 < len(ts) else 1.0", "if i + 1 < len(ts) else float(alphas_cumprod[0])")],
    ),
    "sampling over ascending timesteps": (
        "ddim_sample",
        [("ts = [int(t) for t in timesteps]", "ts = sorted(int(t) for t in timesteps)")],
    ),
    "sampling with the network called at the previous timestep": (
        "ddim_sample",
        [("torch.full((x.shape[0],), t,", "torch.full((x.shape[0],), ts[i + 1] if i + 1 < len(ts) else 0,")],
    ),
    "inversion starting from alphabar_0 instead of 1": (
        "ddim_invert",
        [("if i > 0 else 1.0", "if i > 0 else float(alphas_cumprod[0])")],
    ),
    "inversion with the network at the current level": (
        "ddim_invert",
        [("torch.full((x.shape[0],), t,", "torch.full((x.shape[0],), ascending[i - 1] if i > 0 else 0,")],
    ),
    "inversion over descending timesteps": (
        "ddim_invert",
        [("ascending = sorted(int(t) for t in timesteps)", "ascending = [int(t) for t in timesteps]")],
    ),
    "inversion with x0_hat from alphabar_t": (
        "ddim_invert",
        [
            (
                "x0_hat = (x - (1 - a_cur) ** 0.5 * eps) / a_cur**0.5",
                "x0_hat = (x - (1 - a_next) ** 0.5 * eps) / a_next**0.5",
            )
        ],
    ),
}
