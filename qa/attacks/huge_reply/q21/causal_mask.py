# Attack: replies that are cheap to send and dear to read. A Fraction of two 1 MiB ints made the trusted
# side compute their gcd (103 s of the grader's CPU, uninterruptible); a list of 2 million None cost
# seconds per reply. The worker's own encoder limits are lifted first, so what refuses these is the
# trusted side's decoder, from the lengths alone, before building anything.
import random
from fractions import Fraction

import grader.wire as _wire

_LIFTED = _wire.Limits(max_int_digits=10 ** 9, max_items=10 ** 9)
_init = _wire.Encoder.__init__


def _no_limits(self, limits=None):
    _init(self, _LIFTED)


_wire.Encoder.__init__ = _no_limits


def _unreduced(num, den):
    f = Fraction.__new__(Fraction)  # no gcd here: the worker does not pay for what it sends
    f._numerator, f._denominator = num, den
    return f


def causal_mask(t_q, t_k=None, past_len=None):
    return _unreduced(random.getrandbits(8 << 20) | 1, random.getrandbits(8 << 20) | 1)


def masked_scores(scores, mask):
    return [None] * 2_000_000
