"""The optimisers, run from every start at once: `run_starts`.

All starts step side by side (`_advance_each`) inside one compiled program that advances
them by a chunk of steps and returns; the Python loop around it calls the next chunk. So
the work is one compiled program whatever the number of steps, progress is reported
between chunks (never from inside compiled code), and Ctrl-C is honoured within a chunk
(about half a second) instead of at the end of the fit. Levenberg-Marquardt on a cohort
solved by `jax.vmap` evaluates every start's trial point in one solve of all their
subjects (`_lm_step_starts`): JAX then batches the solver's loops once, not once over the
subjects and again over the starts (with every Jacobian column of a small fit in one pass,
`_lm_evaluate_starts`, the default fit's program traces in 1.3 s instead of 2.6,
`benchmarks/RESULTS.md`).

Levenberg-Marquardt is written here rather than taken from optimistix, and L-BFGS is
optax's rather than optimistix's, because they are faster: on the default problem (noise
SDs fixed, 4 starts vmapped, `benchmarks/bench_optimistix.py`, 2 shared cores, 2026-12)
`optx.least_squares` with `LevenbergMarquardt` took 1.5-1.8x the warm time and 2.0-2.3x
the cold time (compile 11-15 s against 5.5-5.8 s) to the same optimum, and `optx.LBFGS`
1.6-2.6x the warm time of optax's L-BFGS, against a rule of at most 1.5x warm and no
worse cold. The LM here also sets the estimated noise SDs to their closed form at every
trial point (a variable projection optimistix's least squares has no place for), returns
the Jacobian at the optimum for the Laplace covariance, and parks finished starts on
cheap points.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array

from ._cohort import solves_by_vmap
from ._errors import ALSJaxError
from ._noise import closed_form_sd
from ._problem import FORWARD, Problem, objective, terms, terms_of_sets, to_stored, to_z
from ._programs import compile_options, compile_program, to_device
from ._simulate import DEFAULT_RTOL

Progress = Callable[[str, int, int], None]
"""`progress(stage, done, total)`: called between compiled chunks of work with the steps
done and the total (total 0 while compiling). Stages: "compiling", "fitting", ..."""

# The objective of a fit is known only so finely: where the adaptive solver's step
# sequence changes with the parameters, its value and Jacobian jump by about rtol. A
# Newton decrement (twice the decrease a Gauss-Newton step promises) below this multiple
# of rtol is at that noise floor: further steps compare noise (benchmarks/RESULTS.md,
# 2026-12-03, population fits and per-subject fits).
NOISE_FLOOR_PER_RTOL = 1e3


def noise_floor(rtol: float | None = None) -> float:
    """The Newton decrement below which a fit's objective is noise, at solver tolerance
    `rtol` (None: the default)."""
    return NOISE_FLOOR_PER_RTOL * (DEFAULT_RTOL if rtol is None else rtol)


QUICK_TRAJECTORIES = 32
"""A one-problem fit with at most this many starts x subjects, or a fit of stacked
problems with at most this many (problem, start) tasks, compiles its optimiser loop with
`_programs.compile_options` (XLA's loop emitters on the CPU): its run is a fraction
of its compile, which they shorten by 12-30 % while running 1.2-1.4 times slower
(`benchmarks/bench_emitters.py`). Larger fits run long enough to keep the default."""

CHUNK_SECONDS = 0.4  # aim of one compiled chunk: short enough for a responsive Ctrl-C


@dataclasses.dataclass(frozen=True)
class StartsResult:
    """Every start's end point `z` (unbounded), objective, convergence, steps taken, and
    the weighted residuals there with their Jacobian with respect to the stored values
    (LM; NaN otherwise: the other optimisers never form them)."""

    z: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    steps: np.ndarray
    jacobian: np.ndarray
    compile_time: float
    devices: int = 1  # devices that held the results (the lanes split over them)
    processes: int = 1  # processes owning those devices (`jax.distributed`)
    residuals: np.ndarray | None = None
    run_time: float = 0.0  # seconds running the compiled chunks (compile_time excluded)


# --- Levenberg-Marquardt -----------------------------------------------------------------


def _fitted_values(zf, pb: Problem):
    """The stored values of the fitted quantities (parameters and shifts) at `zf`."""
    nf = pb.n_fit
    return to_stored(jnp.concatenate([zf, jnp.zeros(pb.size - nf)]), pb)[:nf]


def _lm_evaluate(zf, sd_theta, pb: Problem, fixed_fit, fixed_zfit):
    """Residuals, Jacobian (forward mode) and objective at a trial point, with the
    estimated noise SDs at their closed form there (`_with_closed_form_sd`)."""

    def weighted(zf, sd_theta):
        theta_fit = _fitted_values(jnp.where(fixed_fit, fixed_zfit, zf), pb)
        r, norm, ok = terms(jnp.concatenate([theta_fit, sd_theta]), pb, FORWARD)
        return r, (r, norm, ok)

    J, (r, norm, ok) = jax.jacfwd(weighted, has_aux=True)(zf, sd_theta)
    return _with_closed_form_sd(r, J, norm, ok, sd_theta, pb)


def _lm_evaluate_starts(zf, sd_theta, pb: Problem, fixed_fit, fixed_zfit):
    """`_lm_evaluate` of every start (rows of `zf`, `sd_theta`, `fixed_zfit`), their
    solves one cohort (`terms_of_sets`). Column j of every start's Jacobian comes from a
    forward-mode pass with direction j in every row: a start's residuals depend on its
    own row alone. A small problem (`QUICK_TRAJECTORIES` starts x subjects) takes every
    direction in that one pass, each start copied once per direction: its primal solves
    are repeated, but JAX traces no `vmap` over the directions (the default fit's program
    traces 0.6 s and compiles 0.3 s faster; its steps take 8 % longer)."""
    G, nf = zf.shape

    def weighted(zf, sd_theta, fixed_zfit):
        zf = jnp.where(fixed_fit, fixed_zfit, zf)
        theta_fit = jax.vmap(_fitted_values, in_axes=(0, None))(zf, pb)
        return terms_of_sets(jnp.concatenate([theta_fit, sd_theta], axis=1), pb, FORWARD)

    eye = jnp.eye(nf, dtype=zf.dtype)
    if G * pb.data.n_subjects <= QUICK_TRAJECTORIES:
        copies = [jnp.repeat(a, nf, axis=0) for a in (zf, sd_theta, fixed_zfit)]
        (r, norm, ok), (dr, _, _) = jax.jvp(
            lambda z: weighted(z, *copies[1:]), (copies[0],), (jnp.tile(eye, (G, 1)),))
        J = jnp.moveaxis(dr.reshape(G, nf, -1), 1, 2)
        r, norm, ok = r[::nf], norm[::nf], ok[::nf]  # every copy's primal is the same
    else:
        def column(direction):
            out, (dr, _, _) = jax.jvp(lambda z: weighted(z, sd_theta, fixed_zfit), (zf,),
                                      (direction,))
            return dr, out

        directions = jnp.broadcast_to(eye[:, None, :], (nf, G, nf))
        J, (r, norm, ok) = jax.vmap(column, out_axes=(-1, None))(directions)
    return jax.vmap(_with_closed_form_sd, in_axes=(0, 0, 0, 0, 0, None))(
        r, J, norm, ok, sd_theta, pb)


def _with_closed_form_sd(r, J, norm, ok, sd_theta, pb: Problem):
    """Residuals, Jacobian and objective with the estimated noise SDs at their closed
    form; those SDs; and the closed form itself, the SDs the next trial should use.

    The closed form is the same for each observable whatever its noise model (see
    `_noise.py`): rows of observable k are e / s_k with normaliser log s_k, so
    s_k^2 = mean(e^2); those rows are linear in 1/s_k and are rescaled in place. An
    observable with rows below a quantification limit is the exception: their terms,
    log Phi((lloq - f) / s_k), cannot be rescaled, so its rows stay at the SD they were
    evaluated with (the objective is then the one at the point and SDs returned: before,
    it mixed two SDs and reported objectives 4 and 20 below the true ones on two test
    files), and the closed form (from its other rows) is only proposed for the next trial.
    """
    nf = pb.n_fit
    n_res = pb.noise_rows.shape[0]
    k = jnp.asarray(pb.noise_obs, int)
    proposal = sd_theta
    if pb.noise_obs:
        n_k = pb.n_noise_rows[k]
        ms = jnp.sum(jnp.where(pb.noise_rows, r[:n_res, None] ** 2, 0.0), axis=0)[k]
        new = jnp.log(closed_form_sd(ms, jnp.exp(sd_theta), n_k))
        lo, hi = pb.lower[nf:], pb.upper[nf:]
        new = jnp.clip(new, lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo))
        proposal = jnp.where(ok & jnp.isfinite(new), new, sd_theta)
        censored = (pb.data.censored & pb.data.mask).ravel()
        obs = pb.data.obs.ravel()[:, None]
        has_censored = jnp.any(censored[:, None] & (obs == k.astype(obs.dtype)[None, :]), axis=0)
        new = jnp.where(has_censored, sd_theta, proposal)
        factor = jnp.exp(sd_theta - new)
        row = jnp.sum(jnp.where(pb.noise_rows[:, k], factor, 0.0), axis=1)
        row = jnp.where(jnp.any(pb.noise_rows[:, k], axis=1), row, 1.0)
        row = jnp.concatenate([row, jnp.ones(r.shape[0] - n_res)])
        r, J = r * row, J * row[:, None]
        norm = norm + jnp.sum(n_k * (new - sd_theta))
        sd_theta = new
    value = 0.5 * jnp.sum(r**2) + norm
    good = ok & jnp.isfinite(value) & jnp.all(jnp.isfinite(J))
    return r, jnp.where(good, J, 0.0), jnp.where(good, value, jnp.inf), sd_theta, proposal


def _lm_init(z0, pb: Problem, fixed, fixed_z):
    nf, n_out = pb.n_fit, pb.n_residuals
    sd0 = to_stored(z0, pb)[nf:]
    zf0 = jnp.where(fixed[:nf], fixed_z[:nf], z0[:nf])
    f, i = z0.dtype, jnp.int32
    return dict(zc=zf0, rc=jnp.zeros(n_out, f), Jc=jnp.zeros((n_out, nf), f),
                vc=jnp.asarray(jnp.inf, f), sdc=sd0, sdp=sd0, zt=zf0, sdt=sd0,
                lam=jnp.asarray(1e-3, f), n=jnp.asarray(0, i), stop=jnp.asarray(False),
                conv=jnp.asarray(False))


def _lm_step(c, pb: Problem, fixed, fixed_z, lr_scale):
    """One LM step of one start. It evaluates residuals and Jacobian at a trial point
    (the only solve in the loop, so the program compiles one instance of the vector
    field's JVP) and accepts the point if the objective fell; the damping shrinks on
    success and grows on failure."""
    del lr_scale
    nf = pb.n_fit
    evaluated = _lm_evaluate(c["zt"], c["sdt"], pb, fixed[:nf], fixed_z[:nf])
    return _lm_update(c, *evaluated, pb, fixed[:nf])


def _lm_step_starts(c, pb: Problem, fixed, fixed_z, lr_scale):
    """`_lm_step` of every start (rows of `c` and `fixed_z`), their trial points
    evaluated together (`_lm_evaluate_starts`)."""
    del lr_scale
    nf = pb.n_fit
    evaluated = _lm_evaluate_starts(c["zt"], c["sdt"], pb, fixed[:nf], fixed_z[:, :nf])
    return jax.vmap(_lm_update, in_axes=(0, 0, 0, 0, 0, 0, None, None))(
        c, *evaluated, pb, fixed[:nf])


def _lm_update(c, r, J, v, sd, proposal, pb: Problem, fixed_fit):
    """The LM step's decision on an evaluated trial point, and the next one (whose noise
    SDs are the closed form `proposal` at the current point)."""
    nf = pb.n_fit
    accept = v < c["vc"]
    small = accept & (c["vc"] - v <= 1e-10 * (1.0 + jnp.abs(v)))
    zc, rc, Jc, sdc, sdp = jax.tree.map(
        lambda a, b: jnp.where(accept, a, b), (c["zt"], r, J, sd, proposal),
        (c["zc"], c["rc"], c["Jc"], c["sdc"], c["sdp"]))
    vc = jnp.where(accept, v, c["vc"])
    lam = jnp.where(accept, c["lam"] / 3.0, c["lam"] * 4.0)
    g = Jc.T @ rc
    JTJ = Jc.T @ Jc
    A = JTJ + lam * (jnp.diag(jnp.diag(JTJ)) + 1e-9 * jnp.eye(nf, dtype=JTJ.dtype))
    delta = -jnp.linalg.solve(A, g)
    delta = jnp.where(fixed_fit | ~jnp.isfinite(delta), 0.0, delta)
    gnorm = jnp.max(jnp.abs(g))
    # At the noise floor (`noise_floor`) trials are rejected on noise alone;
    # without this stop the damping grew fourfold per rejection until a step was
    # accepted with a negligible gain or the damping passed 1e12.
    dec = g @ jnp.linalg.solve(JTJ + 1e-9 * jnp.eye(nf, dtype=JTJ.dtype), g)
    floor = noise_floor(pb.tolerances[0])
    conv = jnp.isfinite(vc) & (small | (dec < floor) | (gnorm < 1e-8)
                               | (jnp.max(jnp.abs(delta)) < 1e-10))
    n = c["n"] + 1
    stop = conv | ~jnp.isfinite(vc) | (n >= pb.max_steps) | (lam > 1e12)
    # A stopped start keeps evaluating its last trial point until every start stops
    # (`_advance_each`); park it where a solve is cheap (its optimum, or the middle of the
    # bounds when it never had a good point) instead of, say, a stiff failing one.
    zt = jnp.where(stop, jnp.where(jnp.isfinite(vc), zc, 0.0), zc + delta)
    return dict(zc=zc, rc=rc, Jc=Jc, vc=vc, sdc=sdc, sdp=sdp, zt=zt, sdt=sdp, lam=lam, n=n,
                stop=stop, conv=conv)


def _lm_result(c, pb: Problem, fixed, fixed_z):
    nf = pb.n_fit
    z = jnp.concatenate([c["zc"], to_z(jnp.concatenate([jnp.zeros(nf), c["sdc"]]), pb)[nf:]])
    z = jnp.where(fixed, fixed_z, z)
    # Jacobian with respect to the stored values: divide by d stored / d z.
    w = (pb.upper - pb.lower) * jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)
    value = jnp.where(jnp.isfinite(c["vc"]), c["vc"], 1e20)
    return z, value, c["conv"] & (value < 1e20), c["n"], c["Jc"] / w[None, :nf], c["rc"]


# --- L-BFGS and Adam (optax) -----------------------------------------------------------


def _optax(pb: Problem):
    import optax  # here, not at the top: a Levenberg-Marquardt run never loads it

    if pb.optimiser == "lbfgs":
        return optax.lbfgs(memory_size=10)
    schedule = optax.cosine_decay_schedule(0.1, pb.max_steps, alpha=0.01)
    return optax.chain(optax.clip_by_global_norm(10.0), optax.scale_by_adam(),
                       optax.scale_by_schedule(schedule), optax.scale(-1.0))


def _scalar_init(z0, pb: Problem, fixed, fixed_z):
    del fixed, fixed_z
    f, inf = z0.dtype, jnp.asarray(jnp.inf, z0.dtype)
    return dict(z=z0, state=_optax(pb).init(z0), n=jnp.asarray(0, jnp.int32),
                stop=jnp.asarray(False), value=inf, gnorm=jnp.asarray(jnp.inf, f),
                done=jnp.asarray(False))


def _scalar_step(c, pb: Problem, fixed, fixed_z, lr_scale):
    """One L-BFGS (zoom line search) or Adam (cosine schedule, clipped) step of one start.
    The loop ends on an evaluated point, so the objective it keeps is that of `z`."""
    import optax

    opt = _optax(pb)
    f = lambda z: objective(z, pb, fixed, fixed_z)  # noqa: E731
    lbfgs = pb.optimiser == "lbfgs"
    vg = optax.value_and_grad_from_state(f) if lbfgs else jax.value_and_grad(f)

    with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 and int64 indices
        z, state = c["z"], c["state"]
        if lbfgs:
            value, grad = vg(z, state=state)
            updates, new_state = opt.update(grad, state, z, value=value, grad=grad,
                                            value_fn=f)
        else:
            value, grad = vg(z)
            updates, new_state = opt.update(grad, state, z)
            updates = jax.tree.map(lambda u: lr_scale * u, updates)
        gnorm = jnp.linalg.norm(jnp.where(fixed, 0.0, grad))
        small_change = jnp.abs(c["value"] - value) <= 1e-10 * (1.0 + jnp.abs(value))
        done = (gnorm < 1e-6) | (small_change & lbfgs) | (value >= 1e20)
        n = c["n"] + 1
        stop = done | (n >= pb.max_steps)
        z = jnp.where(stop, z, optax.apply_updates(z, updates))
        state = jax.tree.map(lambda a, b: jnp.where(stop, a, b), state, new_state)
        return dict(z=z, state=state, n=n, stop=stop, value=value, gnorm=gnorm, done=done)


def _scalar_result(c, pb: Problem, fixed, fixed_z):
    value = c["value"]
    converged = c["done"] & (value < 1e20)
    if pb.optimiser == "adam":
        # Adam rarely reaches a gradient tolerance; a small final gradient counts.
        converged = converged | ((c["gnorm"] < 1e-2 * (1.0 + jnp.abs(value))) & (value < 1e20))
    no_jac = jnp.full((pb.n_residuals, pb.n_fit), jnp.nan, c["z"].dtype)
    no_res = jnp.full(pb.n_residuals, jnp.nan, c["z"].dtype)
    return jnp.where(fixed, fixed_z, c["z"]), value, converged, c["n"], no_jac, no_res


# --- all starts -----------------------------------------------------------------------


def _methods(pb: Problem):
    if pb.optimiser == "lm":
        return _lm_init, _lm_step, _lm_result
    return _scalar_init, _scalar_step, _scalar_result


def _advance_each(step_rows, carry, args, n_stop):
    """`step_rows(carry, *args)`, a step of every row of `carry` (a leading axis; a
    `jax.vmap` of one row's step, or `_lm_step_starts`), repeated until each row stops or
    has taken `n_stop` (per row, or one for all) steps; a row that is done keeps its carry.

    What `jax.vmap` of a while loop over `step` computes: every row steps until the last
    one is done, and a finished row keeps its carry (the default fit's files are the same
    to the byte either way). Written as one loop over the rows, JAX batches `step` once;
    under `vmap` it batched the loop's body again for each round of deciding which of the
    loop's values vary by row, the solver's own loops inside it each time (a tenth of
    the default fit's trace, `benchmarks/RESULTS.md`).
    """
    def active(c):
        return ~c["stop"] & (c["n"] < n_stop)

    def body(c):
        new = step_rows(c, *args)
        on = active(c)
        return jax.tree.map(
            lambda a, b: jnp.where(on.reshape(on.shape + (1,) * (a.ndim - 1)), a, b), new, c)

    return jax.lax.while_loop(lambda c: jnp.any(active(c)), body, carry)


def _init_starts(z0, pb: Problem, fixed, fixed_z):
    init = _methods(pb)[0]
    return jax.vmap(init, in_axes=(0, None, None, 0))(z0, pb, fixed, fixed_z)


def _advance_starts(carry, pb: Problem, fixed, fixed_z, lr_scale, n_stop):
    """Every start advanced to `n_stop` steps or its end, and the results."""
    _, step, result = _methods(pb)
    if step is _lm_step and solves_by_vmap(pb.method, pb.data.n_subjects):  # one cohort
        step_rows = _lm_step_starts
    else:
        step_rows = jax.vmap(step, in_axes=(0, None, None, 0, None))
    carry = _advance_each(step_rows, carry, (pb, fixed, fixed_z, lr_scale), n_stop)
    out = jax.vmap(result, in_axes=(0, None, None, 0))(carry, pb, fixed, fixed_z)
    return carry, out


def _lane_problems(pb: Problem, problem):
    """The stacked problems' rows for each lane."""
    return jax.tree.map(lambda x: x[problem], pb)


@eqx.filter_jit
def _init_lanes(z0, pb: Problem, fixed, fixed_z, problem):
    init = _methods(pb)[0]
    return jax.vmap(init, in_axes=(0, 0, None, 0))(z0, _lane_problems(pb, problem), fixed,
                                                    fixed_z)


def _advance_lanes(carry, pb: Problem, fixed, fixed_z, lr_scale, problem, n_stop):
    """Each lane (one start of problem `problem[lane]` of the stacked `pb`) advanced to its
    own `n_stop` steps or its end, and the results. One batch: the while loop runs until
    every lane on this device has stopped or reached its `n_stop`."""
    _, step, result = _methods(pb)
    pb = _lane_problems(pb, problem)
    carry = _advance_each(jax.vmap(step, in_axes=(0, 0, None, 0, None)), carry,
                          (pb, fixed, fixed_z, lr_scale), n_stop)
    out = jax.vmap(result, in_axes=(0, 0, None, 0))(carry, pb, fixed, fixed_z)
    return carry, out


_advance_lanes_jit = jax.jit(_advance_lanes)

LANES = 128
"""Starts advanced side by side when problems are stacked (`problem_axis=0`): every start
of every problem waits in a queue and takes a lane when one frees up, between chunks. A
lane costs the same from 64 to 800 of them (1.9 ms per LM step on the 200-subject cohort,
2 shared cores, benchmarks/RESULTS.md), so a fixed width that is filled compiles one
program and spends almost no steps on starts that have already stopped."""

SHARDINGS: tuple[str, ...] = ("shard_map", "named")
"""How the lanes of stacked problems are split over devices: `shard_map` runs each
device's own lanes in its own while loop (no cross-device step); `named` places the
arrays with a `NamedSharding` and lets the compiler partition one program, whose while
loop then waits for the slowest lane on any device at every step
(benchmarks/bench_per_subject.py)."""

_AXIS = "problems"


@functools.lru_cache(maxsize=8)
def _shard_mapped(mesh: Mesh):
    lane, rep = PartitionSpec(_AXIS), PartitionSpec()
    mapped = jax.shard_map(_advance_lanes, mesh=mesh,
                           in_specs=(lane, rep, rep, lane, rep, lane, lane),
                           out_specs=lane, check_vma=False)
    return jax.jit(mapped)


def device_mesh(devices: int | None = None) -> Mesh:
    """A one-axis mesh over the first `devices` of `jax.devices()` (all by default; with
    `jax.distributed.initialize`, the devices of every process)."""
    every = jax.devices()
    n = len(every) if devices is None else int(devices)
    if not 1 <= n <= len(every):
        raise ALSJaxError(f"devices: expected 1 to {len(every)} (the devices JAX sees), "
                          f"got {devices}")
    # Every process runs the same program, so each must hold a part of the mesh.
    least = 1 + max(min(i for i, d in enumerate(every) if d.process_index == p)
                    for p in {d.process_index for d in every})
    if n < least:
        raise ALSJaxError(f"devices: {n} of {len(every)} leave a process without a device; "
                          f"with {jax.process_count()} processes use at least {least}")
    return Mesh(np.asarray(every[:n]), (_AXIS,))


def place_on_mesh(tree, mesh: Mesh, *, replicated: bool = False):
    """Split every array's leading axis over the mesh (`replicated`: a copy on every
    device); each process supplies the shards of its own devices from the same full array
    (`make_array_from_callback`)."""
    sharding = NamedSharding(mesh, PartitionSpec() if replicated else PartitionSpec(_AXIS))

    def put(x):
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda i: host[i])
    return jax.tree.map(put, tree)


def _host(x) -> np.ndarray:
    """A (possibly sharded) array as one NumPy array on this host, from every process."""
    if getattr(x, "is_fully_addressable", True):
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def _same_everywhere(value: int) -> int:
    """Process 0's `value` on every process (`jax.distributed`): each process times its
    own chunks, but all must run the same number of steps to stay in step with each other
    in the gathers and to stop together."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int32(value)))


def run_starts(
    z0: Array,
    pb: Problem,
    *,
    fixed: Array | None = None,
    fixed_z: Array | None = None,
    lr_scale: float = 1.0,
    progress: Progress | None = None,
    stage: str = "fitting",
    problem_axis: int | None = None,
    mesh: Mesh | None = None,
    sharding: str = "shard_map",
    lanes: int = LANES,
) -> StartsResult:
    """Run the optimiser from each row of `z0` (unbounded coordinates) to its end.

    `fixed` (bool per coordinate) holds coordinates at `fixed_z` (per start), as the
    profile likelihood needs. `progress(stage, done, total)` is told the steps done
    after every chunk. Every start of the same problem shape runs one compiled program.

    `problem_axis=0`: `pb` is P problems stacked on a leading axis (every array leaf has
    it; static fields shared) and `z0` is `(P, starts, size)`: every start of every
    problem queues for `lanes` lanes stepped side by side (`LANES`), and every result
    gains the leading axis P. `mesh` (from `device_mesh`) then splits the lanes over its
    devices (`sharding`: see `SHARDINGS`); the estimates depend on neither the number of
    lanes nor of devices.
    """
    z0 = jnp.asarray(z0)
    batched = problem_axis is not None
    if batched and problem_axis != 0:
        raise ALSJaxError(f"problem_axis: only 0 (a leading axis) is supported, got "
                          f"{problem_axis}")
    if mesh is not None and not batched:
        raise ALSJaxError("mesh: only problems stacked on problem_axis=0 are split")
    if sharding not in SHARDINGS:
        raise ALSJaxError(f"sharding: expected one of {', '.join(SHARDINGS)}, got "
                          f"{sharding!r}")
    if int(lanes) < 1:
        raise ALSJaxError(f"lanes: expected at least 1, got {lanes}")
    size = z0.shape[-1]
    fixed = to_device(np.zeros(size, bool) if fixed is None else fixed)
    fixed_z = z0 if fixed_z is None else jnp.asarray(fixed_z)
    lr = to_device(lr_scale, z0.dtype)
    if progress is not None:
        progress("compiling", 0, 0)
    if batched:
        return _run_lanes(z0, pb, fixed, fixed_z, lr, progress, stage, mesh, sharding,
                          int(lanes))
    t0 = time.perf_counter()
    # One problem: exported programs, loaded without tracing on later runs (_programs).
    carry = compile_program(_init_starts, z0, pb, fixed, fixed_z, quick=True)(
        z0, pb, fixed, fixed_z)
    # A small problem's loop runs for a fraction of a second against seconds of compiling
    # (the default fit: 0.15 s against 10), so it compiles the quick way too.
    small = z0.shape[0] * pb.data.n_subjects <= QUICK_TRAJECTORIES
    exe = compile_program(_advance_starts, carry, pb, fixed, fixed_z, lr,
                          to_device(1, np.int32), quick=small, long=True)
    compile_time = time.perf_counter() - t0
    t_run = time.perf_counter()
    total = z0.shape[0] * pb.max_steps
    if progress is not None:  # compiled: the first chunk's steps are the stage's, not this
        progress(stage, 0, total)
    chunk, taken = 1, 0
    while True:
        t0 = time.perf_counter()
        target = to_device(min(taken + chunk, pb.max_steps), np.int32)
        carry, out = exe(carry, pb, fixed, fixed_z, lr, target)
        stop, n = np.asarray(carry["stop"]), np.asarray(carry["n"])
        elapsed = max(time.perf_counter() - t0, 1e-6)
        taken = int(target)
        if progress is not None:
            progress(stage, int(np.where(stop, pb.max_steps, n).sum()), total)
        if stop.all() or taken >= pb.max_steps:
            break
        per_step = elapsed / chunk  # a chunk that ends early stops the loop above
        chunk = int(np.clip(CHUNK_SECONDS / per_step, 1, pb.max_steps))
    z, value, conv, steps, jac, res = (np.asarray(a) for a in out)
    return StartsResult(z=z, objective=value, converged=conv, steps=steps, jacobian=jac,
                        compile_time=compile_time, residuals=res,
                        run_time=time.perf_counter() - t_run)


def _assign(dst, rows, src, src_rows) -> None:
    """`dst[rows] = src[src_rows]` for every leaf of two carries (NumPy, in place)."""
    for a, b in zip(jax.tree.leaves(dst), jax.tree.leaves(src), strict=True):
        a[rows] = b[src_rows]


def _run_lanes(z0, pb: Problem, fixed, fixed_z, lr, progress, stage, mesh, sharding,
               lanes) -> StartsResult:
    """`run_starts` for stacked problems: a queue of (problem, start) tasks on a fixed
    number of lanes, refilled between chunks.

    Starts stop after very different numbers of steps (on the 200-subject cohort: median
    16, maximum 43), and under `vmap` a stopped start still costs a solve at every step of
    the others; stepping every start at once spent two thirds of its solves so. Here a
    lane whose start has stopped takes the next start waiting; once none wait, it follows
    a running start (never a failing point, whose solve runs to the step limit), and its
    results are not read.
    """
    P, N, size = z0.shape
    n_tasks, d = P * N, 1 if mesh is None else mesh.size
    width = -(-min(lanes, n_tasks) // d) * d
    task_problem = np.repeat(np.arange(P), N)
    z_tasks = np.asarray(z0).reshape(n_tasks, size)
    fz_tasks = np.asarray(jnp.broadcast_to(fixed_z, z0.shape)).reshape(n_tasks, size)
    t0 = time.perf_counter()
    init = jax.tree.map(np.asarray, _init_lanes(jnp.asarray(z_tasks), pb, fixed,
                                                jnp.asarray(fz_tasks),
                                                jnp.asarray(task_problem)))
    program = _advance_lanes_jit
    if mesh is not None:
        pb, fixed = place_on_mesh((pb, fixed), mesh, replicated=True)
        if sharding == "shard_map":
            program = _shard_mapped(mesh)

    def put(tree):
        return place_on_mesh(tree, mesh) if mesh is not None else jax.tree.map(jnp.asarray, tree)

    # Lane rows to compile with; the loop fills every lane before the first chunk.
    task, queued = np.full(width, -1), 0
    carry = jax.tree.map(lambda x: x[np.zeros(width, int)], init)
    problem, fz = task_problem[np.zeros(width, int)], fz_tasks[np.zeros(width, int)]
    if mesh is not None:
        # Under jax.distributed the first gather over a set of devices opens its (gloo)
        # group, and waits only 30 s for the other processes; after that a gather waits as
        # long as it takes. Open it now, while the processes are in step, not after a
        # compilation that may take one far longer than another.
        _host(put((problem,))[0])
    # Few tasks: a short run, so the quick way (as `run_starts` for one small problem).
    exe = program.lower(*put((carry,)), pb, fixed, *put((fz,)), lr,
                        *put((problem, np.zeros(width, np.int32)))).compile(
                            compile_options(n_tasks <= QUICK_TRAJECTORIES))
    compile_time = time.perf_counter() - t0
    t_run = time.perf_counter()
    if progress is not None:
        progress(stage, 0, n_tasks * pb.max_steps)
    results, finished, chunk = None, np.zeros(n_tasks, bool), 1
    while True:
        free = np.flatnonzero(task < 0)
        take = free[:n_tasks - queued]
        new = np.arange(queued, queued + take.size)
        queued += take.size
        _assign(carry, take, init, new)
        task[take], problem[take], fz[take] = new, task_problem[new], fz_tasks[new]
        idle = free[take.size:]
        running = np.flatnonzero((task >= 0) & ~carry["stop"])
        if idle.size and running.size:
            # An idle lane follows a running start: the same points, no extra solver steps.
            follow = running[np.arange(idle.size) % running.size]
            _assign(carry, idle, carry, follow)
            problem[idle], fz[idle] = problem[follow], fz[follow]
        t0 = time.perf_counter()
        n_stop = np.minimum(carry["n"] + chunk, pb.max_steps).astype(np.int32)
        c, problem_d, fz_d, n_stop_d = put((carry, problem, fz, n_stop))
        c, out = exe(c, pb, fixed, fz_d, lr, problem_d, n_stop_d)
        carry = jax.tree.map(lambda x: np.array(_host(x)), c)
        held = out[0].sharding.device_set
        out = tuple(_host(a) for a in out)
        elapsed = max(time.perf_counter() - t0, 1e-6)
        if results is None:
            results = tuple(np.zeros((n_tasks,) + a.shape[1:], a.dtype) for a in out)
        done = (task >= 0) & carry["stop"]
        for r, a in zip(results, out, strict=True):
            r[task[done]] = a[done]
        finished[task[done]] = True
        task[done] = -1
        if progress is not None:
            running = int(np.where(task >= 0, carry["n"], 0).sum())
            progress(stage, int(finished.sum()) * pb.max_steps + running,
                     n_tasks * pb.max_steps)
        if finished.all():
            break
        per_step = elapsed / chunk
        chunk = _same_everywhere(int(np.clip(CHUNK_SECONDS / per_step, 1, pb.max_steps)))
    z, value, conv, steps, jac, res = (r.reshape((P, N) + r.shape[1:]) for r in results)
    return StartsResult(z=z, objective=value, converged=conv, steps=steps, jacobian=jac,
                        compile_time=compile_time, devices=len(held),
                        processes=len({d.process_index for d in held}), residuals=res,
                        run_time=time.perf_counter() - t_run)
