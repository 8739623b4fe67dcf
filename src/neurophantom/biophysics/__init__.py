"""Biophysics: channel and receptor models, and the Model they turn a Circuit into."""

from .channels import CHANNELS as CHANNELS
from .channels import ChannelType as ChannelType
from .library import Biophysics as Biophysics
from .library import ReleaseParams as ReleaseParams
from .library import preset as preset
from .receptors import RECEPTORS as RECEPTORS
from .receptors import ReceptorType as ReceptorType
from .model import Model as Model
from .model import build_model as build_model
from .model import biophysics_for as biophysics_for
