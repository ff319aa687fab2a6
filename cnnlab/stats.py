"""How sure an accuracy is, and whether two accuracies differ by more than noise.

Two kinds of noise blur a test accuracy:

* **the test set's sampling noise**: a model that is right on a fraction p of all images scores
  a little above or below p on any finite test set; on 600 images a 95% interval is about
  +-3.6 points (`wilson_interval`, `two_proportion_test`);
* **the training seed's noise**: the same model trained with another seed (initial weights,
  batch order, augmentation draws) scores differently; only repeats show how much
  (`seed_summary`, `welch_test`).

Two runs scored on the *same* images are compared image by image (`paired_comparison`,
`mcnemar_test`): only the images one gets right and the other wrong carry information, and the
images' shared difficulty cancels.

`configuration_interval` is the headline interval of a model's test accuracy: where the
configuration's accuracy on new images lies, counting both noises (with one seed, the test
set's alone: the Wilson interval).

`difference_verdict` picks the test that the data allow and does not claim more than it shows:
with several seeds on both sides, Welch's t-test over seeds compares the two *configurations*
on these images (the seeds' noise only: the images were sampled once for both);
with one seed on a side the seed-to-seed noise is unmeasured, so it says the configurations
cannot be compared, and tests only whether *these runs* differ on the images: the one run
against each run of the other side (McNemar when paired, else the two-proportion test).
`difference_from_report` sets our accuracy beside a published one-seed number with both test
sets' noise (and the seeds', where we measured it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

# The values an accuracy, and a difference of two accuracies, can take.
ACCURACY_RANGE = (0.0, 1.0)
DIFFERENCE_RANGE = (-1.0, 1.0)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1 (e.g. 0.95), not {confidence}")


def _check_accuracy(correct_fraction: float, n: int) -> None:
    if n < 1:
        raise ValueError(f"an accuracy needs at least one test image, not n={n}")
    if not 0 <= correct_fraction <= 1:
        raise ValueError(f"an accuracy is a fraction in 0..1, not {correct_fraction}")


def wilson_interval(
    correct_fraction: float, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """The Wilson score interval of a proportion: the accuracy `correct_fraction` on `n` images.

    Unlike the textbook p +- z*sqrt(p(1-p)/n), it stays inside 0..1 and keeps its coverage
    near 0 and 1, where good models' accuracies live.
    """
    _check_accuracy(correct_fraction, n)
    _check_confidence(confidence)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    shrink = 1 + z**2 / n
    centre = (correct_fraction + z**2 / (2 * n)) / shrink
    variance = correct_fraction * (1 - correct_fraction) / n + z**2 / (4 * n**2)
    half_width = z / shrink * math.sqrt(variance)
    # Cut: rounding must not push a bound past 0 or 1 when the accuracy is exactly 0 or 1.
    return within((centre - half_width, centre + half_width), ACCURACY_RANGE)


def within(interval: tuple[float, float], value_range: tuple[float, float]) -> tuple[float, float]:
    """A symmetric interval cut at the values the quantity can take.

    With few seeds that spread widely, a t-interval passes an accuracy's 1 (the demo's three
    CIFAR-10 residual seeds gave [0.22, 1.18]). The true value lies inside the range, so cutting
    there drops only impossible values and keeps the interval's coverage."""
    lowest, highest = value_range
    return max(lowest, interval[0]), min(highest, interval[1])


def seed_summary(
    values: Sequence[float],
    confidence: float = 0.95,
    value_range: tuple[float, float] | None = None,
) -> dict:
    """Mean of one value over seeds, with its spread.

    Returns {"n", "mean", "sd", "interval"}: `sd` is the sample standard deviation (ddof=1) and
    `interval` the Student t confidence interval of the mean, (low, high), cut at `value_range`
    when given (ACCURACY_RANGE for accuracies); both are None for a single seed, whose spread is
    unknown.
    """
    _check_confidence(confidence)
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("no values to summarise: pass one value per seed")
    n, mean = int(values.size), float(values.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "interval": None}
    sd = float(values.std(ddof=1))
    half_width = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)
    interval = (mean - half_width, mean + half_width)
    if value_range is not None:
        interval = within(interval, value_range)
    return {"n": n, "mean": mean, "sd": sd, "interval": interval}


