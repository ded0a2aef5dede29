"""A seeded sample of mutants, judged like `make mutation` (docs/testing.md, "Mutation testing").

The full mutation run takes hours on a small box; CI runs this instead: it generates every
mutant of MUTATE, draws `--size` of them with a seed (the commit by default, so a rerun of one
commit draws the same sample and each commit draws another), runs them and fails when the
sample shows, at 95 % one-sided, that the killed fraction is below `--min-score`. A module
whose tests are deleted or gutted fails; sampling noise around a score near the target does
not.

    python tools/mutation_sample.py --size 40 [--seed abc123] [--dir build/mutation-ci] \
        [make variables: MUTATE=... MUTATION_TESTS=... MUTATION_MARKERS=...]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from scipy.stats import beta

ROOT = Path(__file__).resolve().parents[1]
KILLED, SURVIVED, NO_TESTS = {1, 3}, {0}, {5, 33}
TIMEOUTS = {36, -24, 24, 152, 255}  # a mutant that hangs the tests is caught by their timeout

# What CI samples by default: modules whose judging tests are fast (stats, tasks, scheduler).
DEFAULT_MAKE_VARIABLES = [
    "MUTATE=cortexrnn/services/stats/paired.py cortexrnn/services/stats/outcomes.py "
    "cortexrnn/services/stats/equivalence.py cortexrnn/services/tasks/*.py "
    "cortexrnn/worker/scheduler.py cortexrnn/shared/routing.py",
    "MUTATION_TESTS=tests/stats tests/tasks tests/training/test_eval_sets.py "
    "tests/service/test_scheduler.py tests/integration/test_scheduler_slots.py "
    "tests/integration/test_routing.py tests/integration/test_routing_values.py "
    "tests/integration/test_user_limits.py tests/api/test_resources.py",
    "MUTATION_MARKERS=not slow and not postgres",
]


def verdicts(directory: Path) -> dict[str, int | None]:
    """Every mutant's exit code as mutmut recorded it (None: not run yet)."""
    found: dict[str, int | None] = {}
    for meta in (directory / "mutants").rglob("*.meta"):
        found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def make_mutation(directory: Path, variables: list[str], mutants: list[str]) -> str:
    """Run `make mutation` on the named mutants; its output is returned for when something
    goes wrong, less its spinners and the thousands of lines listing mutants not run yet, so
    that mutmut's own complaint (a failing clean run, say) is what remains."""
    command = ["make", "-s", "mutation", f"MUTATION_DIR={directory}", *variables]
    command.append("MUTANTS=" + " ".join(mutants))
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return readable(done.stdout + done.stderr)


def readable(output: str) -> str:
    spinner = re.compile("[\u2800-\u28ff]")  # mutmut's progress spinners are braille
    return "\n".join(
        line
        for line in re.split(r"[\r\n]", output)
        if line.strip() and not spinner.search(line) and not line.endswith(": not checked")
    )


def upper_bound(killed: int, tested: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper bound of the killed fraction."""
    return 1.0 if killed == tested else float(beta.ppf(confidence, killed + 1, tested - killed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--seed", default=None, help="default: the checkout's commit")
    parser.add_argument("--dir", type=Path, default=Path("build/mutation-ci"))
    parser.add_argument("--min-score", type=float, default=0.85)
    parser.add_argument("variables", nargs="*", help="make variables, e.g. MUTATE=...")
    args = parser.parse_args(argv)
    variables = args.variables or DEFAULT_MAKE_VARIABLES
    seed = (
        args.seed
        or subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    )

    # mutmut generates the mutants and maps tests to functions before it filters by name;
    # a name that matches nothing then stops it, with every mutant listed in its .meta files.
    output = make_mutation(args.dir, variables, ["no-such-mutant"])
    names = sorted(verdicts(ROOT / args.dir))
    if not names:
        print(output[-4000:], file=sys.stderr)
        print(f"error: no mutants were generated in {args.dir}", file=sys.stderr)
        return 2
    sample = sorted(random.Random(seed).sample(names, min(args.size, len(names))))
    print(f"sampled {len(sample)} of {len(names)} mutants (seed {seed})", flush=True)
    output = make_mutation(args.dir, variables, sample)

    codes = verdicts(ROOT / args.dir)
    outcome: Counter[str] = Counter()
    survivors = []
    for name in sample:
        code = codes.get(name)
        if code in KILLED or code in TIMEOUTS:
            outcome["killed"] += 1
        elif code in SURVIVED:
            outcome["survived"] += 1
            survivors.append(name)
        elif code in NO_TESTS:
            outcome["no tests"] += 1
        else:
            outcome[f"other ({code})"] += 1
    tested = outcome["killed"] + outcome["survived"]
    if not tested:
        print(output[-4000:], file=sys.stderr)
        print(
            "error: no sampled mutant was judged by a test (for the output of mutmut's test "
            f"runs, add `debug = true` under [tool.mutmut] in {args.dir}/pyproject.toml and "
            "rerun with the seed above)",
            file=sys.stderr,
        )
        return 2
    bound = upper_bound(outcome["killed"], tested)
    print(
        f"sample: {dict(outcome)}; killed {outcome['killed']}/{tested} = "
        f"{outcome['killed'] / tested:.0%}, 95 % upper bound {bound:.0%} "
        f"(target {args.min_score:.0%})"
    )
    for name in survivors:
        print(f"  survived: {name}   (its diff: cd {args.dir} && mutmut show {name})")
    if bound < args.min_score:
        print(
            f"error: the sample shows the killed fraction below {args.min_score:.0%}: "
            "tests no longer catch these mutants (docs/testing.md lists the known survivors)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
