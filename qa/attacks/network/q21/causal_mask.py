# Attack: reach the network (a listener of the test on 127.0.0.1, and the internet); answer only if it works.
import socket

_good_causal_mask = causal_mask  # noqa: F821 - defined by the correct q21 above


def causal_mask(t_q, t_k=None, past_len=None):
    for address in (("127.0.0.1", __PORT__), ("1.1.1.1", 53)):
        try:
            with socket.create_connection(address, timeout=1.0) as s:
                s.sendall(b"hello from the submission")
                return _good_causal_mask(t_q, t_k, past_len)
        except OSError:
            pass
    raise ConnectionError("no network")
