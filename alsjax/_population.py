"""Population (mixed-effects) fits by the Laplace / FOCE-I approximation: `fit_population`.

**The hierarchy.** Subject i's stored value (log, logit or plain, as in `Params`) of an
estimated parameter k is

    theta_ik = mu_k + sum_c beta_c x_ic [c on k] + eta_ik [k random],
    eta_i ~ N(0, Omega),

so on a log-stored parameter a subject is "population value x exp(random effect)". The
covariates x_i are one-hot columns against a reference level (categorical) or centred
values (continuous). Fixed effects (`estimate`) have no eta; the noise SD of each
observable whose rows give none is shared by all subjects (stored as its log). Every
parameter not estimated keeps each subject's own preset, and each subject its therapy.

**The Laplace / FOCE-I objective.** With r_i(eta) subject i's weighted residuals and
norm_i its normaliser (-log p(y_i | eta) = |r_i|^2 / 2 + norm_i, `likelihood_terms`),

    -2 log L(phi) = sum_i [ |r_i(eta_i*)|^2 + 2 norm_i + eta_i*' Omega^-1 eta_i*
                            + log|Omega| + log|H_i| ],   H_i = J_i' J_i + Omega^-1,

where eta_i* minimises q_i(eta) = |r_i|^2 / 2 + eta' Omega^-1 eta / 2 (the inner MAP
problem: Levenberg-Marquardt, warm-started, `INNER_LANES` subjects side by side in a lane
queue where a finished subject's lane takes the next one), J_i = dr_i/deta
at eta_i* (forward mode through the solver), and the (2 pi)^R of the prior and of the
Gaussian integral cancel. H_i is the Gauss-Newton Hessian "with interaction": the
residuals are evaluated at eta_i*, not at 0 (FOCE-I rather than FO).

**The exact outer gradient.** phi holds the population values mu, covariate effects
beta, log noise SDs and Omega's parameters. For subject i write q_i = D_i phi_m + [eta; 0]
for the vector (subject's stored parameters, log noise SDs) the model sees, with D_i
the linear design (identity on mu and the log SDs, x_ic on beta_c). The total derivative
is dV_i/dphi = dV_i/dphi|_eta + (dV_i/deta)' d eta*/d phi, with, by the implicit
function theorem on the stationarity G_i = J' r + Omega^-1 eta = 0,

    d eta*/d phi = -A^-1 dG/dphi,   A = J'J + sum_k r_k d2r_k/deta2 + Omega^-1,

the *exact* Hessian of q_i (not H_i). Differentiating log|H_i| needs
d log|H|/dx = tr(H^-1 (dJ/dx' J + J' dJ/dx)), and dG/dphi needs dJ/dphi too: both are
second derivatives of the model, taken here in one forward-over-forward pass
(`jax.jacfwd` of `jax.jacfwd`, `diffrax.ForwardMode`) at eta_i*: d2 r / (d eta d q),
R x Q directions. Everything else is assembled by hand from those arrays, so the
gradient is exact at the inner optimum (checked against central finite differences in
`tests/test_population.py`), which a nested optimiser differentiated naively is not.

**Failed subjects.** A subject whose solve fails at its best eta (random effects can
push it where the ODE is too stiff) contributes `FAILED_SUBJECT` to -2 log L and nothing
to the gradient: a line search then steps back from a point where a subject starts to
fail, the objective is never NaN, and the count is reported.

**Standard errors.** The covariance of phi is 2 H^-1, H the Hessian of -2 log L:
central differences of the exact gradient (2 x P evaluations), or, from each subject's
own exact gradient g_i, the outer product sum_i g_i g_i' / 2 (no extra evaluation;
`outer_product_hessian`, `HESSIAN_MAX_SUBJECTS`). The same outer product is the outer
BFGS's first curvature.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Float

from ._dataset import Data, make_data, unlabelled
from ._errors import ALSJaxError, did_you_mean
from ._likelihood import likelihood_terms, log_likelihood
from ._noise import NoiseSpec
from ._observables import OBSERVABLE_NAMES
from ._optimise import SHARDINGS, Progress, device_mesh, noise_floor, place_on_mesh
from ._params import PARAMETER_NAMES, Params, parameter_transform, unknown_parameter
from ._presets import LATEST_PRESET
from ._problem import FORWARD, make_problem
from ._programs import compile_program
from ._progress import resolve_progress
from ._simulate import DEFAULT_ATOL, DEFAULT_RTOL

COVARIANCES: tuple[str, ...] = ("diagonal", "full")
FAILED_SUBJECT = 1e6
"""-2 log L contribution of a subject that cannot be solved: far above any fitted
subject's (tens to hundreds), so a step into failure is rejected."""
OMEGA_START = 0.3  # random-effect SD (stored scale) the outer optimiser starts from
MAX_OUTER_STEP = 1.0  # largest move of one outer coordinate per step (stored units)
# An inner problem has reached the noise floor of its objective once its Newton decrement
# is below `noise_floor(rtol)` (`_optimise`: 1e3 x rtol) and has not fallen
# tenfold in STALL_STEPS steps. On the shipped 200-subject cohort (rtol 1e-6) a stalled
# subject's value jitters by 4e-5 to 2e-3 from step to step, its decrement by 1e-8 to 1e-3.
# (Measured before 2026-12-05, when event clocks still jumped by up to a day between nearby
# parameters; since then all 200 of them end converged, 198 before.)
STALL_STEPS = 3
MAX_RESTARTS = 3  # times BFGS goes on from the Hessian behind the SEs (fit_population)
CPU_CHUNK_SUBJECTS = 2000
"""On the CPU, `fit_population` evaluates larger cohorts this many subjects at a time
unless told otherwise: one evaluation of 10,000 subjects as a single batch hung three
times (every XLA thread idle, no error, also with XLA's multithreaded Eigen off), while
3,000 at once and 10,000 in chunks of 2,000 completed (`benchmarks/RESULTS.md`,
2026-12-04). Chunks cost nothing measurable there (a 1,000-subject evaluation: 43 s
whole, 45 s in chunks of 200)."""

SE_METHODS: tuple[str, ...] = ("auto", "hessian", "opg")
STARTS: tuple[str, ...] = ("preset", "pooled")
"""Where the first start's population values come from: the presets, or a naive pooled
fit (every subject sharing every estimated parameter: `fit`, 4 starts) run first."""
HESSIAN_MAX_SUBJECTS = 500
"""`se="auto"` takes the standard errors from the central-difference Hessian of -2 log L
(2 x P whole-cohort evaluations) up to this many subjects and from the subjects' outer
product of gradients (`outer_product_hessian`, no extra evaluation) beyond. At 1,000
subjects the Hessian cost 41% of the fit and came out indefinite (`benchmarks/RESULTS.md`,
2026-12-04): the inner problems stop at their noise floor, so the gradient at one point
moves with their warm start (up to 0.5 per component on 200 subjects), which differences
over h = 1e-3 turn into Hessian entries off by up to 70% on the weakest directions.
On the shipped 200-subject cohort the two give SEs within a factor 0.79-1.17 of each
other (2026-12-04)."""

INNER_LANES = 128
"""Subjects whose inner problems run side by side (`_inner_queue`)."""

Z95 = 1.959963984540054

_NOT_COVARIATES = ("row", "time", "observable", "value", "sigma", "n", "lloq", "kind",
                   "subject", "therapy_start")


