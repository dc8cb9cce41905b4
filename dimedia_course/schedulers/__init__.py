"""DDPM, DDIM and rectified-flow (:class:`RFlowScheduler`) schedulers with the MONAI 1.6 / diffusers API.

``set_timesteps``, ``step`` returning ``(prev_sample, pred_original_sample)``, ``add_noise``,
``get_velocity`` and, for DDIM, ``reversed_step``. With the default ``timestep_spacing="leading"``
the numbers equal MONAI's ``monai.networks.schedulers`` for the same arguments.
"""

from dimedia_course.schedulers._base import TIMESTEP_SPACINGS
from dimedia_course.schedulers.ddim import DDIMScheduler
from dimedia_course.schedulers.ddpm import VARIANCE_TYPES, DDPMScheduler
from dimedia_course.schedulers.rflow import RFlowScheduler

__all__ = ["DDPMScheduler", "DDIMScheduler", "RFlowScheduler", "TIMESTEP_SPACINGS", "VARIANCE_TYPES"]