def _critical_value(
    variance: float, seed_variance: float, seeds: int, confidence: float
) -> tuple[float, float | None]:
    """(critical value, degrees of freedom) for an estimate whose `variance` holds a seed term
    `seed_variance` measured from `seeds` seeds and binomial terms counted as known: Student's t
    with the Welch-Satterthwaite degrees of freedom of the seed term; the normal's (df None)
    without a seed term."""
    if seed_variance <= 0:
        return float(stats.norm.ppf(0.5 + confidence / 2)), None
    df = variance**2 / (seed_variance**2 / (seeds - 1))
    return float(stats.t.ppf(0.5 + confidence / 2, df)), df


def configuration_interval(values: Sequence[float], n: int, confidence: float = 0.95) -> dict:
    """Where a configuration's accuracy on *new* images lies: the mean of its seeds' accuracies,
    each scored on the same `n` test images, with an interval counting both noises.

    The seeds share one test set, so the t-interval over seeds (`seed_summary`) leaves the test
    set's own sampling out: with steady seeds it can be narrower than one run's Wilson interval.
    Here the variance of the mean is s^2/k (the seeds) + p(1-p)/n (the test set, sampled once
    whatever k; an upper bound, as in `difference_from_report`), with Student's t on the seed
    term's Welch-Satterthwaite degrees of freedom, cut at ACCURACY_RANGE. With one seed, or seeds
    that never vary, only the test set's noise is known: the Wilson interval, and
    "seed_noise_measured" says whether the seeds' noise is in.

    Returns {"mean", "interval", "seeds", "seed_noise_measured"}.
    """
    _check_confidence(confidence)
    summary = seed_summary(values)
    mean, k = summary["mean"], summary["n"]
    _check_accuracy(mean, n)
    if k == 1 or summary["sd"] == 0:
        interval = wilson_interval(mean, n, confidence)
    else:
        seed_variance = summary["sd"] ** 2 / k
        variance = seed_variance + mean * (1 - mean) / n
        critical, _ = _critical_value(variance, seed_variance, k, confidence)
        half_width = critical * math.sqrt(variance)
        interval = within((mean - half_width, mean + half_width), ACCURACY_RANGE)
    return {"mean": mean, "interval": interval, "seeds": k, "seed_noise_measured": k >= 2}


def welch_test(a: Sequence[float], b: Sequence[float]) -> dict:
    """Welch's two-sided t-test of two samples of per-seed values (unequal variances allowed).

    Returns {"statistic", "p_value", "df"}, all None where the test is undefined: a side with
    fewer than 2 values (no spread to compare against), or no spread on either side (every
    seed scored the same, so the seeds show no noise at all).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return {"statistic": None, "p_value": None, "df": None}
    with warnings.catch_warnings():
        # scipy flags a side whose values are all equal as "nearly identical" data; the test is
        # exact then (that side's variance is 0), so the warning would only alarm the reader.
        warnings.filterwarnings("ignore", "Precision loss occurred in moment calculation")
        result = stats.ttest_ind(a, b, equal_var=False)
    return {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "df": float(result.df),
    }


def two_proportion_test(p1: float, n1: int, p2: float, n2: int) -> dict:
    """Two-sided z-test that two accuracies, p1 on n1 images and p2 on n2, differ (pooled).

    It treats the two as independent samples of images. When both models were scored on the
    same test images it is conservative: the images' shared difficulty cancels in a paired
    comparison, which would find real differences sooner. It sees only the test set's noise,
    not the training seed's. Returns {"statistic", "p_value"}.
    """
    _check_accuracy(p1, n1)
    _check_accuracy(p2, n2)
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if standard_error == 0:
        # Both perfect, or both wrong on every image: identical, nothing to test.
        return {"statistic": 0.0, "p_value": 1.0}
    statistic = (p1 - p2) / standard_error
    return {"statistic": statistic, "p_value": float(2 * stats.norm.sf(abs(statistic)))}


# Welch's t-test is defined from 2 seeds per side, but with 2 it has about one degree of freedom
# and almost no power: 3 per side is the least worth running (`replicates.yaml` asks for 3).
SEEDS_PER_SIDE_NEEDED = 3


class PairingError(ValueError):
    """Two runs' predictions are not over the same images, so they cannot be paired."""


