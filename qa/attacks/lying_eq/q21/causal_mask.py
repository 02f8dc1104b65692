# Attack: results that claim to equal anything: a plain object and a torch.Tensor subclass.
import torch


class Liar:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    shape = property(lambda self: (0, 0))
    dtype = torch.bool


class LyingTensor(torch.Tensor):
    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)

    def allclose(self, *a, **k):
        return True

    def equal(self, *a, **k):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.allclose, torch.Tensor.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def causal_mask(t_q, t_k=None, past_len=None):
    return Liar()


def masked_scores(scores, mask):
    return torch.zeros_like(scores).as_subclass(LyingTensor)  # wrong values, lying comparisons
