"""Builders for test data, going through the same services as the product."""
import factory
from django.contrib.auth import get_user_model

from cards.services import card_submit, dedup_place_card
from deliberation.models import OrganizerRole, Participant, Round, Stage
from deliberation.services import participant_join, round_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


CONTEXTS = ["When the user is in distress", "When the user is making a big decision"]

# Four value families, three articulations each: what deduplication should merge and keep apart.
FAMILIES = {
    "autonomy": [
        ("Her own decision", "Helping a person reach a choice that is truly their own.",
         ["OPPORTUNITIES for her to hear her own inner voice", "CHOICES she can own without pressure from others",
          "QUESTIONS that help her notice what she already wants"]),
        ("Respecting personal choice", "Supporting someone to decide for themselves without pushing them.",
         ["MOMENTS when she discovers what she truly wants", "CHOICES made free from outside pressure",
          "QUESTIONS that let her find her own answer"]),
        ("Owning the choice", "Letting a person arrive at a decision that belongs to them.",
         ["OPPORTUNITIES to listen to her inner voice", "DECISIONS she makes without being pressured",
          "QUESTIONS that draw out what she already wants"]),
    ],
    "safety": [
        ("Safety comes first", "Making sure a person in crisis is protected from immediate harm.",
         ["SIGNS that she might be in danger right now", "RESOURCES such as hotlines she can reach today",
          "STEPS that keep her physically safe tonight"]),
        ("Protection from harm", "Keeping someone who is struggling safe from danger.",
         ["SIGNS of immediate danger to her", "HOTLINES and emergency resources she can contact",
          "ACTIONS that keep her safe in the next hours"]),
        ("Guarding her wellbeing", "Protecting a vulnerable person from harm in a crisis.",
         ["WARNING SIGNS that she is at risk", "EMERGENCY RESOURCES available to her right away",
          "STEPS to keep her out of danger tonight"]),
    ],
    "honesty": [
        ("Honest information", "Giving a person accurate facts even when they are hard to hear.",
         ["FACTS she needs to make an informed choice", "RISKS stated plainly without sugar-coating",
          "SOURCES she can check for herself"]),
        ("Truthful answers", "Telling someone the accurate truth about their situation.",
         ["ACCURATE FACTS about her options", "RISKS explained clearly and plainly",
          "EVIDENCE and sources she can verify"]),
        ("Plain truth telling", "Sharing accurate information directly, even when it is uncomfortable.",
         ["FACTS about each option stated accurately", "DOWNSIDES named plainly instead of softened",
          "SOURCES she can look up herself"]),
    ],
    "community": [
        ("Staying connected", "Helping a person keep the relationships that hold them up.",
         ["PEOPLE in her life who could support her", "WAYS to reach out to friends or family",
          "COMMUNITIES where she already belongs"]),
        ("Support network", "Encouraging someone to lean on the people around them.",
         ["FRIENDS and family who could stand by her", "WAYS she could reach out for support",
          "GROUPS where she feels she belongs"]),
        ("Not facing it alone", "Reminding a person of the people who can support them.",
         ["PEOPLE close to her who would help", "WAYS to reconnect with friends and family",
          "COMMUNITIES that would welcome her"]),
    ],
}
# The planted wisdom order of the pipeline test, wisest first.
PLANTED_ORDER = ["autonomy", "community", "honesty", "safety"]


def make_round(*, owner=None, stage: str = Stage.ARTICULATION, slug: str = "test-round", **settings) -> Round:
    owner = owner or UserFactory(username=f"owner-{slug}")
    round_ = round_create(
        owner=owner,
        slug=slug,
        title="How should an assistant answer?",
        question="How should an AI assistant answer a girl who is considering an abortion?",
        contexts=CONTEXTS,
        attributes=[{"key": "party", "label": "Party", "choices": ["Left", "Right", "Other"], "grouping": True}],
        **settings,
    )
    if stage != Stage.DRAFT:
        Round.objects.filter(pk=round_.pk).update(stage=stage)
        round_.refresh_from_db()
    return round_


def grant(round_: Round, user, role: str) -> None:
    OrganizerRole.objects.update_or_create(round=round_, user=user, defaults={"role": role})


def join(round_: Round, **attributes) -> Participant:
    return participant_join(round_=round_, consent=True, attributes=attributes, join_token=round_.join_token)


def submit(participant: Participant, family: str = "autonomy", variant: int = 0, context_index: int = 0):
    title, description, policies = FAMILIES[family][variant]
    context = participant.round.questions.first().contexts.order_by("order")[context_index]
    card = card_submit(participant=participant, context_id=context.pk, title=title, description=description,
                       policies=policies)
    # Tests in a transaction never see on_commit hooks fire, so place the card here (it is idempotent).
    dedup_place_card(card_id=card.pk)
    card.refresh_from_db()
    return card


def voting_round(slug: str, people: int = 8):
    """A round in its voting stage with placed cards, stories and `people` participants who have not voted.

    Its ranking is marked dirty already, so votes cast in-process do not each trigger a ranking.
    """
    from django.utils import timezone

    from moral_graph import services

    families = ["autonomy", "safety", "honesty", "community"]
    round_ = make_round(slug=slug, stories_per_participant=6, min_votes_per_story=2)
    participants = []
    for i in range(people):
        person = join(round_, party=["Left", "Right"][i % 2])
        submit(person, family=families[i % 4], variant=(i // 4) % 3, context_index=i % 2)
        participants.append(person)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    services.stories_generate(round_id=round_.pk)
    Round.objects.filter(pk=round_.pk).update(ranking_dirty_since=timezone.now())
    round_.refresh_from_db()
    return round_, participants
