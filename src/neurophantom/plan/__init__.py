"""The planner: instruments, cost, time, floor space, staff and compute.

``plan(Scenario(...))`` reproduces the uploading plan's Fermi estimates from cited inputs
(:mod:`neurophantom.instruments.specs`, :mod:`.organisms`), with Monte Carlo uncertainty,
a tornado ranking of the inputs and the staged 6/60/600/... ramp; ``compare`` runs several
scenarios side by side. Figures live in :mod:`neurophantom.plan.figures` (matplotlib).
"""

from .compute import ACCELERATORS as ACCELERATORS
from .compute import LEVELS as LEVELS
from .compute import read_engine_benchmark as read_engine_benchmark
from .distributions import Dist as Dist
from .distributions import parse_dist as parse_dist
from .inputs import Input as Input
from .model import Layout as Layout
from .model import evaluate as evaluate
from .model import wright_sum as wright_sum
from .organisms import ORGANISMS as ORGANISMS
from .organisms import get_organism as get_organism
from .planner import OUTPUTS as OUTPUTS
from .planner import Plan as Plan
from .planner import build_inputs as build_inputs
from .planner import compare as compare
from .planner import cost_vs_deadline as cost_vs_deadline
from .planner import plan as plan
from .scenario import Scenario as Scenario
from .scenario import dump_scenario as dump_scenario
from .scenario import load_scenario as load_scenario
from .scenario import make_scenario as make_scenario
from .uncertainty import monte_carlo as monte_carlo
from .uncertainty import summarise as summarise
from .uncertainty import tornado as tornado
