"""Entry point of a test worker: `celery worker`, with one ranking slowed down when WISER_TEST_RANK_DELAY is set.

The delay is a test-only hook installed here, outside the product: it lets a test kill the worker while a
ranking is surely in progress. Forked pool processes inherit the patch; only the first ranking of the worker
(across its processes, through an exclusive flag file) waits, so the recovery after a kill runs at full speed.
"""

import os
import sys
import time


def _slow_first_ranking(seconds: float, flag: str) -> None:
    from moral_graph import ranking

    original = ranking.rank_context

    def slow_rank_context(**kwargs):
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return original(**kwargs)
        time.sleep(seconds)
        return original(**kwargs)

    ranking.rank_context = slow_rank_context


if __name__ == "__main__":
    delay = float(os.environ.get("WISER_TEST_RANK_DELAY", "0") or 0)
    if delay:
        _slow_first_ranking(delay, os.environ["WISER_TEST_RANK_DELAY_FLAG"])
    from config.celery import app

    app.worker_main(["worker", *sys.argv[1:]])
