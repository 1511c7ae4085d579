"""Scrambled Sobol' points in NumPy: `sobol(n, d, seed)`, the same numbers as
`scipy.stats.qmc.Sobol(d, scramble=True, seed=seed).random(n)` without importing
scipy.stats (0.7 s of the command line's start-up, for a dozen numbers).

The sequence (Bratley and Fox 1988, ACM TOMS 14:88) with the Joe-Kuo direction numbers
(search criterion D(6), read from the table scipy ships), scrambled as scipy does it:
a random lower-triangular binary matrix per dimension multiplies every direction number
over GF(2) (linear matrix scrambling), then a random digital shift, both drawn from
`numpy.random.default_rng(seed)` in scipy's order. 30 bits, so up to 2^30 points.
`tests/test_sobol.py` checks the identity against scipy over dimensions, sizes and seeds.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

BITS = 30


@functools.cache
def _joe_kuo() -> tuple[np.ndarray, np.ndarray] | None:
    """(primitive polynomials, initial direction numbers) per dimension, from the table
    inside the installed scipy (found without importing it); None if it is not there."""
    spec = importlib.util.find_spec("scipy")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "stats" / "_sobol_direction_numbers.npz"
        if path.is_file():
            with np.load(path) as table:
                return table["poly"].astype(np.int64), table["vinit"].astype(np.int64)
    return None


def _direction_numbers(d: int, poly: np.ndarray, vinit: np.ndarray) -> np.ndarray:
    """(d, BITS) direction numbers as BITS-bit integers: row i, column j holds
    m_{j+1} * 2^(BITS-1-j), the recurrence
    m_j = m_{j-s} ^ (m_{j-s} << s) ^ XOR_{k<s} a_k (m_{j-k} << k) for the degree-s
    polynomial with inner coefficients a_k; the first dimension is all ones."""
    v = np.ones((d, BITS), np.int64)
    for i in range(1, d):
        p = int(poly[i])
        s = p.bit_length() - 1
        m = [int(x) for x in vinit[i, :s]]
        for j in range(s, BITS):
            new = m[j - s] ^ (m[j - s] << s)
            for k in range(1, s):
                if (p >> (s - k)) & 1:
                    new ^= m[j - k] << k
            m.append(new)
        v[i] = m[:BITS]
    return v << (BITS - 1 - np.arange(BITS))


def _scrambled(v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Linear matrix scrambling and the digital shift: (scrambled direction numbers,
    shift), both (d, ...) integers of BITS bits."""
    d = v.shape[0]
    shift_bits = rng.integers(0, 2, size=(d, BITS), dtype=np.uint32).astype(np.int64)
    lower = np.tril(rng.integers(0, 2, size=(d, BITS, BITS), dtype=np.uint32))
    lower = lower.astype(np.int64)
    lower[:, np.arange(BITS), np.arange(BITS)] = 1
    msb_first = BITS - 1 - np.arange(BITS)  # bit position of the i-th binary digit
    digits = (v[..., None] >> msb_first) & 1  # (d, column, digit)
    new_digits = np.einsum("dpi,dji->djp", lower, digits) & 1
    scrambled = (new_digits << msb_first).sum(axis=-1)
    shift = (shift_bits << np.arange(BITS)).sum(axis=-1)
    return scrambled, shift


def sobol(n: int, d: int, seed: int) -> np.ndarray:
    """`n` points of the `d`-dimensional scrambled Sobol' sequence in [0, 1): an (n, d)
    float64 array, equal to scipy's `qmc.Sobol(d, scramble=True, seed=seed).random(n)`
    (which this falls back to if scipy's direction-number table is not found)."""
    table = _joe_kuo()
    if table is None or not 1 <= d <= len(table[0]) or not 1 <= n <= 2**BITS:
        import warnings

        from scipy.stats import qmc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance needs n = 2^k; fine
            return qmc.Sobol(d, scramble=True, seed=seed).random(n)
    v, shift = _scrambled(_direction_numbers(d, *table), np.random.default_rng(seed))
    # Gray-code order: point i+1 flips the direction number of i's lowest zero bit.
    k = np.arange(n - 1)
    flip = np.zeros(n - 1, np.int64)
    rest = k.copy()
    while np.any(rest & 1):
        flip += rest & 1
        rest = np.where(rest & 1, rest >> 1, 0)
    steps = v[:, flip].T  # (n - 1, d)
    points = np.bitwise_xor.accumulate(np.vstack([shift[None, :], steps]), axis=0)
    return points.astype(np.float64) * 2.0**-BITS
