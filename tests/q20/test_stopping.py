"""Hidden suite for Q20: every stop reason and its edge cases, call counts, and seeded random runs
against the reference (the model is a deterministic function of everything it is shown)."""
import random

import pytest

from grader.checks import assert_equal, expect_value_error
from grader.checks import q20 as props

EOS = 0


def case(sub, prompt, script, max_new, *, eos_id=EOS, stops=(), tokens, reason, calls, hint=None):
    props.expect(sub.generate, props.scripted(len(prompt), script), prompt, max_new, eos_id=eos_id,
                 stop_sequences=stops, tokens=tokens, reason=reason, calls=calls, hint=hint)


# --- each reason ----------------------------------------------------------------------------------

def test_length(sub):
    case(sub, [5, 6], [1, 2, 3, 4, 5], 3, tokens=[1, 2, 3], reason="length", calls=3)


def test_eos(sub):
    case(sub, [5], [1, 2, EOS, 3], 10, tokens=[1, 2], reason="eos", calls=3,
         hint="the EOS token ends generation and is not part of the returned tokens")


def test_stop_sequence(sub):
    case(sub, [9], [1, 4, 2, 3, 5], 10, stops=[[2, 3]], tokens=[1, 4], reason="stop_sequence", calls=4,
         hint="the matched stop sequence is cut from the returned tokens")


def test_eos_on_first_step(sub):
    case(sub, [3, 4], [EOS, 1, 2], 5, tokens=[], reason="eos", calls=1)


def test_zero_new_tokens_never_calls_the_model(sub):
    case(sub, [3, 4], [EOS, 1], 0, tokens=[], reason="length", calls=0)
    case(sub, [3, 4], [1, 2], 0, stops=[[1]], tokens=[], reason="length", calls=0)


def test_eos_on_last_allowed_step_is_eos(sub):
    case(sub, [7], [1, 2, EOS], 3, tokens=[1, 2], reason="eos", calls=3,
         hint="EOS produced on the last allowed step still means the model chose to stop")


def test_stop_sequence_on_last_allowed_step(sub):
    case(sub, [7], [1, 2, 3], 3, stops=[[2, 3]], tokens=[1], reason="stop_sequence", calls=3)


def test_length_when_eos_would_come_one_step_later(sub):
    case(sub, [7], [1, 2, EOS], 2, tokens=[1, 2], reason="length", calls=2,
         hint="never call the model beyond max_new_tokens")


def test_no_eos_id(sub):
    case(sub, [7], [0, 0, 1], 3, eos_id=None, tokens=[0, 0, 1], reason="length", calls=3)


def test_default_is_no_eos(sub):
    """eos_id defaults to None: without it, no token ends generation (0 is an ordinary token)."""
    counted = props.Counted(props.scripted(2, [0, 1, 2, 0]))
    tokens, reason = props.unpack(sub.generate(counted.fn, [5, 6], 4))
    what = "generate(step_fn, [5, 6], 4) with eos_id and stop_sequences left at their defaults"
    hint = "eos_id defaults to None (no EOS token at all) and stop_sequences to () (none)"
    assert_equal(reason, "length", f"{what}: reason", hint)
    assert_equal(tokens, [0, 1, 2, 0], f"{what}: tokens", hint)
    assert_equal(counted.calls, 4, f"{what}: calls of step_fn", hint)


def test_eos_id_other_than_zero(sub):
    case(sub, [7], [0, 4, 9, 1], 6, eos_id=9, tokens=[0, 4], reason="eos", calls=3)


def test_stop_sequence_is_the_whole_output(sub):
    case(sub, [7], [2, 3, 1], 5, stops=[[2, 3]], tokens=[], reason="stop_sequence", calls=2)


def test_single_token_stop_sequence(sub):
    case(sub, [1], [4, 5, 6], 5, stops=[[5]], tokens=[4], reason="stop_sequence", calls=2)


# --- stop sequences: where they may match --------------------------------------------------------

