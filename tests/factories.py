"""factory_boy factories for the domain models."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group

from accounts.models import User
from restoration.models import Film


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pass-word-1")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            # get_or_create: transactional tests flush the groups the migration made.
            self.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in extracted))
        if create:
            self.save()


def technician(**kwargs) -> User:
    return UserFactory(roles=["technician"], **kwargs)


def curator(**kwargs) -> User:
    return UserFactory(roles=["curator"], **kwargs)


class FilmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Film

    title = factory.Sequence(lambda n: f"Film {n}")
    year = 1925
