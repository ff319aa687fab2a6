"""Intervals and tests against independent references: closed forms worked by hand, and
scipy's own binomial, t and contingency-table routines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cnnlab.predictions import Predictions
from cnnlab.stats import (
    ACCURACY_RANGE,
    SEEDS_PER_SIDE_NEEDED,
    PairingError,
    configuration_interval,
    difference_from_report,
    difference_verdict,
    mcnemar_test,
    paired_comparison,
    seed_summary,
    two_proportion_test,
    welch_test,
    wilson_interval,
)


def test_wilson_interval_of_the_reports_basic_cnn():
    # 0.709 on 600 images, by hand: z = 1.959964, centre (0.709 + z²/1200) / (1 + z²/600)
    # = 0.707905, half width z/(1 + z²/600) * sqrt(0.709*0.291/600 + z²/1440000) = 0.036253.
    low, high = wilson_interval(0.709, 600)
    assert low == pytest.approx(0.671417, abs=1e-6)
    assert high == pytest.approx(0.743924, abs=1e-6)


@pytest.mark.parametrize("correct, n", [(425, 600), (1, 20), (0, 50), (50, 50), (9000, 10000)])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_wilson_interval_matches_scipy(correct, n, confidence):
    reference = scipy_stats.binomtest(correct, n).proportion_ci(confidence, method="wilson")
    low, high = wilson_interval(correct / n, n, confidence)
    assert low == pytest.approx(reference.low, abs=1e-12)
    assert high == pytest.approx(reference.high, abs=1e-12)


def test_wilson_interval_of_a_perfect_score_ends_at_one():
    low, high = wilson_interval(1.0, 50)
    assert high == 1.0
    assert low == pytest.approx(50 / (50 + 1.959964**2), abs=1e-6)  # closed form at p = 1


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((0.7, 0), "at least one test image"),
        ((1.2, 600), "fraction in 0..1"),
        ((0.7, 600, 95), "between 0 and 1"),
    ],
)
def test_wilson_interval_refuses_what_is_not_an_accuracy(arguments, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(*arguments)


def test_seed_summary_of_three_seeds():
    summary = seed_summary([0.70, 0.72, 0.71])
    # t(0.975, df=2) = 4.302653 from tables; sd of (-0.01, 0.01, 0) with ddof=1 is 0.01.
    half_width = 4.302653 * 0.01 / math.sqrt(3)
    assert summary["n"] == 3
    assert summary["mean"] == pytest.approx(0.71, abs=1e-12)
    assert summary["sd"] == pytest.approx(0.01, abs=1e-12)
    assert summary["interval"] == pytest.approx((0.71 - half_width, 0.71 + half_width), abs=1e-7)


def test_an_accuracys_seed_interval_is_cut_at_0_and_1():
    """The demo's three CIFAR-10 residual seeds: a t-interval of their mean passes 1."""
    values = [0.802, 0.825, 0.48]
    uncut = seed_summary(values)["interval"]
    mean, sd = np.mean(values), np.std(values, ddof=1)
    half_width = scipy_stats.t.ppf(0.975, df=2) * sd / math.sqrt(3)
    assert uncut == pytest.approx((mean - half_width, mean + half_width), abs=1e-12)
    assert uncut[1] > 1
    assert seed_summary(values, value_range=ACCURACY_RANGE)["interval"] == pytest.approx(
        (mean - half_width, 1.0), abs=1e-12
    )
    low_values = [0.02, 0.30, 0.05]
    low = seed_summary(low_values, value_range=ACCURACY_RANGE)["interval"]
    assert low[0] == 0.0 and low[1] == pytest.approx(seed_summary(low_values)["interval"][1])


def test_seed_summary_of_one_seed_has_no_spread():
    assert seed_summary([0.709]) == {"n": 1, "mean": 0.709, "sd": None, "interval": None}


def test_seed_summary_needs_values():
    with pytest.raises(ValueError, match="one value per seed"):
        seed_summary([])


def test_welch_test_matches_scipy_and_the_welch_satterthwaite_df():
    a, b = [0.70, 0.72, 0.71], [0.75, 0.78, 0.74, 0.77]
    result = welch_test(a, b)
    reference = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert result["statistic"] == pytest.approx(reference.statistic, rel=1e-12)
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-12)
    va, vb = 0.01**2 / 3, scipy_stats.tstd(b) ** 2 / 4  # squared standard errors of the means
    assert result["df"] == pytest.approx((va + vb) ** 2 / (va**2 / 2 + vb**2 / 3), rel=1e-12)
    assert result["statistic"] < 0  # a's mean is the lower


