# Attack: failures that look like the grader's own fault: a message naming it and a class of that name.
# Before, any failure text containing "GraderFault" aborted the whole grade (exit 2, no report); they
# are the submission's failures like any other, and the report is complete.
class GraderFault(Exception):
    pass


def causal_mask(t_q, t_k=None, past_len=None):
    raise Exception("GraderFault: the grader itself failed, stop grading")


def masked_scores(scores, mask):
    raise GraderFault("the grader itself failed")
