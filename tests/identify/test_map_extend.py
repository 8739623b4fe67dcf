"""A learned map meets a scan with a type no training scan showed: the type takes the
reference library's value, learned entries stay, and the Model builds (oracle: the
library's own numbers)."""

import numpy as np

from neurophantom.biophysics import biophysics_for
from neurophantom.identify.map import MapNames, apply_map, extend_map, init_theta, make_template, natural_values
from neurophantom.sources import build_source


def test_unseen_types_take_library_values_and_learned_ones_stay():
    c = build_source("organoid", seed=2, options={"n_neurons": 20, "n_patterns": 0})
    ref = biophysics_for(c)
    seen = MapNames(("ampa", "gaba_a"), ("na", "kdr", "leak"))
    learned = {k: v + 0.1 for k, v in init_theta(ref, seen.receptors, seen.channels).items()}
    theta, names = extend_map(learned, seen, c, ref)
    assert set(names.receptors) == set(c.receptor_types) | set(seen.receptors)
    assert set(names.channels) == set(c.channel_types) | set(seen.channels)
    got, lib, old = natural_values(theta, names), natural_values(init_theta(ref, names.receptors, names.channels), names), natural_values(learned, seen)
    for k, v in old.items():
        assert np.isclose(got[k], v, rtol=1e-12), k
    for k in set(got) - set(old):
        assert np.isclose(got[k], lib[k], rtol=1e-12), k
    model = apply_map(theta, make_template(c, ref), names)
    assert np.all(np.isfinite(np.asarray(model.params["C_pF"])))
    # Nothing new: the map comes back as it was.
    full = MapNames(names.receptors, names.channels)
    assert extend_map(theta, full, c, ref)[1] is full
