"""python manage.py guidance SLUG "situation": the guidance of a round's published ranking for one situation.

With --evaluate FILE (JSON lines of {"situation", "context"}, context null where none should match) it routes
every situation by embedding similarity and prints how often routing was right.
"""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from core.text import clean_text
from deliberation.models import Round
from moral_graph import guidance
from moral_graph.guidance_services import (
    SITUATION_MAX_LENGTH,
    guidance_answer,
    guidance_index,
    guidance_route,
)


class Command(BaseCommand):
    help = (
        "Route a situation to the round's context and print its winning values and guidance block "
        "(the published ranking), or evaluate routing on a labelled JSONL file."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("situation", nargs="?", help="The situation to route.")
        parser.add_argument("--json", action="store_true", help="Print the answer as the API gives it.")
        parser.add_argument(
            "--offline", action="store_true", help="Route by embeddings only, never the model."
        )
        parser.add_argument("--evaluate", metavar="FILE", help="Evaluate routing on a labelled JSONL file.")
        parser.add_argument(
            "--subset",
            choices=["all", "even", "odd"],
            default="all",
            help="With --evaluate: all lines, or the even (0, 2, ...) or odd lines only.",
        )
        parser.add_argument("--threshold", type=float, help="With --evaluate: the similarity cut-off to use.")

    def handle(self, *args, slug: str, situation: str | None, evaluate: str | None, **options):
        round_ = Round.objects.filter(slug=slug).first()
        if round_ is None:
            raise CommandError(f"No round with the slug '{slug}'.")
        try:
            if evaluate:
                self._evaluate(round_, Path(evaluate), options["subset"], options["threshold"])
                return
            if situation is None:
                raise CommandError('Give a situation to route, e.g. guidance SLUG "The user is panicking".')
            answer = guidance_answer(round_=round_, situation=situation, use_model=not options["offline"])
        except ValidationError as exc:
            raise CommandError(" ".join(m for ms in exc.message_dict.values() for m in ms)) from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2))
        else:
            self._print(answer)

    def _print(self, answer: dict) -> None:
        closest = answer["closest"]
        if not answer["matched"]:
            self.stdout.write(f"No match. {answer['message']}")
            if closest:
                self.stdout.write(
                    f"Closest context: {closest['name']} (similarity {closest['similarity']:.3f}, "
                    f"threshold {answer['threshold']:.2f})."
                )
            return
        for position, context in enumerate(answer["contexts"]):
            label = "Matched" if position == 0 else "Also close"
            confidence = (
                "" if context["confidence"] is None else f", model confidence {context['confidence']:.2f}"
            )
            self.stdout.write(
                f"{label}: {context['name']} (similarity {context['similarity']:.3f}{confidence}; "
                f"support: {context['support']})"
            )
        self.stdout.write("Winning values:")
        for value in answer["contexts"][0]["values"]:
            low, high = value["scoreInterval"]
            self.stdout.write(
                f"  {value['title']}: score {value['score']:.3f} (95% interval {low:.3f}-{high:.3f}), "
                f"rank {value['rankInterval'][0]}-{value['rankInterval'][1]}"
            )
        self.stdout.write("")
        self.stdout.write(answer["guidance"])

    def _evaluate(self, round_: Round, path: Path, subset: str, threshold: float | None) -> None:
        try:
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            rows = [json.loads(line) for line in lines]
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        if subset != "all":
            rows = rows[0 if subset == "even" else 1 :: 2]
        situations = [
            clean_text(r.get("situation"), field="situation", max_length=SITUATION_MAX_LENGTH, multiline=True)
            for r in rows
        ]
        expected = [r.get("context") for r in rows]
        index = guidance_index(round_=round_)
        routings = guidance_route(index=index, situations=situations, use_model=False, threshold=threshold)
        figures = guidance.routing_figures(routings, index.contexts, expected)
        best = [r.closest.topic_similarity if r.closest else 0.0 for r in routings]
        on_topic = [b for b, e in zip(best, expected, strict=True) if e is not None]
        off_topic = [b for b, e in zip(best, expected, strict=True) if e is None]
        figures["lowestOnTopicSimilarity"] = min(on_topic, default=None)
        figures["highestOffTopicSimilarity"] = max(off_topic, default=None)
        figures["threshold"] = routings[0].threshold if routings else index.threshold
        figures["calibratedThreshold"] = guidance.calibrated_threshold(
            best, [e is not None for e in expected]
        )
        figures["embeddingSpace"] = index.space
        figures["subset"] = subset
        self.stdout.write(json.dumps(figures, indent=2))