def test_welch_test_with_one_steady_side_is_still_defined():
    b = [0.75, 0.78, 0.74]
    result = welch_test([0.70, 0.70], b)
    # By hand: with no variance on a's side, Welch's t is a one-sample t of b with df = 3 - 1.
    statistic = (0.70 - sum(b) / 3) / (scipy_stats.tstd(b) / math.sqrt(3))
    assert result["statistic"] == pytest.approx(statistic, rel=1e-12)
    assert result["df"] == pytest.approx(2, rel=1e-12)
    assert result["p_value"] == pytest.approx(2 * scipy_stats.t.sf(abs(statistic), 2), rel=1e-12)


@pytest.mark.parametrize(
    "a, b", [([0.70], [0.75, 0.78]), ([0.70, 0.71], [0.75]), ([0.70, 0.70], [0.75, 0.75])]
)
def test_welch_test_is_undefined_without_a_spread_on_each_side(a, b):
    assert welch_test(a, b) == {"statistic": None, "p_value": None, "df": None}


def test_two_proportion_test_matches_the_chi_squared_test_of_the_counts():
    # 425/600 against 460/600 correct: the pooled z-test is the uncorrected chi-squared test
    # of the 2x2 table, with chi2 = z².
    result = two_proportion_test(425 / 600, 600, 460 / 600, 600)
    chi2, p_value, _, _ = scipy_stats.chi2_contingency([[425, 175], [460, 140]], correction=False)
    assert result["statistic"] ** 2 == pytest.approx(chi2, rel=1e-12)
    assert result["statistic"] < 0
    assert result["p_value"] == pytest.approx(p_value, rel=1e-12)


def test_two_proportion_test_of_two_perfect_scores():
    assert two_proportion_test(1.0, 100, 1.0, 200) == {"statistic": 0.0, "p_value": 1.0}


def test_verdict_over_seeds_uses_welch():
    a, b = [0.70, 0.72, 0.71], [0.75, 0.76, 0.74]
    verdict = difference_verdict(a, 600, b, 600)
    p_value = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    assert verdict["test"] == "welch"
    assert verdict["difference"] == pytest.approx(0.04, abs=1e-12)
    assert verdict["p_value"] == pytest.approx(p_value, rel=1e-12)
    assert p_value == pytest.approx(0.00805, abs=1e-5)
    assert verdict["exceeds_noise"] is True
    assert verdict["explanation"] == (
        "B is 4.0 points higher than A (Welch's t-test over 3 and 3 seeds; "
        "p = 0.00805 < 0.05: more than the seed-to-seed noise on these test images (the test "
        "set's own sampling is not counted))."
    )


def test_verdict_with_a_single_seed_does_not_compare_the_configurations():
    """One seed on a side: the seed-to-seed noise is unmeasured, so no verdict on the
    configurations, only on whether these runs differ on the test images."""
    a, b = [0.709], [0.73, 0.71, 0.72]
    verdict = difference_verdict(a, 600, b, 600, labels=("report", "ours"))
    # Unpaired, the one run against each of the three, never against their mean (no run).
    run_p_values = [two_proportion_test(0.709, 600, value, 600)["p_value"] for value in b]
    assert verdict["test"] == "two-proportion" and verdict["paired"] is False
    assert verdict["difference"] == pytest.approx(0.011, abs=1e-12)
    assert verdict["run_p_values"] == pytest.approx(run_p_values, rel=1e-12)
    assert verdict["p_value"] == pytest.approx(max(run_p_values), rel=1e-12)
    assert verdict["seeds"] == {"a": 1, "b": 3}
    assert verdict["seed_noise_measured"] is False
    assert verdict["seeds_needed"] == SEEDS_PER_SIDE_NEEDED == 3
    assert verdict["exceeds_noise"] is None  # neither yes nor no: not compared
    assert verdict["runs_differ"] is False
    assert verdict["verdict"] == "unmeasured seed noise; runs within test-set noise"
    assert verdict["explanation"].startswith(
        "ours is 1.1 points higher than report. With 1 seed for report and 3 seeds for ours, "
        "the seed-to-seed variation is unmeasured, so the two configurations cannot be compared"
    )
    assert "at least 3 seeds per side" in verdict["explanation"]


