"""Time the pure ranking (rank_context over every context of a round) on the benchmarks' round, without a database.

The round is bench/ranking.py's (round_plan.planned: 20 contexts, ring-like neighbour stories with their
reverses, 10 votes per participant, one grouping attribute), turned into rank_context's arguments in numpy
as ranking_results would pass them; method bt, 200 resamples. The parent generates the round and saves the
inputs; each measurement runs in a fresh child that loads them and ranks every context, so its RSS
high-water mark (VmHWM, read by the child itself) covers the inputs, as in a worker, and the ranking, but
not the generation. Figures are the pure ranking, not end to end (bench/ranking.py measures that).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ranking_pure.py [--size 3M] [--repeat 2]
    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ranking_pure.py --growth [--sizes 0.3M,1M,3M,10M]
    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ranking_pure.py --size 3M --check-dense 3
    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ranking_pure.py --size 3M --bootstrap auto,voters
--bootstrap measures each named bootstrap in turn on the same inputs (decision 50: "auto", the default, takes the
multiplier bootstrap in contexts of 20,000 voters or more; "voters" resamples voters everywhere, as before it).
--check-dense N also ranks the first N contexts with the dense fit that the sparse one replaced
(tests/moral_graph/bradley_terry_dense.py) and prints the largest differences.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from round_plan import GROWTH, context_inputs, load_average, peak_rss_mb, planned, scale_of

ROOT = Path(__file__).resolve().parent.parent
LABELS = np.array(["Left", "Right", "Centre", ""], dtype=object)
PHASES = {
    "moral_graph.ranking": [
        "_prepare",
        "_prepared_edge_counts",
        "_resampled_counts",
        "_multiplier_scores",
        "_posterior_draws",
        "_value_rows",
        "_edge_rows",
    ],
    "moral_graph.bradley_terry": ["fit", "bootstrap"],
    "moral_graph.bridging": ["edge_groups", "winner_endorsement"],
}


def save_inputs(inputs: list[dict], path: Path) -> None:
    """The per-context inputs as one .npz (labels as codes into LABELS)."""
    arrays = {}
    for c, context in enumerate(inputs):
        arrays[f"{c}_value_ids"] = np.asarray(context["value_ids"], dtype=np.int64)
        for key in ("voter", "src", "dst", "answer"):
            arrays[f"{c}_{key}"] = context[key]
        arrays[f"{c}_impressions"] = np.asarray(context["impressions"], dtype=np.int64).reshape(-1, 3)
        party = context["voter_groups"]["party"]
        arrays[f"{c}_party"] = _codes(party)
    np.savez(path, n_contexts=len(inputs), **arrays)


def _codes(labels: np.ndarray) -> np.ndarray:
    code = np.full(len(labels), len(LABELS) - 1, dtype=np.int8)
    for i, label in enumerate(LABELS[:-1]):
        code[labels == label] = i
    return code


def load_inputs(path: Path) -> list[dict]:
    """The inputs saved by save_inputs, as rank_context's keyword arguments."""
    data = np.load(path)
    return [
        {
            "value_ids": data[f"{c}_value_ids"].tolist(),
            "voter": data[f"{c}_voter"],
            "src": data[f"{c}_src"],
            "dst": data[f"{c}_dst"],
            "answer": data[f"{c}_answer"],
            "impressions": data[f"{c}_impressions"].tolist(),
            "voter_groups": {"party": LABELS[data[f"{c}_party"]]},
        }
        for c in range(int(data["n_contexts"]))
    ]


def _wrap_phases(cpu: dict) -> None:
    import importlib

    for module_name, names in PHASES.items():
        module = importlib.import_module(module_name)
        for name in names:
            original = getattr(module, name)
            label = f"{module_name.split('.')[-1]}.{name}"

            def timed(*args, _original=original, _label=label, **kwargs):
                started = time.process_time()
                try:
                    return _original(*args, **kwargs)
                finally:
                    cpu[_label] = cpu.get(_label, 0.0) + time.process_time() - started

            setattr(module, name, timed)


def measure(path: Path, method: str, n_boot: int, bootstrap: str = "auto") -> dict:
    """In a fresh process: load the inputs, rank every context, return wall, CPU, phases and own peak RSS."""
    from moral_graph.ranking import rank_context

    inputs = load_inputs(path)
    rank_context(**inputs[0], method=method, n_boot=2, seed=1)  # imports and first-call costs
    input_peak = peak_rss_mb()
    cpu_phases: dict[str, float] = {}
    _wrap_phases(cpu_phases)
    load_before = load_average()
    wall, cpu = time.perf_counter(), time.process_time()
    results = [
        rank_context(**context, method=method, n_boot=n_boot, seed=1, bootstrap=bootstrap) for context in inputs
    ]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "after_loading_mb": input_peak,
        "load_before": load_before,
        "load_after": load_average(),
        "phases": cpu_phases,
        "edges": sum(len(r["edges"]) for r in results),
        "supports": sorted({r["support"] for r in results}),
    }


