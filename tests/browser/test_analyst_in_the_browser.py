"""The analyst's way through a study's report in headless Chromium, in a 1280 px window: sign in, read
every section from the contents, and see what a reader sees: headers in words, estimates with their
intervals, rows under the paper's groups, notes by kind, figures that load with their alt text, the
cases' panels in the labelling page's order; then download a table."""

import re

import pytest
from playwright.sync_api import expect

from django.urls import reverse

from analysis.models import ReportPreface
from analysis.report_cache import cached_report
from analysis.report_inputs import ReportOptions
from study.models import Sample
from tests.analysis.reader_data import add_reader_data
from tests.analysis.test_study_arrays import answered_study
from tests.browser.conftest import paint_cells
from tests.browser.test_coordinator_and_analyst_in_the_browser import images_loaded, sign_in_on_the_form

pytestmark = pytest.mark.django_db(transaction=True)

LAPTOP = {"width": 1280, "height": 800}
INTERVAL = re.compile(r"^0\.\d{3} \(0\.\d{3}–[01]\.\d{3}\)$")
PANEL_CAPTIONS = ["Protein", "Nucleus + protein", "Microtubules + protein", "Endoplasmic reticulum + protein"]


def headers(section) -> list[str]:
    return [text.strip() for text in section.locator("thead th").all_inner_texts()]


def test_an_analyst_reads_every_section_of_the_report_with_headers_in_words_and_figures_that_load(
    live_server, new_page, screenshots
):
    reading, truth = answered_study("report", n_samples=26)
    add_reader_data(reading.study, truth)
    paint_cells(Sample.objects.filter(study_items__study=reading.study))
    ReportPreface.objects.create(study=reading.study, text="A pilot of three experts and four scholars.")
    # Built ahead, as a second visit finds it: drawing its figures takes a while on a busy machine.
    cached_report(reading.study, ReportOptions())

    page = new_page(LAPTOP)
    sign_in_on_the_form(page, live_server.url, reading.analyst, reverse("analysis:study_report", args=["report"]))

    expect(page.locator(".preface")).to_contain_text("A pilot of three experts and four scholars.")
    # Two versions of the instructions were shown: a warning, styled as one.
    expect(page.locator(".report-notes .note-warning")).to_contain_text("different versions of the instructions")
    page.screenshot(path=screenshots / "report.png")

    sections = page.locator(".report-contents a")
    titles = sections.all_inner_texts()
    assert len(titles) >= 18 and titles[:2] == [
        "Table 2: accuracy, and F1, precision and recall averaged over classes", "Table 3: McNemar's test against gapnet"
    ]
    for index in range(len(titles)):
        link = sections.nth(index)
        target = link.get_attribute("href")
        link.click()
        section = page.locator(target)
        expect(section).to_be_in_viewport()
        expect(section.locator("h2")).to_contain_text(titles[index])
        for header in headers(section):
            assert "_" not in header, f"{target}: a machine name as a header: {header!r}"
        frames = section.locator(".table-frame")
        if target != "#cohen" and frames.count():
            assert frames.evaluate("frame => frame.scrollWidth <= frame.clientWidth"), f"{target} is wider than the window"

    table2 = page.locator("section#table2")
    assert headers(table2) == [
        "Reader", "Simulated", "Accuracy (95% CI)", "F1 (95% CI)", "Precision", "Recall", "Answered", "Readers"
    ]
    assert table2.locator("tr.group th").all_inner_texts() == ["Models", "Experts", "Scholars", "Ensembles"]
    expert = table2.locator("tbody tr", has_text="expert-01").locator("td")
    assert INTERVAL.match(expert.nth(2).inner_text()), expert.nth(2).inner_text()
    expect(table2.locator("tbody tr", has_text="Mean of scholar")).to_contain_text("simulated")

    table3 = page.locator("section#table3")
    assert headers(table3)[2:6] == ["Both correct", "Only the model", "Only the reader", "Both wrong"]
    ensemble = table3.locator("tbody tr", has_text="Ensemble of scholar").locator("td")
    assert re.match(r"^\d+(\.\d)?$", ensemble.nth(2).inner_text())
    expect(table3.locator(".method")).to_contain_text("expected counts over its 1,000 tie-breaking repetitions")
    for cell in table3.locator("tbody tr", has_text="expert-01").locator("td").all_inner_texts()[2:6]:
        assert cell.isdigit(), "a person's counts are whole numbers"

    mrmc = page.locator("section#mrmc")
    assert "Difference (95% CI)" in headers(mrmc)
    expect(mrmc.locator(".findings li").first).to_contain_text("the result applies to")
    expect(mrmc.locator("tr.group th").first).to_have_text("gapnet against the experts")
    assert page.locator("section#table1 thead th").first.inner_text() == "Model"

    figures = {
        "#table2 .report-figure img": "Dot plot of every reader's accuracy with its interval, by cohort",
        "#mrmc .report-figure img": "Forest plot of the model's difference from each cohort's readers",
        "#reading_time .report-figure img": "Accuracy by quarter of reading time, a line per cohort",
    }
    for selector, alt in figures.items():
        expect(page.locator(selector)).to_have_attribute("alt", alt)
    images_loaded(page, "img")
    assert page.eval_on_selector_all("img", "images => images.every(i => i.alt.trim().length > 0)")
    confusion = page.locator("#figure4 img[alt='Confusion matrix of gapnet (model)']")
    expect(confusion).to_be_visible()
    assert confusion.evaluate("image => image.clientWidth === image.naturalWidth"), "shown at the size it was drawn"

    table2.locator(".report-figure").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "report-table2.png")
    mrmc.locator(".report-figure").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "report-mrmc.png")
    page.locator("#figure4 h2").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "report-figure4.png")

    case = page.locator("#cases article.case").first
    expect(case.locator("figcaption")).to_have_text(PANEL_CAPTIONS)
    case.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "report-cases.png")

    with page.expect_download() as download:
        table2.locator("a", has_text="table2.csv").click()
    assert download.value.suggested_filename == "table2.csv"
    with open(download.value.path(), encoding="utf-8") as csv_file:
        header, *rows = csv_file.read().splitlines()
    assert header.startswith("reader,cohort,simulated,accuracy,f1")
    assert any(row.startswith("expert-01,") for row in rows)
