"""The two bootstraps of decision 50 on MAI's real votes (../shared/eval/mai-dft-2023), which we did not write.

Run from the project root: .venv/bin/python bench/bootstrap_mai.py [--data ../shared/eval/mai-dft-2023]

MAI's contexts have tens to a few hundred voters, below MULTIPLIER_MIN_VOTERS, so Wiser resamples voters there;
this forces each bootstrap on every context to show how far apart they are on real, small, lopsided data (the
reason for the threshold). Each context's votes are the latest answer of each user on each transition (as the
importer keeps them), ranked with `bt`, 200 resamples: the voters' bootstrap (seed 1) as the reference, the
multiplier (seed 3) and the voters' bootstrap again (seed 2, what chance alone moves). No database.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "mai-dft-2023"
ANSWERS = {"upgrade": 0, "no_upgrade": 1, "not_sure": 2}


def contexts(data: Path) -> dict[str, dict]:
    """rank_context's arguments per context: each user's latest answer on each transition."""
    latest: dict[tuple, dict] = {}
    for vote in sorted(json.loads((data / "wiser_votes.json").read_text()), key=lambda v: v["createdAt"]):
        latest[(vote["contextId"], vote["userId"], vote["fromId"], vote["toId"])] = vote
    rows: dict[str, list] = {}
    for (context, user, src, dst), vote in latest.items():
        rows.setdefault(context, []).append((user, src, dst, ANSWERS[vote["relationship"]]))
    result = {}
    for context, votes in sorted(rows.items()):
        voter, src, dst, answer = (np.array(column, dtype=np.int64) for column in zip(*votes, strict=True))
        result[context] = {
            "value_ids": sorted(set(src.tolist()) | set(dst.tolist())),
            "voter": voter,
            "src": src,
            "dst": dst,
            "answer": answer,
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from moral_graph.ranking import rank_context

    print("| context | voters | values | rank-interval ends moved, mean: multiplier / voters, another seed |"
          " support: voters / multiplier / another seed | P(top) of the winner: voters / multiplier / another seed |")
    print("|---|---|---|---|---|---|")
    moved: dict[str, list[int]] = {"multiplier": [], "another seed": []}
    for name, data in contexts(args.data).items():
        runs = {
            "voters": rank_context(**data, seed=1, bootstrap="voters"),
            "multiplier": rank_context(**data, seed=3, bootstrap="multiplier"),
            "another seed": rank_context(**data, seed=2, bootstrap="voters"),
        }
        reference = {row["valueId"]: row["rankInterval"] for row in runs["voters"]["values"]}
        means = []
        for key in moved:
            ends = [
                abs(end - reference[row["valueId"]][i])
                for row in runs[key]["values"]
                for i, end in enumerate(row["rankInterval"])
            ]
            moved[key] += ends
            means.append(f"{np.mean(ends):.2f}")
        supports = " / ".join(run["support"] for run in runs.values())
        tops = " / ".join(f"{run['pTop']:.3f}" for run in runs.values())
        print(
            f"| {name} | {runs['voters']['nVoters']} | {len(data['value_ids'])} | {' / '.join(means)} |"
            f" {supports} | {tops} |",
            flush=True,
        )
    print(
        "all contexts, rank-interval ends moved, mean: "
        + " / ".join(f"{key} {np.mean(ends):.2f}" for key, ends in moved.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
