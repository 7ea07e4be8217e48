"""A sample's four panels on disk, and the opaque URLs they are served under.

The panels are composed by ``annotator.panel_composition``. They are rendered once per sample,
display settings and resolution, and kept on disk as WebP
(``annotator.panel_cache``). Their URLs carry only a keyed hash (``annotator.models.PanelToken``),
never anything that would tell a participant which sample, class or position they are looking at.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from annotator import panel_cache
from annotator.models import PanelToken, config_of
from annotator.panel_composition import PANELS, RESOLUTIONS, compose, stretched_channels
from study.models import Sample, Study
from study.store import CHANNELS, sample_store

def settings_digest(percentiles: dict) -> str:
    """A short fingerprint of display settings, so that changed settings give new files and URLs."""
    canonical = json.dumps({c: [float(v) for v in percentiles[c]] for c in CHANNELS}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def rendered_panel(sample: Sample, percentiles: dict, panel: str, resolution: str, renderer: str) -> Path:
    """The cached WebP file of one panel, rendering all four of the sample's panels at
    ``resolution`` from one store read when it is not there yet: in the turn of ``renderer`` (who
    asks), and once however many ask at the same time (``annotator.panel_cache``). Raises
    ``panel_cache.PanelBusy`` when that would wait too long, ``OSError`` when the cache cannot be written."""
    digest = settings_digest(percentiles)
    path = panel_cache.panel_path(sample.store_key, digest, panel, resolution)
    if path.exists():
        return path
    deadline = time.monotonic() + panel_cache.TURN_WAIT_SECONDS
    with panel_cache.renderer_turn(renderer, deadline):
        # Each wait may have been for a request that rendered this very panel.
        if not path.exists():
            with panel_cache.sample_lock(sample.store_key, digest, resolution, deadline):
                if not path.exists():
                    render_to_cache(sample, percentiles, resolution)
    return path


class PanelRenderError(RuntimeError):
    """A sample's pixels could not be read from the sample store."""


def render_to_cache(sample: Sample, percentiles: dict, resolution: str) -> None:
    store = sample_store()
    try:
        pixels = store.open(sample.store_key)
    except (OSError, ValueError) as error:
        raise PanelRenderError(
            f"sample {sample.pk}: cannot read {store.path(sample.store_key)} from the sample store ({error}); "
            "import the sample again"
        ) from error
    planes = stretched_channels(pixels, percentiles)
    if resolution == "display":
        # Reducing the four channels before composing is the same as reducing the four RGB panels
        # (Pillow filters each band alike) at a third of the work.
        planes = {channel: panel_cache.reduce_for_display(plane) for channel, plane in planes.items()}
    digest = settings_digest(percentiles)
    for panel, rgb in compose(planes).items():
        panel_cache.write_panel(panel_cache.panel_path(sample.store_key, digest, panel, resolution), rgb)


def is_cached(sample: Sample, percentiles: dict, resolution: str) -> bool:
    digest = settings_digest(percentiles)
    return all(panel_cache.panel_path(sample.store_key, digest, p, resolution).exists() for p in PANELS)


def panel_token(study: Study, sample: Sample, panel: str, resolution: str, digest: str, occasion: str) -> str:
    """HMAC-SHA256 under SECRET_KEY of what the URL stands for, 192 bits in hex: unguessable, the
    same for the same panel, settings and occasion (so a browser's cache holds), different per study
    and per occasion."""
    message = f"panel\0{study.pk}\0{sample.pk}\0{panel}\0{resolution}\0{digest}\0{occasion}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:48]


def case_occasion(participant_pk: int, number: int, session: int = 1) -> str:
    """A participant's case ``number`` (of a crossover's ``session``): each reading of a repeated case,
    and each session's, is an occasion of its own, so that its URLs, and the browser's cache of them,
    never tell a second reading."""
    return f"case:{participant_pk}:{number}" + (f":{session}" if session > 1 else "")


def practice_occasion(participant_pk: int, number: int) -> str:
    """A participant's practice case: never the URLs of the gallery, where the same image is labelled."""
    return f"practice:{participant_pk}:{number}"


GALLERY = "gallery"
TRAINING_EXAMPLE = "training-example"
STAFF = "staff"


def panel_urls(study: Study, sample: Sample, resolution: str = "display", occasion: str = STAFF) -> dict[str, str]:
    """Panel name -> an opaque URL of that panel of ``sample`` under ``study``'s display settings,
    for one ``occasion`` (where it is shown: a participant's case or practice case, the gallery, the
    training's class examples, a staff page); the same panel on two occasions has two URLs.

    ``resolution`` is "display" (longest side at most 1024 pixels) or "full" (native size). Nothing
    is rendered here; the first request of a URL renders the sample's panels (once for all occasions).
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    if sample.dataset_id != study.dataset_id:
        raise ValueError(f"sample {sample.pk} does not belong to the data set of study {study.name!r}")
    percentiles = config_of(study).display_percentiles
    digest = settings_digest(percentiles)
    tokens = {panel: panel_token(study, sample, panel, resolution, digest, occasion) for panel in PANELS}
    # Tokens are deterministic, so after the first view of a sample they all exist: a read then
    # spares every later page a write.
    known = set(PanelToken.objects.filter(token__in=tokens.values()).values_list("token", flat=True))
    if len(known) < len(tokens):
        PanelToken.objects.bulk_create(
            [
                PanelToken(
                    token=token, study=study, sample=sample, panel=panel, resolution=resolution,
                    display_percentiles=percentiles,
                )
                for panel, token in tokens.items()
                if token not in known
            ],
            ignore_conflicts=True,
        )
    return {panel: reverse("annotator:panel", args=[token]) for panel, token in tokens.items()}


def prerender_study(
    study: Study, resolutions: tuple[str, ...] = ("display",), progress: Callable[[Iterable], Iterable] = iter
) -> int:
    """Render the panels of every sample of the study set that are not cached yet, under the study's
    current display settings; returns how many samples were rendered (one per sample and resolution).

    ``progress`` wraps the list of study samples, e.g. ``tqdm``, to show how far it has got.
    """
    unknown = [r for r in resolutions if r not in RESOLUTIONS]
    if unknown:
        raise ValueError(f"unknown resolutions {', '.join(unknown)}; choose from {', '.join(RESOLUTIONS)}")
    percentiles = config_of(study).display_percentiles
    rendered = 0
    for item in progress(list(study.items.select_related("sample").order_by("position"))):
        for resolution in resolutions:
            if not is_cached(item.sample, percentiles, resolution):
                render_to_cache(item.sample, percentiles, resolution)
                rendered += 1
    return rendered
