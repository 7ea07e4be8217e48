from django.core.management.base import CommandError

from annotator.operations import invite
from site_machinery.commands import DatabaseCommand
from study.lookups import get_study
from study.operations import OperationError


class Command(DatabaseCommand):
    help = (
        "Invite participants to a study: new participants of a cohort, one single-use link each, printed one "
        "per line. The links are shown only this once (the database keeps their hashes)."
    )

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--cohort", required=True, help="e.g. expert or scholar; created when missing.")
        parser.add_argument("--count", type=int, default=1)
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="The site's address, in front of each link."
        )

    def handle(self, *args, **options):
        base_url = options["base_url"].rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise CommandError(
                f"--base-url {options['base_url']!r}: expected an address such as https://study.example.org"
            )
        study = get_study(options["study"])
        try:
            issued = invite(study, options["cohort"], options["count"])
        except OperationError as error:
            raise CommandError(str(error)) from None
        for item in issued:
            self.stdout.write(f"{base_url}{item.path}")
        pseudonyms = ", ".join(item.participant.pseudonym for item in issued)
        self.stderr.write(f"Invited {pseudonyms} to {study.name}. Send each their own link; it works once.")
