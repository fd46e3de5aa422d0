"""Rounding of output numbers to a fixed number of significant digits, so that results compare exactly."""

import numpy as np

SIGNIFICANT_DIGITS = 10
_SMALLEST = 1e-200


def significant(x):
    """x rounded to SIGNIFICANT_DIGITS significant digits (magnitudes below 1e-200 become 0)."""
    values = np.asarray(x, dtype=np.float64)
    magnitude = np.abs(values)
    keep = np.isfinite(values) & (magnitude >= _SMALLEST)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exponent = SIGNIFICANT_DIGITS - 1 - np.floor(np.log10(np.where(keep, magnitude, 1.0)))
        up = np.round(values * 10.0 ** np.maximum(exponent, 0)) / 10.0 ** np.maximum(exponent, 0)
        down = np.round(values / 10.0 ** np.maximum(-exponent, 0)) * 10.0 ** np.maximum(-exponent, 0)
    rounded = (
        np.where(keep, np.where(exponent >= 0, up, down), np.where(np.isfinite(values), 0.0, values)) + 0.0
    )
    return float(rounded) if rounded.ndim == 0 else rounded
