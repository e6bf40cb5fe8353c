"""The operators' admin: devices, people (with erasure), the fish review queue, packs, and
the devices' anchored audit chains with their breaks; staff users see the records of the
sites they are linked to (``staff``), and a user manager the users of those sites (``users``)
and the groups that grant no more than they hold (``groups``)."""

from django.contrib import admin

from sync.hub.admin import (  # noqa: F401  (registers the admins)
    audit,
    devices,
    groups,
    people,
    review,
    staff,
    users,
)
from sync.hub.admin.login import ThrottledLoginForm

admin.site.login_form = ThrottledLoginForm  # failed sign-ins are limited (admin.login)
