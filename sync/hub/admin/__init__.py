"""The operators' admin: devices, people (with erasure), the fish review queue, packs."""

from django.contrib import admin

from sync.hub.admin import devices, people, review  # noqa: F401  (registers the admins)
from sync.hub.admin.login import ThrottledLoginForm

admin.site.login_form = ThrottledLoginForm  # failed sign-ins are limited (admin.login)