def test_the_issues_one_seed_per_backend_is_no_verdict_on_the_backends():
    """Issue 16's CIFAR-10 case: TensorFlow 0.553, JAX 0.519, one seed each, 10,000 test images.
    'beyond noise: yes' was the old answer; now: these runs differ, the backends are not
    compared."""
    verdict = difference_verdict([0.553], 10000, [0.519], 10000, labels=("tensorflow", "jax"))
    assert verdict["difference"] == pytest.approx(-0.034, abs=1e-12)
    assert verdict["p_value"] < 1e-5
    assert verdict["exceeds_noise"] is None
    assert verdict["runs_differ"] is True
    assert verdict["verdict"] == "unmeasured seed noise; these runs differ"
    assert "jax is 3.4 points lower than tensorflow" in verdict["explanation"]
    assert "cannot be compared" in verdict["explanation"]
    assert "These runs differ on the test images" in verdict["explanation"]


def test_one_paired_run_per_side_is_judged_by_mcnemar():
    # 10 test images; A right on 0-7, B right on 0-5 and 8-9: A only on 6, 7; B only on 8, 9.
    a = predictions_of([1] * 8 + [0] * 2)
    b = predictions_of([1] * 6 + [0] * 2 + [1] * 2)
    pair = paired_comparison(a, b)
    verdict = difference_verdict([0.8], 10, [0.8], 10, paired=[pair])
    assert verdict["test"] == "mcnemar" and verdict["paired"] is True and verdict["n"] == 10
    assert verdict["p_value"] == 1.0  # 2 against 2 discordant: 2 * P(X <= 2 | 4, 1/2) > 1
    assert verdict["mcnemar"] == [pair]
    assert verdict["exceeds_noise"] is None and verdict["runs_differ"] is False
    assert (
        "paired: McNemar on the 10 test images both scored, 2 right only by A, 2 only by B"
        in (verdict["explanation"])
    )


def test_one_run_against_three_seeds_is_paired_with_each_of_them():
    """Issue 25: A's one run against B's three seeds was an unpaired two-proportion test on B's
    mean ("these runs differ", p 0.035) while McNemar on one run pair said p 0.199. The one run
    is now paired with each of B's runs; they differ only if every pair does."""
    a = predictions_of([1] * 8 + [0] * 12)  # 0.40 on 20 images
    b_runs = [
        predictions_of([1] * 20),  # 1.00: 12 right only by B, none only by A
        predictions_of([1] * 19 + [0]),  # 0.95
        predictions_of([1] * 4 + [0] * 4 + [1] * 6 + [0] * 6),  # 0.50: 4 against 6
    ]
    pairs = [{"seed": seed, **paired_comparison(a, b)} for seed, b in zip((1, 2, 3), b_runs)]
    verdict = difference_verdict([0.40], 20, [1.00, 0.95, 0.50], 20, paired=pairs)
    assert verdict["test"] == "mcnemar" and verdict["paired"] is True and verdict["n"] == 20
    assert verdict["run_p_values"] == [pair["p_value"] for pair in pairs]
    assert pairs[0]["p_value"] < 0.05 and pairs[2]["p_value"] > 0.05
    assert verdict["p_value"] == pairs[2]["p_value"]  # the largest decides
    assert verdict["runs_differ"] is False and verdict["exceeds_noise"] is None
    assert verdict["verdict"] == "unmeasured seed noise; 2 of 3 run pairs differ"
    assert "A's one run against each of B's 3: p = " in verdict["explanation"]
    assert "2 of the 3 pairs of runs differ, not all" in verdict["explanation"]
    everywhere = difference_verdict([0.40], 20, [1.00, 0.95], 20, paired=pairs[:2])
    assert everywhere["runs_differ"] is True
    assert everywhere["verdict"] == "unmeasured seed noise; these runs differ"


def test_a_configurations_interval_counts_the_test_set_as_well_as_the_seeds():
    """Issue 25: three steady seeds on 600 images give a t-interval over seeds narrower than
    one run's Wilson interval, yet the test set was sampled once: the headline interval counts
    both, s^2/k + p(1-p)/n, on the seed term's Welch-Satterthwaite degrees of freedom."""
    values, n = [0.700, 0.705, 0.710], 600
    seeds_only = seed_summary(values)["interval"]
    wilson = wilson_interval(0.705, n)
    assert seeds_only[1] - seeds_only[0] < wilson[1] - wilson[0]
    # By hand: seeds 0.005² / 3 = 8.333e-6, test set 0.705 * 0.295 / 600 = 3.46625e-4;
    # variance 3.54958e-4, df = variance² / ((8.333e-6)² / 2) = 3628.6.
    seed_term, test_term = 0.005**2 / 3, 0.705 * 0.295 / 600
    variance = seed_term + test_term
    df = variance**2 / (seed_term**2 / 2)
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(variance)
    result = configuration_interval(values, n)
    assert result["mean"] == pytest.approx(0.705)
    assert result["interval"] == pytest.approx((0.705 - half, 0.705 + half), rel=1e-9)
    assert result["interval"][1] - result["interval"][0] > seeds_only[1] - seeds_only[0]
    assert result["seed_noise_measured"] is True


