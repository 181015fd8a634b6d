"""Create the technician and curator groups with their permissions."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "technician": [
        ("restoration", "add_film"), ("restoration", "change_film"), ("restoration", "view_film"),
        ("restoration", "add_clip"), ("restoration", "change_clip"), ("restoration", "view_clip"),
        ("restoration", "add_preset"), ("restoration", "change_preset"), ("restoration", "view_preset"),
        ("restoration", "add_presetversion"), ("restoration", "view_presetversion"),
        ("restoration", "add_variant"), ("restoration", "change_variant"), ("restoration", "view_variant"),
        ("restoration", "add_renderjob"), ("restoration", "change_renderjob"), ("restoration", "view_renderjob"),
    ],
    "curator": [
        ("restoration", "view_film"), ("restoration", "view_clip"), ("restoration", "view_preset"),
        ("restoration", "view_presetversion"), ("restoration", "view_variant"),
        ("restoration", "view_renderjob"),
    ],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in perms:
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                group.permissions.add(perm)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("restoration", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
