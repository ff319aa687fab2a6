"""A mutation check: plant small bugs in a module, one at a time, and see whether its fast tests
notice. A mutant no test fails on ("survivor") is code the tests do not pin down.

    python -m benchmarks.mutation_check                          # every module in MODULE_TESTS
    python -m benchmarks.mutation_check cnnlab/stats.py --max-mutants 40 --budget-s 1800
    python -m benchmarks.mutation_check --list                   # the mutants, without running

Each mutant is one change of one AST node (a comparison flipped or loosened, an arithmetic or
boolean operator swapped, a constant moved, `min`/`max` swapped, a `not` dropped, a returned
value replaced by None), written into a scratch copy of the repository (the working tree is
never touched); then the module's fast test files (MODULE_TESTS, workflow/SLURM/browser tests
left out) run there with `pytest -x`. A mutant is *killed* when they fail (or time out), and
*survives* when they pass. Mutants are drawn in a fixed order (seeded), so a rerun with the same
options checks the same ones; `--max-mutants` and `--budget-s` bound the run. Survivors are
printed as a Markdown list (file:line, the change) and written to `--out` as JSON.

To check another module, add it and its fast test files to MODULE_TESTS.

    python -m benchmarks.mutation_check --planted               # the bugs of PLANTED_BUGS

Random mutants are rarely the bugs people write. PLANTED_BUGS holds such bugs, each once
missed by the fast tests (issue 26), as text edits of the code: the check plants each in the
scratch copy and runs the fast tests that must now see it. A bug whose code has since changed
cannot be planted, and is reported so: rewrite its edits to the code as it is.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cnnlab.provenance import copy_checkout

REPO = Path(__file__).resolve().parents[1]

# Module -> the pytest arguments that run its fast tests (files, and a -k filter where a file
# tests other modules too).
MODULE_TESTS: dict[str, list[str]] = {
    "cnnlab/stats.py": [
        "tests/test_stats.py",
        "tests/test_compare.py",
        "tests/test_selection.py",
        "tests/test_summary.py",
    ],
    "cnnlab/training/selection.py": ["tests/test_selection.py"],
    "cnnlab/training/evaluation.py": [
        "tests/test_evaluation.py",
        "tests/test_training.py",
        "-k",
        "evaluat",
    ],
    "cnnlab/data/extract.py": ["tests/test_data_extract.py", "tests/test_bad_input_data.py"],
    "cnnlab/codemap.py": ["tests/test_codemap.py"],
}
FAST_ONLY = ["-m", "not workflow and not slurm and not browser"]


@dataclass(frozen=True)
class PlantedBug:
    name: str  # what the bug does
    path: str  # the file it is planted in
    edits: tuple[tuple[str, str], ...]  # (text as written, the same with the bug); each text once
    tests: tuple[str, ...]  # the pytest arguments of the fast tests that must fail


PLANTED_BUGS = [
    PlantedBug(
        "evaluate fed the training arrays as its test split",
        "rules/training.smk",
        (
            (
                'TEST_DATA = {"catsdogs": PETIMAGES_ARRAYS["test"], "cifar10": rules.prepare_cifar10.output.test}',
                'TEST_DATA = {"catsdogs": PETIMAGES_ARRAYS["train"], "cifar10": rules.prepare_cifar10.output.train}',
            ),
        ),
        ("tests/test_rule_inputs.py",),
    ),
    PlantedBug(
        "evaluation in training mode (BatchNorm's batch statistics, augmentation on)",
        "cnnlab/training/evaluation.py",
        (
            (
                "outputs = model.predict(batches.for_reading(), verbose=0)",
                "outputs = np.concatenate([np.asarray(model(images, training=True)) for images, _ in batches])",
            ),
        ),
        ("tests/test_evaluation.py",),
    ),
    PlantedBug(
        "Grad-CAM without its ReLU, clipped to [-1, 1]",
        "cnnlab/visualize/gradcam.py",
        (
            (
                'maps = np.maximum(np.einsum("nhwc,nc->nhw", conv_output, channel_weights), 0)',
                'maps = np.einsum("nhwc,nc->nhw", conv_output, channel_weights)',
            ),
            (
                "return np.clip(upsampled, 0, 1), classes",
                "return np.clip(upsampled, -1, 1), classes",
            ),
        ),
        ("tests/test_gradcam.py",),
    ),
    PlantedBug(
        "the Grad-CAM figure draws the map of the true label, not of the predicted class",
        "cnnlab/visualize/gradcam.py",
        (
            (
                "def gradcam(model: keras.Model, images: np.ndarray)",
                "def gradcam(model: keras.Model, images: np.ndarray, classes=None)",
            ),
            (
                "    classes = predicted_classes(probabilities)\n",
                "    classes = predicted_classes(probabilities) if classes is None else classes\n",
            ),
            (
                "gradcam(load_model(path, compile=False), images)",
                "gradcam(load_model(path, compile=False), images, labels)",
            ),
        ),
        ("tests/test_gradcam.py",),
    ),
    PlantedBug(
        "Grad-CAM's channel weights averaged over the batch too",
        "cnnlab/visualize/gradcam.py",
        (
            (
                "channel_weights = gradient.mean(axis=(1, 2))",
                "channel_weights = np.broadcast_to(gradient.mean(axis=(0, 1, 2)), gradient.shape[::3])",
            ),
        ),
        ("tests/test_gradcam.py",),
    ),
    PlantedBug(
        "select_best's McNemar test reads the test predictions, not the validation ones",
        "rules/training.smk",
        (
            (
                '"results/{dataset}/basic/{cell}/seed{seed}/val_predictions.npz"',
                '"results/{dataset}/basic/{cell}/seed{seed}/test_predictions.npz"',
            ),
        ),
        ("tests/test_rule_inputs.py",),
    ),
    PlantedBug(
        "on JAX, a resumed fit draws the epoch orders counted from the fit's start",
        "cnnlab/training/datasets.py",
        (
            (
                "self.batches.set_epoch(epoch)\n        if self.first_epoch",
                "self.batches.set_epoch(0 if self.starting else self.batches.epoch + 1)\n"
                "        if self.first_epoch",
            ),
        ),
        ("tests/test_backends.py", "-k", "resumed"),
    ),
    PlantedBug(
        "compare keeps the run pairs that could be paired when another could not",
        "cnnlab/compare.py",
        (("    if reasons:\n", "    if reasons and not results:\n"),),
        ("tests/test_compare_sides.py",),
    ),
    PlantedBug(
        "compare uses A's test-set size for B",
        "cnnlab/compare.py",
        # B's test-set size is read once: this edit does not depend on how the call is wrapped.
        (('row["b_n_test"]', 'row["a_n_test"]'),),
        ("tests/test_compare_sides.py",),
    ),
]

COMPARISON_SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
OPERATOR_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.Pow: ast.Mult,
}
BOOLEAN_SWAPS = {ast.And: ast.Or, ast.Or: ast.And}
CALL_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}


@dataclass
class Mutant:
    module: str
    index: int  # the n-th mutable spot of the module, in ast.walk order
    line: int
    change: str


def _spots(tree: ast.AST):
    """Every (node, change description, mutate function) of a parsed module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for position, operator in enumerate(node.ops):
                swap = COMPARISON_SWAPS.get(type(operator))
                if swap:

                    def mutate(node=node, position=position, swap=swap):
                        node.ops[position] = swap()

                    yield node, f"{type(operator).__name__} -> {swap.__name__}", mutate
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            swap = OPERATOR_SWAPS.get(type(node.op))
            if swap:

                def mutate(node=node, swap=swap):
                    node.op = swap()

                yield node, f"{type(node.op).__name__} -> {swap.__name__}", mutate
        elif isinstance(node, ast.BoolOp):

            def mutate(node=node):
                node.op = BOOLEAN_SWAPS[type(node.op)]()

            yield (
                node,
                f"{type(node.op).__name__} -> {BOOLEAN_SWAPS[type(node.op)].__name__}",
                mutate,
            )
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):

            def mutate(node=node):
                node.operand = ast.UnaryOp(ast.Not(), node.operand)  # not not x: x's truth

            yield node, "not x -> x", mutate
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            if isinstance(node.value, bool):
                new = not node.value
            elif node.value == 0:
                new = 1
            else:
                new = node.value * 2 if isinstance(node.value, float) else node.value + 1

            def mutate(node=node, new=new):
                node.value = new

            yield node, f"{node.value!r} -> {new!r}", mutate
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in CALL_SWAPS
        ):

            def mutate(node=node):
                node.func = ast.Name(CALL_SWAPS[node.func.id], ast.Load())

            yield node, f"{node.func.id}() -> {CALL_SWAPS[node.func.id]}()", mutate
        elif (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):

            def mutate(node=node):
                node.value = ast.Constant(None)

            yield node, "return <value> -> return None", mutate