class PopulationProblem(eqx.Module):
    """Everything the compiled objective needs; static fields select the program.

    `data` holds each subject as a one-subject `Data` stacked on a leading axis, so the
    inner problems vmap over subjects. The outer vector phi is
    `[mu (E) | beta (C) | log noise SD (N) | Omega (R log SDs, then R(R-1)/2 correlation
    coordinates when full)]`, E = R random then F fixed parameters.
    """

    data: Data  # leaves (S, 1, ...): subject i is data[i], a Data of one subject
    design: Float[Array, "S C"]  # covariate columns: one-hot or centred
    noise_sd: Float[Array, " K"]  # SDs of observables whose SD is not estimated
    random: tuple[str, ...] = eqx.field(static=True)
    fixed: tuple[str, ...] = eqx.field(static=True)
    covariate_names: tuple[str, ...] = eqx.field(static=True)  # "NAME~COLUMN[=LEVEL]"
    covariate_targets: tuple[int, ...] = eqx.field(static=True)  # index into random+fixed
    noise_obs: tuple[int, ...] = eqx.field(static=True)
    noise: tuple[str, ...] = eqx.field(static=True)
    covariance: str = eqx.field(static=True, default="diagonal")
    inner_steps: int = eqx.field(static=True, default=40)
    inner_tol: float = eqx.field(static=True, default=1e-14)
    rtol: float = eqx.field(static=True, default=DEFAULT_RTOL)  # solver tolerances
    atol: float = eqx.field(static=True, default=DEFAULT_ATOL)  # (make_population resolves None)
    # How each subject is solved (`solve_cohort`): "vmap" (diffrax), or "lanes" where a
    # drug starts on a day that moves with eta (onset alignment): diffrax's second
    # derivatives through a moving start are wrong, the lane queue's within about 2e-4
    # (docs/architecture.md, *Known gaps*).
    method: str = eqx.field(static=True, default="vmap")

    @property
    def n_random(self) -> int:
        return len(self.random)

    @property
    def n_estimated(self) -> int:
        return len(self.random) + len(self.fixed)

    @property
    def n_model(self) -> int:
        """Length of phi_m = [mu | beta | log SD], the part that reaches the model."""
        return self.n_estimated + len(self.covariate_names) + len(self.noise_obs)

    @property
    def n_omega(self) -> int:
        R = self.n_random
        return R + (R * (R - 1) // 2 if self.covariance == "full" else 0)

    @property
    def size(self) -> int:
        return self.n_model + self.n_omega

    @property
    def n_q(self) -> int:
        """Length of the vector a subject's model sees: its stored values and log SDs."""
        return self.n_estimated + len(self.noise_obs)


# --- Omega -----------------------------------------------------------------------------


def omega_cholesky(omega_phi: Array, R: int, full: bool) -> Array:
    """Lower Cholesky factor L of Omega = L L' from its unconstrained coordinates.

    The first R coordinates are the log SDs s; for a full covariance the next R(R-1)/2
    fill the strictly lower triangle of a unit-diagonal matrix whose rows are then
    normalised (the Cholesky factor of a correlation matrix, any real values allowed),
    so L = diag(exp(s)) Lc and the SDs stay the first R coordinates exactly.
    """
    sd = jnp.exp(omega_phi[:R])
    if not full or R == 1:
        return jnp.diag(sd)
    rows, cols = np.tril_indices(R, -1)
    Lc = jnp.eye(R, dtype=omega_phi.dtype).at[rows, cols].set(omega_phi[R:])
    Lc = Lc / jnp.linalg.norm(Lc, axis=1, keepdims=True)
    return sd[:, None] * Lc


def _omega_terms(omega_phi: Array, pp: PopulationProblem):
    """Omega^-1 and log|Omega|, and their derivatives in Omega's coordinates."""
    R = pp.n_random

    def f(w):
        L = omega_cholesky(w, R, pp.covariance == "full")
        Linv = jax.scipy.linalg.solve_triangular(L, jnp.eye(R, dtype=w.dtype), lower=True)
        return Linv.T @ Linv, 2.0 * jnp.sum(jnp.log(jnp.diag(L)))

    Oi, logdet = f(omega_phi)
    dOi, dlogdet = jax.jacfwd(f)(omega_phi)
    return Oi, logdet, dOi, dlogdet


# --- one subject -----------------------------------------------------------------------


def _design(x: Array, pp: PopulationProblem) -> Array:
    """D_i: q_i = D_i phi_m (+ eta on the first R entries), Q x n_model."""
    E, C, N = pp.n_estimated, len(pp.covariate_names), len(pp.noise_obs)
    D = jnp.zeros((E + N, E + C + N), x.dtype)
    D = D.at[jnp.arange(E), jnp.arange(E)].set(1.0)
    if C:
        D = D.at[jnp.asarray(pp.covariate_targets), E + jnp.arange(C)].set(x)
    if N:
        D = D.at[E + jnp.arange(N), E + C + jnp.arange(N)].set(1.0)
    return D


def subject_residuals(q: Array, d1: Data, pp: PopulationProblem):
    """Weighted residuals, normaliser and success of one subject (a one-subject `Data`)
    at q = (its stored estimated parameters, log noise SDs); forward-mode differentiable."""
    names = pp.random + pp.fixed
    E = len(names)
    params = dataclasses.replace(d1.base, **{n: q[j][None] for j, n in enumerate(names)})
    sd = pp.noise_sd
    if pp.noise_obs:
        sd = sd.at[jnp.asarray(pp.noise_obs)].set(jnp.exp(q[E:]))
    return likelihood_terms(params, d1, noise=pp.noise, sigma=sd, adjoint=FORWARD,
                            method=pp.method, tolerances=(pp.rtol, pp.atol))


def _park(d1: Data, dead: Array) -> Data:
    """A subject that cannot be solved, moved onto a one-instant clock where its solve
    ends at once. Under vmap the batch runs in lockstep, so a failed subject would
    otherwise cost every later evaluation its full step limit; its contribution is
    replaced anyway."""
    tiny = jnp.asarray(1e-6, d1.times.dtype)
    return dataclasses.replace(
        d1, times=jnp.where(dead, tiny, d1.times),
        event_time=jnp.where(dead, tiny, d1.event_time),
        onset_horizon=jnp.where(dead, tiny, d1.onset_horizon))


def subject_parameters(phi: Array, eta: Array, data: Data, pp: PopulationProblem) -> Params:
    """Every subject's `Params` (batched, S) at population `phi` and random effects `eta`
    (S, R): theta_i = mu + beta x_i + eta_i on the estimated parameters, each subject's
    preset elsewhere. Pure; what predictions and the visual predictive check simulate."""
    D = jax.vmap(lambda x: _design(x, pp))(pp.design)
    q = jnp.einsum("sqp,p->sq", D, phi[:pp.n_model])
    q = q.at[:, :pp.n_random].add(eta)
    names = pp.random + pp.fixed
    return dataclasses.replace(data.base, **{n: q[:, j] for j, n in enumerate(names)})


def _pad(eta: Array, pp: PopulationProblem) -> Array:
    return jnp.concatenate([eta, jnp.zeros(pp.n_q - pp.n_random, eta.dtype)])


def decrement_stalled(newton: Array, level: Array, since: Array, floor: float
                      ) -> tuple[Array, Array, Array]:
    """Whether an inner problem's Newton decrement `newton` has reached its noise floor:
    below `floor` and no tenfold fall in `STALL_STEPS` steps. `level` is the decrement at
    its last tenfold fall and `since` the steps since (start: inf, 0); returns the verdict
    and both updated. A decrement still falling geometrically is never stalled."""
    fell = newton < 0.1 * level
    level = jnp.where(fell, newton, level)
    since = jnp.where(fell, 0, since + 1)
    return (newton < floor) & (since >= STALL_STEPS), level, since


def _inner_start(eta0: Array, d1: Data, pp: PopulationProblem) -> dict:
    """The state of one subject's inner Levenberg-Marquardt run before its first step."""
    n_res = jax.eval_shape(lambda: subject_residuals(jnp.zeros(pp.n_q, eta0.dtype), d1,
                                                     pp))[0].shape[0]
    f, R = eta0.dtype, pp.n_random
    return dict(ec=eta0, rc=jnp.zeros(n_res, f), Jc=jnp.zeros((n_res, R), f),
                vc=jnp.asarray(jnp.inf, f), et=eta0, lam=jnp.asarray(1e-3, f),
                n=jnp.asarray(0, jnp.int32), stop=jnp.asarray(False),
                conv=jnp.asarray(False), dec=jnp.asarray(jnp.inf, f),
                level=jnp.asarray(jnp.inf, f), since=jnp.asarray(0, jnp.int32))


def _inner_step(c: dict, q0: Array, Oi: Array, d1: Data, pp: PopulationProblem) -> dict:
    """One step of a subject's MAP search: Levenberg-Marquardt on
    q(eta) = |r|^2/2 + eta'Oi eta/2.

    Started at `eta0` (the previous outer point's optimum); if that cannot be solved,
    tries eta = 0 once. Converged when the Newton decrement g' A^-1 g (A the Gauss-Newton
    Hessian) falls below `inner_tol`, or when it has reached the solver's noise floor: below
    `noise_floor(rtol)` (1e3 x rtol) and no tenfold fall in `STALL_STEPS` steps. (On the
    shipped 200-subject cohort at rtol 1e-6, 84 subjects never reached 1e-10 in 40
    Gauss-Newton steps: their decrement wanders between 1e-8 and 1e-3 for as long as it
    is given, because the adaptive solve's value and Jacobian jump by ~rtol.)
    Stops unconverged after `inner_steps` steps or when the damping blows up.
    """

    def trial(eta, dead):
        d = _park(d1, dead)

        def f(e):
            r, _, ok = subject_residuals(q0 + _pad(e, pp), d, pp)
            return r, (r, ok)

        J, (r, ok) = jax.jacfwd(f, has_aux=True)(eta)
        v = 0.5 * jnp.sum(r**2) + 0.5 * eta @ Oi @ eta
        good = ok & jnp.isfinite(v) & jnp.all(jnp.isfinite(J))
        return jnp.where(good, r, 0.0), jnp.where(good, J, 0.0), jnp.where(good, v, jnp.inf)

    r, J, v = trial(c["et"], c["stop"] & ~jnp.isfinite(c["vc"]))
    # Near the optimum the objective's own jumps hide the decrease: where the
    # adaptive solver's step sequence changes with eta the value jumps by up to
    # ~rtol x the residuals (1e-5 of q seen), while the forward-mode gradient still
    # points to the optimum. So once the Newton decrement (twice the predicted
    # decrease) is small, Gauss-Newton steps are taken without the value test.
    accept = (v < c["vc"]) | (jnp.isfinite(v) & (c["dec"] < 1e-3))
    ec, rc, Jc = jax.tree.map(lambda a, b: jnp.where(accept, a, b),
                              (c["et"], r, J), (c["ec"], c["rc"], c["Jc"]))
    vc = jnp.where(accept, v, c["vc"])
    lam = jnp.where(accept, c["lam"] / 3.0, c["lam"] * 4.0)
    g = Jc.T @ rc + Oi @ ec
    A = Jc.T @ Jc + Oi
    newton = g @ jnp.linalg.solve(A, g)
    damped = A + lam * jnp.diag(jnp.diag(A))
    delta = -jnp.linalg.solve(damped, g)
    delta = jnp.where(jnp.isfinite(delta), delta, 0.0)
    n = c["n"] + 1
    newton = jnp.where(jnp.isfinite(newton), newton, jnp.inf)
    stalled, level, since = decrement_stalled(newton, c["level"], c["since"],
                                              noise_floor(pp.rtol))
    conv = jnp.isfinite(vc) & ((newton < pp.inner_tol) | stalled)
    never = ~jnp.isfinite(vc) & (n >= 2)  # neither eta0 nor 0 could be solved
    stop = conv | never | (n >= pp.inner_steps) | (lam > 1e10)
    first_failed = ~jnp.isfinite(vc) & (n == 1)
    et = jnp.where(first_failed, jnp.zeros_like(ec), jnp.where(stop, ec, ec + delta))
    return dict(ec=ec, rc=rc, Jc=Jc, vc=vc, et=et, lam=lam, n=n, stop=stop, conv=conv,
                dec=newton, level=level, since=since)


def _inner_queue(q0: Array, eta0: Array, Oi: Array, data: Data, pp: PopulationProblem):
    """Every subject's MAP eta (`_inner_step` until it stops), `INNER_LANES` subjects at a
    time: a lane whose subject stops takes the next one at once.

    Under a plain vmap every subject would take as many steps as the slowest (40, the cap,
    where the mean is about 8: `benchmarks/RESULTS.md`, 2026-12-04), and which subjects are
    slow changes from one outer point to the next. Returns per subject eta, whether it
    converged and was solved, and the steps taken; each subject's run is the same as
    alone, whatever the lanes."""
    S = eta0.shape[0]
    L = min(INNER_LANES, S)
    one = jax.tree.map(lambda x: x[0], data)
    start = jax.vmap(lambda e: _inner_start(e, one, pp))
    step = jax.vmap(_inner_step, in_axes=(0, 0, None, 0, None))
    who = jnp.arange(L, dtype=jnp.int32)
    state = dict(c=start(eta0[:L]), who=who, live=jnp.ones(L, bool),
                 next=jnp.asarray(L, jnp.int32), eta=eta0, conv=jnp.zeros(S, bool),
                 solved=jnp.zeros(S, bool), steps=jnp.zeros(S, jnp.int32))

    def body(st):
        who = st["who"]
        d = jax.tree.map(lambda x: x[who], data)
        c = step(st["c"], q0[who], Oi, jax.vmap(_park)(d, ~st["live"]), pp)  # idle: parked
        done = c["stop"] & st["live"]
        slot = jnp.where(done, who, jnp.int32(S))  # S: out of range, dropped
        out = {k: st[k].at[slot].set(v, mode="drop") for k, v in (
            ("eta", c["ec"]), ("conv", c["conv"]), ("solved", jnp.isfinite(c["vc"])),
            ("steps", c["n"]))}
        new = st["next"] + jnp.cumsum(done, dtype=jnp.int32) - 1
        refill = done & (new < S)
        who = jnp.where(refill, new, who)
        fresh = start(eta0[jnp.minimum(new, S - 1)])
        c = jax.tree.map(lambda a, b: jnp.where(
            refill.reshape((L,) + (1,) * (a.ndim - 1)), b, a), c, fresh)
        return dict(c=c, who=who, live=jnp.where(done, refill, st["live"]),
                    next=st["next"] + jnp.sum(done, dtype=jnp.int32), **out)

    st = jax.lax.while_loop(lambda st: jnp.any(st["live"]), body, state)
    return st["eta"], st["conv"], st["solved"], st["steps"]


def _subject(phi_m, omega, eta, conv, solved, steps, eta0, d1, x, pp: PopulationProblem):
    """One subject's -2 log L contribution V_i at its inner optimum `eta` (from
    `_inner_queue`), its exact gradient in phi and H_i^-1 (see the module docstring for
    the algebra)."""
    R = pp.n_random
    Oi, logdet_omega, dOi, dlogdet_omega = omega
    D = _design(x, pp)
    q0 = D @ phi_m
    d1 = _park(d1, ~solved)
    q = q0 + _pad(eta, pp)

    def first(qv):
        def f(e):
            r, norm, ok = subject_residuals(qv + _pad(e, pp), d1, pp)
            return r, (r, norm, ok)

        J, (r, norm, ok) = jax.jacfwd(f, has_aux=True)(jnp.zeros(R, qv.dtype))
        return (J, r, norm), (J, r, norm, ok)

    (dJ, dr, dnorm), (J, r, norm, ok) = jax.jacfwd(first, has_aux=True)(q)
    # dJ[k, a, j] = d2 r_k / (d eta_a d q_j); dr[k, j] = d r_k / d q_j.
    H = J.T @ J + Oi
    Hinv = jnp.linalg.inv(H)
    logdet_H = jnp.linalg.slogdet(H)[1]
    value = (jnp.sum(r**2) + 2.0 * norm + eta @ Oi @ eta + logdet_omega + logdet_H)
    trace = 2.0 * jnp.einsum("ab,kb,kaj->j", Hinv, J, dJ)  # d log|H| / d q (eta held)
    dV_dq = 2.0 * dr.T @ r + 2.0 * dnorm + trace
    dV_deta = dV_dq[:R] + 2.0 * Oi @ eta
    dV_domega = (jnp.einsum("a,abc,b->c", eta, dOi, eta) + dlogdet_omega
                 + jnp.einsum("ab,bac->c", Hinv, dOi))
    A = H + jnp.einsum("k,kab->ab", r, dJ[:, :, :R])
    dG_dq = jnp.einsum("kaj,k->aj", dJ, r) + J.T @ dr
    dG = jnp.concatenate([dG_dq @ D, jnp.einsum("abc,b->ac", dOi, eta)], axis=1)
    deta = -jnp.linalg.solve(A, dG)
    grad = jnp.concatenate([D.T @ dV_dq, dV_domega]) + dV_deta @ deta
    good = (solved & ok & jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
            & jnp.all(jnp.isfinite(Hinv)))
    return dict(
        value=jnp.where(good, value, FAILED_SUBJECT),
        grad=jnp.where(good, grad, 0.0),
        eta=jnp.where(good, eta, eta0),
        hinv=jnp.where(good, Hinv, jnp.nan),
        ok=good, converged=conv & good, steps=steps,
    )


def _evaluate(phi: Array, eta0: Array, pp: PopulationProblem, real: Array | None = None
              ) -> dict:
    nm = pp.n_model
    omega = _omega_terms(phi[nm:], pp)
    q0 = jax.vmap(lambda x: _design(x, pp) @ phi[:nm])(pp.design)
    inner = _inner_queue(q0, eta0, omega[0], pp.data, pp)
    per = jax.vmap(_subject, in_axes=(None, None, 0, 0, 0, 0, 0, 0, 0, None))(
        phi[:nm], omega, *inner, eta0, pp.data, pp.design, pp)
    value, grad = per["value"], per["grad"]
    if real is not None:  # padding subjects (copies of a real one) add exactly nothing
        value = jnp.where(real, value, 0.0)
        grad = jnp.where(real[:, None], grad, 0.0)
    return dict(value=jnp.sum(value), grad=jnp.sum(grad, axis=0), grads=grad,
                contributions=per["value"], eta=per["eta"], hinv=per["hinv"],
                ok=per["ok"], converged=per["converged"], steps=per["steps"])


evaluate = jax.jit(_evaluate)
"""`evaluate(phi, eta0, pp, real=None)`: -2 log L at `phi` (Laplace / FOCE-I), its exact
gradient, and per subject the contribution, its gradient (`grads`), eta*, H^-1, success,
inner convergence and steps, as a dict. `eta0` (S, R) warm-starts the inner problems;
`real` (S,) bool, when given, leaves the subjects marked False out of the sums (padding).
Pure and jitted; a subject that cannot be solved adds `FAILED_SUBJECT` and no gradient."""


# --- the cohort over devices, in chunks of subjects ------------------------------------


@functools.lru_cache(maxsize=8)
def _on_mesh(mesh: Mesh, sharding: str):
    """`evaluate` with the subject axis split over `mesh`, as one jitted program whose
    outputs are whole on every device (sums reduced, per-subject arrays gathered).

    "shard_map": each device runs its own subjects' vmapped inner solves in its own while
    loops, then the sums are reduced (`psum`). "named": the inputs arrive split
    (`NamedSharding`) and the compiler partitions the one vmapped program; its while
    loops then test every device's subjects at every step."""
    axis = mesh.axis_names[0]
    whole = NamedSharding(mesh, PartitionSpec())

    def named(phi, eta0, pp, real):
        return jax.lax.with_sharding_constraint(_evaluate(phi, eta0, pp, real), whole)

    def mapped(phi, eta0, pp, real):
        def local(phi, eta0, data, design, noise_sd, real):
            out = _evaluate(phi, eta0, dataclasses.replace(
                pp, data=data, design=design, noise_sd=noise_sd), real)
            sums = {k: jax.lax.psum(out.pop(k), axis) for k in ("value", "grad")}
            return sums | {k: jax.lax.all_gather(v, axis, tiled=True) for k, v in out.items()}

        split, rep = PartitionSpec(axis), PartitionSpec()
        return jax.shard_map(local, mesh=mesh, in_specs=(rep, split, split, split, rep, split),
                             out_specs=rep, check_vma=False)(
            phi, eta0, pp.data, pp.design, pp.noise_sd, real)

    return jax.jit(named if sharding == "named" else mapped)


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """Subjects `index` of the cohort, padded to the program's width with copies of the
    first (`take`), `real` marking the cohort's own; `data`/`design` on the host, or
    already placed on the devices when the whole cohort is one chunk."""

    index: np.ndarray
    take: np.ndarray
    real: Array | None
    data: Data
    design: Array


Evaluator = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray, dict]]


