from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import render

from study.roles import ANALYST, COORDINATOR, has_role
from study.security import REFUSAL_ATTRIBUTE


@login_required
def home(request):
    """Where everyone lands after signing in: the parts of the site their role and invitations open."""
    participations = request.user.participations.select_related("study", "cohort").order_by("study__name")
    return render(
        request,
        "config/home.html",
        {
            "is_coordinator": has_role(request.user, COORDINATOR),
            "is_analyst": has_role(request.user, ANALYST),
            "participations": participations,
        },
    )


class ThrottledLoginView(LoginView):
    """Django's sign-in page, answering a throttled attempt with a clear message: 429 while locked
    out, 503 while too many checks are under way (``study.security.ThrottledModelBackend`` decides,
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
