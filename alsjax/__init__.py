"""alsjax: a differentiable mechanistic model of ALS, and the toolkit to fit it to data.

Importing alsjax changes none of JAX's global settings. For float64 (recommended for
fits), run `jax.config.update("jax_enable_x64", True)` before creating arrays.

The public names below load their module on first use (PEP 562), so `import alsjax`
is quick and the command line can configure equinox before equinox is imported.
"""

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {  # public name -> the private module that defines it
    "ALSJaxError": "_errors",
    "Data": "_dataset",
    "DEFAULT_NOISE_MODEL": "_noise",
    "default_params": "_model",
    "DRUGS": "_therapy",
    "EVENT_NAMES": "_observables",
    "FAILURE_REASONS": "_simulate",
    "failure_reason": "_simulate",
    "Diagnostics": "_result",
    "fit": "_fit",
    "fit_per_subject": "_persubject",
    "fit_population": "_population",
    "FitResult": "_result",
    "FitWarning": "_errors",
    "GENOTYPES": "_presets",
    "initial_state": "_model",
    "laplace": "_uncertainty",
    "load_recipe": "_recipe",
    "log_likelihood": "_likelihood",
    "make_data": "_dataset",
    "make_therapy": "_therapy",
    "noise_models": "_noise",
    "OBSERVABLE_NAMES": "_observables",
    "OBSERVABLE_RANGES": "_observables",
    "OBSERVABLE_UNITS": "_observables",
    "observables": "_observables",
    "PARAMETER_NAMES": "_params",
    "PARAMETERS": "_params",
    "Params": "_params",
    "PerSubjectResult": "_persubject",
    "PopulationResult": "_population",
    "PopulationSpec": "_recipe",
    "PRESET_VERSIONS": "_presets",
    "parse_therapy": "_therapy",
    "physical": "_params",
    "plausible_priors": "_priors",
    "Prior": "_priors",
    "prior": "_priors",
    "profile": "_uncertainty",
    "ProfileResult": "_result",
    "read_answer_als": "_answer_als",
    "read_measurements": "_data",
    "read_proact": "_proact",
    "Recipe": "_recipe",
    "residuals": "_likelihood",
    "run_recipe": "_pipeline",
    "sample_posterior": "_uncertainty",
    "sample_population": "_population",
    "simulate": "_simulate",
    "simulate_batch": "_batch",
    "solve_cohort": "_cohort",
    "Solution": "_simulate",
    "SPECIES": "_presets",
    "STATE_NAMES": "_model",
    "synthesize": "_synth",
    "Therapy": "_therapy",
    "TIME_HORIZON": "_observables",
    "vector_field": "_model",
    "write_measurements": "_data",
    "write_synthetic": "_synth",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alsjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
