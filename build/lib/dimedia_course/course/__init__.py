"""Course tooling: the book build, schedule data, book figures and benchmarks (not part of the diffusion library)."""
