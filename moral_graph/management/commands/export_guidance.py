"""python manage.py export_guidance SLUG --out DIR: per context the winning values and guidance block, for model builders."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from deliberation.models import Round
from moral_graph.guidance_services import guidance_export


class Command(BaseCommand):
    help = (
        "Write the guidance of the round's published ranking: per context a JSON and a Markdown file (winning "
        "values, guidance block) and values.jsonl with one line per (context, value, policies, score)."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--out", required=True, help="The directory to write (created if missing).")

    def handle(self, *args, slug: str, out: str, **options):
        round_ = Round.objects.filter(slug=slug).first()
        if round_ is None:
            raise CommandError(f"No round with the slug '{slug}'.")
        try:
            written = guidance_export(round_=round_, out=Path(out))
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write to {out}: {exc}") from exc
        self.stdout.write(f"Wrote {len(written)} files to {out}: {', '.join(p.name for p in written)}")