def cohort_evaluator(pp: PopulationProblem, phi0: np.ndarray, *, devices: int | None = None,
                     chunk_subjects: int | None = None, sharding: str = "shard_map"
                     ) -> tuple[Evaluator, float, int]:
    """`evaluate` over the whole cohort, `chunk_subjects` subjects at a time, each chunk's
    subjects split over `devices`; returns `fg(phi, eta) -> (value, grad, out)` (NumPy,
    eta (S, R) kept on the host between calls), the compile time and the devices used.

    Every chunk runs one compiled program: the last chunk, and any chunk whose size is not
    a multiple of the device count, is padded with copies of its first subject whose
    contribution is masked to exactly zero. The sums are reduced across devices inside
    the program and across chunks on the host, so the result does not depend on either
    (up to the order of floating-point sums)."""
    if sharding not in SHARDINGS:
        raise ALSJaxError(f"sharding: expected one of {', '.join(SHARDINGS)}, got "
                          f"{sharding!r}")
    if chunk_subjects is not None and int(chunk_subjects) < 1:
        raise ALSJaxError(f"chunk_subjects must be >= 1, got {chunk_subjects}")
    mesh = device_mesh(devices)
    S, n = pp.design.shape[0], mesh.size
    K = S if chunk_subjects is None else min(int(chunk_subjects), S)
    width = -(-K // n) * n
    groups = [np.arange(a, min(a + K, S)) for a in range(0, S, K)]
    padded = n > 1 or any(g.size != width for g in groups)  # a mesh program always masks
    host = jax.tree.map(np.asarray, (pp.data, pp.design))
    chunks = []
    for g in groups:
        take = np.concatenate([g, np.full(width - g.size, g[0])])
        real = jnp.asarray(np.arange(width) < g.size) if padded else None
        data, design = jax.tree.map(lambda x, take=take: x[take], host)
        chunks.append(_Chunk(g, take, real, data, design))
    def place(tree):
        return place_on_mesh(tree, mesh) if n > 1 else jax.tree.map(jnp.asarray, tree)

    if len(chunks) == 1:  # the whole cohort stays on the devices between calls
        c = chunks[0]
        chunks = [dataclasses.replace(c, real=place(c.real), data=place(c.data),
                                      design=place(c.design))]
    f64 = jnp.result_type(float)

    def args(phi, eta, c):
        data, design, real = ((c.data, c.design, c.real) if len(chunks) == 1 else
                              (place(c.data), place(c.design), place(c.real)))
        return (jnp.asarray(phi, f64), place(jnp.asarray(eta[c.take], f64)),
                dataclasses.replace(pp, data=data, design=design), real)

    first = args(phi0, np.zeros((S, pp.n_random)), chunks[0])
    given = first[:3] if first[3] is None else first
    t0 = time.perf_counter()
    if n == 1:  # exported once, loaded without tracing by later runs (`_programs`)
        exe = compile_program(_evaluate, *given)
    else:
        exe = _on_mesh(mesh, sharding).lower(*given).compile()
    compile_time = time.perf_counter() - t0
    used = len(first[2].design.sharding.device_set)

    def fg(phi, eta):
        eta = np.asarray(eta)
        value, grad, parts = 0.0, 0.0, []
        for c in chunks:
            a = args(phi, eta, c)
            out = exe(*a[:3]) if a[3] is None else exe(*a)
            value = value + float(out["value"])
            grad = grad + np.asarray(out["grad"])
            parts.append({k: np.asarray(v)[:c.index.size] for k, v in out.items()
                          if k not in ("value", "grad")})
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return value, grad, merged | dict(value=value, grad=grad)

    return fg, compile_time, used


@eqx.filter_custom_vjp
def _objective(phi, pp, eta0):
    return _evaluate(phi, eta0, pp)["value"]


@_objective.def_fwd
def _objective_fwd(perturbed, phi, pp, eta0):
    del perturbed
    out = _evaluate(phi, eta0, pp)
    return out["value"], out["grad"]


@_objective.def_bwd
def _objective_bwd(grad, g_out, perturbed, phi, pp, eta0):
    del perturbed, phi, pp, eta0
    return g_out * grad


def population_objective(phi: Float[Array, " P"], pp: PopulationProblem,
                         eta0: Float[Array, "S R"] | None = None) -> Float[Array, ""]:
    """The Laplace / FOCE-I -2 log-likelihood at `phi` (layout: `PopulationProblem`).

    `jax.grad` of it is the exact gradient through the inner optima (implicit
    differentiation with the model's second derivatives, forward over forward); `eta0`
    warm-starts the inner problems (zeros when None) and carries no gradient.
    """
    if eta0 is None:
        eta0 = jnp.zeros((pp.design.shape[0], pp.n_random), phi.dtype)
    return _objective(phi, pp, jax.lax.stop_gradient(eta0))


# --- problem set-up ----------------------------------------------------------------------


def _subject_values(frame, column: str, subjects: tuple[str, ...]) -> list[str]:
    """Each subject's one value of a frame column (one-line errors if missing or varying)."""
    values = []
    col = frame[column].astype(str).str.strip()
    by_subject = col.groupby(frame["subject"].astype(str), sort=False)
    seen = {s: g.unique() for s, g in by_subject}
    for s in subjects:
        u = [v for v in seen[s] if v not in ("", "nan")]
        if not u:
            raise ALSJaxError(f"covariate column {column!r}: empty for subject {s!r}")
        if len(u) > 1:
            raise ALSJaxError(f"covariate column {column!r} varies within subject {s!r} "
                              f"({u[0]!r}, {u[1]!r}); a covariate is one value per subject")
        values.append(u[0])
    return values


def covariate_design(frame, covariates: Sequence[str], subjects: tuple[str, ...],
                     estimated: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...],
                                                       tuple[int, ...]]:
    """The design matrix (S, C) of `NAME~COLUMN` covariates, the column names and the
    parameter (index into `estimated`) each column acts on.

    A column whose every value is a number is continuous, centred on its mean; any other
    is categorical: one indicator column per level against the reference level (the most
    common, ties to the first in sorted order), named `NAME~COLUMN=LEVEL`.
    """
    columns, names, targets = [], [], []
    seen = set()
    for spec in covariates:
        name, sep, column = (x.strip() for x in str(spec).partition("~"))
        if not sep or not name or not column:
            raise ALSJaxError(f"covariate {spec!r}: expected NAME~COLUMN "
                              "(a parameter and a column of the data)")
        if name not in estimated:
            raise ALSJaxError(f"covariate {spec}: {name!r} is not an estimated parameter "
                              f"({', '.join(estimated)}){did_you_mean(name, estimated)}")
        if (name, column) in seen:
            raise ALSJaxError(f"covariate {spec}: named twice")
        seen.add((name, column))
        if frame is None:
            raise ALSJaxError(f"covariate {spec}: covariates need the data's columns; pass "
                              "the frame read_measurements returned as data")
        usable = [c for c in frame.columns if c not in _NOT_COVARIATES]
        if column not in usable:
            raise ALSJaxError(f"covariate {spec}: no column {column!r} in the data"
                              f"{did_you_mean(column, usable)}; columns that can be "
                              f"covariates: {', '.join(usable) or 'none'}")
        values = _subject_values(frame, column, subjects)
        try:
            numbers = np.array([float(v) for v in values])
        except ValueError:
            numbers = None
        if numbers is not None and np.all(np.isfinite(numbers)):
            if np.ptp(numbers) == 0:
                raise ALSJaxError(f"covariate {spec}: column {column!r} is the same for "
                                  "every subject")
            columns.append(numbers - numbers.mean())
            names.append(f"{name}~{column}")
            targets.append(list(estimated).index(name))
            continue
        levels = sorted(set(values))
        if len(levels) < 2:
            raise ALSJaxError(f"covariate {spec}: column {column!r} has one level "
                              f"({levels[0]!r}) for every subject")
        counts = {lv: values.count(lv) for lv in levels}
        reference = max(levels, key=lambda lv: (counts[lv], -levels.index(lv)))
        for lv in levels:
            if lv == reference:
                continue
            columns.append(np.array([float(v == lv) for v in values]))
            names.append(f"{name}~{column}={lv}")
            targets.append(list(estimated).index(name))
    S = len(subjects)
    X = np.stack(columns, axis=1) if columns else np.zeros((S, 0))
    return X, tuple(names), tuple(targets)


