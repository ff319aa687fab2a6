"""Intervals and tests against independent references: closed forms worked by hand, and
scipy's own binomial, t and contingency-table routines."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from cnnlab.stats import (
    difference_verdict,
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
    [((0.7, 0), "at least one test image"), ((1.2, 600), "fraction in 0..1"),
     ((0.7, 600, 95), "between 0 and 1")],
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


@pytest.mark.parametrize("a, b", [([0.70], [0.75, 0.78]), ([0.70, 0.71], [0.75]),
                                  ([0.70, 0.70], [0.75, 0.75])])
def test_welch_test_is_undefined_without_a_spread_on_each_side(a, b):
    assert welch_test(a, b) == {"statistic": None, "p_value": None, "df": None}


def test_two_proportion_test_matches_the_chi_squared_test_of_the_counts():
    # 425/600 against 460/600 correct: the pooled z-test is the uncorrected chi-squared test
    # of the 2x2 table, with chi2 = z².
    result = two_proportion_test(425 / 600, 600, 460 / 600, 600)
    chi2, p_value, _, _ = scipy_stats.chi2_contingency(
        [[425, 175], [460, 140]], correction=False
    )
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
        "p = 0.00805 < 0.05: more than the seed-to-seed noise)."
    )


def test_verdict_with_a_single_seed_tests_the_mean_accuracies_on_the_test_images():
    a, b = [0.709], [0.73, 0.71, 0.72]
    verdict = difference_verdict(a, 600, b, 600, labels=("report", "ours"))
    expected_p = two_proportion_test(0.709, 600, 0.72, 600)["p_value"]
    assert verdict["test"] == "two-proportion"
    assert verdict["difference"] == pytest.approx(0.011, abs=1e-12)
    assert verdict["p_value"] == pytest.approx(expected_p, rel=1e-12)
    assert verdict["exceeds_noise"] is False
    assert verdict["explanation"] == (
        "ours is 1.1 points higher than report (two-proportion z-test on 600 and 600 test images; "
        f"p = {expected_p:.3g} >= 0.05: within the test set's sampling noise, "
        "not a demonstrated difference)."
    )


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
