from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from study.roles import ANALYST, COORDINATOR, has_role


@login_required
def home(request):
    """Where everyone lands after signing in: the parts of the site their role and invitations open."""
    participations = request.user.participations.select_related("study", "cohort").order_by("study__name")
    return render(
        request,
        "study/home.html",
        {
            "is_coordinator": has_role(request.user, COORDINATOR),
            "is_analyst": has_role(request.user, ANALYST),
            "participations": participations,
        },
    )
