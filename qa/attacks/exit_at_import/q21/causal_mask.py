# Attack: leave at import time, hoping the grader counts a clean exit as success.
import sys

sys.exit(0)
