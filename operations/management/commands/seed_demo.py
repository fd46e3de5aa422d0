"""python manage.py seed_demo: a realistic demo round, so the report has content on first run."""
from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from deliberation.models import Round
from operations.seed import DEMO_USERNAME, load_demo_data, seed_demo


class Command(BaseCommand):
    help = "Create the demo round (organizer, 40+ simulated participants, cards, votes, a ranking)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any round exists.")
        parser.add_argument("--password", default=None, help="The demo organizer's password (default: random).")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, if_empty: bool, password: str | None, base_url: str, **options):
        slug = load_demo_data()["slug"]
        login_file = settings.VAR_DIR / "demo-login.txt"
        if if_empty and Round.objects.exists():
            self.stdout.write("The database already has rounds; the demo was not seeded again.")
            if login_file.exists():
                self.stdout.write(login_file.read_text(encoding="utf-8"))
            return
        if Round.objects.filter(slug=slug).exists():
            raise CommandError(f"A round with the slug '{slug}' already exists.")
        # Seeding runs every task in-process, whatever the broker, so the demo is complete when this ends.
        previous = current_app.conf.task_always_eager
        current_app.conf.task_always_eager = True
        try:
            round_, password = seed_demo(password=password)
        finally:
            current_app.conf.task_always_eager = previous
        base = base_url.rstrip("/")
        join = base + reverse("frontend:join", args=[round_.slug, round_.join_token])
        report = base + reverse("frontend:report", args=[round_.slug])
        summary = (
            f"Organizer login: {DEMO_USERNAME} / {password}  ({base}/login/)\n"
            f"Participant link: {join}\n"
            f"Report: {report}\n"
        )
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        login_file.write_text(summary, encoding="utf-8")
        login_file.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Seeded the demo round '{round_.title}'."))
        self.stdout.write(summary)
