"""The dynamic instrument: calcium or voltage imaging of a simulated specimen.

``record(circuit, protocol, config, seed=)`` simulates the specimen with the engine and
returns what the microscope recorded (:class:`ImagingRecording`) and, separately, the
activity behind it (:class:`GroundTruth`). The deterministic observation model
(:func:`fluorescence_from_activity`) is a pure, differentiable JAX function of simulated
activity; noise (:func:`add_noise`) is added afterwards from an explicit seed. NWB files:
:func:`write_imaging`, :func:`read_imaging` (instrument only), :func:`read_ground_truth`.
"""

from ...io.nwb_ophys import read_ground_truth as read_ground_truth
from ...io.nwb_ophys import read_imaging as read_imaging
from ...io.nwb_ophys import write_imaging as write_imaging
from .config import INDICATORS as INDICATORS
from .config import CalciumIndicator as CalciumIndicator
from .config import ImagingConfig as ImagingConfig
from .config import VoltageIndicator as VoltageIndicator
from .config import imaging_config as imaging_config
from .config import indicator_preset as indicator_preset
from .forward import Activity as Activity
from .forward import CalciumParams as CalciumParams
from .forward import OpticsParams as OpticsParams
from .forward import Timing as Timing
from .forward import VoltageParams as VoltageParams
from .forward import calcium_brightness as calcium_brightness
from .forward import calcium_from_activity as calcium_from_activity
from .forward import fluorescence_from_activity as fluorescence_from_activity
from .forward import frame_average as frame_average
from .forward import indicator_params as indicator_params
from .forward import neuropil_weights as neuropil_weights
from .forward import voltage_brightness as voltage_brightness
from .noise import add_noise as add_noise
from .noise import delta_f_over_f as delta_f_over_f
from .protocol import Protocol as Protocol
from .protocol import Stimulation as Stimulation
from .protocol import parse_protocol as parse_protocol
from .protocol import resolve_targets as resolve_targets
from .protocol import to_stimulus as to_stimulus
from .record import activity_from_recording as activity_from_recording
from .record import calcium_sources as calcium_sources
from .record import optics_params as optics_params
from .record import record as record
from .results import GroundTruth as GroundTruth
from .results import ImagingRecording as ImagingRecording
