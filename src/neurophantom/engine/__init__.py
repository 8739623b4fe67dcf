"""The engine: integrates a Model over time in JAX (exponential Euler, jit, lax.scan).

``simulate`` is the entry point (returns a labelled Recording); ``simulate_arrays`` and
``integrate`` are the traceable forms for ``jax.grad`` and ``jax.vmap``.
"""

from .drive import Drive as Drive
from .drive import compile_drive as compile_drive
from .drive import with_transmitter as with_transmitter
from .integrate import init_state as init_state
from .integrate import integrate as integrate
from .simulate import simulate as simulate
from .simulate import simulate_arrays as simulate_arrays
