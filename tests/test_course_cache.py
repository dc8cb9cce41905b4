"""The demo-model cache (dimedia_course.course.cache): train once per key, reload afterwards."""

import torch

from dimedia_course.course import cache


def test_trained_is_cached_by_key(tmp_path, monkeypatch):
    monkeypatch.setenv("DIMEDIA_CACHE", str(tmp_path))
    calls = []

    def build():
        torch.manual_seed(0)
        return torch.nn.Linear(2, 1)

    def fit(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.fill_(3.0)

    model, hit = cache.trained({"a": 1}, build, fit)
    assert not hit and float(model.weight[0, 0]) == 3.0 and len(calls) == 1
    again, hit = cache.trained({"a": 1}, build, fit)
    assert hit and len(calls) == 1 and torch.equal(again.weight, model.weight)
    _, hit = cache.trained({"a": 2}, build, fit)
    assert not hit and len(calls) == 2
    assert len(list(tmp_path.glob("*.pt"))) == 2 and not list(tmp_path.glob("*.tmp"))