def per_subject(data: Data) -> Data:
    """`data` as S one-subject `Data`s stacked on a leading axis (for vmap over subjects)."""
    one = unlabelled(data, ("0",))
    return jax.tree.map(lambda x: x[:, None], one)


def make_population(
    data: Data,
    random: Sequence[str],
    *,
    estimate: Sequence[str] = (),
    covariates: Sequence[str] = (),
    frame=None,
    covariance: str = "diagonal",
    noise: NoiseSpec = None,
    inner_steps: int = 40,
    inner_tol: float = 1e-14,
    rtol: float | None = None,
    atol: float | None = None,
) -> tuple[PopulationProblem, tuple[str, ...], np.ndarray]:
    """Check the choices and build the problem; returns it, the names of phi's
    coordinates (`NAME` population values, `NAME~COLUMN[=LEVEL]` covariate effects,
    `sigma:OBS` log noise SDs, `omega:NAME` log random-effect SDs, `chol:A:B` correlation
    coordinates) and a starting phi. Every problem is one `ALSJaxError` line."""
    random, estimate = tuple(random), tuple(estimate)
    if not random:
        raise ALSJaxError("random: name at least one parameter with a random effect")
    for where, names in (("random", random), ("estimate", estimate)):
        for n in names:
            if n not in PARAMETER_NAMES:
                raise ALSJaxError(f"{where}: {unknown_parameter(n)}")
        if len(set(names)) != len(names):
            raise ALSJaxError(f"{where}: a parameter is named twice")
    both = [n for n in random if n in estimate]
    if both:
        raise ALSJaxError(f"{both[0]!r} is named both as random and as a fixed effect "
                          "(--estimate); a random parameter already has a population value")
    if covariance not in COVARIANCES:
        raise ALSJaxError(f"covariance: expected 'diagonal' or 'full', got {covariance!r}")
    estimated = random + estimate
    # make_problem also checks rtol and atol, in one line each.
    pb, _, _ = make_problem(data, estimated, noise=noise, rtol=rtol, atol=atol)
    X, cov_names, targets = covariate_design(frame, covariates, data.subjects, estimated)
    f = jnp.result_type(float)
    pp = PopulationProblem(
        data=per_subject(dataclasses.replace(
            data, subjects=tuple(str(i) for i in range(data.n_subjects)))),
        design=jnp.asarray(X, f), noise_sd=pb.noise_sd, random=random, fixed=estimate,
        covariate_names=cov_names, covariate_targets=targets, noise_obs=pb.noise_obs,
        noise=pb.noise, covariance=covariance, inner_steps=int(inner_steps),
        inner_tol=float(inner_tol), rtol=pb.tolerances[0], atol=pb.tolerances[1],
        method="lanes" if data.any_onset and np.any(np.asarray(data.therapy.on) > 0)
        else "vmap")
    mu0 = [float(np.mean(np.asarray(getattr(data.base, n)))) for n in estimated]
    sd0 = np.asarray(pb.noise_sd)
    R = len(random)
    names = (*estimated, *cov_names, *(f"sigma:{OBSERVABLE_NAMES[k]}" for k in pb.noise_obs),
             *(f"omega:{n}" for n in random))
    phi0 = [*mu0, *([0.0] * len(cov_names)), *(math.log(sd0[k]) for k in pb.noise_obs),
            *([math.log(OMEGA_START)] * R)]
    if covariance == "full":
        rows, cols = np.tril_indices(R, -1)
        names = (*names, *(f"chol:{random[i]}:{random[j]}" for i, j in zip(rows, cols,
                                                                           strict=True)))
        phi0 += [0.0] * len(rows)
    return pp, names, np.asarray(phi0, float)


