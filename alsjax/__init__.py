"""alsjax: a differentiable mechanistic model of ALS, and the toolkit to fit it to data.

Importing alsjax changes none of JAX's global settings. For float64 (recommended for
fits), run `jax.config.update("jax_enable_x64", True)` before creating arrays.
"""

from ._batch import simulate_batch as simulate_batch
from ._data import read_measurements as read_measurements
from ._data import write_measurements as write_measurements
from ._errors import ALSJaxError as ALSJaxError
from ._fit import FitResult as FitResult
from ._fit import fit as fit
from ._likelihood import Data as Data
from ._likelihood import log_likelihood as log_likelihood
from ._likelihood import make_data as make_data
from ._likelihood import residuals as residuals
from ._model import GENOTYPES as GENOTYPES
from ._model import SPECIES as SPECIES
from ._model import STATE_NAMES as STATE_NAMES
from ._model import default_params as default_params
from ._model import initial_state as initial_state
from ._model import vector_field as vector_field
from ._observables import EVENT_NAMES as EVENT_NAMES
from ._observables import OBSERVABLE_NAMES as OBSERVABLE_NAMES
from ._observables import OBSERVABLE_UNITS as OBSERVABLE_UNITS
from ._observables import observables as observables
from ._params import PARAMETER_NAMES as PARAMETER_NAMES
from ._params import PARAMETERS as PARAMETERS
from ._params import Params as Params
from ._params import physical as physical
from ._recipe import load_recipe as load_recipe
from ._simulate import Solution as Solution
from ._simulate import simulate as simulate
from ._synth import synthesize as synthesize
from ._synth import write_synthetic as write_synthetic
from ._therapy import DRUGS as DRUGS
from ._therapy import Therapy as Therapy
from ._therapy import make_therapy as make_therapy
from ._therapy import parse_therapy as parse_therapy
from ._uncertainty import ProfileResult as ProfileResult
from ._uncertainty import laplace as laplace
from ._uncertainty import profile as profile
from ._uncertainty import sample_posterior as sample_posterior

__version__ = "0.1.0"
