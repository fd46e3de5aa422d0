import os

# numpy's BLAS threads fight each other on small products on a busy 2-core machine (4x the CPU time measured
# in bench/ranking_pure.py); set before numpy is first imported. An explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from .celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