# --- the fit -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PopulationResult:
    """What `fit_population` found.

    `estimates` (with `std_errors`, 95% `ci_low`/`ci_high`) is keyed by `names`: each
    estimated parameter's population value (physical units), covariate effects
    `NAME~COLUMN[=LEVEL]` (on the parameter's stored scale: log-ratio for a log
    parameter), noise SDs `sigma:OBS`, random-effect SDs `omega:NAME` (SD of eta, on the
    parameter's stored scale) and, for a full covariance, correlations `corr:A:B`.
    Uncertainty is from the inverse Hessian of -2 log L, by finite differences of the
    exact gradient or from the subjects' outer product of gradients (`se_method`). Per
    subject: the empirical Bayes estimates `eta` (S, R), their conditional SDs `eta_sd`
    (sqrt diag H_i^-1), `individual` (name -> physical value per subject), and per random
    parameter the `shrinkage` 1 - SD(eta*) / omega.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]  # "population", "covariate", "noise", "omega", "corr"
    estimates: dict[str, float]
    std_errors: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    phi: np.ndarray
    phi_names: tuple[str, ...]
    phi_covariance: np.ndarray
    omega: np.ndarray  # (R, R) covariance of eta, stored scale
    random: tuple[str, ...]
    fixed: tuple[str, ...]
    covariates: tuple[str, ...]
    covariance: str
    subjects: tuple[str, ...]
    eta: np.ndarray
    eta_sd: np.ndarray
    individual: dict[str, np.ndarray]
    individual_stored: dict[str, np.ndarray]
    shrinkage: dict[str, float]
    minus2ll: float
    aic: float
    bic: float
    n_subjects: int
    n_observations: int
    n_failed: int
    failed: np.ndarray
    inner_converged: np.ndarray
    converged: bool  # a minimum within the objective's resolution (newton_decrease below it)
    newton_decrease: float  # -2 log L decrease Newton's step promises from the estimates
    se_method: str  # "hessian" or "opg" (and why, when the Hessian could not be used)
    objective_resolution: float  # how finely -2 log L is known (inner noise floors summed)
    n_iter: int
    n_evaluations: int
    wall_time: float
    compile_time: float
    noise: dict[str, str]
    noise_sd: np.ndarray  # per observable (order of OBSERVABLE_NAMES)
    params: Params  # each subject's parameters at its empirical Bayes estimate (S,)
    data: Data
    problem: PopulationProblem
    seed: int = 0
    n_starts: int = 1
    devices: int = 1  # devices the subjects were split over
    chunk_subjects: int | None = None  # subjects per evaluated chunk (None: all)
    start: str = "preset"  # where the population values started (STARTS)


def objective_resolution(n_subjects: int, rtol: float | None = None) -> float:
    """How finely a population's -2 log L is known: every subject's inner problem is
    solved to its noise floor, a Newton decrement (its -2 log L's predicted decrease) of
    at most `noise_floor(rtol)`."""
    return n_subjects * noise_floor(rtol)


def _central_hessian(fg, x: np.ndarray, eta, report, h: float = 1e-3) -> np.ndarray:
    """The Hessian of -2 log L at `x` by central differences of its exact gradient
    (symmetrised), the inner problems warm-started from `eta`."""
    P = x.size
    if report is not None:
        report("uncertainty", 0, 2 * P)
    H = np.zeros((P, P))
    for j in range(P):
        e = np.zeros(P)
        e[j] = h
        H[:, j] = (fg(x + e, eta)[1] - fg(x - e, eta)[1]) / (2 * h)
        if report is not None:
            report("uncertainty", 2 * j + 2, 2 * P)
    return 0.5 * (H + H.T)


def outer_product_hessian(grads: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The Hessian of -2 log L estimated from the subjects' own gradients g_i of their
    contributions: sum_i g_i g_i' / 2 (the information identity: each subject's score is
    -g_i / 2, so the Fisher information is sum_i g_i g_i' / 4 and the Hessian of -2 log L
    twice that). NONMEM's "S matrix", BHHH's metric. It costs nothing beyond the
    evaluation, is positive semi-definite by construction and, unlike differences of a
    gradient known to the inner problems' noise floor, does not get noisier as the cohort
    grows; it is the information only near the optimum of a model that fits."""
    G = np.asarray(grads)[np.asarray(ok)]
    return 0.5 * G.T @ G


def _inverse(H: np.ndarray) -> np.ndarray | None:
    """H^-1 when H is finite and positive definite, else None."""
    if not np.all(np.isfinite(H)):
        return None
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.inv(H)


def _newton_decrease(H: np.ndarray, g: np.ndarray) -> float:
    """g' H^-1 g / 2, the decrease Newton's step promises; NaN unless H is positive
    definite (then the point is no minimum, or the data do not fix every direction)."""
    Hinv = _inverse(H)
    return math.nan if Hinv is None else 0.5 * float(g @ Hinv @ g)


def convergence_note(result: PopulationResult) -> str:
    """One line on whether, and why not, a population fit reached its optimum."""
    if result.converged:
        return (f"converged: Newton's step from the estimates promises a decrease of -2 log L "
                f"of {result.newton_decrease:.3g}, below its resolution "
                f"{result.objective_resolution:.3g}")
    if not math.isfinite(result.newton_decrease):
        return ("not converged: the Hessian of -2 log L at the estimates is not positive "
                "definite (not a minimum, or the data do not fix every parameter; if a "
                "random effect's SD is near 0, try start='pooled', --population-start pooled)")
    return (f"not converged: Newton's step from the estimates still promises a decrease of "
            f"-2 log L of {result.newton_decrease:.3g}, above its resolution "
            f"{result.objective_resolution:.3g}; raise max_steps, or try more starts")


def _pooled_start(phi0: np.ndarray, data: Data, pp: PopulationProblem, noise: NoiseSpec,
                  seed: int, report) -> np.ndarray:
    """`phi0` with its population values moved to a naive pooled fit's (every subject
    sharing every estimated parameter; 4 Sobol starts within the default bounds, preset
    x/÷ 10). The noise SDs, covariate effects and omegas keep their starts: a pooled
    fit's noise SD holds the between-subject spread too. Its warnings are not shown (that
    the subjects differ more than the noise allows is why the population fit runs)."""
    from ._fit import FitWarning, fit

    names = pp.random + pp.fixed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        pooled = fit(data, names, noise=noise, n_starts=4, seed=seed, max_steps=60,
                     progress=report)
    start = np.array(phi0, float)
    start[:len(names)] = [pooled.stored[n] for n in names]
    return start


def _minimise(fg, x0: np.ndarray, eta0, max_steps: int, gtol: float, ftol: float, report,
              hinv: np.ndarray | None = None, stage: str = "fitting"):
    """BFGS with a backtracking (Armijo, quadratic interpolation) line search on the
    exact gradient. `fg(x, eta0) -> (value, grad, out)`; the inner optima of the last
    accepted point warm-start the next. Steps are capped at `MAX_OUTER_STEP` per
    coordinate; a failed subject raises the objective, so the search steps back.

    The objective is known only to about `ftol` (the inner problems' noise floor summed
    over subjects): it stops once the quasi-Newton step promises less than half `ftol`,
    and a line search stops backtracking once a step would promise less than `ftol` (its
    trials would compare noise; each is a whole cohort's evaluation). Whether the point
    it stops at is the optimum, `fit_population` checks with the Hessian behind the SEs.
    `hinv`: the inverse Hessian to start from (else that of the subjects' outer product
    of gradients at `x0`, or a scaled identity where it is singular); `stage`: the
    progress stage its steps are reported under. Returns x, f, g,
    the evaluation's outputs at x, the steps and the evaluations taken."""
    x = np.asarray(x0, float)
    f, g, out = fg(x, eta0)
    n_eval, P = 1, x.size
    if hinv is None:
        hinv = _inverse(outer_product_hessian(out["grads"], out["ok"]))
    scaled = hinv is not None
    Hinv = hinv if scaled else np.eye(P) / max(1.0, float(np.max(np.abs(g))))
    it = 0
    for it in range(1, max_steps + 1):  # noqa: B007 - `it` is reported
        p = -Hinv @ g
        if not g @ p < 0:
            Hinv = np.eye(P) / max(1.0, float(np.max(np.abs(g))))
            p = -Hinv @ g
        big = float(np.max(np.abs(p)))
        if big > MAX_OUTER_STEP:
            p = p * (MAX_OUTER_STEP / big)
        slope, t, accepted = float(g @ p), 1.0, False
        # Half the resolution, so that the check of the optimum with the Hessian behind
        # the SEs (fit_population) finds it below the resolution, not on its edge.
        if scaled and -0.5 * slope < 0.5 * ftol:  # once BFGS has measured the curvature
            break
        for _ in range(30):
            if -t * slope < ftol:
                break
            fn, gn, outn = fg(x + t * p, out["eta"])
            n_eval += 1
            if np.isfinite(fn) and fn <= f + 1e-4 * t * slope:
                accepted = True
                break
            curv = fn - f - t * slope
            t_new = -slope * t * t / (2.0 * curv) if np.isfinite(fn) and curv > 0 else 0.1 * t
            t = float(np.clip(t_new, 0.1 * t, 0.5 * t))
        if not accepted:
            break
        s, y = t * p, gn - g
        sy = float(s @ y)
        if sy > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
            if not scaled:
                Hinv = np.eye(P) * sy / float(y @ y)
                scaled = True
            rho = 1.0 / sy
            V = np.eye(P) - rho * np.outer(s, y)
            Hinv = V @ Hinv @ V.T + rho * np.outer(s, s)
        f_old = f
        x, f, g, out = x + s, fn, gn, outn
        if report is not None:
            report(stage, it, max_steps)
        if float(np.max(np.abs(g))) < gtol or (
                f_old - f <= 1e-10 * (1.0 + abs(f)) and float(np.max(np.abs(s))) < 1e-6):
            break
    return x, f, g, out, it, n_eval


def _se_table(names, phi, cov, pp: PopulationProblem):
    """Estimates, SEs and 95% intervals of the reported quantities from phi and its
    covariance (delta method; intervals symmetric on the stored scale, on the log scale
    for SDs, on Fisher's z for correlations)."""
    se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    rows = []
    R = pp.n_random
    for i, n in enumerate(names):
        if n.startswith("chol:"):
            continue
        th, s = float(phi[i]), float(se[i])
        if n.startswith("omega:") or n.startswith("sigma:"):
            kind = "omega" if n.startswith("omega:") else "noise"
            est = math.exp(th)
            with np.errstate(over="ignore"):  # an SE of hundreds on the log scale: inf, not
                low, high = (float(np.exp(th + d)) for d in (-Z95 * s, Z95 * s))  # OverflowError
            rows.append((n, kind, est, est * s, low, high, th, s, "log"))
        elif "~" in n:
            rows.append((n, "covariate", th, s, th - Z95 * s, th + Z95 * s, th, s, "none"))
        else:
            t = parameter_transform(n)
            est = float(t.to_physical(th))
            rows.append((n, "population", est, float(t.physical_se(est, s)),
                         float(t.to_physical(th - Z95 * s)), float(t.to_physical(th + Z95 * s)),
                         th, s, t.name))
    if pp.covariance == "full" and R > 1:
        nm = pp.n_model

        def corr(w):
            L = omega_cholesky(w, R, True)
            O = L @ L.T
            d = jnp.sqrt(jnp.diag(O))
            return (O / d[:, None] / d[None, :])[np.tril_indices(R, -1)]

        w = jnp.asarray(phi[nm:])
        c, Jc = np.asarray(corr(w)), np.asarray(jax.jacfwd(corr)(w))
        cov_c = Jc @ cov[nm:, nm:] @ Jc.T
        for m, (a, b) in enumerate(zip(*np.tril_indices(R, -1), strict=True)):
            s = math.sqrt(max(float(cov_c[m, m]), 0.0)) if np.isfinite(cov_c[m, m]) else math.nan
            z = math.atanh(float(np.clip(c[m], -0.999999, 0.999999)))
            sz = s / max(1.0 - float(c[m]) ** 2, 1e-12)
            rows.append((f"corr:{pp.random[b]}:{pp.random[a]}", "corr", float(c[m]), s,
                         math.tanh(z - Z95 * sz), math.tanh(z + Z95 * sz), float(c[m]), s,
                         "none"))
    return rows


def _observation_count(data: Data) -> int:
    events = int(np.asarray(data.event_mask).sum()) if data.any_events else 0
    return int(np.asarray(data.mask).sum()) + events


def fit_population(
    data,
    random: Sequence[str],
    *,
    estimate: Sequence[str] = (),
    covariates: Sequence[str] = (),
    covariance: str = "diagonal",
    noise: NoiseSpec = None,
    n_starts: int = 1,
    seed: int = 0,
    max_steps: int = 100,
    progress: Progress | bool | None = None,
    align: str = "cascade",
    preset_version: str | None = None,
    gtol: float = 1e-3,
    rtol: float | None = None,
    atol: float | None = None,
    devices: int | None = None,
    chunk_subjects: int | None = None,
    sharding: str = "shard_map",
    se: str = "auto",
    start: str = "preset",
) -> PopulationResult:
    """Fit a mixed-effects population model by Laplace / FOCE-I (module docstring).

    **Arguments:**
    - `data`: the frame `read_measurements` returned (needed for covariates), or a `Data`.
    - `random`: parameters with a random effect per subject (log-normal between subjects
      for a log parameter); their population values are estimated.
    - `estimate`: further parameters estimated as fixed effects, shared by all subjects.
    - `covariates`: `NAME~COLUMN` effects of a data column on an estimated parameter's
      stored value: categorical (one-hot against the most common level) or numeric
      (centred).
    - `covariance`: "diagonal" (independent random effects) or "full" (correlated).
    - `noise`: each observable's noise model, as for `fit`; noise SDs of observables whose
      rows give none are estimated.
    - `n_starts`, `seed`: the first start is the population values of `start` (below),
      omega 0.3 and the default noise SDs; further starts move each mu by up to x/÷ 2 (seeded).
    - `max_steps`: outer BFGS steps per start. `gtol`: stop when every component of the
      gradient of -2 log L is below it.
    - `progress`: as for `fit`. `align`, `preset_version`: as for `make_data` (a frame
      only, None: the latest; a `Data` carries its own, and another `preset_version` is
      an error).
    - `rtol`, `atol`: the ODE solver's tolerances (default `simulate`'s). The objective
      jumps by about rtol x |residuals| where the adaptive step sequence changes, which
      bounds how far finite differences (and line searches) can resolve it.
    - `devices`: how many of `jax.devices()` share the subjects (None: all), each
      running its own subjects' inner problems; the sums reduce across devices.
      `sharding`: "shard_map" (default, the faster in benchmarks/RESULTS.md) or "named".
    - `chunk_subjects`: evaluate the cohort this many subjects at a time (one compiled
      program, the sums taken on the host), for a cohort whose batch of inner solves
      and second derivatives does not fit in device memory; None: all at once, except
      on the CPU beyond `CPU_CHUNK_SUBJECTS` (2,000), where a single batch can hang.
    The estimates do not depend on `devices` or `chunk_subjects`.
    - `se`: where the standard errors (and the check of the optimum) come from:
      "hessian", the central-difference Hessian of -2 log L (2 x P cohort evaluations;
      NONMEM's R matrix); "opg", the subjects' outer product of gradients (free; the S
      matrix); "auto" (default): the Hessian up to `HESSIAN_MAX_SUBJECTS` subjects, the
      outer product beyond. Where the Hessian is not positive definite the outer product
      gives the SEs and `se_method` says so (the fit is then not "converged").
    - `start`: "preset" (default) starts the population values at the presets; "pooled"
      at a naive pooled fit's estimates (every subject sharing every estimated
      parameter), fitted first. Far from the data, a preset start can end where every
      random effect's SD has collapsed towards 0 and the noise SD has absorbed the
      between-subject spread: a stationary point whose Hessian is not positive definite
      (not "converged"), which more preset-centred starts do not leave. The pooled start
      costs one fixed-effects fit (`benchmarks/RESULTS.md`, 2026-12-05).

    Returns a `PopulationResult`. Subjects that cannot be solved at the optimum are
    counted (`n_failed`), not raised; only a fit whose start fails raises `ALSJaxError`.
    """
    t_start = time.perf_counter()
    data, frame = _as_data(data, align, preset_version, "fit_population")
    if int(n_starts) < 1:
        raise ALSJaxError(f"starts must be >= 1, got {n_starts}")
    if int(max_steps) < 1:
        raise ALSJaxError(f"max_steps must be >= 1, got {max_steps}")
    if se not in SE_METHODS:
        raise ALSJaxError(f"se: expected one of {', '.join(SE_METHODS)}, got {se!r}")
    if start not in STARTS:
        raise ALSJaxError(f"start: expected one of {', '.join(STARTS)}, got {start!r}")
    pp, phi_names, phi0 = make_population(
        data, random, estimate=estimate, covariates=covariates, frame=frame,
        covariance=covariance, noise=noise, rtol=rtol, atol=atol)
    S, R = data.n_subjects, pp.n_random
    if chunk_subjects is None and S > CPU_CHUNK_SUBJECTS and jax.default_backend() == "cpu":
        chunk_subjects = CPU_CHUNK_SUBJECTS
    f64 = jnp.result_type(float)
    eta0 = np.zeros((S, R))
    resolution = objective_resolution(S, rtol)
    if se == "auto":
        se = "hessian" if S <= HESSIAN_MAX_SUBJECTS else "opg"
    with resolve_progress(progress) as report:
        if start == "pooled":
            phi0 = _pooled_start(phi0, data, pp, noise, seed, report)
        if report is not None:
            report("compiling", 0, 0)
        fg, compile_time, n_devices = cohort_evaluator(
            pp, phi0, devices=devices, chunk_subjects=chunk_subjects, sharding=sharding)

        rng = np.random.default_rng(seed)
        E = pp.n_estimated
        best = None
        n_iter = n_eval = 0
        for k in range(int(n_starts)):
            x0 = phi0.copy()
            if k:
                x0[:E] += rng.uniform(-math.log(2.0), math.log(2.0), E)
            x, fx, _, out, it, ne = _minimise(fg, x0, eta0, int(max_steps), gtol,
                                               resolution, report)
            n_iter, n_eval = n_iter + it, n_eval + ne
            key = (int((~out["ok"]).sum()), fx)
            if best is None or key < best[0]:
                best = (key, x, out, it)
        _, x, out, it = best
        # Check the optimum with the Hessian behind the SEs: converged when it is a
        # minimum (the Hessian positive definite) from which Newton's step promises less
        # than the objective's resolution, whatever stopped the optimiser (with "opg",
        # positive semi-definite by construction, only the decrease is checked). If Newton's
        # step still promises more (BFGS stopped early on a badly scaled direction: an
        # omega's curvature can be 100 times below a population value's), BFGS goes on
        # from that Hessian, within the steps left, and the check is repeated.
        steps_left = int(max_steps) - it
        for restart in range(MAX_RESTARTS + 1):
            # The inner problems solved once more from their own optima (the last
            # accepted point was warm-started from the point before).
            _, g_end, out = fg(x, out["eta"])
            n_eval += 1
            if not out["ok"].any():
                raise ALSJaxError("population fit: no subject could be solved at the start; "
                                  "check the data and the estimated parameters")
            H_opg = outer_product_hessian(out["grads"], out["ok"])
            if se == "hessian":
                Hs = _central_hessian(fg, x, out["eta"], report)
                n_eval += 2 * x.size
            else:
                Hs = H_opg
            newton_decrease = _newton_decrease(Hs, g_end)
            if (restart == MAX_RESTARTS or steps_left < 1
                    or not resolution <= newton_decrease < math.inf):
                break
            moved, _, _, out, it, ne = _minimise(
                fg, x, out["eta"], steps_left, gtol, resolution, report,
                hinv=np.linalg.inv(Hs), stage="refining")
            n_iter, n_eval, steps_left = n_iter + it, n_eval + ne, steps_left - it
            if np.array_equal(moved, x):  # no step was accepted: this Hessian stays
                break
            x = moved
    P = x.size
    converged = bool(newton_decrease < resolution)  # False when NaN
    se_method, Hinv = se, _inverse(Hs)
    if Hinv is None and se == "hessian":  # no minimum in every direction
        se_method, Hinv = "opg (the Hessian is not positive definite)", _inverse(H_opg)
    cov = 2.0 * Hinv if Hinv is not None else np.full((P, P), np.nan)
    rows = _se_table(phi_names, x, cov, pp)
    ok = out["ok"]
    n_failed = int((~ok).sum())
    minus2ll = float(np.sum(np.where(ok, out["contributions"], 0.0)))
    n_obs = _observation_count(data)
    nm = pp.n_model
    L = np.asarray(omega_cholesky(jnp.asarray(x[nm:]), R, covariance == "full"))
    omega = L @ L.T
    eta = np.where(ok[:, None], out["eta"], np.nan)
    eta_sd = np.sqrt(np.abs(np.diagonal(out["hinv"], axis1=1, axis2=2)))
    D = np.asarray(jax.vmap(lambda xi: _design(xi, pp))(pp.design))
    q = np.einsum("sqp,p->sq", D, x[:nm])
    names = pp.random + pp.fixed
    individual, stored = {}, {}
    for j, n in enumerate(names):
        th = q[:, j] + (np.nan_to_num(eta[:, j]) if j < R else 0.0)
        stored[n] = th
        individual[n] = np.asarray(parameter_transform(n).to_physical(th))
    shrink = {}
    for j, n in enumerate(pp.random):
        good = eta[ok, j]
        sd = float(np.std(good)) if good.size > 1 else math.nan
        shrink[n] = 1.0 - sd / math.sqrt(omega[j, j])
    params = dataclasses.replace(data.base, **{n: jnp.asarray(stored[n], f64) for n in names})
    sd_all = np.asarray(pp.noise_sd).copy()
    for i, k in enumerate(pp.noise_obs):
        sd_all[k] = math.exp(x[pp.n_estimated + len(pp.covariate_names) + i])
    present = set(np.asarray(data.obs)[np.asarray(data.mask)].tolist())
    return PopulationResult(
        names=tuple(r[0] for r in rows), kinds=tuple(r[1] for r in rows),
        estimates={r[0]: r[2] for r in rows}, std_errors={r[0]: r[3] for r in rows},
        ci_low={r[0]: r[4] for r in rows}, ci_high={r[0]: r[5] for r in rows},
        phi=x, phi_names=phi_names, phi_covariance=cov, omega=omega, random=pp.random,
        fixed=pp.fixed, covariates=pp.covariate_names, covariance=covariance,
        subjects=data.subjects, eta=eta, eta_sd=eta_sd, individual=individual,
        individual_stored=stored, shrinkage=shrink, minus2ll=minus2ll,
        aic=minus2ll + 2 * P, bic=minus2ll + P * math.log(max(n_obs, 1)), n_subjects=S,
        n_observations=n_obs, n_failed=n_failed, failed=~ok,
        inner_converged=np.asarray(out["converged"]), converged=converged,
        newton_decrease=newton_decrease, se_method=se_method,
        objective_resolution=resolution, n_iter=n_iter,
        n_evaluations=n_eval, wall_time=time.perf_counter() - t_start,
        compile_time=compile_time,
        noise={OBSERVABLE_NAMES[k]: m for k, m in enumerate(pp.noise) if k in present},
        noise_sd=sd_all, params=params, data=data, problem=pp, seed=int(seed),
        n_starts=int(n_starts), devices=n_devices,
        chunk_subjects=None if chunk_subjects is None else int(chunk_subjects), start=start,
    )


# --- NUTS on the same hierarchy --------------------------------------------------------------

PRIOR_SD = 2.0
"""SD of the weak normal priors of `sample_population` on phi's coordinates (stored
scale), centred on the Laplace start: wide against what a cohort identifies."""


def population_log_density(phi: Array, z: Array, data: Data, pp: PopulationProblem,
                           prior_mean: Array) -> Array:
    """log p(y, z, phi) of the non-centred hierarchy: eta_i = L z_i, z_i ~ N(0, I),
    y_i | eta_i from the model and noise, phi ~ N(prior_mean, PRIOR_SD^2) per coordinate
    (log SDs for noise and random effects: log-normal priors on the SDs). -inf when a
    solve fails. Reverse-mode differentiable (for NUTS)."""
    L = omega_cholesky(phi[pp.n_model:], pp.n_random, pp.covariance == "full")
    eta = z @ L.T
    params = subject_parameters(phi, eta, data, pp)
    sd = pp.noise_sd
    if pp.noise_obs:
        start = pp.n_estimated + len(pp.covariate_names)
        sd = sd.at[jnp.asarray(pp.noise_obs)].set(jnp.exp(phi[start:start + len(pp.noise_obs)]))
    ll = log_likelihood(params, data, noise=pp.noise, sigma=sd, method="vmap")
    prior = -0.5 * jnp.sum(((phi - prior_mean) / PRIOR_SD) ** 2) - 0.5 * jnp.sum(z**2)
    return ll + prior


def _as_data(data, align: str, preset_version: str | None, caller: str):
    """(`Data`, the frame it was made from or None): a frame is read at `preset_version`
    (None: the latest); a ready `Data` carries its own version, which an explicit other
    `preset_version` would silently not change, so that is a one-line `ALSJaxError`."""
    if isinstance(data, Data):
        if preset_version is not None and preset_version != data.preset_version:
            raise ALSJaxError(f"{caller}: the data were made under preset version "
                              f"{data.preset_version}, not {preset_version}; pass the "
                              f"frame, or make_data(..., preset_version={preset_version!r})")
        return data, None
    return make_data(data, align=align, preset_version=preset_version or LATEST_PRESET), data


def _check_same_problem(init: PopulationResult, data: Data) -> None:
    """`init` must be a fit of these subjects, on this clock, under these presets: its
    estimates start a chain on `data`'s model."""
    fitted = init.data
    if data.preset_version != fitted.preset_version:
        raise ALSJaxError(f"sample_population: init was fitted under preset version "
                          f"{fitted.preset_version}, the data are read under "
                          f"{data.preset_version}; pass preset_version="
                          f"{fitted.preset_version!r} (or leave it out)")
    if data.subjects != fitted.subjects:
        raise ALSJaxError(f"sample_population: init was fitted on other subjects "
                          f"({len(fitted.subjects)}) than these ({len(data.subjects)}); "
                          "fit these first")
    if not np.array_equal(np.asarray(data.onset_aligned), np.asarray(fitted.onset_aligned)):
        raise ALSJaxError("sample_population: init was fitted on another clock; pass the "
                          "align it was fitted with")


def sample_population(
    data,
    random: Sequence[str],
    *,
    estimate: Sequence[str] = (),
    covariates: Sequence[str] = (),
    covariance: str = "diagonal",
    noise: NoiseSpec = None,
    init: PopulationResult | None = None,
    num_warmup: int = 300,
    num_samples: int = 300,
    seed: int = 0,
    align: str = "cascade",
    preset_version: str | None = None,
) -> dict[str, np.ndarray]:
    """Fully Bayesian fit of the `fit_population` hierarchy by NUTS (numpyro), as a
    cross-check of Laplace on cohorts small enough to sample (every subject's z_i is a
    sampled coordinate; non-centred, eta_i = L z_i).

    Priors: normal with SD `PRIOR_SD` on each coordinate of phi (stored scale), centred on
    the Laplace start (presets, omega 0.3, default noise SDs). `init`: a `PopulationResult`
    of the same problem to start the chain at (its phi and empirical Bayes estimates).
    Returns samples keyed like `PopulationResult.estimates` (population values physical,
    `omega:NAME` SDs, `sigma:OBS`, covariate effects, `corr:A:B`), plus `eta` (n, S, R).
    `preset_version`: as for `fit_population`; by default `init`'s, else the latest. A
    chain must sample the model `init` was fitted with: other presets, other subjects or
    another alignment than `init`'s raise an `ALSJaxError`.
    Needs numpyro (`pip install alsjax[bayes]`).
    """
    if preset_version is None and init is not None and not isinstance(data, Data):
        preset_version = init.data.preset_version
    data, frame = _as_data(data, align, preset_version, "sample_population")
    if init is not None:
        _check_same_problem(init, data)
    try:
        from numpyro.infer import MCMC, NUTS
    except ImportError:  # pragma: no cover - optional dependency
        raise ALSJaxError("sample_population needs numpyro: pip install 'alsjax[bayes]'"
                          ) from None
    pp, names, phi0 = make_population(data, random, estimate=estimate, covariates=covariates,
                                      frame=frame, covariance=covariance, noise=noise)
    f64 = jnp.result_type(float)
    prior_mean = jnp.asarray(phi0, f64)
    R = pp.n_random
    if init is not None:
        phi_init = jnp.asarray(init.phi, f64)
        L = omega_cholesky(phi_init[pp.n_model:], R, covariance == "full")
        eta = jnp.asarray(np.nan_to_num(init.eta), f64)
        z_init = jax.scipy.linalg.solve_triangular(L, eta.T, lower=True).T
    else:
        phi_init, z_init = prior_mean, jnp.zeros((data.n_subjects, R), f64)

    def potential(x):
        v = -population_log_density(x["phi"], x["z"], data, pp, prior_mean)
        return jnp.where(jnp.isfinite(v), v, jnp.inf)

    mcmc = MCMC(NUTS(potential_fn=potential, max_tree_depth=6), num_warmup=int(num_warmup),
                num_samples=int(num_samples), progress_bar=False)
    with jax.numpy_dtype_promotion("standard"):  # numpyro mixes int and float arrays
        mcmc.run(jax.random.key(seed), init_params={"phi": phi_init, "z": z_init})
    draws = mcmc.get_samples()
    phis, zs = np.asarray(draws["phi"]), np.asarray(draws["z"])
    out: dict[str, np.ndarray] = {}
    for i, n in enumerate(names):
        if n.startswith(("omega:", "sigma:")):
            out[n] = np.exp(phis[:, i])
        elif "~" in n:
            out[n] = phis[:, i]
        elif not n.startswith("chol:"):
            out[n] = np.asarray(parameter_transform(n).to_physical(phis[:, i]))
    Ls = np.asarray(jax.vmap(lambda p: omega_cholesky(p[pp.n_model:], R,
                                                      covariance == "full"))(draws["phi"]))
    out["eta"] = np.einsum("nsr,nqr->nsq", zs, Ls)
    if covariance == "full" and R > 1:
        O = Ls @ np.swapaxes(Ls, 1, 2)
        d = np.sqrt(np.diagonal(O, axis1=1, axis2=2))
        for a, b in zip(*np.tril_indices(R, -1), strict=True):
            out[f"corr:{pp.random[b]}:{pp.random[a]}"] = O[:, a, b] / d[:, a] / d[:, b]
    return out
