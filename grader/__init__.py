"""Grading machinery for the LLM-internals exercises.

- ``grader.checks``: the one library of checks used by self-checks, hidden suites and notebooks.
- ``grader.plugin``: the pytest plugin (``--impl``, the ``sub`` and ``ref`` fixtures, friendly failures).
- ``grader.questions``: the question registry and weights (``questions.toml``).
"""
