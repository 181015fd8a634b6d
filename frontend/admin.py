from django.contrib import admin

from frontend.models import LiveEvent


@admin.register(LiveEvent)
class LiveEventAdmin(admin.ModelAdmin):
    list_display = ("id", "topic", "created_at")
    readonly_fields = ("topic", "payload", "created_at")