def test_stop_sequence_never_matches_into_the_prompt(sub):
    # the prompt ends with 2; generating 3 completes [2, 3] only if the prompt is (wrongly) searched
    case(sub, [1, 2], [3, 4, 2, 3], 6, stops=[[2, 3]], tokens=[3, 4], reason="stop_sequence", calls=4,
         hint="match stop sequences against the generated tokens only, never across into the prompt")


def test_prompt_containing_a_stop_sequence(sub):
    case(sub, [2, 3, 2, 3], [1, 1, 1], 3, stops=[[2, 3]], tokens=[1, 1, 1], reason="length", calls=3)


def test_stop_sequence_interrupted_then_completed(sub):
    case(sub, [8], [1, 2, 1, 2, 3, 9], 10, stops=[[1, 2, 3]], tokens=[1, 2], reason="stop_sequence", calls=5)


def test_self_overlapping_stop_sequence(sub):
    # stop [1, 1, 2] inside 1 1 1 2: a matcher that restarts from scratch after a mismatch misses it
    case(sub, [8], [1, 1, 1, 2, 5], 10, stops=[[1, 1, 2]], tokens=[1], reason="stop_sequence", calls=4,
         hint="compare the END of the generated tokens with each stop sequence after every step")


def test_self_overlapping_stop_sequence_longer(sub):
    case(sub, [8], [1, 2, 1, 2, 1, 3, 4], 10, stops=[[1, 2, 1, 3]], tokens=[1, 2], reason="stop_sequence",
         calls=6)


@pytest.mark.parametrize("script,tokens,calls", [
    ([1, 2, 1, 3, 4], [], 3),        # [1, 2, 1] completes first
    ([5, 2, 1, 3, 4], [5], 4),       # [2, 1, 3] completes; [1, 2, 1] never does
    ([1, 2, 2, 1, 3], [1, 2], 5),    # [2, 1, 3] after a false start of [1, 2, 1]
])
def test_overlapping_stop_sequences(sub, script, tokens, calls):
    case(sub, [7], script, 10, stops=[[1, 2, 1], [2, 1, 3]], tokens=tokens, reason="stop_sequence", calls=calls)


@pytest.mark.parametrize("stops", [[[6, 7], [5, 6, 7]], [[5, 6, 7], [6, 7]]])
def test_stop_sequence_that_is_a_suffix_of_another(sub, stops):
    # both end at the same step: the output is cut where the earliest (longest) match begins
    case(sub, [1], [4, 5, 6, 7, 8], 10, stops=stops, tokens=[4], reason="stop_sequence", calls=4,
         hint="when several stop sequences end at the same step, cut the longest one")


def test_stop_sequence_that_is_a_prefix_of_another(sub):
    case(sub, [1], [4, 5, 6, 7, 8], 10, stops=[[5, 6, 7], [5, 6]], tokens=[4], reason="stop_sequence", calls=3,
         hint="stop at the first step where any stop sequence is complete")


def test_stop_sequences_compare_whole_token_ids(sub):
    # token ids, not their digits: 12 3 does not end with 2 3, and 1 23 is not 12 3
    case(sub, [7], [12, 3, 5, 2, 3], 10, stops=[[2, 3]], tokens=[12, 3, 5], reason="stop_sequence", calls=5,
         hint="compare token ids as a list, not as joined strings: [12, 3] does not end with [2, 3]")
    case(sub, [7], [1, 23, 4, 12, 3, 9], 10, stops=[[12, 3]], tokens=[1, 23, 4], reason="stop_sequence", calls=5,
         hint="compare token ids as a list, not as joined strings: [1, 23] is not [12, 3]")


def test_eos_is_checked_before_stop_sequences(sub):
    case(sub, [1], [4, 5, EOS, 6], 10, stops=[[5, EOS]], tokens=[4, 5], reason="eos", calls=3)


def test_stop_sequence_longer_than_the_budget(sub):
    case(sub, [1], [1, 2, 3], 2, stops=[[1, 2, 3]], tokens=[1, 2], reason="length", calls=2)


# --- what step_fn sees; inputs ----------------------------------------------------------------------

@pytest.mark.parametrize("prompt", [[], [4], [3, 1, 4, 1, 5]])
def test_step_fn_sees_prompt_and_generated(sub, prompt):
    props.sees_prompt_and_generated(sub.generate, prompt=prompt, max_new_tokens=4)


