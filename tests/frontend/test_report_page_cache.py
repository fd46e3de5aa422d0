"""The report page's rendered parts (summary, contexts with their values and stories, graphs) are cached per run,
limit, content, language and layout: a new run, an edited story or another language is never served stale, and a
published round keeps serving its published run."""

import re

import pytest
from django.test import Client

from deliberation.models import Context, Participant, Round
from frontend import report_views
from moral_graph import services as graph_services
from tests.factories import join, make_round, submit
from tests.moral_graph.test_published_frozen import _published_round

pytestmark = pytest.mark.django_db


@pytest.fixture
def renders(monkeypatch):
    """The page parts rendered (not served from the cache), by template."""
    rendered: list[str] = []
    real = report_views.render_to_string

    def counted(template, context=None, *args, **kwargs):
        rendered.append(template)
        return real(template, context, *args, **kwargs)

    monkeypatch.setattr(report_views, "render_to_string", counted)
    return rendered


def _page(slug: str, client: Client | None = None, query: str = "", language: str = "en") -> str:
    response = (client or Client(HTTP_ACCEPT_LANGUAGE=language)).get(f"/r/{slug}/report/{query}")
    assert response.status_code == 200
    return response.content.decode()


def _public(slug: str):
    """A published round whose report anyone may read."""
    round_, organizer = _published_round(slug)
    Round.objects.filter(pk=round_.pk).update(report_visibility="public")
    round_.refresh_from_db()
    return round_, organizer


def _body(page: str) -> str:
    """From the summary to the participation figures (the header's form carries a token of its own per request)."""
    return page[page.index('id="summary"'):page.index('id="participation"')]


def _summary_run(page: str) -> int:
    """The run named in the summary's method line (a cached part)."""
    return int(re.search(r"How to read it: method [\w_]+, run (\d+)", page).group(1))


def _vote_all(people, answer: str) -> None:
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer=answer)


def test_the_page_is_rendered_once_per_run_and_a_new_run_is_served_at_once(renders):
    round_ = make_round(slug="page-live", stories_per_participant=4, min_votes_per_story=1,
                        report_visibility="public", report_live=True)
    for family in ("autonomy", "safety", "honesty", "community"):
        submit(join(round_), family=family)
    round_.stage = "voting"
    round_.save()
    graph_services.stories_generate(round_id=round_.pk)
    people = list(Participant.objects.filter(round=round_).select_related("round"))
    _vote_all(people[:2], "wiser")
    first = graph_services.ranking_compute(round_id=round_.pk)
    one = _page("page-live")
    assert _summary_run(one) == first.pk
    rendered = len(renders)
    assert rendered == len(report_views.PAGE_PARTS["full"])
    again = _page("page-live")
    assert _body(again) == _body(one) and len(renders) == rendered, "the second read is served from the cache"
    _vote_all(people[2:], "not_wiser")
    second = graph_services.ranking_compute(round_id=round_.pk)
    newer = _page("page-live")
    assert _summary_run(newer) == second.pk != first.pk
    assert 'id="ctx-' in newer and len(renders) == 2 * rendered, "the new run's parts, rendered afresh"


def test_an_edited_story_reaches_the_cached_page_without_a_new_run(renders):
    round_, _organizer = _public("page-text")
    before = _page("page-text")
    run = _summary_run(before)
    story = round_.stories.filter(is_hidden=False).select_related("context").first()
    assert story.text in before
    graph_services.story_write(
        actor=round_.roles.get(role="owner").user,
        context=story.context,
        from_value_id=story.from_value_id,
        to_value_id=story.to_value_id,
        text="An organizer rewrote this story after the run.",
    )
    after = _page("page-text")
    assert "An organizer rewrote this story after the run." in after
    assert _summary_run(after) == run


def test_another_language_gets_its_own_rendered_parts(renders):
    round_, _organizer = _public("page-lang")
    context = Context.objects.filter(question__round=round_).order_by("id").first()
    Context.objects.filter(pk=context.pk).update(translations={"es": {"name": "Cuando es urgente"}})
    heading = f'<h3 id="ctx-{context.pk}-name">'
    english = _page("page-lang", language="en")
    spanish = _page("page-lang", language="es")
    assert f"{heading}{context.name}</h3>" in english and "Cuando es urgente" not in english
    assert f"{heading}Cuando es urgente</h3>" in spanish
    assert _body(_page("page-lang", language="en")) == _body(english), "each language keeps its own parts"
    # The interface's own words in the cached detail are in the reader's language too.
    detail = spanish[spanish.index('<section class="context-report"'):spanish.index('id="graph"')]
    assert "En qué se fija la gente" in detail and "What people attend to" not in detail
    assert len(renders) == 2 * len(report_views.PAGE_PARTS["full"])


def test_a_published_round_keeps_serving_its_published_run_on_the_page(renders):
    round_, organizer = _public("page-frozen")
    published = round_.published_ranking_id
    before = _page("page-frozen")
    assert _summary_run(before) == published
    newer = graph_services.ranking_compute(round_id=round_.pk, method="mai_pagerank")
    assert newer.pk != published
    preview = organizer.get(f"/r/page-frozen/report/?run={newer.pk}")
    assert preview.status_code == 200 and _summary_run(preview.content.decode()) == newer.pk
    after = _page("page-frozen")
    assert _summary_run(after) == published
    assert _body(after) == _body(before)


def test_the_brief_caches_its_summary_apart_from_the_full_page(renders):
    _public("page-brief")
    full = _page("page-brief")
    brief = _page("page-brief", query="?layout=brief")
    assert _summary_run(brief) == _summary_run(full)
    assert 'class="context-report"' not in brief
    assert "http://testserver/r/page-brief/report/#ctx-" in brief, "the brief's winners link to the full report"


def test_an_organizer_relabelling_a_group_reaches_the_cached_page(renders):
    round_, _organizer = _public("page-labels")
    attribute = round_.attributes.get(key="party")
    before = _page("page-labels", language="es")
    assert 'class="groups"' in before
    type(attribute).objects.filter(pk=attribute.pk).update(
        translations={"es": {"label": "Afinidad", "choices": ["Izquierda", "Derecha", "Otra"]}}
    )
    after = _page("page-labels", language="es")
    assert "Afinidad" in after and "Izquierda" in after and "Afinidad" not in before
