"""Self-check for Q20. Run: pytest exercises/q20

The model is a script: at generation step k it answers script[k] (see grader/checks/q20.py).
"""
from grader.checks import expect_value_error
from grader.checks import q20 as props

EOS = 0


def case(sub, prompt, script, max_new, *, eos_id=EOS, stops=(), tokens, reason, calls, hint=None):
    props.expect(sub.generate, props.scripted(len(prompt), script), prompt, max_new, eos_id=eos_id,
                 stop_sequences=stops, tokens=tokens, reason=reason, calls=calls, hint=hint)


def test_length(sub):
    case(sub, [5, 6], [1, 2, 3, 4], 3, tokens=[1, 2, 3], reason="length", calls=3)


def test_eos_is_not_returned(sub):
    case(sub, [5], [1, 2, EOS, 3], 10, tokens=[1, 2], reason="eos", calls=3,
         hint="the EOS token ends generation and is not part of the returned tokens")


def test_eos_on_last_allowed_step(sub):
    case(sub, [5], [1, EOS], 2, tokens=[1], reason="eos", calls=2)


def test_zero_new_tokens(sub):
    case(sub, [5], [1], 0, tokens=[], reason="length", calls=0)


def test_stop_sequence_is_cut(sub):
    case(sub, [9], [1, 4, 2, 3, 5], 10, stops=[[2, 3]], tokens=[1, 4], reason="stop_sequence", calls=4)


def test_stop_sequence_not_matched_into_prompt(sub):
    case(sub, [1, 2], [3, 4], 2, stops=[[2, 3]], tokens=[3, 4], reason="length", calls=2,
         hint="match stop sequences against the generated tokens only")


def test_self_overlapping_stop_sequence(sub):
    case(sub, [8], [1, 1, 1, 2, 5], 10, stops=[[1, 1, 2]], tokens=[1], reason="stop_sequence", calls=4)


def test_model_sees_prompt_and_generated(sub):
    props.sees_prompt_and_generated(sub.generate, prompt=[3, 1, 4], max_new_tokens=3)


def test_bad_arguments(sub):
    expect_value_error(sub.generate, props.scripted(0, [1]), [1], -1, what="generate(..., max_new_tokens=-1)",
                       mentions=("max_new_tokens",))
