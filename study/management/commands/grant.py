from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from site_machinery.commands import DatabaseCommand
from study.models import Study, StudyRole
from study.roles import ROLES, role_group


class Command(DatabaseCommand):
    help = (
        "Give a user a staff role (coordinator or analyst) for the named studies (--study NAME, repeated) or "
        "for every study (--all-studies, e.g. for a lab head); --revoke takes it away. --create makes the user."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("username")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument(
            "--study", action="append", default=[], metavar="NAME", help="A study the role is for (repeat for several)."
        )
        scope.add_argument("--all-studies", action="store_true", help="The role for every study, present and future.")
        parser.add_argument("--create", action="store_true", help="Create the user when it does not exist.")
        parser.add_argument("--revoke", action="store_true", help="Take the role away instead.")

    def handle(self, role, username, study, all_studies, create, revoke, **options):
        if not study and not all_studies:
            raise CommandError("say which studies the role is for: --study NAME (repeat for several) or --all-studies")
        studies = self.studies(study)
        users = get_user_model()
        try:
            user = users.objects.get(username=username)
        except users.DoesNotExist:
            if not create or revoke:
                raise CommandError(f"no user named {username!r} (use --create to make one)") from None
            user = users.objects.create_user(username=username)
            user.set_unusable_password()
            user.save()
            self.stdout.write(f"Created user {username}; set a password with: manage.py changepassword {username}")
        if all_studies:
            self.every_study(user, role, revoke)
        else:
            self.some_studies(user, role, studies, revoke)

    def studies(self, names: list[str]) -> list[Study]:
        found = {study.name: study for study in Study.objects.filter(name__in=names)}
        unknown = [name for name in names if name not in found]
        if unknown:
            raise CommandError(f"no study named {', '.join(map(repr, unknown))}")
        return [found[name] for name in dict.fromkeys(names)]

    def every_study(self, user, role: str, revoke: bool) -> None:
        group = role_group(role)
        if revoke:
            user.groups.remove(group)
            self.stdout.write(f"{user.username} is no longer {role} of every study.")
        else:
            user.groups.add(group)
            self.stdout.write(f"{user.username} is now {role} of every study.")

    def some_studies(self, user, role: str, studies: list[Study], revoke: bool) -> None:
        names = ", ".join(study.name for study in studies)
        if revoke:
            StudyRole.objects.filter(user=user, role=role, study__in=studies).delete()
            self.stdout.write(f"{user.username} is no longer {role} of {names}.")
            if user.groups.filter(name=role).exists():
                self.stdout.write(
                    f"They are still {role} of every study; take that away with --all-studies --revoke."
                )
        else:
            for study in studies:
                StudyRole.objects.get_or_create(user=user, role=role, study=study)
            self.stdout.write(f"{user.username} is now {role} of {names}.")