def mcnemar_test(only_a_right: int, only_b_right: int) -> float:
    """McNemar's exact two-sided p-value from the discordant pairs of a paired comparison.

    `only_a_right` images were classified right by A and wrong by B, `only_b_right` the other way
    round; the images both got right or both got wrong say nothing about which is better. If A
    and B were equally good, each discordant image would be A's with probability 1/2: the p-value
    is the two-sided exact binomial test of `only_a_right` out of their sum, 2 * P(X <= min),
    capped at 1 (1 when there is no discordant image at all).
    """
    for count in (only_a_right, only_b_right):
        if int(count) != count or count < 0:
            raise ValueError(f"McNemar's test counts images: {count} is not a count")
    discordant = int(only_a_right + only_b_right)
    if discordant == 0:
        return 1.0
    tail = stats.binom.cdf(min(only_a_right, only_b_right), discordant, 0.5)
    return float(min(1.0, 2 * tail))


def paired_comparison(a, b, labels: tuple[str, str] = ("A", "B")) -> dict:
    """Two runs' predictions on the same images (`cnnlab.predictions.Predictions`: `ids`,
    `labels`, `correct`), matched image by image through their ids.

    Returns {"test": "mcnemar", "a": A's label, "b": B's, "n": images, "both_right",
    "only_a_right", "only_b_right", "both_wrong", "a_accuracy", "b_accuracy", "difference":
    b - a, "p_value": McNemar's exact}.
    Raises PairingError, naming a few images, when the two id sets differ or one image carries
    two labels: then the runs did not score the same images and cannot be paired.
    """
    a_label, b_label = labels
    a_index = {image: row for row, image in enumerate(a.ids.tolist())}
    b_index = {image: row for row, image in enumerate(b.ids.tolist())}
    only_in_a = sorted(set(a_index) - set(b_index))
    only_in_b = sorted(set(b_index) - set(a_index))
    if only_in_a or only_in_b:
        raise PairingError(
            f"{a_label} and {b_label} scored different images ({len(a_index)} and {len(b_index)}; "
            f"{len(only_in_a)} only in {a_label}'s{_examples(only_in_a)}, {len(only_in_b)} only in "
            f"{b_label}'s{_examples(only_in_b)}): a paired test needs the same images"
        )
    order = [b_index[image] for image in a.ids.tolist()]  # B's rows in A's image order
    b_labels, b_correct = b.labels[order], b.correct[order]
    disagree = np.flatnonzero(a.labels != b_labels)
    if disagree.size:
        image = a.ids[disagree[0]]
        raise PairingError(
            f"{disagree.size} image(s) carry different true labels in {a_label}'s and {b_label}'s "
            f"predictions (e.g. {image}: {a.labels[disagree[0]]} and {b_labels[disagree[0]]}): "
            "not the same test set"
        )
    a_correct = a.correct
    counts = {
        "both_right": int(np.sum(a_correct & b_correct)),
        "only_a_right": int(np.sum(a_correct & ~b_correct)),
        "only_b_right": int(np.sum(~a_correct & b_correct)),
        "both_wrong": int(np.sum(~a_correct & ~b_correct)),
    }
    n = len(a_correct)
    return {
        "test": "mcnemar",
        "a": a_label,
        "b": b_label,
        "n": n,
        **counts,
        "a_accuracy": (counts["both_right"] + counts["only_a_right"]) / n,
        "b_accuracy": (counts["both_right"] + counts["only_b_right"]) / n,
        "difference": (counts["only_b_right"] - counts["only_a_right"]) / n,
        "p_value": mcnemar_test(counts["only_a_right"], counts["only_b_right"]),
    }


def _examples(ids: list, shown: int = 3) -> str:
    if not ids:
        return ""
    more = ", ..." if len(ids) > shown else ""
    return f", e.g. {', '.join(map(str, ids[:shown]))}{more}"


def _seeds(count: int) -> str:
    return f"{count} seed{'' if count == 1 else 's'}"


