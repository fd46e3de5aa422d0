"""python manage.py import_mai_dump DIR --slug SLUG [--votes-before DATE]: a MAI dump into a new closed round."""

from django.core.management.base import BaseCommand, CommandError

from moral_graph.importer import MaiDumpError, mai_dump_import, parse_cutoff


class Command(BaseCommand):
    help = (
        "Load a dump in the format of MAI's 2023 moral-graph release (cases, contexts, canonical cards, users, "
        "demographics, wiser votes) into a new round, closed and private, in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "directory", help="The dump's directory (with cases.json, wiser_votes.json, ...)."
        )
        parser.add_argument("--slug", required=True, help="The new round's slug; it must not exist yet.")
        parser.add_argument(
            "--title", default="", help="The new round's title (default: from the directory)."
        )
        parser.add_argument(
            "--votes-before",
            default=None,
            metavar="DATE",
            help="Keep only votes created before this date or ISO time (UTC), e.g. 2023-10-18.",
        )

    def handle(self, *args, directory: str, slug: str, title: str, votes_before: str | None, **options):
        try:
            cutoff = parse_cutoff(votes_before) if votes_before else None
            summary = mai_dump_import(directory=directory, slug=slug, votes_before=cutoff, title=title)
        except MaiDumpError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Imported into the round '{summary.slug}' (closed, private): {summary.questions} questions, "
            f"{summary.contexts} contexts, {summary.values} values, {summary.participants} participants, "
            f"{summary.stories} stories, {summary.votes} votes ({summary.revisions} answers; "
            f"{summary.replaced_answers} replaced by a later answer of the same participant, "
            f"{summary.votes_after_cutoff} left out by --votes-before)."
        )
