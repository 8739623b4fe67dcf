"""Channel models, one file per channel type."""

from ._channel import ChannelType as ChannelType
from ._channel import exprel as exprel
from .cal import CAL
from .hcn import HCN
from .hh import KDR, NA
from .ka import KA
from .kca import KCA
from .leak import LEAK

#: Every channel type in the library, keyed by name.
CHANNELS: dict[str, ChannelType] = {c.name: c for c in (NA, KDR, LEAK, KA, CAL, KCA, HCN)}