def check_dense(path: Path, n_contexts: int, method: str, n_boot: int) -> None:
    """Rank the first contexts with the sparse fit and with the dense reference; print the largest differences."""
    sys.path.insert(0, str(ROOT / "tests" / "moral_graph"))
    import bradley_terry_dense

    from moral_graph import bradley_terry, ranking

    for c, context in enumerate(load_inputs(path)[:n_contexts]):
        results = []
        for module in (bradley_terry, bradley_terry_dense):
            ranking.bradley_terry = module
            started = time.process_time()
            result = ranking.rank_context(**context, method=method, n_boot=n_boot, seed=1)
            results.append((result, time.process_time() - started))
        (sparse, sparse_cpu), (dense, dense_cpu) = results
        rows = {row["valueId"]: row for row in dense["values"]}
        score = max(abs(r["score"] - rows[r["valueId"]]["score"]) for r in sparse["values"])
        relative = max(
            abs(r["score"] - rows[r["valueId"]]["score"]) / max(rows[r["valueId"]]["score"], 1e-300)
            for r in sparse["values"]
        )
        interval = max(
            abs(a - b)
            for r in sparse["values"]
            for a, b in zip(r["scoreInterval"], rows[r["valueId"]]["scoreInterval"], strict=True)
        )
        same_ranks = all(
            r["rank"] == rows[r["valueId"]]["rank"]
            and r["rankInterval"] == rows[r["valueId"]]["rankInterval"]
            for r in sparse["values"]
        )
        print(
            f"  context {c}: sparse vs dense fit: scores differ by at most {score:.1e} (relative {relative:.1e}),"
            f" score intervals by {interval:.1e}; ranks and rank intervals identical: {same_ranks};"
            f" CPU {sparse_cpu:.2f} s vs {dense_cpu:.2f} s",
            flush=True,
        )
    ranking.bradley_terry = bradley_terry


def _child(path: Path, method: str, n_boot: int, bootstrap: str = "auto") -> dict:
    command = [
        sys.executable, __file__, "--measure", str(path), "--method", method, "--boot", str(n_boot),
        "--bootstrap", bootstrap,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"The measuring process failed ({done.returncode}).")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prepare_size(scale: dict, directory: Path) -> tuple[Path, dict]:
    """Generate the round at this scale and save its inputs; returns the file and the round's counts."""
    started = time.perf_counter()
    plan = planned(scale)
    inputs = context_inputs(plan)
    path = directory / f"round-{scale['votes']}.npz"
    save_inputs(inputs, path)
    counts = {
        "votes": sum(len(c["answer"]) for c in inputs),
        "values": scale["values"],
        "per_context": scale["values"] // scale["contexts"],
        "stories": scale["stories"],
        "participants": scale["participants"],
        "contexts": len(inputs),
        "generated_seconds": time.perf_counter() - started,
    }
    return path, counts


def _line(counts: dict, run: dict) -> str:
    return (
        f"pure ranking: {run['wall']:.2f} s wall, {run['cpu']:.2f} s CPU; own peak RSS {run['peak_rss_mb']:.0f} MB"
        f" (after loading the inputs {run['after_loading_mb']:.0f} MB); load average {run['load_before']:.1f}"
        f" -> {run['load_after']:.1f} on {os.cpu_count()} cores"
    )


def main() -> int:
    """Generate, measure in fresh children, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1M", help=f"One of {', '.join(GROWTH)} (default %(default)s).")
    parser.add_argument("--contexts", type=int, default=20)
    parser.add_argument("--method", default="bt")
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="Measurements of each size (fresh child each).")
    parser.add_argument(
        "--growth", action="store_true", help="Measure each of --sizes; print the growth table."
    )
    parser.add_argument("--sizes", default="0.3M,1M,3M,10M")
    parser.add_argument("--check-dense", type=int, default=0, help="Compare N contexts with the dense fit.")
    parser.add_argument(
        "--bootstrap", default="auto", help="Comma-separated bootstraps to measure in turn (default %(default)s)."
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.method, args.boot, args.bootstrap)))
        return 0
    print(
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '1 (set for the children)')};"
        f" method {args.method}, {args.boot} resamples; {args.contexts} contexts; bootstrap {args.bootstrap}",
        flush=True,
    )
    table = []
    with tempfile.TemporaryDirectory(prefix="wiser-bench-") as directory:
        for name in args.sizes.split(",") if args.growth else [args.size]:
            path, counts = _prepare_size(scale_of(name, args.contexts), Path(directory))
            print(
                f"{name}: {counts['votes']:,} votes ranked, {counts['values']:,} values"
                f" ({counts['per_context']:,} per context), {counts['stories']:,} stories,"
                f" {counts['participants']:,} participants (generated in {counts['generated_seconds']:.1f} s)",
                flush=True,
            )
            for _ in range(args.repeat):
                for bootstrap in args.bootstrap.split(","):
                    run = _child(path, args.method, args.boot, bootstrap)
                    table.append((counts, bootstrap, run))
                    print(f"  bootstrap {bootstrap}: " + _line(counts, run), flush=True)
                    print(
                        "    CPU by phase: "
                        + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in run["phases"].items()),
                        flush=True,
                    )
            if args.check_dense:
                check_dense(path, args.check_dense, args.method, args.boot)
            path.unlink()
    if args.growth:
        print("| votes | values/context | bootstrap | wall | CPU | own peak RSS | load |")
        print("|---|---|---|---|---|---|---|")
        for counts, bootstrap, run in table:
            print(
                f"| {counts['votes']:,} | {counts['per_context']:,} | {bootstrap} | {run['wall']:.2f} s |"
                f" {run['cpu']:.2f} s |"
                f" {run['peak_rss_mb']:.0f} MB | {run['load_before']:.1f}-{run['load_after']:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
