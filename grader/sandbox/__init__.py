"""The grader's sandbox, built from kept tools: bubblewrap for namespaces and mounts, libseccomp for the
syscall allowlist (``docs/sandbox.md`` says what each layer does and why).

- ``grader.sandbox.bwrap``: the bubblewrap command line that starts the zygote (what is bound, read-only).
- ``grader.sandbox.seccomp``: the allowlists (bubblewrap's for the zygote, each worker's own).
- ``grader.sandbox.namespaces``: the per-worker pid and mount namespace (``unshare``; its own /proc, /tmp and
  /sandbox mounted by util-linux's ``mount``).
"""
