"""Other correct answers and subtly wrong answers of a04 (guidance), for tests/test_grading_checks.py."""

CORRECT = {
    "drop_labels with torch.where": {
        "drop_labels": (
            "def drop_labels(y, p_uncond, null_label, generator=None):\n"
            "    drop = torch.rand(y.shape, generator=generator) < p_uncond\n"
            "    return torch.where(drop, torch.full_like(y, null_label), y)\n"
        )
    },
    "CFG as cond + (s - 1)(cond - uncond), two forward passes": {
        "classifier_free_guidance": (
            "def classifier_free_guidance(model, x, t, y, guidance_scale, null_label):\n"
            "    cond = model(x, t, y)\n"
            "    uncond = model(x, t, torch.full_like(y, null_label))\n"
            "    return cond + (guidance_scale - 1) * (cond - uncond)\n"
        )
    },
    "CFG as (1 - s) uncond + s cond": {
        "classifier_free_guidance": (
            "def classifier_free_guidance(model, x, t, y, guidance_scale, null_label):\n"
            "    null = torch.full_like(y, null_label)\n"
            "    cond, uncond = model(x, t, y), model(x, t, null)\n"
            "    return (1 - guidance_scale) * uncond + guidance_scale * cond\n"
        )
    },
    "classifier gradient from minus the summed cross-entropy, backward()": {
        "classifier_gradient": (
            "def classifier_gradient(classifier, x, t, y):\n"
            "    with torch.enable_grad():\n"
            "        x_in = x.detach().clone().requires_grad_()\n"
            "        loss = -F.cross_entropy(classifier(x_in, t), y, reduction='sum')\n"
            "        loss.backward()\n"
            "    return x_in.grad.detach()\n"
        )
    },
    "classifier gradient with gather, one log-probability per image": {
        "classifier_gradient": (
            "def classifier_gradient(classifier, x, t, y):\n"
            "    with torch.set_grad_enabled(True):\n"
            "        x_in = x.clone().detach().requires_grad_(True)\n"
            "        logp = classifier(x_in, t).log_softmax(1).gather(1, y[:, None]).squeeze(1)\n"
            "        grad = torch.autograd.grad(logp, x_in, grad_outputs=torch.ones_like(logp))[0]\n"
            "    return grad\n"
        )
    },
    "classifier-guided epsilon with sigma in float64 and the shift added with a negative scale": {
        "classifier_guided_epsilon": (
            "def classifier_guided_epsilon(model, classifier, x, t, y, alphas_cumprod, scale):\n"
            "    sigma = torch.sqrt(1.0 - alphas_cumprod.double()[t]).float().view(-1, *([1] * (x.ndim - 1)))\n"
            "    grad = classifier_gradient(classifier, x, t, y)\n"
            "    return model(x, t) + (-scale) * (sigma * grad)\n"
        )
    },
}

WRONG = {
    "drop_labels keeps the label when u < p (drops with probability 1 - p)": (
        "drop_labels",
        [("out[u < p_uncond]", "out[u >= p_uncond]")],
    ),
    "drop_labels modifies y in place": ("drop_labels", [("out = y.clone()", "out = y")]),
    "drop_labels ignores the generator": (
        "drop_labels",
        [("torch.rand(y.shape, generator=generator)", "torch.rand(y.shape)")],
    ),
    "CFG with the wrong sign": (
        "classifier_free_guidance",
        [("uncond + guidance_scale * (cond - uncond)", "uncond - guidance_scale * (cond - uncond)")],
    ),
    "CFG with the (1 + w) convention": (
        "classifier_free_guidance",
        [("uncond + guidance_scale * (cond - uncond)", "cond + guidance_scale * (cond - uncond)")],
    ),
    "CFG with conditional and unconditional halves swapped": (
        "classifier_free_guidance",
        [("cond, uncond = out.chunk(2)", "uncond, cond = out.chunk(2)")],
    ),
    "CFG with label 0 as the null label": (
        "classifier_free_guidance",
        [("torch.full_like(y, null_label)", "torch.full_like(y, 0)")],
    ),
    "classifier gradient of p(y | x) instead of log p(y | x)": (
        "classifier_gradient",
        [("F.log_softmax(", "F.softmax(")],
    ),
    "classifier gradient of the logit": (
        "classifier_gradient",
        [("F.log_softmax(classifier(x_in, t), dim=-1)", "classifier(x_in, t)")],
    ),
    "classifier gradient without enable_grad (fails under no_grad)": (
        "classifier_gradient",
        [("with torch.enable_grad():", "if True:")],
    ),
    "classifier gradient summing log p over every label": (
        "classifier_gradient",
        [("log_probs[torch.arange(x.shape[0]), y].sum()", "log_probs[:, y].sum()")],
    ),
    "guided epsilon without the square root": (
        "classifier_guided_epsilon",
        [("(1 - alphas_cumprod[t]).sqrt()", "(1 - alphas_cumprod[t])")],
    ),
    "guided epsilon with alphabar_{t-1}": (
        "classifier_guided_epsilon",
        [("alphas_cumprod[t]", "alphas_cumprod[(t - 1).clamp(min=0)]")],
    ),
    "guided epsilon with the wrong sign": (
        "classifier_guided_epsilon",
        [("eps - scale * sigma", "eps + scale * sigma")],
    ),
    "guided epsilon with sqrt(alphabar_t) for sigma_t": (
        "classifier_guided_epsilon",
        [("(1 - alphas_cumprod[t]).sqrt()", "alphas_cumprod[t].sqrt()")],
    ),
}
