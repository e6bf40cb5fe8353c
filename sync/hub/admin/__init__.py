"""The operators' admin: devices, people (with erasure), the fish review queue, packs, and
the devices' anchored audit chains with their breaks; staff users see the records of the
sites they are linked to (``staff``), and a user manager the users of those sites (``users``)."""

from django.contrib import admin

from sync.hub.admin import audit, devices, people, review, staff, users  # noqa: F401  (registers the admins)
from sync.hub.admin.login import ThrottledLoginForm

admin.site.login_form = ThrottledLoginForm  # failed sign-ins are limited (admin.login)
