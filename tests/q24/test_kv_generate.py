"""Hidden suite for Q24: tokens against the reference (float64, batches of different prompts), the
greedy property in float32, cached == uncached, decode_flops values and growth, bad arguments, and a
timing test: the submission's cached decoding against its own uncached decoding."""
import pytest
import torch

from grader.checks import assert_equal, assert_number, expect_value_error, unchanged
from grader.checks import q24 as props

# (model settings, B, T, n_new): several seeds, widths, head counts and lengths
CASES = [
    (dict(n_layers=2, d_model=64, n_heads=4, seed=1), 3, 5, 20),
    (dict(n_layers=4, d_model=128, n_heads=4, seed=0), 2, 7, 16),
    (dict(n_layers=3, d_model=96, n_heads=8, seed=5), 4, 1, 12),
    (dict(n_layers=1, d_model=64, n_heads=2, seed=9), 2, 12, 9),
    (dict(n_layers=2, d_model=64, n_heads=1, seed=4), 3, 3, 10),
]


def _model(given, dtype="float64", **kw):
    return given("q24", "tiny_gpt").TinyGPT(dtype=dtype, **kw)


def _prompt(B, T, seed, vocab=256):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(100 + seed))


def _desc(cfg, B, T, n_new, use_cache):
    settings = ", ".join(f"{k}={v}" for k, v in cfg.items()) if isinstance(cfg, dict) else cfg
    return f"generate_greedy(TinyGPT({settings}), prompt ({B}, {T}), n_new={n_new}, use_cache={use_cache})"


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("cfg,B,T,n_new", CASES)
def test_tokens_match_reference(sub, ref, given, cfg, B, T, n_new, use_cache):
    model = _model(given, **cfg)
    prompt = _prompt(B, T, cfg["seed"])
    before = prompt.clone()
    got = sub.generate_greedy(model, prompt, n_new, use_cache=use_cache)
    unchanged(before, prompt, "prompt")
    expected = ref.generate_greedy(model, prompt, n_new, use_cache=False)
    props.greedy_consistent(got, model, prompt, n_new, _desc(cfg, B, T, n_new, use_cache), atol=1e-9)
    assert_equal(got, expected, _desc(cfg, B, T, n_new, use_cache))


@pytest.mark.parametrize("cfg,B,T,n_new", CASES[:3])
def test_cached_equals_uncached(sub, given, cfg, B, T, n_new):
    props.cached_matches_uncached(sub.generate_greedy, _model(given, **cfg), _prompt(B, T, cfg["seed"] + 1),
                                  n_new)


@pytest.mark.parametrize("use_cache", [True, False])
def test_batch_rows_do_not_mix(sub, given, use_cache):
    model = _model(given, n_layers=2, d_model=64, seed=7)
    props.rows_independent(sub.generate_greedy, model, _prompt(4, 5, 7), 10, use_cache=use_cache)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("seed", [0, 3])
def test_float32_is_greedy(sub, given, seed, use_cache):
    # float32 rounding may legitimately flip a near-tie, so this checks the greedy property
    # (each token is the argmax of the logits given the tokens before it) rather than equality.
    model = _model(given, dtype="float32", n_layers=3, d_model=64, seed=seed)
    prompt = _prompt(3, 6, seed)
    props.greedy_consistent(sub.generate_greedy(model, prompt, 24, use_cache=use_cache), model, prompt, 24,
                            f"float32 {_desc('n_layers=3, d_model=64', 3, 6, 24, use_cache)}")


def test_long_generation_cached(sub, ref, given):
    # deep positions: the cache must hold everything and the offsets must keep counting
    model = _model(given, n_layers=2, d_model=64, seed=11)
    prompt = _prompt(2, 4, 11)
    got = sub.generate_greedy(model, prompt, 120, use_cache=True)
    assert_equal(got, ref.generate_greedy(model, prompt, 120, use_cache=True), _desc("seed=11", 2, 4, 120, True))


@pytest.mark.parametrize("use_cache", [True, False])
def test_edge_lengths(sub, ref, given, use_cache):
    model = _model(given, n_layers=2, d_model=64, seed=2)
    for B, T, n_new in ((1, 1, 1), (2, 1, 5), (2, 6, 1), (3, 4, 0)):
        prompt = _prompt(B, T, 2 + T)
        got = sub.generate_greedy(model, prompt, n_new, use_cache=use_cache)
        assert_equal(got, ref.generate_greedy(model, prompt, n_new, use_cache=use_cache),
                     _desc("seed=2", B, T, n_new, use_cache))


