"""The instructions and the labelling page: what a participant sees, and what it must not reveal."""

import json
import re

import pytest

from django.urls import reverse

from annotator.models import Answer, config_of
from annotator.panels import case_occasion, panel_urls
from annotator.participant_flow import HOTKEYS
from tests.factories import pixel_dataset, reading_study



@pytest.fixture
def reading(db):
    return reading_study("page", test_samples=4, train_samples=2)


def case(client, reading, number):
    return client.get(reverse("annotator:participant_case", args=[reading.study.name, number]))


def answer(client, reading, number, class_index):
    url = reverse("annotator:participant_answer", args=[reading.study.name, number])
    return client.post(url, {"class_index": class_index}, content_type="application/json")


def test_the_instructions_show_the_text_the_classes_with_hotkeys_and_the_open_gallery(client, reading):
    config = config_of(reading.study)
    config.instructions = "Look at all four images before you answer."
    config.class_descriptions = {"3": "a fine network around the nucleus"}
    config.save()
    client.force_login(reading.participant.user)
    text = client.get(reverse("annotator:participant_instructions", args=["page"])).text
    assert "Look at all four images before you answer." in text
    assert "<kbd>4</kbd></td><td>Endoplasmic reticulum</td><td>a fine network around the nucleus" in text
    assert "<kbd>a</kbd></td><td>Nucleus</td>" in text
    assert reverse("annotator:gallery", args=["page"]) in text
    assert reverse("annotator:participant_case", args=["page", 1]) in text


def test_the_instructions_leave_out_the_gallery_while_it_is_closed(client, reading):
    config = config_of(reading.study)
    config.gallery_open = False
    config.save()
    client.force_login(reading.participant.user)
    text = client.get(reverse("annotator:participant_instructions", args=["page"])).text
    assert reverse("annotator:gallery", args=["page"]) not in text


def test_the_case_page_shows_the_four_panels_of_the_participants_own_sample(client, reading):
    client.force_login(reading.participant.user)
    order = reading.participant.order()
    text = case(client, reading, 2).text
    occasion = case_occasion(reading.participant.pk, 2)
    display = panel_urls(reading.study, order[1].sample, occasion=occasion)
    full = panel_urls(reading.study, order[1].sample, resolution="full", occasion=occasion)
    for name, alt in [("protein", "protein"), ("nucleus", "nucleus with protein"),
                      ("microtubules", "microtubules with protein"), ("er", "ER with protein")]:
        assert f'src="{display[name]}" data-display-src="{display[name]}" data-full-src="{full[name]}" alt="{alt}"' in text


def test_the_case_page_prefetches_the_next_samples_panels(client, reading):
    client.force_login(reading.participant.user)
    order = reading.participant.order()
    text = case(client, reading, 1).text
    for url in panel_urls(reading.study, order[1].sample, occasion=case_occasion(reading.participant.pk, 2)).values():
        assert f'<link rel="prefetch" href="{url}" as="image">' in text
    assert 'rel="prefetch"' not in case(client, reading, 4).text


def test_every_class_is_a_button_with_its_hotkey_shown_on_it(client, reading):
    client.force_login(reading.participant.user)
    text = case(client, reading, 1).text
    buttons = re.findall(r'data-class-index="(\d+)" data-hotkey="(.)".*?<kbd>(.)</kbd> ([^<]+)</button>', text, re.S)
    assert [(int(i), key, shown, name.strip()) for i, key, shown, name in buttons] == [
        (c.index, HOTKEYS[c.index], HOTKEYS[c.index], c.name) for c in reading.study.label_set.classes
    ]


def test_28_classes_get_28_distinct_hotkeys_none_of_them_a_page_key(client, db):
    dataset = pixel_dataset("hpa", [[0], [1]], ["test", "test"], label_set_key="hpa28")
    from annotator.models import Cohort, Participant
    from study.models import Study, StudySample
    from tests.factories import make_user

    study = Study.objects.create(name="hpa-study", dataset=dataset, seed=0)
    for position, sample in enumerate(dataset.samples.all()):
        StudySample.objects.create(study=study, sample=sample, position=position)
    user = make_user("hpa-reader")
    Participant.objects.create(
        study=study, cohort=Cohort.objects.create(study=study, name="expert"), user=user, pseudonym="e1", order_seed=3
    )
    client.force_login(user)
    keys = re.findall(r'data-hotkey="(.)"', client.get(reverse("annotator:participant_case", args=["hpa-study", 1])).text)
    assert len(keys) == len(set(keys)) == 28
    assert not set(keys) & set("f+-=_[]")


