"""The benchmark problem, shared by every method: draws, output times, loss, solvers."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import alsjax
from alsjax._simulate import augmented_field
from alsjax._therapy import no_therapy

# Rates spread over one decade (log-uniform around the sporadic preset). Misfolding,
# aggregation and cytokine release are left out: their upper decade drives a few per cent
# of draws into a collapse that no explicit solver finishes (nor is it a fit's regime).
VARY = (
    "clearance_rate", "aggregate_seed", "proteostasis_saturation", "ros_clearance",
    "mito_repair", "mito_aggregate_damage", "apoptosis_activation", "apoptotic_death_rate",
    "glia_toxicity", "microglia_activation", "phenotype_switch_rate", "switch_threshold",
    "nfl_clearance",
)
YEARS = 10
N_TIMES = 20
RTOL, ATOL = 1e-6, 1e-9


def output_times() -> jnp.ndarray:
    """20 output days over 10 years of disease (t = 0 is the cascade's start)."""
    return jnp.linspace(365.0 * YEARS / N_TIMES, 365.0 * YEARS, N_TIMES)


def base_params(n: int) -> alsjax.Params:
    base = alsjax.default_params("sporadic")
    dtype = jnp.result_type(float)
    return jax.tree.map(lambda a: jnp.full((n,), np.asarray(a), dtype), base)


def offsets(n: int, seed: int = 0) -> np.ndarray:
    """Log-offsets, uniform over one decade: shape (n, len(VARY))."""
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (n, len(VARY))) * np.log(10.0)


def with_offsets(base: alsjax.Params, theta) -> alsjax.Params:
    """The batch `base` with stored (log) values of VARY moved by `theta` (n, len(VARY))."""
    moved = {k: getattr(base, k) + theta[:, j] for j, k in enumerate(VARY)}
    return dataclasses.replace(base, **moved)


def loss_of_states(ys):
    """Per-trajectory loss (sum of squared states): what the gradients differentiate."""
    return jnp.sum(ys**2, axis=(-1, -2))


# --- the JAX methods: forward (theta -> states) and gradient (theta -> d sum loss) ---

def batch_forward(n: int, gradient: str = "forward"):
    base, ts = base_params(n), output_times()

    def run(theta):
        sol = alsjax.simulate_batch(with_offsets(base, theta), ts, rtol=RTOL, atol=ATOL,
                                    gradient=gradient)
        return sol.ys, sol.success, sol.num_steps

    return run


def vmap_forward(n: int):
    base, ts = base_params(n), output_times()
    one = jax.vmap(lambda p: alsjax.simulate(p, ts, rtol=RTOL, atol=ATOL))

    def run(theta):
        sol = one(with_offsets(base, theta))
        return sol.ys, sol.success, sol.num_steps

    return run


def gradient(forward):
    def run(theta):
        return jax.grad(lambda th: jnp.sum(loss_of_states(forward(th)[0])))(theta)

    return run


METHODS = {
    "simulate_batch": batch_forward,
    "simulate_batch(reverse)": lambda n: batch_forward(n, "reverse"),
    "vmap(simulate)": vmap_forward,
}


# --- the vector field for scipy ---

def _packed(t, y, rates):
    """`augmented_field` with the physical rates packed in one vector (one argument to pass)."""
    return augmented_field(t, y, (dict(zip(alsjax.PARAMETER_NAMES, rates, strict=True)),
                             no_therapy()))


_field = jax.jit(_packed)
_jacobian = jax.jit(jax.jacfwd(_packed, argnums=1))


def numpy_field(theta_row: np.ndarray):
    """(f, jac, y0) of one parameter set for scipy: the same `augmented_field` vector field that
    simulate integrates, jitted once, called with NumPy arrays (about 13 us a call; passing
    the rates as a 56-leaf dict instead costs ~240 us of pytree handling per call and would
    handicap scipy five-fold)."""
    p = jax.tree.map(lambda a: a[0], with_offsets(base_params(1), jnp.asarray(theta_row)[None]))
    physical = alsjax.physical(p)
    rates = np.asarray([physical[k] for k in alsjax.PARAMETER_NAMES])
    y0 = np.concatenate([np.asarray(alsjax.initial_state(p)), np.zeros(3)])
    return (
        lambda t, y: np.asarray(_field(t, y, rates)),
        lambda t, y: np.asarray(_jacobian(t, y, rates)),
        y0,
    )
