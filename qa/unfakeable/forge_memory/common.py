
# --- attack: forge any measurement taken inside the worker ------------------------------------------------
try:
    import grader.loading as _gl
    import grader.sandbox.worker as _gw

    def _forged(fn, *args, **kwargs):
        return fn(*args, **kwargs), {"seconds": 1e-3, "peak_rss_bytes": 0, "peak_bytes": 0, "how": "forged"}

    _gl.measured_call = _gw.measured_call = _forged
except Exception:  # noqa: BLE001
    pass
