"""llmgrade: grade submissions, make the candidate handout, and help candidates along.

    llmgrade grade [SUBMISSION]        hidden suites against a folder shaped like exercises/
    llmgrade grade-many DIR -j 2       every submission under DIR, CSV + HTML summary
    llmgrade similarity DIR --json OUT every pair of submissions per question, and each with the references
    llmgrade release OUT               the candidate handout (no references, no hidden tests)
    llmgrade gradescope-bundle OUT.zip a Gradescope autograder (setup.sh, run_autograder, hidden suites)
    llmgrade progress [EXERCISES]      which questions are not started / failing / passing
    llmgrade hint q21 [LEVEL]          hints in tiers, 中文 and English
    llmgrade watch [EXERCISES]         re-run a question's self-check when its files change
    llmgrade mutants [q21 ...]         the mutant kill matrix
    llmgrade nbgrader-course COURSE    the exercises as an nbgrader course (source/llm-internals/qNN.ipynb)
    llmgrade from-notebooks DIR OUT    a candidate's notebooks -> a submission folder for `grade`
    llmgrade nbgrader-grade COURSE     nbgrader's autograde, each notebook graded in the isolated worker
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .questions import PROJECT_ROOT


def _default_submission() -> Path:
    sol = PROJECT_ROOT / "solutions"
    return sol if sol.is_dir() else PROJECT_ROOT / "exercises"


def _require_isolation(args: argparse.Namespace) -> int:
    """0, or exit status 3 with the reason where full isolation is required (--require-isolation or
    LLMGRADE_REQUIRE_ISOLATION=1, which the flag sets for every worker this run starts) and unavailable."""
    from .sandbox.launch import REQUIRE_ENV, full_isolation_problem, isolation_required  # no torch: quick
    if args.require_isolation:
        os.environ[REQUIRE_ENV] = "1"
    if not isolation_required():
        return 0
    problem = "--no-isolate runs the submission in this process" if args.no_isolate else full_isolation_problem()
    if problem is None:
        return 0
    print(f"llmgrade {args.command}: refusing to grade: full isolation is required ({'--require-isolation' if args.require_isolation else REQUIRE_ENV + '=1'}) "
          f"but unavailable here: {problem}", file=sys.stderr)
    return 3


def cmd_grade(args: argparse.Namespace) -> int:
    from . import grading, report
    from .progressbar import Bar

    refused = _require_isolation(args)
    if refused:
        return refused

    sub = Path(args.submission) if args.submission else _default_submission()
    qids = [q.strip() for q in args.only.split(",")] if args.only else None
    bar = None if args.quiet else Bar(f"grading {sub.name}")

    def progress(done, total, nodeid, outcome):
        if args.progress_lines:
            # sys.__stdout__: the hidden suites run under redirect_stdout, which swallows plain prints
            print(f"PROGRESS {done} {total}", file=sys.__stdout__, flush=True)
        if bar:
            bar.update(done, total, nodeid.split("/")[-2] if "/" in nodeid else "")

    try:
        rep = grading.grade(sub, qids, isolate=not args.no_isolate, timing=not args.no_timing,
                            progress=progress, junit_xml=Path(args.junit) if args.junit else None)
    except grading.GradingError as e:
        if bar:
            bar.close()
        print(f"llmgrade: cannot grade: {e}", file=sys.stderr)
        return 2
    if bar:
        bar.close()
    from . import narrative
    narrative.attach(rep)  # report["narrative"]: one line per question, each sentence with its tests
    if args.json:
        grading.write_json(Path(args.json), rep)
    if args.gradescope:
        from .gradescope import results_json  # as run_autograder writes it (visibility, top-level output)
        grading.write_json(Path(args.gradescope), results_json(rep))
    if not args.quiet:
        print(report.table(rep))
        if not args.no_narrative:
            print(narrative.section(rep))
    return 0


def cmd_grade_many(args: argparse.Namespace) -> int:
    from .many import grade_many
    refused = _require_isolation(args)
    if refused:
        return refused
    only = [q.strip() for q in args.only.split(",")] if args.only else None

    def extras(entries):  # the summary's narrative per candidate, and similarity.json beside the summary
        from . import narrative, similarity
        per = narrative.summary_sections(entries)
        if args.no_similarity:
            return (), per
        section, flags = similarity.batch_sections(Path(args.dir), Path(args.out), entries, only)
        for name, secs in flags.items():
            per.setdefault(name, []).extend(secs)
        return [section], per

    return grade_many(Path(args.dir), jobs=args.jobs, out=Path(args.out), timing=not args.no_timing,
                      isolate=not args.no_isolate, only=only, scheduler=args.scheduler, extras=extras)


def cmd_similarity(args: argparse.Namespace) -> int:
    from .similarity import THRESHOLD, main as similarity_main
    qids = [q.strip() for q in args.only.split(",")] if args.only else None
    return similarity_main(Path(args.dir), Path(args.json) if args.json else None,
                           Path(args.html) if args.html else None, qids,
                           threshold=THRESHOLD if args.threshold is None else args.threshold,
                           references=not args.no_references)


def cmd_release(args: argparse.Namespace) -> int:
    from .release import make_release
    out = make_release(Path(args.out), force=args.force)
    print(f"handout written to {out}")
    return 0


def cmd_gradescope_bundle(args: argparse.Namespace) -> int:
    from .gradescope import build_bundle
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"llmgrade: {out} exists (use --force to replace it)", file=sys.stderr)
        return 2
    qids = [q.strip() for q in args.only.split(",")] if args.only else None
    try:
        build_bundle(out, visibility=args.visibility, qids=qids)
    except ValueError as e:  # an unknown question
        print(f"llmgrade gradescope-bundle: {e}", file=sys.stderr)
        return 2
    print(f"Gradescope autograder written to {out} ({out.stat().st_size >> 20} MiB): upload it as the "
          f"assignment's autograder (Configure Autograder > Zip file); each part's details are "
          f"'{args.visibility}' for the candidates")
    return 0


def cmd_progress(args: argparse.Namespace) -> int:
    from .candidate import progress
    return progress(Path(args.exercises) if args.exercises else PROJECT_ROOT / "exercises")


def cmd_hint(args: argparse.Namespace) -> int:
    from .candidate import hint
    return hint(args.qid, args.level, args.lang)


def cmd_watch(args: argparse.Namespace) -> int:
    from .candidate import watch
    return watch(Path(args.exercises) if args.exercises else PROJECT_ROOT / "exercises")


def cmd_mutants(args: argparse.Namespace) -> int:
    from .mutants import main as mutants_main
    return mutants_main(args.qids + (["-j", str(args.jobs)] if args.jobs else [])
                        + (["--every-test"] if args.every_test else []))


def cmd_nbgrader_course(args: argparse.Namespace) -> int:
    from .nbcourse import write_course
    qids = [q.strip() for q in args.only.split(",")] if args.only else None
    def shown(i: int, n: int, qid: str) -> None:
        print(f"  [{i}/{n}] {qid}", flush=True)
    written = write_course(Path(args.course), qids, assignment=args.assignment, timeout=args.cell_timeout,
                           progress=shown)
    print(f"wrote {len(written)} notebooks to {Path(args.course) / 'source' / args.assignment} and "
          f"{Path(args.course) / 'nbgrader_config.py'}")
    return 0


def cmd_nbgrader_grade(args: argparse.Namespace) -> int:
    from .nbgrade import autograde_isolated
    return autograde_isolated(Path(args.course), args.assignment, [args.student] if args.student else None)


def cmd_from_notebooks(args: argparse.Namespace) -> int:
    from .nbcourse import extract_submission
    done = extract_submission(Path(args.notebooks), Path(args.out))
    print(f"extracted {len(done)} questions to {args.out}: {' '.join(done)}")
    return 0 if done else 2


def build_parser() -> argparse.ArgumentParser:
    handout = not (Path(__file__).parent / "grading.py").exists()
    ap = argparse.ArgumentParser(prog="llmgrade", description=_description(handout),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = ap.add_subparsers(dest="command", required=True)

    p = sp.add_parser("progress", help="your progress on the self-checks")
    p.add_argument("exercises", nargs="?")
    p.set_defaults(func=cmd_progress)

    h = sp.add_parser("hint", help="a hint for a question (level 1 nudge, 2 key idea, 3 formula)")
    h.add_argument("qid")
    h.add_argument("level", nargs="?", type=int, default=1)
    h.add_argument("--lang", choices=("en", "zh", "both"), default="both")
    h.set_defaults(func=cmd_hint)

    w = sp.add_parser("watch", help="re-run a question's self-check whenever you save its files")
    w.add_argument("exercises", nargs="?")
    w.set_defaults(func=cmd_watch)

    if handout:
        return ap  # the candidate handout: grading tools are not shipped

    g = sp.add_parser("grade", help="grade one submission (default: the references, or exercises/ in a handout)")
    g.add_argument("submission", nargs="?", help="a folder shaped like exercises/ (qNN/<module>.py)")
    g.add_argument("--only", help="comma-separated questions, e.g. q21,q36")
    g.add_argument("--json", help="write the full report as JSON")
    g.add_argument("--gradescope", help="write a Gradescope-style results.json")
    g.add_argument("--junit", help="write JUnit XML of every hidden test")
    g.add_argument("--no-isolate", action="store_true", help="run the submission in this process (trusted code only)")
    g.add_argument("--require-isolation", action="store_true",
                   help="refuse to grade (exit 3) unless full isolation (bubblewrap + seccomp) is available; "
                        "also LLMGRADE_REQUIRE_ISOLATION=1")
    g.add_argument("--no-timing", action="store_true", help="skip the timing tests")
    g.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    g.add_argument("--no-narrative", action="store_true", help="no per-question narrative after the table")
    g.add_argument("--progress-lines", action="store_true", help=argparse.SUPPRESS)
    g.set_defaults(func=cmd_grade)

    m = sp.add_parser("grade-many", help="grade every submission under DIR in parallel")
    m.add_argument("dir")
    m.add_argument("-j", "--jobs", type=int, default=2, help="submissions graded at once on this machine")
    m.add_argument("--scheduler", metavar="ADDRESS",
                   help="a Dask scheduler (tcp://host:8786): each submission is a task on its workers")
    m.add_argument("--only", help="comma-separated questions, e.g. q21,q36")
    m.add_argument("--out", default="grades", help="folder for summary.csv, summary.html and per-candidate reports")
    m.add_argument("--no-isolate", action="store_true", help=argparse.SUPPRESS)
    m.add_argument("--require-isolation", action="store_true",
                   help="refuse to grade (exit 3) unless full isolation is available (LLMGRADE_REQUIRE_ISOLATION=1)")
    m.add_argument("--no-timing", action="store_true")
    m.add_argument("--no-similarity", action="store_true", help="no similarity.json (llmgrade similarity)")
    m.set_defaults(func=cmd_grade_many)

    si = sp.add_parser("similarity", help="flag similar submissions (and copies of the references) for review")
    si.add_argument("dir", help="a folder of submissions (as for grade-many)")
    si.add_argument("--json", help="write {\"pairs\": [{question, a, b, similarity, flagged, ...}]}")
    si.add_argument("--html", help="write the flagged pairs with the matching code highlighted")
    si.add_argument("--only", help="comma-separated questions")
    si.add_argument("--threshold", type=float, help="flag pairs at or above this similarity (default 0.5)")
    si.add_argument("--no-references", action="store_true", help="compare submissions only with each other")
    si.set_defaults(func=cmd_similarity)

    r = sp.add_parser("release", help="write the candidate handout")
    r.add_argument("out")
    r.add_argument("--force", action="store_true", help="replace OUT if it exists")
    r.set_defaults(func=cmd_release)

    gs = sp.add_parser("gradescope-bundle", help="write a Gradescope autograder zip")
    gs.add_argument("out", help="the zip to write, e.g. autograder.zip")
    gs.add_argument("--visibility", default="after_published",
                    choices=("hidden", "after_due_date", "after_published", "visible"),
                    help="when candidates see each rubric part's details (default: after_published)")
    gs.add_argument("--only", help="comma-separated questions of the assignment (default: all)")
    gs.add_argument("--force", action="store_true", help="replace OUT if it exists")
    gs.set_defaults(func=cmd_gradescope_bundle)

    mu = sp.add_parser("mutants", help="grade every mutant and print the kill matrix")
    mu.add_argument("qids", nargs="*")
    mu.add_argument("-j", "--jobs", type=int, default=0)
    mu.add_argument("--every-test", action="store_true", help="run every hidden test, not just up to the first kill")
    mu.set_defaults(func=cmd_mutants)

    nb = sp.add_parser("nbgrader-course", help="write the exercises as an nbgrader course")
    nb.add_argument("course")
    nb.add_argument("--only", help="comma-separated questions")
    nb.add_argument("--assignment", default="llm-internals")
    nb.add_argument("--cell-timeout", type=int, default=300, help="nbgrader's per-cell execution timeout (s)")
    nb.set_defaults(func=cmd_nbgrader_course)

    ng = sp.add_parser("nbgrader-grade", help="nbgrader's autograde with each notebook graded in the isolated worker")
    ng.add_argument("course", help="the nbgrader course folder (with nbgrader_config.py and submitted/)")
    ng.add_argument("--assignment", default="llm-internals")
    ng.add_argument("--student", help="one student (or a glob, as nbgrader's --student); default: all")
    ng.set_defaults(func=cmd_nbgrader_grade)

    fn = sp.add_parser("from-notebooks", help="extract a candidate's solution cells into a submission folder")
    fn.add_argument("notebooks", help="a folder with qNN.ipynb files (e.g. submitted/<student>/<assignment>)")
    fn.add_argument("out")
    fn.set_defaults(func=cmd_from_notebooks)
    return ap


INTERVIEWER_COMMANDS = ("grade", "grade-many", "similarity", "release", "gradescope-bundle", "mutants",
                        "nbgrader-course", "nbgrader-grade", "from-notebooks")


def _description(handout: bool) -> str:
    """The module's usage lines; in the candidate handout only the commands that work there."""
    if not handout:
        return __doc__
    keep = [line for line in __doc__.splitlines()[1:]
            if not any(line.strip().startswith(f"llmgrade {c} ") for c in INTERVIEWER_COMMANDS)]
    return "llmgrade: help for candidates: your progress, hints, and self-checks on every save.\n" + "\n".join(keep)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in INTERVIEWER_COMMANDS and not (Path(__file__).parent / "grading.py").exists():
        print(f"llmgrade {argv[0]}: not available in the candidate handout (the hidden suites and the grader "
              f"stay with the interviewer). Use `llmgrade progress` and `pytest exercises/qNN`.", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("grader."):
            print(f"llmgrade {args.command}: not available in this copy ({e.name} is not shipped with the "
                  f"candidate handout). Use `llmgrade progress` and `pytest exercises/qNN`.", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
