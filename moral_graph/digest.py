"""A fingerprint of one context's ranking inputs, so that a context whose inputs did not change keeps its result.

Pure: numpy and the standard library. `inputs_digest` covers everything `rank_context` reads (values, votes in
their order, impressions, group labels), the method, the resamples, and the ranking code itself (the source of
the modules that compute a result), so a deploy that changes the ranking never reuses an older result.
"""

import hashlib
from functools import cache
from pathlib import Path

import numpy as np

from moral_graph.bridging import label_codes

# The modules whose code decides a context's result (ranking.py and what it imports).
RANKING_MODULES = ("ranking.py", "bradley_terry.py", "bridging.py", "pagerank.py", "numeric.py")


@cache
def ranking_code_digest() -> str:
    """A digest of the ranking modules' source: a changed line of the ranking gives a different digest."""
    h = hashlib.blake2b(digest_size=16)
    folder = Path(__file__).resolve().parent
    for name in RANKING_MODULES:
        h.update(name.encode() + b"\0")
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def _array(h, name: str, values, dtype) -> None:
    array = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    h.update(f"{name}:{array.dtype.str}:{array.shape}:".encode())
    h.update(array.tobytes())


def inputs_digest(data: dict, *, method: str, n_boot: int) -> str:
    """The digest of one context's `rank_context` arguments (`initial_scores` aside: a warm start changes the
    result only within the fit's tolerance, and the snapshot records the one it used)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"code={ranking_code_digest()};method={method};n_boot={n_boot};".encode())
    _array(h, "values", data["value_ids"], np.int64)
    _array(h, "voter", data["voter"], np.int64)
    _array(h, "src", data["src"], np.int64)
    _array(h, "dst", data["dst"], np.int64)
    _array(h, "answer", data["answer"], np.int8)
    _array(h, "impressions", np.asarray(data["impressions"], dtype=np.int64).reshape(-1, 3), np.int64)
    for key in sorted(data.get("voter_groups") or {}):
        # The same digest for labels as text and as bridging.Labels.
        names, codes = label_codes(data["voter_groups"][key])
        h.update(f"group:{key}:".encode())
        h.update("\0".join(names).encode() + b"\1")
        _array(h, "codes", codes, np.int64)
    return h.hexdigest()
