"""python manage.py rank_round SLUG [--method NAME]: rank a round now and print each context's top values."""

import time

from django.core.management.base import BaseCommand, CommandError

from deliberation.models import Round
from moral_graph import ranking, selectors
from moral_graph.services import ranking_compute

TOP = 3


class Command(BaseCommand):
    help = "Recompute and publish a round's ranking now, then print the top values of every context."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--method",
            default=None,
            help=f"One of {', '.join(ranking.ALL_METHODS)} (default: the round's setting).",
        )

    def handle(self, *args, slug: str, method: str | None, **options):
        round_ = Round.objects.filter(slug=slug).first()
        if round_ is None:
            raise CommandError(f"No round with the slug '{slug}'.")
        method = method or round_.ranking_method
        if method not in ranking.ALL_METHODS:
            raise CommandError(
                f"Unknown ranking method '{method}'; choose one of {', '.join(ranking.ALL_METHODS)}."
            )
        n_contexts = len(selectors.context_value_ids(round_id=round_.pk))
        watermark = selectors.round_watermark(round_id=round_.pk)
        self.stdout.write(f"[1/3] {round_.slug}: {n_contexts} contexts, votes up to revision {watermark}")
        self.stdout.write(f"[2/3] ranking with {method} (bootstrap over voters)...")
        started = time.monotonic()
        run = ranking_compute(round_id=round_.pk, method=method, fanout=False)
        if run is None:
            raise CommandError(
                "Another ranking computation of this round is running; try again when it ends."
            )
        self.stdout.write(
            f"[3/3] published run {run.pk} at watermark {run.watermark} in {time.monotonic() - started:.1f} s"
        )
        self._print_top(run)

    def _print_top(self, run) -> None:
        from cards.models import CanonicalValue

        snapshots = selectors.snapshots_of(run=run)
        ids = {v["valueId"] for s in snapshots for v in s.results.get("values", [])[:TOP]}
        titles = dict(CanonicalValue.objects.filter(pk__in=ids).values_list("pk", "title"))
        question = None
        for snapshot in snapshots:
            if snapshot.question_id != question:
                question = snapshot.question_id
                self.stdout.write(f"\n{snapshot.question.text}")
            result = snapshot.results
            name = snapshot.context.name if snapshot.context else "All contexts"
            self.stdout.write(
                f"  {name} — {result.get('support', '')}, {result.get('nVotes', 0)} votes by "
                f"{result.get('nVoters', 0)} participants"
            )
            if not result.get("nVotes"):
                continue
            for item in result.get("values", [])[:TOP]:
                low, high = item["scoreInterval"]
                rank_low, rank_high = item["rankInterval"]
                self.stdout.write(
                    f"    {item['rank']}. {titles.get(item['valueId'], item['valueId'])}: score {item['score']:.4f} "
                    f"[{low:.4f}, {high:.4f}], rank {rank_low}–{rank_high}"
                )