# --- FLOPs ----------------------------------------------------------------------------------------
FLOP_ARGS = [(1, 4, 2, 3), (2, 8, 3, 2), (12, 768, 10, 50), (32, 4096, 1, 1), (32, 4096, 100, 1000),
             (3, 64, 7, 0), (80, 8192, 512, 64), (4, 128, 8, 256)]


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("args", FLOP_ARGS)
def test_flops_match_reference(sub, ref, args, use_cache):
    if args[-1] == 0:  # zero new tokens cost nothing: a constant 0 must not earn this case alone
        assert_number(sub.decode_flops(3, 64, 7, 5, use_cache), ref.decode_flops(3, 64, 7, 5, use_cache),
                      f"decode_flops(3, 64, 7, 5, {use_cache}) (a non-empty case first)", rel=1e-12)
    assert_number(sub.decode_flops(*args, use_cache), ref.decode_flops(*args, use_cache),
                  f"decode_flops{args + (use_cache,)}", rel=1e-12,
                  hint="count every pass generate_greedy makes (prefill included; the last token is never "
                       "fed back): per layer 24*t_q*d^2 + 4*t_q*t_k*d")


def test_flops_hand_worked(sub):
    props.flops_hand_worked(sub.decode_flops)


def test_flops_growth(sub):
    props.flops_growth(sub.decode_flops)


# --- bad arguments --------------------------------------------------------------------------------
def test_bad_generate_arguments(sub, ref, given):
    model = _model(given, n_layers=1, d_model=64)
    ok = _prompt(2, 3, 0)
    for use_cache in (True, False):  # a valid call first: raising on everything earns nothing
        assert_equal(sub.generate_greedy(model, ok, 4, use_cache=use_cache),
                     ref.generate_greedy(model, ok, 4, use_cache=False), _desc("n_layers=1", 2, 3, 4, use_cache))
    cases = [
        ((model, torch.tensor([1, 2, 3]), 2), "a 1-D prompt", ("prompt",)),
        ((model, ok.float(), 2), "a float prompt", ("prompt",)),
        ((model, torch.full((1, 3), 256), 2), "token id 256 with vocab 256", ("prompt", "id", "vocab")),
        ((model, torch.full((1, 3), -1), 2), "token id -1", ("prompt", "id", "vocab")),
        ((model, torch.zeros(2, 0, dtype=torch.long), 2), "an empty prompt (T = 0)", ("prompt",)),
        ((model, ok, -1), "n_new=-1", ("n_new",)),
        ((model, ok, 1020 + 5), "T + n_new beyond max_positions=1024", ("n_new", "max_positions", "prompt")),
    ]
    for args, what, mentions in cases:
        for use_cache in (True, False):
            expect_value_error(sub.generate_greedy, *args, use_cache=use_cache,
                               what=f"generate_greedy with {what} (use_cache={use_cache})", mentions=mentions)


@pytest.mark.parametrize("args,name", [((0, 64, 3, 2), "n_layers"), ((2, 0, 3, 2), "d_model"),
                                       ((2, 64, 0, 2), "prompt_len"), ((2, 64, 3, -1), "n_new"),
                                       ((2, 64, 3.5, 2), "prompt_len")])
def test_bad_flops_arguments(sub, ref, args, name):
    for use_cache in (True, False):
        assert_number(sub.decode_flops(2, 64, 3, 2, use_cache), ref.decode_flops(2, 64, 3, 2, use_cache),
                      f"decode_flops(2, 64, 3, 2, {use_cache}) (valid sizes first)", rel=1e-12)
        expect_value_error(sub.decode_flops, *args, use_cache, what=f"decode_flops{args + (use_cache,)}",
                           mentions=(name,))


# --- timing ---------------------------------------------------------------------------------------
@pytest.mark.timing
@pytest.mark.timeout(150)
def test_cache_is_faster(sub, given):
    """The submission's cached decoding against a TRUSTED decoder without a cache (``props.uncached_greedy``,
    run by the grader: its cost is fixed, the submission cannot slow it down): 48 new tokens after a fresh
    random 192-token prompt every round, the default TinyGPT (4 layers, d_model 128, float32), CPU time on
    both sides (the submission's read from outside its worker, every thread counted), a warm-up round, then
    the best of 3 rounds on each side; every round's tokens are checked. Threshold 3x; measurements in
    docs/measurements.md.
    """
    ratio = props.cache_is_faster(sub, _model(given, dtype="float32"))
    print(f"uncached / cached: {ratio}")