def _size_sentence(difference: float, labels: tuple[str, str]) -> str:
    a_label, b_label = labels
    if difference == 0:
        return f"{b_label} and {a_label} have the same mean accuracy"
    direction = "higher" if difference > 0 else "lower"
    return f"{b_label} is {abs(difference) * 100:.1f} points {direction} than {a_label}"


def difference_verdict(
    a_values: Sequence[float],
    a_n: int,
    b_values: Sequence[float],
    b_n: int,
    alpha: float = 0.05,
    labels: tuple[str, str] = ("A", "B"),
    scored_on: str = "test",
    paired: Sequence[dict] | None = None,
) -> dict:
    """Whether B's accuracy differs from A's by more than noise, and what that can mean.

    `a_values` and `b_values` are accuracies, one per seed, on `a_n` and `b_n` images of the
    split `scored_on` names ("test", or "validation" when choosing a grid cell); `labels` name
    A and B in the explanation. `paired`: `paired_comparison` results of A's and B's runs on
    the same images (one per pair of runs, each may carry a "seed"), or None. With one run on a
    side and several on the other, the one run is paired with each of the other side's runs.

    Returns, for programs:

    * "difference": mean(B) - mean(A);
    * "seeds": {"a": A's seeds, "b": B's}; "seed_noise_measured": both sides have >= 2 seeds;
      "seeds_needed": None, or the seeds per side that would let the configurations be
      compared (SEEDS_PER_SIDE_NEEDED) when a side has one;
    * "test" and "p_value": "welch" over seeds when both sides have seeds that vary; else
      "mcnemar" when `paired` pairs the one run of a side with every run of the other, else
      "two-proportion" (unpaired, conservative for the same images): run against run where a
      side has one run, else on the mean accuracies. With one run against several, each pair is
      tested and "p_value" is the largest: these runs differ only if the one run differs from
      every run of the other side. "paired": whether the test was McNemar's, "n": the images it
      counted; "run_p_values": the p-value of each pair of runs tested (one pair: [p_value]);
    * "exceeds_noise": the two *configurations* differ by more than the seeds' noise
      (p < alpha); None when the seed-to-seed noise is unmeasured: one run per configuration
      cannot tell a configuration's effect from a seed's;
    * "runs_differ": with the seed noise unmeasured, whether *these runs* differ on the images
      by more than the test set's sampling noise (None otherwise);
    * "verdict": the table's short form; "explanation": sentences for the reader;
    * "mcnemar": every pair's McNemar result (empty without predictions), kept beside Welch's
      test too, where each seed's pair says whether those two runs differ.
    """
    a_label, b_label = labels
    a_values, b_values = list(a_values), list(b_values)
    a_mean, b_mean = seed_summary(a_values)["mean"], seed_summary(b_values)["mean"]
    difference = b_mean - a_mean
    pairs = list(paired or [])
    seed_noise_measured = len(a_values) >= 2 and len(b_values) >= 2
    # One run against several: the one run is set against each of the others, never against
    # their mean, which no run scored.
    one_run_against = min(len(a_values), len(b_values)) == 1
    welch = welch_test(a_values, b_values)
    n_images = None
    if welch["p_value"] is not None:
        test, run_p_values = "welch", [welch["p_value"]]
        evidence = f"Welch's t-test over {len(a_values)} and {len(b_values)} seeds"
        noise = (
            f"the seed-to-seed noise on these {scored_on} images (the {scored_on} set's "
            "own sampling is not counted)"
        )
    elif one_run_against and len(pairs) == max(len(a_values), len(b_values)):
        test, n_images = "mcnemar", pairs[0]["n"]
        run_p_values = [pair["p_value"] for pair in pairs]
        evidence = f"paired: McNemar on the {n_images} {scored_on} images both scored, " + (
            f"{pairs[0]['only_a_right']} right only by {a_label}, "
            f"{pairs[0]['only_b_right']} only by {b_label}"
            if len(pairs) == 1
            else _one_run_against_each(pairs, labels, a_values, b_values)
        )
        noise = f"the {scored_on} set's sampling noise"
    elif one_run_against:
        test = "two-proportion"
        run_p_values = [
            two_proportion_test(a_value, a_n, b_value, b_n)["p_value"]
            for a_value in a_values
            for b_value in b_values
        ]
        evidence = f"unpaired: two-proportion z-test on {a_n} and {b_n} {scored_on} images"
        if len(run_p_values) > 1:
            evidence += ", " + _one_run_against_each(
                [{"p_value": p} for p in run_p_values], labels, a_values, b_values
            )
        noise = f"the {scored_on} set's sampling noise"
    else:
        test = "two-proportion"
        run_p_values = [two_proportion_test(a_mean, a_n, b_mean, b_n)["p_value"]]
        evidence = f"unpaired: two-proportion z-test on {a_n} and {b_n} {scored_on} images"
        noise = f"the {scored_on} set's sampling noise"
    # Several pairs: the runs differ only if every pair does, so the largest p-value decides.
    p_value = max(run_p_values)
    beyond = bool(p_value < alpha)
    if beyond:
        judgement = f"p = {p_value:.3g} < {alpha:g}: more than {noise}"
    else:
        judgement = f"p = {p_value:.3g} >= {alpha:g}: within {noise}"
    size = _size_sentence(difference, labels)
    if seed_noise_measured:
        exceeds_noise, runs_differ = beyond, None
        verdict = "yes" if beyond else "no"
        if test != "welch":
            evidence += f"; the {len(a_values)} and {len(b_values)} seeds scored identically"
        ending = "" if beyond else ", not a demonstrated difference"
        explanation = f"{size} ({evidence}; {judgement}{ending})."
    else:
        exceeds_noise, runs_differ = None, beyond
        differing = sum(run_p < alpha for run_p in run_p_values)
        if beyond:
            verdict = "unmeasured seed noise; these runs differ"
        elif differing:
            verdict = f"unmeasured seed noise; {differing} of {len(run_p_values)} run pairs differ"
        else:
            verdict = "unmeasured seed noise; runs within test-set noise"
        if len(run_p_values) > 1:
            which = (
                "the one run differs from each run of the other side"
                if beyond
                else (f"{differing} of the {len(run_p_values)} pairs of runs differ, not all")
            )
            these_runs = f"{'Yes' if beyond else 'No'}: {which}"
        else:
            these_runs = f"These runs {'differ' if beyond else 'do not differ'}"
        explanation = (
            f"{size}. With {_seeds(len(a_values))} for {a_label} and {_seeds(len(b_values))} "
            f"for {b_label}, the seed-to-seed variation is unmeasured, so the two configurations "
            f"cannot be compared: a single run's difference may be the seed's, not the "
            f"configuration's. Run at least {SEEDS_PER_SIDE_NEEDED} seeds per side (Welch's "
            f"t-test over seeds). "
            + (
                f"Do these runs differ on the {scored_on} images beyond {noise}? {these_runs} "
                if len(run_p_values) > 1
                else f"{these_runs} on the {scored_on} images beyond {noise} "
            )
            + f"({evidence}; p = {p_value:.3g})."
        )
    return {
        "difference": difference,
        "seeds": {"a": len(a_values), "b": len(b_values)},
        "seed_noise_measured": seed_noise_measured,
        "seeds_needed": None if seed_noise_measured else SEEDS_PER_SIDE_NEEDED,
        "test": test,
        "paired": test == "mcnemar",
        "n": n_images,
        "p_value": p_value,
        "run_p_values": run_p_values,
        "exceeds_noise": exceeds_noise,
        "runs_differ": runs_differ,
        "verdict": verdict,
        "explanation": explanation,
        "mcnemar": pairs,
    }


