"""Global searches of the map's loss: derivative-free, before any local refinement.

A spiking network's loss is rough: a conductance change that recruits or silences a cell
moves it by a step, and parameter sets a factor of a few apart can sit within a fraction
of a loss unit of each other (sloppy models, Gutenkunst et al. 2007). Gradient steps from
the library's values stall in the first basin; these searches look across basins:

- :func:`cmaes_search`: the covariance-matrix-adaptation evolution strategy (Hansen &
  Ostermeier 2001; the maintained ``cmaes`` package, Nomura & Shibata 2024), several
  independent runs (optionally of doubling population, IPOP-CMA-ES, Auger & Hansen 2005),
  each generation's population simulated in one vectorised batch
  (``Objective.loss_batch``), as evolutionary fitting of Hodgkin-Huxley models does (Van
  Geit et al. 2016, BluePyOpt);
- :func:`coordinate_search`: every parameter in turn tried at a ladder of log offsets
  (cheap, deterministic; kept for small problems and tests).

Both keep the candidate with the best *validation* loss (held-out trials of the training
specimens), so a search cannot reward overfitting.

References
----------
Hansen N, Ostermeier A (2001) Completely derandomized self-adaptation in evolution
strategies. Evol Comput 9:159-195.
Auger A, Hansen N (2005) A restart CMA evolution strategy with increasing population size.
IEEE CEC 2005, 1769-1776.
Nomura M, Shibata M (2024) cmaes: a simple yet practical Python library for CMA-ES.
arXiv:2402.01373.
Van Geit W et al. (2016) BluePyOpt: leveraging open source software and cloud
infrastructure to optimise model parameters in neuroscience. Front Neuroinform 10:17.
"""

from __future__ import annotations

import time
from typing import Callable

import jax.numpy as jnp
import numpy as np

from .objective import Objective


#: Coordinate-search moves of one cycle, in optimisation units (log factors 1/4 .. 4 for
#: conductances and time constants); each later cycle halves them.
SEARCH_OFFSETS = np.log([0.25, 0.35, 0.5, 0.7, 0.85, 1.2, 1.4, 2.0, 2.8, 4.0])


def coordinate_search(obj: Objective, u, train, val, cycles: int, bounds, history: list, t0: float):
    """Derivative-free coordinate search on the training loss: each free parameter in turn
    is tried at every offset of :data:`SEARCH_OFFSETS` (halved each cycle) and moved to the
    best if that lowers the loss. A spiking network's loss has basins a few gradient steps
    cannot leave (a channel whose change recruits or silences a cell); whole-loss
    evaluations along each axis see across them, as grid and evolutionary searches do
    for Hodgkin-Huxley models (Prinz, Bucher & Marder 2004; Van Geit et al. 2016,
    BluePyOpt). Returns the parameters with the best validation loss seen after a cycle."""
    lo, hi = bounds
    best = obj.loss(u, train)
    best_u, best_val = u, obj.loss(u, val)
    for cycle in range(cycles):
        for j in range(int(u.size)):
            tries = [jnp.clip(u.at[j].add(off), lo, hi) for off in SEARCH_OFFSETS / 2.0**cycle]
            losses = np.array([obj.loss(v, train) for v in tries])
            losses[~np.isfinite(losses)] = np.inf  # a diverging simulation is never a move
            k = int(np.argmin(losses))
            if losses[k] < best:
                best, u = float(losses[k]), tries[k]
        v_loss = obj.loss(u, val)
        history.append({"step": f"search_{cycle + 1}", "train_loss": best, "validation_loss": v_loss, "seconds": time.perf_counter() - t0})
        if v_loss < best_val:
            best_u, best_val = u, v_loss
    return best_u, best_val




def cmaes_search(obj: Objective, u, train, val, *, sigma: float, generations: int, popsize: int, restarts: int,
                 bounds, seed: int, history: list, t0: float, penalty: Callable[[np.ndarray], np.ndarray] | None = None,
                 grow: bool = False):
    """Multi-start CMA-ES on the training loss (plus ``penalty``, e.g. a log-prior).

    ``restarts + 1`` independent runs start from ``u`` with step ``sigma`` and seeds
    ``seed, seed + 1, ...`` (``grow``: each population twice the last, IPOP). The loss has
    several basins of similar training loss whose parameters generalise differently
    (measured on the default run: ten single runs, seeds 0-9, ended at held-out r 0.38 to
    0.92; the two with the lowest validation loss, 7.7 and 10.4, at 0.82 and 0.82), so
    each run's best is judged on the validation trials and the best of those is kept.
    Returns (that candidate, its validation loss)."""
    from cmaes import CMA

    lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    pen = penalty or (lambda X: np.zeros(len(X)))
    u = np.clip(np.asarray(u, dtype=np.float64), lo, hi)
    keep_u, keep_val = jnp.asarray(u), obj.loss(jnp.asarray(u), val)
    pop, evals = int(popsize), 0
    for r in range(int(restarts) + 1):
        opt = CMA(mean=u.copy(), sigma=float(sigma), bounds=np.stack([lo, hi], axis=1), seed=int(seed) + r,
                  population_size=max(pop, 4))
        best_u, best_f = u, np.inf
        curve = []  # (evaluations so far, best training loss so far): the convergence record
        for _ in range(int(generations)):
            X = np.stack([opt.ask() for _ in range(opt.population_size)])
            f = obj.loss_batch(X, train) + pen(X)
            f = np.where(np.isfinite(f), f, 1e12)  # a diverging simulation is never a move
            evals += len(X)
            k = int(np.argmin(f))
            if f[k] < best_f:
                best_u, best_f = X[k].copy(), float(f[k])
            opt.tell(list(zip(X, f)))
            curve.append([evals, best_f])
            if opt.should_stop():
                break
        v = obj.loss(jnp.asarray(best_u), val)
        history.append({"step": f"cmaes_{r + 1}", "train_loss": best_f, "validation_loss": v, "evaluations": evals,
                        "population": opt.population_size, "seconds": time.perf_counter() - t0, "curve": curve})
        if v < keep_val:
            keep_u, keep_val = jnp.asarray(best_u), v
        if grow:
            pop *= 2
    return keep_u, keep_val
