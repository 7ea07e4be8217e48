"""Serving a panel image behind its opaque token."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag
from django.views.decorators.http import require_GET

from annotator.models import PanelToken, config_of
from annotator.panels import rendered_panel
from study.access import may_see_sample

# The URL of a panel never changes what it shows (the token fixes sample, panel, resolution and
# display settings), so the browser may keep it for good; "private" keeps it out of shared caches.
PANEL_CACHE_CONTROL = "private, max-age=31536000, immutable"


def set_headers(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response


@require_GET
def panel(request: HttpRequest, token: str) -> HttpResponse:
    # Unknown tokens, refused visitors and signed-out visitors all get the same 404, so that a
    # response never confirms that a token exists.
    entry = PanelToken.objects.select_related("study", "sample").filter(token=token).first()
    if entry is None or not request.user.is_authenticated or not may_see_sample(request, entry.study, entry.sample, config_of(entry.study).gallery_open):
        raise Http404("No such image.")
    etag = quote_etag(token)
    headers = {"ETag": etag, "Cache-Control": PANEL_CACHE_CONTROL}
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        return set_headers(not_modified, headers)
    path = rendered_panel(entry.sample, entry.display_percentiles, entry.panel, entry.resolution)
    response = FileResponse(path.open("rb"), content_type="image/webp", filename=f"{entry.panel}.webp")
    return set_headers(response, headers)
