from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render

from annotator.access import participations_of
from site_machinery.security import REFUSAL_ATTRIBUTE
from study.roles import ANALYST, COORDINATOR, has_role


@login_required
def home(request):
    """Where everyone lands after signing in: the parts of the site their role and invitations open.
    A participant of one study, and nothing else, goes straight on where they stopped in it."""
    participations = list(participations_of(request.user).select_related("study", "cohort").order_by("study__name"))
    is_coordinator = has_role(request.user, COORDINATOR)
    is_analyst = has_role(request.user, ANALYST)
    if len(participations) == 1 and not is_coordinator and not is_analyst:
        return redirect("annotator:participant_study", participations[0].study.name)
    return render(
        request,
        "config/home.html",
        {"is_coordinator": is_coordinator, "is_analyst": is_analyst, "participations": participations},
    )


class ThrottledLoginView(LoginView):
    """Django's sign-in page, answering a throttled attempt with a clear message: 429 while locked
    out, 503 while too many checks are under way (``site_machinery.security.ThrottledModelBackend`` decides,
    for every sign-in form)."""

    def form_invalid(self, form):
        refusal = getattr(self.request, REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            return super().form_invalid(form)
        messages.error(self.request, refusal.message)
        fresh = self.get_form_class()(self.request, initial={"username": self.request.POST.get("username", "")})
        response = self.render_to_response(self.get_context_data(form=fresh), status=refusal.status)
        response["Retry-After"] = str(refusal.retry_after_seconds)
        return response
