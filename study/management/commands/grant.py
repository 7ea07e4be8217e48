from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from study.commands import DatabaseCommand
from study.roles import ROLES, role_group


class Command(DatabaseCommand):
    help = "Give a user a staff role (coordinator or analyst); --create makes the user if needed."

    def add_arguments(self, parser):
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="Create the user when it does not exist.")
        parser.add_argument("--revoke", action="store_true", help="Take the role away instead.")

    def handle(self, role, username, create, revoke, **options):
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
        group = role_group(role)
        if revoke:
            user.groups.remove(group)
            self.stdout.write(f"{username} is no longer {role}.")
        else:
            user.groups.add(group)
            self.stdout.write(f"{username} is now {role}.")
