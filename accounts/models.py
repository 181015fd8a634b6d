"""Users and roles.

A custom user model from day one, so fields can be added later without a painful
swap. Roles are Django groups: technicians upload, analyse, compose presets and
render; curators review and publish. Fans need no account: they vote anonymously,
identified by a signed session cookie (see voting).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

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

    Only a hash is stored; the key is shown once when created. A token stops working
    when it expires (`API_TOKEN_TTL_DAYS` by default, so a leaked key does not work
    forever) or when it is revoked; revoked tokens are kept for the record.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="api")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="empty: never expires")
    revoked_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "api", *,
              ttl: timedelta | None | bool = True) -> tuple[ApiToken, str]:
        """A new token and its key. ``ttl``: True for the configured lifetime, None for
        a token that never expires, or a timedelta."""
        if ttl is True:
            days = getattr(settings, "API_TOKEN_TTL_DAYS", 0)
            ttl = timedelta(days=days) if days else None
        key = secrets.token_urlsafe(32)
        expires = timezone.now() + ttl if ttl else None
        token = cls.objects.create(user=user, name=name, key_hash=cls.hash_key(key), expires_at=expires)
        return token, key

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=self.revoked_at)

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
