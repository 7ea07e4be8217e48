from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import render

from study.roles import ANALYST, COORDINATOR, has_role
from study.security import LoginThrottle, client_address


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
    """Django's sign-in page, answering 429 with a clear message while sign-ins are throttled
    (the authentication backends in ``study.security`` refuse them on every other path too)."""

    def post(self, request, *args, **kwargs):
        refusal = LoginThrottle.from_settings().refusal(request.POST.get("username"), client_address(request))
        if refusal is None:
            return super().post(request, *args, **kwargs)
        messages.error(request, refusal.message)
        form = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(refusal.retry_after_seconds)
        return response

    def form_valid(self, form):
        LoginThrottle.from_settings().forget_user(form.get_user().get_username())
        return super().form_valid(form)
