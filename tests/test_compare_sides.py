"""compare where the two sides' runs do not match: a pairing that holds for some seeds only, and
test sets of different sizes."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats
from test_compare import read_rows, write_predictions_of, write_results

from cnnlab.compare import main
from cnnlab.stats import wilson_interval

MODEL = "cifar10/residual"


@pytest.mark.parametrize("broken_pair", ["no predictions", "other images"])
def test_a_pairing_that_fails_for_one_seed_pairs_no_seed(tmp_path, broken_pair):
    """All or nothing: seed 1's runs could be paired image by image, seed 2's cannot, so no
    McNemar test is reported and the row says why it is unpaired."""
    before = write_results(tmp_path / "before", {MODEL: {1: 0.5, 2: 0.6}}, n_test=20)
    after = write_results(tmp_path / "after", {MODEL: {1: 0.9, 2: 0.95}}, n_test=20)
    for results, right in ((before, 10), (after, 18)):
        write_predictions_of(results / MODEL / "seed1", [1] * right + [0] * (20 - right))
    write_predictions_of(before / MODEL / "seed2", [1] * 12 + [0] * 8)
    if broken_pair == "other images":
        write_predictions_of(
            after / MODEL / "seed2",
            [1] * 19 + [0],
            ids=[f"test/dog/other{i}.jpg" for i in range(20)],
        )
    out = tmp_path / "out"
    assert main([str(before), str(after), "--out", str(out)]) == 0

    row = read_rows(out / "comparison.csv")[MODEL]
    reason = {
        "no predictions": f"unpaired: B's {after / MODEL / 'seed2'} has no test_predictions.npz",
        "other images": "unpaired: A and B scored different images",
    }[broken_pair]
    assert row["pairing"].startswith(reason)
    assert row["mcnemar_by_seed"] == "-" and row["paired"] == "no"
    assert "McNemar per pair of runs" not in (out / "comparison.md").read_text()


def test_each_side_is_judged_on_its_own_number_of_test_images(tmp_path):
    """One run a side, no predictions: the two-proportion test of 0.70 on 600 images against
    0.76 on 400."""
    before = write_results(tmp_path / "before", {MODEL: {1: 0.70}}, n_test=600)
    after = write_results(tmp_path / "after", {MODEL: {1: 0.76}}, n_test=400)
    assert main([str(before), str(after), "--out", str(tmp_path / "out")]) == 0

    row = read_rows(tmp_path / "out" / "comparison.csv")[MODEL]
    assert (row["a_n_test"], row["b_n_test"]) == ("600", "400")
    for side, accuracy, n_test in (("a", 0.70, 600), ("b", 0.76, 400)):
        low, high = wilson_interval(accuracy, n_test)
        assert float(row[f"{side}_wilson_low"]) == pytest.approx(low, rel=1e-5)
        assert float(row[f"{side}_wilson_high"]) == pytest.approx(high, rel=1e-5)
    assert row["test"] == "two-proportion" and row["paired"] == "no"
    # By hand: pooled (420 + 304) / 1000 = 0.724; z = 0.06 / sqrt(0.724 * 0.276 * (1/600 + 1/400)).
    z = 0.06 / (0.724 * 0.276 * (1 / 600 + 1 / 400)) ** 0.5
    assert float(row["p_value"]) == pytest.approx(2 * scipy_stats.norm.sf(z), rel=1e-4)
