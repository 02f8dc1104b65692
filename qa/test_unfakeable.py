"""Speed and memory that cannot be faked: dishonest Q24/Q36 submissions through the isolated grader.

Each attack is a correct answer that is NOT what the question asks (Q36: flash attention that builds the full
T x T matrix; Q24: a "cache" that re-runs the whole prefix every step; ``threads_tiled``: tiled attention that
computes every tile) plus one trick, in ``qa/unfakeable/<trick>/qNN.py`` (appended to the mutant's source):

- ``memoise``: results cached by a hash of the inputs (the timed repeats used to send the same tensors);
- ``self_slowing``: work wasted only on the path a self-comparison used as its slow side (causal=False, the
  uncached decoding);
- ``threads``: ``torch.set_num_threads(2)``, heads on a thread pool, a background thread burning the memory
  bus while the trusted baseline runs (``threads_tiled``: the same on tiled attention that computes every tile);
- ``processes``: half the heads in a forked child, a pre-forked process keeping the other core busy;
- ``forge_memory``: ``grader.worker.measured_call`` / ``grader.loading.measured_call`` replaced, the
  resident high-water mark reset through ``/proc/self/clear_refs``, and the memory test's input (recognised
  by its shape) answered with zeros.

Only the speed and memory tests run (``-k``); every other part of the question counts as passed
(``absent_full``), so the score computed is an upper bound of what the attack could earn. It must be at most
60% of the question, with the speed and memory parts at 0.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from grader.mutants import catalog
from grader.rubric import score_parts
from support import run_pytest

HERE = Path(__file__).resolve().parent / "unfakeable"
pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]

BASE = {"q36": "fa_full_matrix_then_mask", "q24": "slow_cache_recomputes_prefix"}
FILES = {"q36": "flash_attention.py", "q24": "kv_generate.py"}
SPEED_AND_MEMORY = {"q36": ("faster_than_naive", "skips_tiles", "memory"), "q24": ("cache_is_fast",)}
SELECT = "test_flash_faster_than_naive or test_causal_skips_tiles or test_flash_memory or test_cache_is_faster"
# trick -> (its folder, the mutant each question starts from): threads_tiled is the threads trick on tiled attention
TRICKS = {p.name: (p.name, BASE) for p in sorted(HERE.iterdir()) if p.is_dir()}
TRICKS["threads_tiled"] = ("threads", {"q36": "fa_computes_every_tile"})


def build(trick: str, dest: Path) -> Path:
    """A submission folder: for each question, its base mutant, then the trick's common.py and qNN.py."""
    mutants = {(m.qid, m.name): m for m in catalog(["q24", "q36"])}
    folder, bases = TRICKS[trick]
    root = dest / trick
    for qid, base in bases.items():
        parts = [HERE / folder / name for name in ("common.py", f"{qid}.py") if (HERE / folder / name).exists()]
        (root / qid).mkdir(parents=True)
        (root / qid / FILES[qid]).write_text(
            mutants[(qid, base)].source() + "".join(p.read_text(encoding="utf-8") for p in parts), encoding="utf-8")
    return root


@pytest.mark.parametrize("trick", TRICKS)
def test_trick_gains_nothing(trick, tmp_path):
    impl = build(trick, tmp_path)
    qids = [q for q in ("q24", "q36") if (impl / q).is_dir()]
    outcomes = run_pytest([f"tests/{q}" for q in qids], tmp_path / "out.xml", "--impl", str(impl), "--isolate",
                          "-k", SELECT, "-p", "no:randomly")
    for qid in qids:
        mine = [(o.nodeid, o.status) for o in outcomes if o.qid == qid]
        assert mine, f"{trick}: no speed or memory test of {qid} ran"
        parts = {p["id"]: p for p in score_parts(qid, 1.0, mine, absent_full=True)}
        score = sum(p["points"] for p in parts.values())
        lost = [pid for pid in SPEED_AND_MEMORY[qid] if parts[pid]["points"] > 0]
        if trick == "threads_tiled":  # tiled but not skipping: it must at least lose the skipped tiles
            assert parts["skips_tiles"]["points"] == 0, f"{trick}: {qid} keeps skips_tiles: {mine}"
            continue
        assert not lost, f"{trick}: {qid} keeps {lost}: {mine}"
        assert score <= 0.60 + 1e-9, f"{trick}: {qid} scores {score:.0%} of the question (at most 60%)"
