"""What a fit returns: `FitResult`, and `ProfileResult` for a profile likelihood.

Plain records, kept apart from the code that fills them so the fit, the uncertainty
methods and the report can all read them without importing each other.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ._dataset import Data
from ._params import Params
from ._problem import Problem


@dataclasses.dataclass(frozen=True)
class ProfileResult:
    """A profile likelihood: `values` (physical) of `parameter`, the re-optimised
    objective (negative log-likelihood) at each, and the likelihood-ratio 95% interval
    (NaN on a side where the profile stays below the threshold within the grid)."""

    parameter: str
    values: np.ndarray
    stored: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    best: float
    ci_low: float
    ci_high: float
    estimate: float


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `fit` found. Physical values keyed by name; stored-scale values beside them.

    Names are the model's parameter names, `shift:<subject>` (days) for fitted time
    shifts and `sigma:<observable>` for estimated noise SDs (stored as log SD): an SD in
    the observable's unit for a Gaussian observable, a CV (SD of the log) for a
    log-normal one. `noise` maps each observable in the data to its noise model.
    `profiles` holds the profile likelihoods a recipe asked for (`run_recipe`).
    """

    names: tuple[str, ...]
    transforms: tuple[str, ...]
    estimates: dict[str, float]
    std_errors: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    stored: dict[str, float]
    stored_std_errors: dict[str, float]
    nominal: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    objective: float
    start_objectives: np.ndarray
    start_converged: np.ndarray
    start_failed: np.ndarray
    start_steps: np.ndarray
    converged: bool
    params: Params  # batched over subjects
    noise_sd: np.ndarray  # per observable (order of OBSERVABLE_NAMES)
    time_shift: np.ndarray | None
    covariance: np.ndarray
    n_iter: int
    wall_time: float
    compile_time: float
    optimiser: str
    noise: dict[str, str]
    seed: int
    n_starts: int
    theta: np.ndarray
    data: Data  # as given (with subject names)
    problem: Problem  # subjects anonymised, so same-shaped fits share compiled programs
    profiles: tuple[ProfileResult, ...] = ()

    @property
    def best_params(self) -> Params:
        """The fitted parameters of the first subject (unbatched)."""
        return jax.tree.map(lambda x: x[0], self.params)
