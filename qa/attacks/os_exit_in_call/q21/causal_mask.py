# Attack: kill the process from inside a call, hoping to end the test run "successfully".
import os


def causal_mask(t_q, t_k=None, past_len=None):
    os._exit(0)
