"""Create or update a user with roles: `manage.py add_user NAME --password P --role technician`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import ROLES


class Command(BaseCommand):
    help = "Create or update a user and give it roles (technician, curator)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", action="append", default=[], choices=ROLES)
        parser.add_argument("--superuser", action="store_true")

    def handle(self, *args, username: str, password: str, role: list[str], superuser: bool, **kw) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_superuser = superuser
        user.save()
        groups = list(Group.objects.filter(name__in=role))
        if len(groups) != len(set(role)):
            raise CommandError("roles missing: run migrations first")
        user.groups.add(*groups)
        self.stdout.write(f"{'created' if created else 'updated'} {username} with roles {', '.join(role) or 'none'}")
