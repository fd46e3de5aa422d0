"""Whether wiser votes agree across groups of voters (e.g. political affiliation): per edge and per winner."""

import numpy as np

from moral_graph.numeric import significant

WISER, NOT_WISER = 0, 1


def voter_group_codes(
    labels: np.ndarray, vote_voter: np.ndarray, n_voters: int
) -> tuple[list[str], np.ndarray]:
    """Group names (sorted) and each voter's group index (-1 when unknown: "" or None) from one label per vote."""
    labels = np.asarray(labels, dtype=object).copy()
    labels[np.equal(labels, None)] = ""
    if len(labels) != len(vote_voter):
        raise ValueError("each voter_groups array must have one label per vote")
    voter_label = np.full(n_voters, "", dtype=object)
    first = np.full(n_voters, -1)
    first[vote_voter[::-1]] = np.arange(len(vote_voter))[::-1]
    seen = first >= 0
    voter_label[seen] = labels[first[seen]]
    if np.any(labels != voter_label[vote_voter]):
        raise ValueError("a voter has more than one label for the same grouping attribute")
    text = np.array([str(label) for label in voter_label.tolist()])
    names, code = np.unique(text, return_inverse=True)
    names = names.tolist()
    if names and names[0] == "":
        return names[1:], code - 1
    return names, code


def edge_groups(
    names: list[str],
    voter_group: np.ndarray,
    vote_voter: np.ndarray,
    vote_story: np.ndarray,
    answer: np.ndarray,
    n_stories: int,
    min_group_voters: int,
) -> tuple[list[dict], np.ndarray]:
    """Per story: {group: wiser, votes, share} and the minimum share over groups with enough voters.

    The minimum is NaN when fewer than two groups have enough voters on the story.
    """
    n_groups = len(names)
    group = voter_group[vote_voter]
    known = group >= 0
    cell = vote_story[known] * n_groups + group[known]
    size = n_stories * n_groups
    votes = np.bincount(cell, minlength=size).reshape(n_stories, n_groups)
    wiser = np.bincount(cell, weights=(answer[known] == WISER), minlength=size).reshape(n_stories, n_groups)
    n_voters = len(voter_group)
    pairs = np.unique(vote_story[known] * n_voters + vote_voter[known])
    voters = np.bincount(
        (pairs // n_voters) * n_groups + voter_group[pairs % n_voters], minlength=size
    ).reshape(n_stories, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = wiser / votes
    enough = voters >= min_group_voters
    qualified = np.where(enough, share, np.inf).min(axis=1, initial=np.inf)
    bridging = np.where(enough.sum(axis=1) >= 2, qualified, np.nan)
    wiser_list, votes_list, share_list = (
        wiser.astype(np.int64).tolist(),
        votes.tolist(),
        significant(share).tolist(),
    )
    per_story = [
        {
            names[g]: {"wiser": wiser_list[s][g], "votes": votes_list[s][g], "share": share_list[s][g]}
            for g in range(n_groups)
            if votes_list[s][g]
        }
        for s in range(n_stories)
    ]
    return per_story, bridging


def winner_endorsement(
    names: list[str],
    voter_group: np.ndarray,
    vote_voter: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    answer: np.ndarray,
    winner: int | None,
    min_group_voters: int,
) -> dict:
    """Within each group, the share of decisive votes on the winner's stories that favour the winner.

    A vote favours the winner when it calls a move to the winner wiser or a move away from it not
    wiser. The winner is endorsed when at least two groups have enough voters on its stories and a
    majority (strictly more than half) of each such group's decisive votes favour it.
    """
    n_groups = len(names)
    if winner is None:
        involved = np.zeros(len(answer), dtype=bool)
    else:
        involved = (src == winner) | (dst == winner)
    group = voter_group[vote_voter]
    mask = involved & (group >= 0)
    favour = ((dst == winner) & (answer == WISER)) | ((src == winner) & (answer == NOT_WISER))
    against = ((dst == winner) & (answer == NOT_WISER)) | ((src == winner) & (answer == WISER))
    n_favour = np.bincount(group[mask], weights=favour[mask], minlength=n_groups)
    n_against = np.bincount(group[mask], weights=against[mask], minlength=n_groups)
    unique_voters = np.unique(vote_voter[mask])
    n_voters = np.bincount(voter_group[unique_voters], minlength=n_groups)
    groups, qualifying, shares = {}, [], []
    for g, name in enumerate(names):
        decisive = n_favour[g] + n_against[g]
        share = significant(n_favour[g] / decisive) if decisive else None
        groups[name] = {
            "favour": int(n_favour[g]),
            "against": int(n_against[g]),
            "voters": int(n_voters[g]),
            "share": share,
        }
        if n_voters[g] >= min_group_voters:
            qualifying.append(name)
            shares.append(share)
    endorsed = len(qualifying) >= 2 and all(share is not None and share > 0.5 for share in shares)
    known_shares = [share for share in shares if share is not None]
    return {
        "winnerEndorsed": bool(endorsed),
        "groupsWithEnoughVoters": qualifying,
        "minShare": min(known_shares) if known_shares else None,
        "groups": groups,
    }
