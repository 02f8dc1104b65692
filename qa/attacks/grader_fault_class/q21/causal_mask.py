# Attack: the grader's own GraderFault class, as the worker has it (grader.loading is imported there),
# raised by the submission. Nothing raised in the worker is more than the submission's failure on the
# trusted side: the grade goes on and the report is complete.
def _fault(text):
    try:
        from grader.loading import GraderFault
    except ImportError:  # a worker without the grader's modules: a class of that name, then
        GraderFault = type("GraderFault", (Exception,), {})
    return GraderFault(text)


def causal_mask(t_q, t_k=None, past_len=None):
    raise _fault("the grader could not start its worker process")


def masked_scores(scores, mask):
    raise _fault("the grader failed, not the submission")
