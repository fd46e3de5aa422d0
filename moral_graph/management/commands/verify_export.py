"""python manage.py verify_export PATH: recompute a JSON export's ranking from its own votes, without the database."""

from django.core.management.base import BaseCommand, CommandError

from moral_graph.exports import ExportError, export_load, export_verify


class Command(BaseCommand):
    help = (
        "Recompute the rankings and edge statistics of a JSON export from the votes it contains and compare "
        "them value by value; the last line is MATCH or MISMATCH n, and a mismatch exits non-zero."
    )
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("path", help="A file written by export_round --format json.")

    def handle(self, *args, path: str, **options):
        try:
            report = export_verify(export_load(path))
        except (ExportError, KeyError, TypeError, ValueError) as exc:
            raise CommandError(f"Cannot verify {path}: {exc}") from exc
        for line in report.lines:
            self.stdout.write(line)
        self.stdout.write(f"{report.values_checked} values and {report.edges_checked} edges checked")
        if report.mismatches:
            self.stdout.write(f"MISMATCH {report.mismatches}")
            raise SystemExit(1)
        self.stdout.write("MATCH")
