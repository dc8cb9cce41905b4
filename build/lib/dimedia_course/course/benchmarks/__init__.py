"""Benchmark scripts (run with ``python -m``; they are not part of the timed test suite).

- :mod:`dimedia_course.course.benchmarks.core`: SmallUNet training-step time; DDPM (1000 steps) vs DDIM
  (50 steps) sampling time with the course's and MONAI's schedulers.
- :mod:`dimedia_course.course.benchmarks.applications`: the medical applications on offline data.
"""
