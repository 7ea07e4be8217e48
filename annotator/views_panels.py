"""Serving a panel image behind its opaque token.

A panel that cannot be rendered now is answered 503 with Retry-After and a sentence for the reader,
which the page shows (``annotator/static/annotator/panels.js``): while the reader's other panels are
being rendered (``panel_cache.PanelBusy``), and while the panel cache cannot be written, its disk
full, which is also logged as an error for whoever runs the site. Nothing else depends on the cache:
answers keep saving.
"""

from __future__ import annotations

import logging

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag
from django.views.decorators.http import require_GET

from annotator import panel_cache
from annotator.access import may_see_sample
from annotator.models import PanelToken
from annotator.panels import rendered_panel

# The URL of a panel never changes what it shows (the token fixes sample, panel, resolution and
# display settings), so the browser may keep it for good; "private" keeps it out of shared caches.
PANEL_CACHE_CONTROL = "private, max-age=31536000, immutable"
# The disk will not have room again within seconds: ask the page to wait longer before it tries again.
STORAGE_RETRY_AFTER_SECONDS = 30

logger = logging.getLogger(__name__)


def set_headers(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response


@require_GET
def panel(request: HttpRequest, token: str) -> HttpResponse:
    # Unknown tokens, refused visitors and signed-out visitors all get the same 404, so that a
    # response never confirms that a token exists.
    entry = PanelToken.objects.select_related("study", "sample").filter(token=token).first()
    if (
        entry is None
        or not request.user.is_authenticated
        or not may_see_sample(request, entry.study, entry.sample)
    ):
        raise Http404("No such image.")
    etag = quote_etag(token)
    headers = {"ETag": etag, "Cache-Control": PANEL_CACHE_CONTROL}
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        return set_headers(not_modified, headers)
    try:
        path = rendered_panel(
            entry.sample, entry.display_percentiles, entry.panel, entry.resolution, renderer=f"user-{request.user.pk}"
        )
    except panel_cache.PanelBusy:
        return unavailable(
            "The server is still preparing images for you; they appear in a moment.", panel_cache.RETRY_AFTER_SECONDS
        )
    except OSError as error:
        logger.error(
            "cannot store rendered panels under %s: %s; free some space there (or point DATA_DIR at a larger disk)",
            panel_cache.panels_dir(), error.strerror or error,
        )
        return unavailable(
            "The server cannot show images right now: it has no room to store them. Your answers are still "
            "being saved. Please tell the study's coordinator.",
            STORAGE_RETRY_AFTER_SECONDS,
        )
    response = FileResponse(path.open("rb"), content_type="image/webp", filename=f"{entry.panel}.webp")
    return set_headers(response, headers)


def unavailable(message: str, retry_after: int) -> HttpResponse:
    response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response
