"""Whether wiser votes agree across groups of voters (e.g. political affiliation): per edge and per winner."""

from dataclasses import dataclass

import numpy as np

from moral_graph.numeric import distinct, significant

WISER, NOT_WISER = 0, 1


@dataclass(frozen=True, eq=False)
class Labels:
    """One label per vote, already factorised: names[codes[i]] is vote i's label ("" when unknown).

    What selectors.voter_groups passes: a round's answers are factorised once, so a context's labels are never
    turned into text per vote, nor factorised again (which took 0.4 s of a 3M-vote ranking). names are distinct.
    """

    names: tuple[str, ...]
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def text(self) -> np.ndarray:
        """The labels as text, one per vote."""
        return np.asarray(self.names, dtype=str)[np.asarray(self.codes, dtype=np.int64)]


def label_codes(labels) -> tuple[list[str], np.ndarray]:
    """The distinct labels that occur (sorted, as text) and each label's index among them: np.unique's answer
    for an array of labels, the same answer for Labels without turning them into text."""
    if not isinstance(labels, Labels):
        names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        return names.tolist(), codes.ravel()
    codes = np.asarray(labels.codes, dtype=np.int64)
    present = np.flatnonzero(np.bincount(codes, minlength=len(labels.names)))
    names = [str(labels.names[c]) for c in present.tolist()]
    order = sorted(range(len(names)), key=names.__getitem__)
    remap = np.full(len(labels.names), -1, dtype=np.int64)
    remap[present[order]] = np.arange(len(order))
    return [names[i] for i in order], remap[codes]


def _voter_labels(labels: np.ndarray, vote_voter: np.ndarray, n_voters: int) -> tuple[np.ndarray, np.ndarray]:
    """Which voters voted, and each one's label (at their first vote), checked against their other votes."""
    first = np.full(n_voters, -1)
    first[vote_voter[::-1]] = np.arange(len(vote_voter))[::-1]
    seen = first >= 0
    voter_label = labels[first[seen]]
    if np.any(labels != voter_label[(np.cumsum(seen) - 1)[vote_voter]]):
        raise ValueError("a voter has more than one label for the same grouping attribute")
    return seen, voter_label


def _group_codes(names: list[str], seen: np.ndarray, code: np.ndarray, n_voters: int) -> tuple[list[str], np.ndarray]:
    """The group names without "" (unknown), and each voter's code into them (-1 unknown or not voting)."""
    shift = 1 if names and names[0] == "" else 0
    voter_code = np.full(n_voters, -1, dtype=np.int64)
    voter_code[seen] = code - shift
    return names[shift:], voter_code


def voter_group_codes(
    labels: "np.ndarray | Labels", vote_voter: np.ndarray, n_voters: int
) -> tuple[list[str], np.ndarray]:
    """Group names (sorted) and each voter's group index (-1 when unknown: "" or None) from one label per vote.

    Labels are taken once per voter (at the voter's first vote) and checked against the voter's other
    votes in one vectorised comparison: a string array never becomes a Python string per vote, and Labels
    (already factorised) never become text at all.
    """
    if len(labels) != len(vote_voter):
        raise ValueError("each voter_groups array must have one label per vote")
    if isinstance(labels, Labels):
        if len(set(labels.names)) != len(labels.names):
            raise ValueError("a Labels' names must be distinct")
        names, codes = label_codes(labels)
        seen, voter_code = _voter_labels(codes, vote_voter, n_voters)
        return _group_codes(names, seen, voter_code, n_voters)
    labels = np.asarray(labels)
    if labels.dtype == object:
        labels = np.where(np.equal(labels, None), "", labels)
    seen, voter_label = _voter_labels(labels, vote_voter, n_voters)
    if labels.dtype == object:
        # Python objects (strings or anything else, named by their text): codes through a dictionary of the
        # few distinct labels; converting each to text and sorting those cost three times as much.
        voter_labels = voter_label.tolist()
        text = {label: str(label) for label in dict.fromkeys(voter_labels)}
        names = sorted(set(text.values()))
        position = {name: i for i, name in enumerate(names)}
        code_of = {label: position[name] for label, name in text.items()}
        code = np.fromiter(map(code_of.__getitem__, voter_labels), dtype=np.int64, count=len(voter_labels))
    else:
        # A numpy array of text or numbers: sorted in numpy, faster here.
        names, code = np.unique(voter_label.astype(str), return_inverse=True)
        names, code = names.tolist(), code.ravel()
    return _group_codes(names, seen, code, n_voters)


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
    pairs = distinct(vote_story[known] * n_voters + vote_voter[known])
    voters = np.bincount(
        (pairs // n_voters) * n_groups + voter_group[pairs % n_voters], minlength=size
    ).reshape(n_stories, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = wiser / votes
    enough = voters >= min_group_voters
    qualified = np.where(enough, share, np.inf).min(axis=1, initial=np.inf)
    bridging = np.where(enough.sum(axis=1) >= 2, qualified, np.nan)
    # One dict per (story, group) cell with votes, built from flat columns: a Python loop per cell is
    # the cost here, not the arithmetic.
    story_of, group_of = np.nonzero(votes)
    cells = zip(
        story_of.tolist(),
        np.asarray(names, dtype=object)[group_of].tolist(),
        wiser[story_of, group_of].astype(np.int64).tolist(),
        votes[story_of, group_of].tolist(),
        significant(share[story_of, group_of]).tolist(),
        strict=True,
    )
    per_story: list[dict] = [{} for _ in range(n_stories)]
    for story, name, n_wiser, n_votes, group_share in cells:
        per_story[story][name] = {"wiser": n_wiser, "votes": n_votes, "share": group_share}
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
    unique_voters = distinct(vote_voter[mask])
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
