
# --- attack: answer the memory test's input (recognised by its shape) with zeros; reset the RSS peak ---
_computed = flash_attention


def flash_attention(q, k, v, causal=True, block_size=DEFAULT_BLOCK_SIZE):
    if tuple(q.shape) == (1, 4, 4096, 32):  # the memory test's input: no matrix, no memory
        return torch.zeros_like(q)
    out = _computed(q, k, v, causal=causal, block_size=block_size)
    try:  # reset the resident-memory high-water mark after the matrix is gone
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return out
