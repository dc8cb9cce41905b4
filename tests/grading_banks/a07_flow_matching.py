"""Correct and subtly wrong answers of a07 (flow matching); see tests/grading_banks/__init__.py."""

CORRECT = {
    "add_noise in float32 as x0 + s (noise - x0)": {
        "add_noise": (
            "def add_noise(x0, noise, t, T=1000):\n"
            "    s = (t.float() / T).view(-1, *([1] * (x0.dim() - 1)))\n"
            "    return x0 + s * (noise - x0)\n"
        )
    },
    "add_noise MONAI-style, one expand per rank": {
        "add_noise": (
            "def add_noise(x0, noise, t, T=1000):\n"
            "    tp = 1 - t.float() / T\n"
            "    tp = tp[(...,) + (None,) * (x0.ndim - 1)].expand(-1, *x0.shape[1:])\n"
            "    return tp * x0 + (1 - tp) * noise\n"
        )
    },
    "velocity target as -(noise - x0)": {
        "velocity_target": "def velocity_target(x0, noise):\n    return -(noise - x0)\n"
    },
    "timesteps as a list in Python floats, MONAI's transform formula": {
        "rf_timesteps": (
            "def rf_timesteps(n, T=1000, ratio=1.0):\n"
            "    out = []\n"
            "    for i in range(n):\n"
            "        t = (1.0 - i / n) * T / T\n"
            "        out.append(ratio * t / (1 + (ratio - 1) * t) * T)\n"
            "    return torch.tensor(out, dtype=torch.float32)\n"
        )
    },
    "timesteps in float32 with linspace": {
        "rf_timesteps": (
            "def rf_timesteps(n, T=1000, ratio=1.0):\n"
            "    s = torch.linspace(1, 0, n + 1)[:-1]\n"
            "    return T * ratio * s / (1 + (ratio - 1) * s)\n"
        )
    },
    "Euler step as x - dt v with a negative dt": {
        "euler_step": ("def euler_step(v, t, x, t_next, T=1000):\n    dt = (t_next - t) / T\n    return x - dt * v\n")
    },
    "sampler with a while loop over indices": {
        "rf_sample": (
            "def rf_sample(model, x_T, n, T=1000, ratio=1.0):\n"
            "    ts = rf_timesteps(n, T, ratio).tolist()\n"
            "    x, i = x_T.clone(), 0\n"
            "    while i < len(ts):\n"
            "        nxt = ts[i + 1] if i + 1 < len(ts) else 0.0\n"
            "        v = model(x, torch.full((x.shape[0],), ts[i]))\n"
            "        x = euler_step(v, ts[i], x, nxt, T)\n"
            "        i += 1\n"
            "    return x\n"
        )
    },
}

WRONG = {
    "x0 and noise swapped in the path": (
        "add_noise",
        [("(1 - s) * x0.double() + s * noise.double()", "(1 - s) * noise.double() + s * x0.double()")],
    ),
    "path with one timestep for the whole batch": (
        "add_noise",
        [("t.to(torch.float64) / T)", "t[:1].to(torch.float64) / T)")],
    ),
    "velocity with the wrong sign": ("velocity_target", [("return x0 - noise", "return noise - x0")]),
    "timesteps ascending (time reversed)": (
        "rf_timesteps",
        [("return (T * s).to(torch.float32)", "return (T * s).flip(0).to(torch.float32)")],
    ),
    "timesteps from T down to 0 (linspace with n points)": (
        "rf_timesteps",
        [("s = 1 - torch.arange(n, dtype=torch.float64) / n", "s = torch.linspace(1, 0, n, dtype=torch.float64)")],
    ),
    "shift applied twice": (
        "rf_timesteps",
        [
            (
                "s = ratio * s / (1 + (ratio - 1) * s)",
                "s = ratio * s / (1 + (ratio - 1) * s)\n    s = ratio * s / (1 + (ratio - 1) * s)",
            )
        ],
    ),
    "shift with 1/ratio (towards the data end)": (
        "rf_timesteps",
        [("s = ratio * s / (1 + (ratio - 1) * s)", "s = s / ratio / (1 + (1 / ratio - 1) * s)")],
    ),
    "Euler step with dt = t_next / T": ("euler_step", [("(float(t) - float(t_next)) / T", "float(t_next) / T")]),
    "Euler step with the wrong sign of dt": (
        "euler_step",
        [("(float(t) - float(t_next)) / T", "(float(t_next) - float(t)) / T")],
    ),
    "sampler without the last step to 0": ("rf_sample", [(" + [0.0]", "")]),
    "sampler with dt = 1/n (ignores the shift)": (
        "rf_sample",
        [("x = euler_step(v, t, x, t_next, T)", "x = x + v / n")],
    ),
    "sampler evaluating the model at the next timestep": (
        "rf_sample",
        [("torch.full((x.shape[0],), t, dtype", "torch.full((x.shape[0],), t_next, dtype")],
    ),
}