def test_a_configurations_interval_of_one_seed_is_the_test_sets_wilson_interval():
    result = configuration_interval([0.7], 600)
    assert result["interval"] == wilson_interval(0.7, 600)
    assert result["seed_noise_measured"] is False
    assert configuration_interval([0.7, 0.7], 600)["interval"] == wilson_interval(0.7, 600)


def test_a_configurations_interval_of_widely_spread_seeds_stays_within_0_and_1():
    assert configuration_interval([0.50, 0.98, 0.99], 600)["interval"][1] == 1.0


def test_several_seeds_keep_welch_and_record_each_pairs_mcnemar():
    a, b = [0.70, 0.72, 0.71], [0.75, 0.76, 0.74]
    pairs = [
        {"seed": seed, "n": 600, "only_a_right": 10, "only_b_right": 30, "p_value": 0.002}
        for seed in (1, 2, 3)
    ]
    verdict = difference_verdict(a, 600, b, 600, paired=pairs)
    assert verdict["test"] == "welch" and verdict["exceeds_noise"] is True
    assert verdict["runs_differ"] is None and verdict["seeds_needed"] is None
    assert verdict["mcnemar"] == pairs


def test_verdict_on_seeds_that_never_vary_falls_back_to_the_test_images():
    verdict = difference_verdict([0.90, 0.90], 10000, [0.88, 0.88], 10000)
    assert verdict["test"] == "two-proportion"
    assert verdict["p_value"] == pytest.approx(
        two_proportion_test(0.90, 10000, 0.88, 10000)["p_value"], rel=1e-12
    )
    assert verdict["exceeds_noise"] is True  # 2 points on 10,000 images: z is about 4.5
    assert verdict["explanation"].startswith("B is 2.0 points lower than A")


def test_verdict_honours_alpha():
    a, b = [0.70, 0.72, 0.71], [0.72, 0.74, 0.73]
    p_value = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue  # about 0.07
    assert difference_verdict(a, 600, b, 600)["exceeds_noise"] is False
    assert difference_verdict(a, 600, b, 600, alpha=0.1)["exceeds_noise"] is True
    assert 0.05 < p_value < 0.1


def test_verdict_direction_follows_the_sides():
    """B - A, not A - B: swapping the sides flips the sign and the words."""
    forward = difference_verdict([0.70, 0.71, 0.72], 600, [0.80, 0.81, 0.82], 600)
    backward = difference_verdict([0.80, 0.81, 0.82], 600, [0.70, 0.71, 0.72], 600)
    assert forward["difference"] == pytest.approx(0.10) and backward["difference"] == pytest.approx(
        -0.10
    )
    assert forward["explanation"].startswith("B is 10.0 points higher than A")
    assert backward["explanation"].startswith("B is 10.0 points lower than A")


# ------------------------------------------------------------------------------ McNemar


@pytest.mark.parametrize(
    "only_a, only_b, p_value",
    [
        (1, 9, 22 / 1024),  # 2 * P(X <= 1 | 10, 1/2) = 2 * (1 + 10) / 2^10
        (9, 1, 22 / 1024),  # symmetric in the two sides
        (3, 5, 186 / 256),  # 2 * (1 + 8 + 28 + 56) / 2^8
        (0, 6, 2 / 64),  # 2 * 1 / 2^6
        (4, 4, 1.0),  # 2 * (1 + 8 + 28 + 56 + 70) / 2^8 = 326/256, capped at 1
        (0, 0, 1.0),  # no image told them apart
    ],
)
def test_mcnemar_by_hand(only_a, only_b, p_value):
    assert mcnemar_test(only_a, only_b) == pytest.approx(p_value, rel=1e-12)


@pytest.mark.parametrize(
    "only_a, only_b", [(0, 1), (2, 7), (15, 30), (120, 95), (412, 78), (50, 51)]
)
def test_mcnemar_matches_scipys_exact_binomial_test(only_a, only_b):
    reference = scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert mcnemar_test(only_a, only_b) == pytest.approx(reference, rel=1e-9)


