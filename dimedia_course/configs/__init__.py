"""Training configurations for ``python -m dimedia_course.train`` (YAML files next to this module)."""
