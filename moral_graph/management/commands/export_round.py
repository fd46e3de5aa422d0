"""python manage.py export_round SLUG --format json|csv|graphml --out PATH: the current published ranking."""

from django.core.management.base import BaseCommand, CommandError

from deliberation.models import Round
from moral_graph.exports import (
    ExportError,
    export_build,
    export_write_csv,
    export_write_graphml,
    export_write_json,
)


class Command(BaseCommand):
    help = (
        "Export the round's current published ranking: JSON (recomputable with verify_export), a directory of "
        "CSV files, or the pooled moral graph as GraphML."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--format", required=True, choices=["json", "csv", "graphml"])
        parser.add_argument("--out", required=True, help="The file to write (for csv: a directory).")

    def handle(self, *args, slug: str, format: str, out: str, **options):
        round_ = Round.objects.filter(slug=slug).first()
        if round_ is None:
            raise CommandError(f"No round with the slug '{slug}'.")
        try:
            data = export_build(round_=round_)
            if format == "json":
                written = [export_write_json(data, out)]
            elif format == "csv":
                written = export_write_csv(data, out)
            else:
                written = [export_write_graphml(data, out)]
        except (ExportError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        if round_.ranking_dirty_since is not None:
            self.stderr.write(
                "Votes changed after this ranking was computed; the export is the published run "
                f"(watermark {data['parameters']['watermark']}). Run rank_round for a newer one."
            )
        self.stdout.write(
            f"Exported run {data['parameters']['runId']} ({data['parameters']['method']}, watermark "
            f"{data['parameters']['watermark']}): {len(data['values'])} values, {len(data['edges'])} edges, "
            f"{len(data['votes'])} votes -> {', '.join(str(p) for p in written)}"
        )
