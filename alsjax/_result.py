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
    (NaN on a side where the profile stays below the threshold within the grid). `note`:
    a warning when a profile point lies below the fit's optimum (the fit stopped short)."""

    parameter: str
    values: np.ndarray
    stored: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    best: float
    ci_low: float
    ci_high: float
    estimate: float
    compile_time: float = 0.0
    run_time: float = 0.0
    note: str = ""  # a warning: a profile point below the fit's optimum (else empty)


@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """What to check before trusting a fit (`_diagnostics.py` says how each is found).

    - `at_bound`: name -> whether the estimate sits at a bound (`bound_side`: which,
      "lower", "upper" or "").
    - `min_eigenvalue`: the smallest eigenvalue of the Fisher information scaled to unit
      diagonal (1: orthogonal parameters; near 0: a combination the data cannot fix);
      `weakest_direction`: its eigenvector on the stored scale (largest component 1).
    - `heterogeneity`: for several subjects, the test of per-subject residual means
      (statistic, df, p_value); None for one subject.
    - `warnings`: one line for each problem found (empty when none).
    """

    at_bound: dict[str, bool]
    bound_side: dict[str, str]
    min_eigenvalue: float
    weakest_direction: dict[str, float]
    heterogeneity: dict[str, float] | None
    warnings: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `fit` found. Physical values keyed by name; stored-scale values beside them.

    Names are the model's parameter names, `shift:<subject>` (days) for fitted time
    shifts and `sigma:<observable>` for estimated noise SDs (stored as log SD): an SD in
    the observable's unit for a Gaussian observable, a CV (SD of the log) for a
    log-normal one. `noise` maps each observable in the data to its noise model.
    `profiles` holds the profile likelihoods a recipe asked for (`run_recipe`);
    `diagnostics` what to check before trusting it; `timings` the compile and run
    seconds of each phase (fit, bound retry, refine, laplace; `run_recipe` adds the profiles and the
    report).
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
    diagnostics: Diagnostics | None = None
    timings: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    @property
    def best_params(self) -> Params:
        """The fitted parameters of the first subject (unbatched)."""
        return jax.tree.map(lambda x: x[0], self.params)
