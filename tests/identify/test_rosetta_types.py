"""The Rosetta typing's scikit-learn parts on small exact cases: k-means finds separated
types even where most release shares are missing, the silhouette follows Rousseeuw's
definition (a one-member type scores 0), and the shape classifier's leave-one-out
accuracy copes with a type of one cell (it counts as a miss, it does not fail)."""

import numpy as np
import pandas as pd
import pytest

from neurophantom.identify import rosetta


def test_types_found_with_missing_release_shares():
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 1.0, 0.9], [1.0, 10.0, 0.1], [5.0, 5.0, 0.5]])
    truth = np.repeat([0, 1, 2], 12)
    x = centres[truth] * rng.uniform(0.9, 1.1, (36, 3))
    prof = pd.DataFrame(x, columns=["na", "kdr", "releases_ampa"])
    prof.loc[rng.random(36) < 0.7, "releases_ampa"] = np.nan  # most outputs unsampled
    lab = rosetta.cluster_types(prof, max_types=5, seed=0)
    assert len(np.unique(lab)) == 3
    for t in range(3):  # every found type is one true type
        assert len(set(lab[truth == t])) == 1


def test_silhouette_is_rousseeuws():
    d = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 4.0], [4.0, 4.0, 0.0]])
    # points 0, 1 together (a = 1, b = 4: s = 0.75 each), point 2 alone (s = 0 by definition)
    assert rosetta._silhouette(d, np.array([0, 0, 1])) == pytest.approx((0.75 + 0.75 + 0.0) / 3)


def test_leave_one_out_with_a_one_cell_type():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(0, 0.1, (8, 2)), rng.normal(3, 0.1, (8, 2)), [[10.0, 10.0]]])
    labels = np.array([0] * 8 + [1] * 8 + [2])
    acc = rosetta._loo_accuracy(x, labels, 3)
    assert acc == pytest.approx(16 / 17)  # the lone cell of type 2 is the one miss