def test_a_revisited_case_highlights_the_current_answer(client, reading):
    client.force_login(reading.participant.user)
    answer(client, reading, 3, 5)
    text = case(client, reading, 3).text
    assert re.findall(r'class="class-choice current"\s+data-class-index="(\d+)"', text) == ["5"]
    assert 'aria-pressed="true"' in text and text.count('aria-pressed="true"') == 1
    assert "class-choice current" not in case(client, reading, 2).text


def test_the_page_shows_progress_and_back_and_next_links(client, reading):
    client.force_login(reading.participant.user)
    answer(client, reading, 1, 0)
    answer(client, reading, 2, 1)
    text = case(client, reading, 2).text
    assert '<progress id="progress" max="4" value="2">' in text
    assert reverse("annotator:participant_case", args=["page", 1]) + '" rel="prev"' in text
    assert reverse("annotator:participant_case", args=["page", 3]) + '" rel="next"' in text
    assert json.loads(re.search(r'id="answered-numbers" type="application/json">(.*?)</script>', text).group(1)) == [1, 2]


def without_case_number(text):
    """The page with what differs by design between cases (panel URLs, the case's number) and
    between responses (the masked CSRF token) masked."""
    text = re.sub(r'(csrfmiddlewaretoken" value|data-csrf-token)="[^"]+"', "CSRF", text)
    text = re.sub(r"/panels/[^/\"]+/", "/panels/TOKEN/", text)
    text = re.sub(r"/case/\d+/", "/case/N/", text)
    text = re.sub(r'data-number="\d+"', 'data-number="N"', text)
    text = re.sub(r"[Ss]ample (<strong>)?\d+(</strong>)? of", "sample N of", text)
    return re.sub(r"value=\"\d+\"|\d+ / \d+ answered|\[[\d, ]*\]", "COUNT", text)


def test_the_page_says_nothing_about_the_sample_or_its_class(client, reading):
    client.force_login(reading.participant.user)
    pages = []
    for number, item in enumerate(reading.participant.order(), start=1):
        response = case(client, reading, number)
        sample = item.sample
        for leak in (sample.source_id, sample.store_key, sample.store_key.removesuffix(".npy")):
            assert leak not in response.text
            assert all(leak not in value for value in response.headers.values())
        pages.append(without_case_number(response.text))
    # Cases between the first and the last differ in nothing but their panels' opaque URLs and
    # their own number, so nothing on them can tell one sample's class from another's.
    assert len(set(pages[1:-1])) == 1


def test_the_page_has_no_inline_script_or_style(client, reading):
    client.force_login(reading.participant.user)
    text = case(client, reading, 1).text
    scripts = re.findall(r"<script([^>]*)>", text)
    assert all('src="' in attributes or 'type="application/json"' in attributes for attributes in scripts)
    assert "style=" not in text and "<style" not in text and "onclick" not in text


def test_after_submission_the_case_page_is_read_only_and_shows_the_answer(client, reading):
    client.force_login(reading.participant.user)
    answer(client, reading, 1, 2)
    client.post(reverse("annotator:participant_submit", args=["page"]), {"confirm_unanswered": "yes"})
    text = case(client, reading, 1).text
    assert 'data-read-only="true"' in text
    assert text.count(" disabled>") == len(reading.study.label_set)
    assert re.findall(r'class="class-choice current"\s+data-class-index="(\d+)"', text) == ["2"]


def test_an_answered_case_is_read_only_when_answers_may_not_change(client, reading):
    config = config_of(reading.study)
    config.answers_changeable = False
    config.save()
    client.force_login(reading.participant.user)
    answer(client, reading, 1, 2)
    assert 'data-read-only="true"' in case(client, reading, 1).text
    assert 'data-read-only="false"' in case(client, reading, 2).text
    assert Answer.objects.count() == 1
