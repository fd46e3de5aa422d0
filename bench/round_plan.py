"""The benchmarks' synthetic round as numpy arrays, and the per-context inputs of rank_context built from it.

bench/ranking.py writes the round into PostgreSQL by COPY and times ranking_compute end to end;
bench/ranking_pure.py turns the same round into rank_context's arguments in numpy, as ranking_results
would pass them (merged values resolved, hidden stories and loops left out, impressions from assignments),
and times the pure ranking alone.
"""

import os
import resource

import numpy as np

ANSWERS = ("wiser", "not_wiser", "not_sure")
PARTIES = ("Left", "Right", "Centre")

# The growth table of issue 16: votes, values, stories, participants (20 contexts; 10 votes per participant,
# 10 stories per value, so values per context grow with the votes).
GROWTH = {
    "0.3M": (300_000, 3_000, 30_000, 30_000),
    "1M": (1_000_000, 10_000, 100_000, 100_000),
    "3M": (3_000_000, 30_000, 300_000, 300_000),
    "10M": (10_000_000, 100_000, 1_000_000, 1_000_000),
}


def scale_of(name: str, contexts: int = 20) -> dict:
    """A named size of the growth table as a scale dict."""
    votes, values, stories, participants = GROWTH[name]
    return {
        "values": values,
        "contexts": contexts,
        "stories": stories,
        "votes": votes,
        "participants": participants,
    }


def peak_rss_mb() -> float:
    """This process's own resident-set high-water mark, in MB.

    Read from /proc/self/status (VmHWM, the peak of this process's address space). getrusage's ru_maxrss
    is not the child's own: Linux carries the parent's high-water mark across fork and exec, so a child
    started by a parent that held 800 MB reports at least 800 MB (checked on this machine).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> float:
    """The one-minute load average (0 where the system has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def planned(scale: dict, seed: int = 7) -> dict:
    """The synthetic round as numpy arrays: values per context, neighbour stories with reverses, votes."""
    rng = np.random.default_rng(seed)
    n_values, n_contexts = scale["values"], scale["contexts"]
    per_context = n_values // n_contexts
    value_context = np.minimum(np.arange(n_values) // per_context, n_contexts - 1)
    pairs_per_context = scale["stories"] // (2 * n_contexts)
    src, dst, ctx = [], [], []
    for c in range(n_contexts):
        members = np.flatnonzero(value_context == c)
        k = len(members)
        reach = -(-pairs_per_context // k)
        if reach >= (k + 1) // 2:
            raise SystemExit("Too many stories for the values per context.")
        a = np.tile(np.arange(k), reach)[:pairs_per_context]
        b = (a + np.repeat(np.arange(1, reach + 1), k)[:pairs_per_context]) % k
        src += [members[a], members[b]]
        dst += [members[b], members[a]]
        ctx += [np.full(2 * len(a), c)]
    story_src, story_dst, story_ctx = np.concatenate(src), np.concatenate(dst), np.concatenate(ctx)
    n_stories = len(story_src)
    hidden = rng.random(n_stories) < 0.01
    merged = rng.random(n_values) < 0.01
    # A merged value goes into its neighbour in the same context (so some stories become loops).
    merge_target = np.where(
        value_context[np.minimum(np.arange(n_values) + 1, n_values - 1)] == value_context,
        np.arange(n_values) + 1,
        np.arange(n_values) - 1,
    )
    merged &= ~merged[np.clip(merge_target, 0, n_values - 1)]
    n_participants = scale["participants"]
    per_participant = -(-scale["votes"] // n_participants)
    step = n_stories // (per_participant + 1) + 7
    if per_participant * step >= n_stories + step:
        raise SystemExit("Too many votes per participant for the stories.")
    voter = np.repeat(np.arange(n_participants), per_participant)[: scale["votes"]]
    base = rng.integers(0, n_stories, n_participants)
    slot = np.tile(np.arange(per_participant), n_participants)[: scale["votes"]]
    story = (base[voter] + slot * step) % n_stories
    # A planted order: moving to a value later in its context is judged wiser more often.
    upward = story_dst[story] > story_src[story]
    draw = rng.random(len(story))
    p_wiser = np.where(upward, 0.6, 0.35)
    answer = np.where(draw < p_wiser, 0, np.where(draw < p_wiser + 0.2, 2, 1))
    extra = rng.random(n_participants) < 0.1
    extra_story = (base + per_participant * step) % n_stories
    party = rng.integers(0, len(PARTIES) + 1, n_participants)  # the last code: no answer
    return {
        "value_context": value_context,
        "merged": merged,
        "merge_target": merge_target,
        "story_src": story_src,
        "story_dst": story_dst,
        "story_ctx": story_ctx,
        "hidden": hidden,
        "voter": voter,
        "story": story,
        "answer": answer,
        "extra_voter": np.flatnonzero(extra),
        "extra_story": extra_story[extra],
        "party": party,
    }


def context_inputs(plan: dict) -> list[dict]:
    """rank_context's keyword arguments per context, as ranking_results builds them from the database."""
    n_values = len(plan["value_context"])
    target = np.where(plan["merged"], np.clip(plan["merge_target"], 0, n_values - 1), np.arange(n_values))
    src, dst = target[plan["story_src"]], target[plan["story_dst"]]
    usable = ~plan["hidden"] & (src != dst)
    story = plan["story"]
    keep = usable[story]
    vote_story, voter, answer = story[keep], plan["voter"][keep], plan["answer"][keep]
    assigned = np.concatenate([story, plan["extra_story"]])
    shown = np.bincount(assigned, minlength=len(src)) * usable
    labels = np.array([*PARTIES, ""], dtype=object)
    context_of_vote = plan["story_ctx"][vote_story]
    order = np.argsort(context_of_vote, kind="stable")
    bounds = np.searchsorted(context_of_vote[order], np.arange(plan["story_ctx"].max() + 2))
    inputs = []
    for c in range(len(bounds) - 1):
        rows = order[bounds[c] : bounds[c + 1]]
        s = vote_story[rows]
        placed = np.flatnonzero((plan["value_context"] == c) & ~plan["merged"])
        seen = np.flatnonzero((plan["story_ctx"] == c) & (shown > 0))
        inputs.append(
            {
                "value_ids": np.union1d(placed, np.union1d(src[s], dst[s])).tolist(),
                "voter": voter[rows],
                "src": src[s],
                "dst": dst[s],
                "answer": answer[rows],
                "impressions": list(
                    zip(src[seen].tolist(), dst[seen].tolist(), shown[seen].tolist(), strict=True)
                ),
                "voter_groups": {"party": labels[plan["party"][voter[rows]]]},
            }
        )
    return inputs
