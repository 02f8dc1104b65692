"""Self-check for Q32. Run: pytest exercises/q32"""
from grader.checks import assert_number, expect_value_error
from grader.checks import q32 as props


def test_a100_balance_point(sub):
    assert_number(sub.balanced_batch_size(312e12, 2.0e12, 2), 156.0, "balanced_batch_size(312e12, 2.0e12, 2)",
                  hint="peak_flops · bytes_per_param / (2 · mem_bandwidth)")


def test_step_times_by_hand(sub):
    # 7B weights in fp16 are 14 GB; at 2 TB/s reading them takes 7 ms.
    assert_number(sub.decode_step_time(7e9, 1, 312e12, 2.0e12, 2), 0.007, "decode_step_time(7e9, 1, A100, fp16)")
    assert_number(sub.decode_step_time(7e9, 100, 312e12, 2.0e12, 2), 0.007, "decode_step_time(7e9, 100, A100, fp16)",
                  hint="below the balance point the time does not depend on the batch")
    assert_number(sub.decode_step_time(7e9, 312, 312e12, 2.0e12, 2), 0.014, "decode_step_time(7e9, 312, A100, fp16)",
                  hint="compute-bound: 2 · 7e9 · 312 / 312e12")
    assert_number(sub.decode_step_time(7e9, 1, 312e12, 2.0e12, 2, kv_bytes=2e9), 0.008,
                  "decode_step_time(7e9, 1, A100, fp16, kv_bytes=2e9)", hint="the KV cache is read too")


def test_regimes(sub):
    props.check_regimes(sub.decode_step_time, 7e9, 312e12, 2.0e12, 2)


def test_bad_arguments(sub):
    expect_value_error(sub.decode_step_time, 7e9, 0, 312e12, 2e12, 2, what="decode_step_time with batch=0",
                       mentions=("batch",))
    expect_value_error(sub.balanced_batch_size, 312e12, 0, 2, what="balanced_batch_size with mem_bandwidth=0",
                       mentions=("mem_bandwidth",))