def test_mcnemar_refuses_what_is_not_a_count():
    with pytest.raises(ValueError, match="not a count"):
        mcnemar_test(-1, 3)


def predictions_of(correct, ids=None, labels=None):
    """Two-class predictions, right where `correct` is 1 (label 1, predicted 1 or 0)."""
    correct = np.asarray(correct, dtype=bool)
    labels = np.ones(len(correct), dtype=int) if labels is None else np.asarray(labels)
    predicted = np.where(correct, labels, 1 - labels)
    probabilities = np.stack([1.0 - predicted, predicted.astype(float)], axis=1) * 0.8 + 0.1
    if ids is None:
        ids = np.array([f"test/img{i:03d}.jpg" for i in range(len(correct))])
    return Predictions(
        ids=np.asarray(ids),
        labels=labels,
        probabilities=probabilities.astype("float32"),
        class_names=np.array(["cat", "dog"]),
    )


def test_paired_comparison_matches_images_by_id_not_by_row():
    ids = np.array([f"test/img{i}.jpg" for i in range(6)])
    a = predictions_of([1, 1, 1, 0, 0, 1], ids=ids)  # right on 0, 1, 2, 5
    order = [5, 4, 3, 2, 1, 0]
    b = predictions_of(np.array([0, 1, 1, 1, 0, 1])[order], ids=ids[order])  # right on 1, 2, 3, 5
    pair = paired_comparison(a, b, labels=("tf", "jax"))
    # both right: 1, 2, 5; only A: 0; only B: 3; both wrong: 4.
    assert (pair["both_right"], pair["only_a_right"], pair["only_b_right"], pair["both_wrong"]) == (
        3,
        1,
        1,
        1,
    )
    assert pair["n"] == 6 and pair["a_accuracy"] == pair["b_accuracy"] == pytest.approx(4 / 6)
    assert pair["difference"] == 0 and pair["p_value"] == 1.0


def test_paired_comparison_difference_is_b_minus_a():
    a = predictions_of([1, 1, 1, 1, 0])
    b = predictions_of([1, 0, 0, 0, 0])
    pair = paired_comparison(a, b)
    assert pair["only_a_right"] == 3 and pair["only_b_right"] == 0
    assert pair["difference"] == pytest.approx(-0.6)
    assert pair["p_value"] == pytest.approx(2 / 8)  # 2 * P(X <= 0 | 3, 1/2)


def test_paired_comparison_refuses_different_images():
    a = predictions_of([1, 1, 0], ids=["test/a.jpg", "test/b.jpg", "test/c.jpg"])
    b = predictions_of([1, 1, 0], ids=["test/a.jpg", "test/b.jpg", "test/d.jpg"])
    with pytest.raises(
        PairingError, match=r"1 only in A's, e.g. test/c.jpg, 1 only in B's, e.g. test/d.jpg"
    ):
        paired_comparison(a, b)


def test_paired_comparison_refuses_an_image_with_two_labels():
    a = predictions_of([1, 1], labels=[1, 0])
    b = predictions_of([1, 1], labels=[1, 1])
    with pytest.raises(PairingError, match=r"test/img001.jpg: 0 and 1.*not the same test set"):
        paired_comparison(a, b)


# -------------------------------------------------------------- against the report's number


def test_one_seed_against_the_report_counts_both_test_sets():
    # By hand: ours 0.69 on 600, the report's 0.709 on 600.
    # se = sqrt(0.69 * 0.31 / 600 + 0.709 * 0.291 / 600) = sqrt(0.00035650 + 0.00034387)
    #    = 0.0264644; z = -0.019 / 0.0264644 = -0.71795; p = 2 * (1 - Phi(0.71795)) = 0.47279.
    result = difference_from_report([0.69], 600, 0.709, 600)
    assert result["difference"] == pytest.approx(-0.019, abs=1e-12)
    assert result["standard_error"] == pytest.approx(0.0264644, abs=1e-6)
    assert result["p_value"] == pytest.approx(0.47279, abs=1e-5)
    assert result["interval"] == pytest.approx(
        (-0.019 - 1.959964 * 0.0264644, -0.019 + 1.959964 * 0.0264644), abs=1e-6
    )
    assert result["df"] is None
    assert result["seed_noise_measured"] is False
    assert result["exceeds_noise"] is None and result["runs_differ"] is False
    assert result["verdict"] == "runs within test-set noise; 1 seed"