def test_prompt_not_modified(sub):
    prompt = [3, 1, 4]
    stops = [[2, 2]]
    result = sub.generate(props.scripted(3, [1, 2, 2]), prompt, 5, eos_id=None, stop_sequences=stops)
    # the right answer first: leaving the inputs alone by doing nothing earns nothing
    assert_equal(props.unpack(result), ([1], "stop_sequence"),
                 "generate(prompt=[3, 1, 4], max_new_tokens=5, stop_sequences=[[2, 2]]) on the script 1, 2, 2")
    assert_equal(prompt, [3, 1, 4], "the prompt list after generate (must be unchanged)")
    assert_equal(stops, [[2, 2]], "stop_sequences after generate (must be unchanged)")


# --- seeded random runs against the reference -------------------------------------------------------

def random_cases(n: int, seed: int):
    rng = random.Random(seed)
    for i in range(n):
        vocab = rng.choice([3, 4, 5])
        prompt = [rng.randrange(vocab) for _ in range(rng.randrange(0, 6))]
        eos_id = rng.choice([None, 0, vocab - 1])
        stops = [[rng.randrange(vocab) for _ in range(rng.randint(1, 4))] for _ in range(rng.randint(0, 3))]
        yield i, vocab, prompt, rng.randint(0, 12), eos_id, stops


def test_random_runs_match_reference(sub, ref):
    reasons = set()
    for i, vocab, prompt, max_new, eos_id, stops in random_cases(80, seed=20):
        step_fn = props.hashing(vocab, seed=i)
        want_tokens, want_reason, want_calls = props.run(ref.generate, step_fn, prompt, max_new, eos_id, stops)
        reasons.add(want_reason)
        props.expect(sub.generate, step_fn, prompt, max_new, eos_id=eos_id, stop_sequences=stops,
                     tokens=want_tokens, reason=want_reason, calls=want_calls)
    assert reasons == set(props.REASONS), f"the random cases should cover every reason, covered {reasons}"


def test_random_runs_with_multi_digit_ids(sub, ref):
    """Ids such as 1, 12, 2, 21, 123: a matcher comparing joined digits finds stop sequences that are not there."""
    ids = [1, 2, 3, 12, 21, 23, 123]
    rng = random.Random(2020)
    reasons = set()
    for i in range(60):
        prompt = [rng.choice(ids) for _ in range(rng.randrange(0, 4))]
        stops = [[rng.choice(ids) for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(1, 3))]
        stops += [[1, 2], [2, 3], [12, 3], [1, 23]][i % 4:i % 4 + 1]
        eos_id = rng.choice([None, 123])
        step_fn = props.hashing(len(ids), seed=1000 + i, ids=ids)
        want_tokens, want_reason, want_calls = props.run(ref.generate, step_fn, prompt, 12, eos_id, stops)
        reasons.add(want_reason)
        props.expect(sub.generate, step_fn, prompt, 12, eos_id=eos_id, stop_sequences=stops,
                     tokens=want_tokens, reason=want_reason, calls=want_calls,
                     hint="compare token ids as lists, never as joined strings of digits")
    assert reasons == set(props.REASONS), f"the random cases should cover every reason, covered {reasons}"


# --- bad arguments (each next to a valid call that must be accepted and answered right) -------------

def test_negative_max_new_tokens(sub):
    case(sub, [1], [1, 2], 0, tokens=[], reason="length", calls=0)  # 0 is allowed: nothing to generate
    case(sub, [1], [1, 2], 1, tokens=[1], reason="length", calls=1)
    expect_value_error(sub.generate, props.scripted(0, [1]), [1], -1, what="generate(..., max_new_tokens=-1)",
                       mentions=("max_new_tokens",))


def test_empty_stop_sequence(sub):
    case(sub, [1], [4, 2, 3], 3, stops=[[2]], tokens=[4], reason="stop_sequence", calls=2)
    expect_value_error(sub.generate, props.scripted(1, [1, 2]), [1], 3, stop_sequences=[[2], []],
                       what="generate(..., stop_sequences=[[2], []])", mentions=("stop",))
