"""Users and roles.

A custom user model from day one, so fields can be added later without a painful
swap. Roles are Django groups: technicians upload, analyse, compose presets and
render; curators review and publish. Fans need no account: they vote anonymously,
identified by a signed session cookie (see voting).
"""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models

from accounts.roles import CURATOR, TECHNICIAN


class User(AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)

    def has_role(self, role: str) -> bool:
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return self.groups.filter(name=role).exists()

    @property
    def is_technician(self) -> bool:
        return self.has_role(TECHNICIAN)

    @property
    def is_curator(self) -> bool:
        return self.has_role(CURATOR)

    def __str__(self) -> str:
        return self.display_name or self.username


class ApiToken(models.Model):
    """A bearer token for scripts using the JSON API (`Authorization: Token <key>`).

    Only a hash is stored; the key is shown once when created.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="api")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "api") -> tuple[ApiToken, str]:
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=cls.hash_key(key))
        return token, key

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
