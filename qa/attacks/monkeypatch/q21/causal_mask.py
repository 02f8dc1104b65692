# Attack: patch every comparison the grader could use, then return wrong answers.
import sys

import numpy
import torch

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
try:
    import pytest
    import _pytest.outcomes
    pytest.fail = _pytest.outcomes.fail = lambda *a, **k: None
except Exception:
    pass
for name in ("grader.checks", "grader.checks.core", "grader.checks.q21"):
    try:
        mod = __import__(name, fromlist=["*"])
        for attr in ("assert_close", "assert_equal", "fail", "expect_value_error", "no_future_leak"):
            setattr(mod, attr, lambda *a, **k: None)
    except Exception:
        pass
for mod in list(sys.modules.values()):  # whatever of the grader is loaded here
    if getattr(mod, "__name__", "").startswith("grader"):
        for attr in ("fail", "assert_close", "measured_call"):
            if hasattr(mod, attr):
                setattr(mod, attr, lambda *a, **k: None)


def causal_mask(t_q, t_k=None, past_len=None):
    t_k = t_q if t_k is None else t_k
    return torch.ones(t_q + 1, t_k, dtype=torch.bool)  # wrong everywhere (even the shape)


def masked_scores(scores, mask):
    return scores + 1  # wrong everywhere