def test_the_reports_test_set_widens_the_old_one_sided_interval():
    """The old column asked whether 0.709 lies in our Wilson interval: our noise only. Ours 0.66
    on 600 has the Wilson interval [0.621, 0.697], which leaves 0.709 out; with the report's
    600 images counted too, the difference is within noise."""
    assert wilson_interval(0.66, 600)[1] < 0.709
    result = difference_from_report([0.66], 600, 0.709, 600)
    assert result["interval"][0] < 0 < result["interval"][1]
    assert result["runs_differ"] is False


def test_several_seeds_add_the_seed_noise_to_both_sides():
    # Ours: 0.69, 0.72, 0.75 (mean 0.72, s = 0.03) on 600 images; report 0.709 on 600.
    # Test sets: 0.72 * 0.28 / 600 + 0.709 * 0.291 / 600 = 0.00033600 + 0.00034387 = 0.00067987.
    # Seeds: s^2 / 3 (our mean) + s^2 (the report's one run) = 0.0009 * 4/3 = 0.0012.
    # se = sqrt(0.00187987) = 0.0433575; df = 0.00187987^2 / (0.0012^2 / 2) = 4.9082.
    result = difference_from_report([0.69, 0.72, 0.75], 600, 0.709, 600)
    assert result["difference"] == pytest.approx(0.011, abs=1e-12)
    assert result["standard_error"] == pytest.approx(0.0433575, abs=1e-6)
    assert result["df"] == pytest.approx(4.9082, abs=1e-3)
    t = 0.011 / 0.0433575
    assert result["p_value"] == pytest.approx(2 * scipy_stats.t.sf(t, 4.9082), abs=1e-5)
    half = scipy_stats.t.ppf(0.975, 4.9082) * 0.0433575
    assert result["interval"] == pytest.approx((0.011 - half, 0.011 + half), abs=1e-5)
    assert result["seed_noise_measured"] is True
    assert result["exceeds_noise"] is False and result["runs_differ"] is None
    assert result["verdict"] == "consistent"


def test_seeds_do_not_shrink_the_test_sets_noise():
    """Three seeds that agree exactly: the seed term is 0, and the test-set term stays that of
    600 images (the seeds share them), not of 1800."""
    result = difference_from_report([0.75, 0.75, 0.75], 600, 0.709, 600)
    one_seed = difference_from_report([0.75], 600, 0.709, 600)
    assert result["standard_error"] == pytest.approx(one_seed["standard_error"], rel=1e-12)
    assert result["standard_error"] > math.sqrt(0.75 * 0.25 / 1800 + 0.709 * 0.291 / 600)
    assert result["df"] is None and result["seed_noise_measured"] is True


def test_the_report_comparison_is_signed_ours_minus_report():
    lower = difference_from_report([0.60, 0.61, 0.62], 10000, 0.70, 10000)
    assert lower["difference"] == pytest.approx(-0.09) and lower["interval"][1] < 0
    assert lower["exceeds_noise"] is True and lower["verdict"] == "differs"
    higher = difference_from_report([0.80, 0.81, 0.82], 10000, 0.70, 10000)
    assert higher["difference"] == pytest.approx(0.11) and higher["interval"][0] > 0


def test_the_difference_interval_stays_within_what_two_accuracies_can_differ_by():
    """Three widely spread seeds against a report's 0.05: the t-interval would pass +1. Cut
    there, it still leaves out 0 exactly when the p-value says 'differs'."""
    result = difference_from_report([0.98, 0.50, 0.99], 600, 0.05, 600)
    half = scipy_stats.t.ppf(0.975, result["df"]) * result["standard_error"]
    assert result["difference"] + half > 1
    assert result["interval"] == pytest.approx((result["difference"] - half, 1.0), abs=1e-12)
    assert (result["interval"][0] > 0) is (result["verdict"] == "differs")


def test_two_seeds_are_enough_to_measure_the_seed_noise_against_the_report():
    """Two values give a sample variance: the comparison then counts it (and judges the
    configurations), where one seed could only say whether the runs differ."""
    result = difference_from_report([0.70, 0.74], 600, 0.709, 600)
    assert result["seeds"] == 2 and result["seed_noise_measured"] is True
    assert result["exceeds_noise"] is not None and result["df"] is not None
    one_seed = difference_from_report([0.72], 600, 0.709, 600)
    assert one_seed["seed_noise_measured"] is False and one_seed["exceeds_noise"] is None
    # The seeds' spread widens the interval beyond the two test sets' noise alone.
    assert result["standard_error"] > one_seed["standard_error"]