def _is_docstring_or_annotation(tree: ast.AST) -> set[int]:
    """ids of constant nodes not worth mutating: inside type annotations."""
    skip = set()
    for node in ast.walk(tree):
        for annotation in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if annotation is not None:
                skip |= {id(inner) for inner in ast.walk(annotation)}
    return skip


def mutants_of(module: str, repo: Path = REPO) -> list[Mutant]:
    tree = ast.parse((repo / module).read_text())
    skip = _is_docstring_or_annotation(tree)
    return [
        Mutant(module, index, node.lineno, change)
        for index, (node, change, _) in enumerate(
            spot for spot in _spots(tree) if id(spot[0]) not in skip
        )
    ]


def mutated_source(
    module: str, index: int, repo: Path | None = REPO, source: str | None = None
) -> str:
    """The module (from `repo`, or `source` when given) with its `index`-th mutant planted."""
    tree = ast.parse(source if source is not None else (repo / module).read_text())
    skip = _is_docstring_or_annotation(tree)
    spots = [spot for spot in _spots(tree) if id(spot[0]) not in skip]
    spots[index][2]()
    return ast.unparse(ast.fix_missing_locations(tree))


def run_tests(scratch: Path, test_args: list[str], timeout: float) -> tuple[str, float]:
    """'passed', 'failed' or 'timeout' for the tests in `scratch`, and the seconds taken."""
    env = {**os.environ, "PYTHONPATH": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                *FAST_ONLY,
                *test_args,
            ],
            cwd=scratch,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    return ("passed" if result.returncode == 0 else "failed"), time.monotonic() - started


