"""Other correct answers and subtly wrong answers of a05 (latent diffusion), for tests/test_grading_checks.py."""

CORRECT = {
    "KL with log(sigma^2), summed per image then divided by the batch size": {
        "kl_divergence": (
            "def kl_divergence(z_mu, z_sigma):\n"
            "    terms = z_mu.pow(2) + z_sigma.pow(2) - torch.log(z_sigma.pow(2)) - 1\n"
            "    per_image = 0.5 * torch.sum(terms, dim=list(range(1, z_mu.ndim)))\n"
            "    return per_image.sum() / z_mu.shape[0]\n"
        )
    },
    "KL in float64, returned in float32": {
        "kl_divergence": (
            "def kl_divergence(z_mu, z_sigma):\n"
            "    mu, sigma = z_mu.double(), z_sigma.double()\n"
            "    kl = 0.5 * (mu * mu + sigma * sigma - 1) - sigma.log()\n"
            "    return kl.reshape(len(mu), -1).sum(-1).mean().float()\n"
        )
    },
    "scale factor from the variance, in float64": {
        "compute_scale_factor": (
            "def compute_scale_factor(autoencoder, images):\n"
            "    with torch.no_grad():\n"
            "        z = autoencoder.encode(images)[0].double()\n"
            "    return 1.0 / z.var().sqrt().item()\n"
        )
    },
    "scale factor with the standard deviation written out (n - 1)": {
        "compute_scale_factor": (
            "def compute_scale_factor(autoencoder, images):\n"
            "    with torch.no_grad():\n"
            "        z = autoencoder.encode(images)[0].flatten()\n"
            "    std = torch.sqrt(((z - z.mean()) ** 2).sum() / (z.numel() - 1))\n"
            "    return float(1 / std)\n"
        )
    },
    "latent loss with torch.sqrt, gather and a squared-error mean": {
        "latent_diffusion_loss": (
            "def latent_diffusion_loss(unet, autoencoder, images, scale_factor, t, noise, alphas_cumprod):\n"
            "    with torch.no_grad():\n"
            "        z_mu, _ = autoencoder.encode(images)\n"
            "    z = scale_factor * z_mu\n"
            "    ab = alphas_cumprod.gather(0, t).view(-1, 1, 1, 1)\n"
            "    z_t = torch.sqrt(ab) * z + torch.sqrt(1 - ab) * noise\n"
            "    return ((unet(z_t, t) - noise) ** 2).mean()\n"
        )
    },
    "latent DDIM as z_prev = c1 z + c2 eps, coefficients in float64": {
        "sample_latent_diffusion": (
            "def sample_latent_diffusion(unet, autoencoder, scale_factor, num_samples, latent_shape, alphas_cumprod,\n"
            "                            timesteps, generator=None):\n"
            "    ab = alphas_cumprod.double()\n"
            "    ts = timesteps.tolist()\n"
            "    z = torch.randn(num_samples, *latent_shape, generator=generator)\n"
            "    with torch.no_grad():\n"
            "        for i, t in enumerate(ts):\n"
            "            a_t = ab[t]\n"
            "            a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, dtype=torch.float64)\n"
            "            eps = unet(z, torch.tensor([t] * num_samples))\n"
            "            c1 = (a_prev / a_t).sqrt()\n"
            "            c2 = (1 - a_prev).sqrt() - (a_prev * (1 - a_t) / a_t).sqrt()\n"
            "            z = (c1 * z + c2 * eps).float()\n"
            "        x = autoencoder.decode(z * (1.0 / scale_factor))\n"
            "    return torch.clamp(x, min=-1.0, max=1.0)\n"
        )
    },
}

WRONG = {
    "KL without the factor 1/2": ("kl_divergence", [("kl = 0.5 * (", "kl = (")]),
    "KL averaged over latent elements": ("kl_divergence", [("kl.flatten(1).sum(1).mean()", "kl.mean()")]),
    "KL with log(sigma) for log(sigma^2)": ("kl_divergence", [("2 * torch.log(z_sigma)", "torch.log(z_sigma)")]),
    "KL summed over the batch": ("kl_divergence", [(".sum(1).mean()", ".sum(1).sum()")]),
    "KL returned as a float": (
        "kl_divergence",
        [("return kl.flatten(1).sum(1).mean()", "return float(kl.flatten(1).sum(1).mean())")],
    ),
    "scale factor 1 / variance": ("compute_scale_factor", [("1.0 / z_mu.std()", "1.0 / z_mu.var()")]),
    "scale factor from the posterior standard deviations": (
        "compute_scale_factor",
        [("z_mu, _ = autoencoder.encode(images)", "_, z_mu = autoencoder.encode(images)")],
    ),
    "scale factor returned as a tensor": ("compute_scale_factor", [("float(1.0 / z_mu.std())", "1.0 / z_mu.std()")]),
    "scale factor from per-channel standard deviations": (
        "compute_scale_factor",
        [("1.0 / z_mu.std()", "1.0 / z_mu.std(dim=(0, 2, 3)).mean()")],
    ),
    "latent loss without the scale factor": ("latent_diffusion_loss", [("[0] * scale_factor", "[0]")]),
    "latent loss dividing by the scale factor": (
        "latent_diffusion_loss",
        [("[0] * scale_factor", "[0] / scale_factor")],
    ),
    "latent loss without square roots": (
        "latent_diffusion_loss",
        [("ab.sqrt() * z + (1 - ab).sqrt() * noise", "ab * z + (1 - ab) * noise")],
    ),
    "latent loss with alphabar_{t-1}": (
        "latent_diffusion_loss",
        [("alphas_cumprod[t]", "alphas_cumprod[(t - 1).clamp(min=0)]")],
    ),
    "latent loss against the clean latent": (
        "latent_diffusion_loss",
        [("F.mse_loss(unet(z_t, t), noise)", "F.mse_loss(unet(z_t, t), z)")],
    ),
    "latent samples decoded without dividing by s": (
        "sample_latent_diffusion",
        [("autoencoder.decode(z / scale_factor)", "autoencoder.decode(z)")],
    ),
    "latent samples decoded from s * z": (
        "sample_latent_diffusion",
        [("autoencoder.decode(z / scale_factor)", "autoencoder.decode(z * scale_factor)")],
    ),
    "latent samples not clamped": ("sample_latent_diffusion", [(".clamp(-1, 1)", "")]),
    "latent DDIM ending at alphabar_0 instead of 1": (
        "sample_latent_diffusion",
        [("else torch.ones(())", "else alphas_cumprod[0]")],
    ),
    "latent DDIM calling the denoiser at t - 1": (
        "sample_latent_diffusion",
        [("torch.full((num_samples,), t,", "torch.full((num_samples,), t - 1,")],
    ),
    "latent DDIM with alphabar_{t-1} for alphabar_t": (
        "sample_latent_diffusion",
        [("a_t = alphas_cumprod[t]", "a_t = alphas_cumprod[t - 1]")],
    ),
}