def _one_run_against_each(
    pairs: list[dict], labels: tuple[str, str], a_values: list, b_values: list
) -> str:
    """'A's one run against each of B's 3: p = 0.01, 0.2, 0.03 (the largest counts)'."""
    single, several = (labels[0], labels[1]) if len(a_values) == 1 else (labels[1], labels[0])
    return (
        f"{single}'s one run against each of {several}'s {len(pairs)}: p = "
        + ", ".join(f"{pair['p_value']:.3g}" for pair in pairs)
        + " (the largest counts)"
    )


def difference_from_report(
    our_values: Sequence[float],
    our_n: int,
    report_accuracy: float,
    report_n: int,
    confidence: float = 0.95,
) -> dict:
    """Our accuracy (one value per seed, each on the same `our_n` test images) against a
    published one-run accuracy on `report_n` test images: the difference ours - report, its
    interval and two-sided p-value, with every noise that blurs the two numbers.

    Variance of the difference, each term from the law of total variance:

    * our mean over k seeds: s^2/k (the seeds' sample variance, measured on our test set) +
      p(1-p)/our_n (the test set's sampling noise). The seeds share the test images, so this
      term does not shrink with k: the test set is sampled once, whatever the seeds (treating
      the k runs as k*our_n independent images would understate it).
    * the report's number: r(1-r)/report_n (its test set) + s^2 (its single run's seed noise,
      assumed to be as large as ours: same protocol; the report can never measure its own).

    p(1-p)/n is an upper bound of a test set's term (equal when every image is always right or
    always wrong), so the test errs on the cautious side. With several seeds the critical value
    is Student's t with the Welch-Satterthwaite degrees of freedom of the seed terms (the
    binomial terms counted as known); with one seed, s is unknown and only the two test sets'
    noise is tested (unpooled z): then "runs_differ" says whether our run and the report's
    differ beyond that, and "exceeds_noise" is None, the configurations not compared.

    The interval is cut at DIFFERENCE_RANGE, the values a difference of accuracies can take.

    Returns {"difference", "interval", "p_value", "standard_error", "df" (None: normal),
    "seeds", "seed_noise_measured", "exceeds_noise", "runs_differ", "verdict", "explanation"}.
    """
    _check_confidence(confidence)
    _check_accuracy(report_accuracy, report_n)
    summary = seed_summary(our_values)
    ours, k = summary["mean"], summary["n"]
    _check_accuracy(ours, our_n)
    difference = ours - report_accuracy
    test_sets_variance = (
        ours * (1 - ours) / our_n + report_accuracy * (1 - report_accuracy) / report_n
    )
    seed_noise_measured = k >= 2
    seed_variance = summary["sd"] ** 2 * (1 / k + 1) if seed_noise_measured else 0.0
    variance = test_sets_variance + seed_variance
    standard_error = math.sqrt(variance)
    critical, df = _critical_value(variance, seed_variance, k, confidence)
    if standard_error == 0:  # both perfect (or both always wrong): nothing can differ
        p_value = 1.0 if difference == 0 else 0.0
    elif df is not None:
        p_value = float(2 * stats.t.sf(abs(difference) / standard_error, df))
    else:
        p_value = float(2 * stats.norm.sf(abs(difference) / standard_error))
    # Cut at what a difference of two accuracies can be; 0 stays inside, so the interval still
    # agrees with the p-value.
    interval = within(
        (difference - critical * standard_error, difference + critical * standard_error),
        DIFFERENCE_RANGE,
    )
    alpha = 1 - confidence
    beyond = bool(p_value < alpha)
    if seed_noise_measured:
        exceeds_noise, runs_differ = beyond, None
        verdict = "differs" if beyond else "consistent"
        noise = (
            f"our {k} seeds' spread (assumed the same for the report's one run) and both "
            f"test sets ({our_n} and {report_n} images)"
        )
    else:
        exceeds_noise, runs_differ = None, beyond
        verdict = "runs differ; 1 seed" if beyond else "runs within test-set noise; 1 seed"
        noise = (
            f"both test sets ({our_n} and {report_n} images) only: one seed measures no seed noise"
        )
    explanation = (
        f"ours - report = {difference:+.3f}, {confidence:.0%} interval "
        f"[{interval[0]:+.3f}, {interval[1]:+.3f}], p = {p_value:.3g}, counting {noise}."
    )
    return {
        "difference": difference,
        "interval": interval,
        "p_value": p_value,
        "standard_error": standard_error,
        "df": df,
        "seeds": k,
        "seed_noise_measured": seed_noise_measured,
        "exceeds_noise": exceeds_noise,
        "runs_differ": runs_differ,
        "verdict": verdict,
        "explanation": explanation,
    }