def scratch_copy(target: Path) -> Path:
    """The files git would check out (working-tree content), in `target`."""
    copy_checkout(target, keep_times=True)
    # A git checkout, as the tests expect (provenance records the commit).
    git = ["git", "-c", "user.name=mutation-check", "-c", "user.email=none@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "scratch copy"], cwd=target, check=True)
    return target


def check(modules, max_mutants, budget_s, seed, log=print) -> dict:
    deadline = time.monotonic() + budget_s
    report = {}
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as folder:
        scratch = scratch_copy(Path(folder))
        for module in modules:
            test_args = MODULE_TESTS[module]
            original = (scratch / module).read_text()
            # Numbered by the module as written (unparsing keeps the nodes, not the lines).
            everything = mutants_of(module, scratch)
            # The unmutated module, unparsed as the mutants are: the baseline must pass.
            (scratch / module).write_text(ast.unparse(ast.parse(original)))
            baseline, seconds = run_tests(scratch, test_args, timeout=max(600.0, budget_s))
            if baseline != "passed":
                log(f"{module}: its tests do not pass unmutated ({baseline}): fix that first")
                report[module] = {"error": f"tests {baseline} on the unmutated module"}
                (scratch / module).write_text(original)
                continue
            chosen = random.Random(f"{seed}:{module}").sample(
                everything, min(max_mutants, len(everything))
            )
            results = {
                "mutants": len(everything),
                "checked": 0,
                "killed": 0,
                "survived": [],
                "timeouts": 0,
            }
            for mutant in sorted(chosen, key=lambda mutant: mutant.index):
                if time.monotonic() + seconds > deadline:
                    log(f"{module}: time budget spent after {results['checked']} mutants")
                    break
                (scratch / module).write_text(
                    mutated_source(module, mutant.index, repo=None, source=original)
                )
                outcome, _ = run_tests(scratch, test_args, timeout=5 * seconds + 30)
                results["checked"] += 1
                if outcome == "passed":
                    results["survived"].append(
                        {"line": mutant.line, "change": mutant.change, "index": mutant.index}
                    )
                else:
                    results["killed"] += 1
                    results["timeouts"] += outcome == "timeout"
                log(
                    f"{module}:{mutant.line} {mutant.change}: {'SURVIVED' if outcome == 'passed' else outcome}"
                )
            (scratch / module).write_text(original)
            report[module] = results
    return report


def planted_source(bug: PlantedBug, source: str) -> str:
    """`source` (the text of `bug.path`) with the bug planted."""
    for written, with_bug in bug.edits:
        if source.count(written) != 1:
            raise ValueError(
                f"{bug.path} holds {source.count(written)} copies of {written!r}, not one: the code "
                "changed since the bug was written down; rewrite its edits"
            )
        source = source.replace(written, with_bug)
    return source


def check_planted(bugs: list[PlantedBug], log=print) -> list[dict]:
    """Each bug planted alone in a scratch copy: 'killed' when its tests fail, 'survived' when
    they pass, else why it was not checked (its tests fail unplanted, or it cannot be planted)."""
    results = []
    baselines: dict[tuple[str, ...], tuple[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="planted-bugs-") as folder:
        scratch = scratch_copy(Path(folder))
        for bug in bugs:
            target = scratch / bug.path
            original = target.read_text()
            if bug.tests not in baselines:  # the same tests, unplanted, pass once and for all
                baselines[bug.tests] = run_tests(scratch, list(bug.tests), timeout=600.0)
            baseline, seconds = baselines[bug.tests]
            try:
                planted = planted_source(bug, original)
            except ValueError as error:
                outcome = f"not checked: {error}"
            else:
                if baseline != "passed":
                    outcome = f"not checked: its tests do not pass without it ({baseline}): fix that first"
                else:
                    target.write_text(planted)
                    tests_now, _ = run_tests(scratch, list(bug.tests), timeout=5 * seconds + 30)
                    target.write_text(original)
                    outcome = "survived" if tests_now == "passed" else "killed"
            results.append(
                {"name": bug.name, "path": bug.path, "tests": list(bug.tests), "outcome": outcome}
            )
            log(f"{bug.path}: {bug.name}: {outcome}")
    return results


def planted_markdown(results: list[dict]) -> str:
    return "\n".join(
        f"* {result['outcome']}: {result['name']} (`{result['path']}`; {' '.join(result['tests'])})"
        for result in results
    )


def markdown(report: dict) -> str:
    lines = []
    for module, results in report.items():
        if "error" in results:
            lines.append(f"* `{module}`: not checked: {results['error']}")
            continue
        lines.append(
            f"* `{module}`: {results['checked']} of {results['mutants']} mutants checked, "
            f"{results['killed']} killed ({results['timeouts']} by time-out), "
            f"{len(results['survived'])} survived"
        )
        lines += [f"  * line {s['line']}: {s['change']}" for s in results["survived"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mutation_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "modules", nargs="*", default=list(MODULE_TESTS), help="modules of MODULE_TESTS"
    )
    parser.add_argument(
        "--max-mutants", type=int, default=30, help="per module, drawn at random (seeded)"
    )
    parser.add_argument(
        "--budget-s", type=float, default=3600, help="stop starting mutants after this"
    )
    parser.add_argument("--seed", default="1")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument(
        "--planted", action="store_true", help="check the bugs of PLANTED_BUGS instead"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.planted:
        if args.list:
            for bug in PLANTED_BUGS:
                print(f"{bug.path}: {bug.name} ({' '.join(bug.tests)})")
            return None
        report = check_planted(PLANTED_BUGS)
        print(planted_markdown(report))
        if args.out:
            args.out.write_text(json.dumps(report, indent=2) + "\n")
        return report
    unknown = set(args.modules) - set(MODULE_TESTS)
    if unknown:
        parser.error(
            f"no fast tests known for {', '.join(sorted(unknown))}: add them to MODULE_TESTS"
        )
    if args.list:
        for module in args.modules:
            for mutant in mutants_of(module):
                print(f"{module}:{mutant.line} {mutant.change}")
        return None
    report = check(args.modules, args.max_mutants, args.budget_s, args.seed)
    print(markdown(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
