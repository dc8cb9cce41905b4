"""Medical applications of diffusion models (one module each, imported on demand).

- :mod:`dimedia_course.applications.anomaly`         unsupervised anomaly detection (Wolleb et al. 2022;
  Pinaya et al. 2022): reconstruct a "healthy" version, anomaly map = difference.
- :mod:`dimedia_course.applications.segmentation`    diffusion segmentation with ensemble uncertainty
  (Wolleb et al. 2021).
- :mod:`dimedia_course.applications.reconstruction`  undersampled MRI and sparse-view CT with data
  consistency (Chung & Ye 2022) or diffusion posterior sampling (Chung et al. 2023).
- :mod:`dimedia_course.applications.synthesis`       class-conditional synthesis with classifier-free
  guidance (Ho & Salimans 2022), evaluated with MMD and MS-SSIM diversity.
"""

__all__ = ["anomaly", "segmentation", "reconstruction", "synthesis"]
