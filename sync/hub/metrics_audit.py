"""The audit trail's metrics, read from the hub's database at scrape time
(``sync.hub.metrics_db`` yields them): entries anchored and batches refused over the daily
limit, breaks and chains taken after entries deleted on the device (open ones need an
operator: alert on them), new chains after a registration code, and entries of devices'
reported chains the hub does not hold yet. Per site, every site included (``every_site``).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, F, Q, QuerySet, Sum
from prometheus_client.core import GaugeMetricFamily

from sync.hub.metrics_sites import every_site
from sync.hub.models import AuditBreak, AuditChainState
from sync.hub.models.audit import OPENS_NO_SEGMENT, REISSUED


def audit_families(slugs: dict[int, str]) -> Iterator[GaugeMetricFamily]:
    """Audit entries the hub anchored, and the breaks it found, per site (``sync.hub.audit``)."""
    entries = GaugeMetricFamily(
        "jaga_hub_audit_entries", "Devices' audit entries anchored at the hub, per site",
        labels=["site"],
    )  # fmt: skip
    over_limit = GaugeMetricFamily(
        "jaga_hub_audit_batches_over_limit",
        "Audit batches refused, per site, because they would take their device past the"
        " hub's limit over any 24 hours (JAGA_HUB_AUDIT_DAILY_BYTES), ever (a count that"
        " only grows)",
        labels=["site"],
    )
    # Counted as they are stored (AuditChainState.entries): a row a device, not the table.
    rows = (
        AuditChainState.objects.values("device__site_id")
        .annotate(n=Sum("entries"), over=Sum("over_limit"))
        .order_by()
    )
    for site, row in every_site(slugs, rows, ("n", "over"), "device__site_id").items():
        entries.add_metric([site], row["n"])
        over_limit.add_metric([site], row["over"])
    breaks = GaugeMetricFamily(
        "jaga_hub_audit_breaks",
        "Audit chains that did not extend what the hub held (rewritten or rewound), per site"
        " and state: open (the device's chain is refused until acknowledged), acknowledged",
        labels=["site", "state"],
    )
    _by_state(breaks, slugs, AuditBreak.objects.exclude(kind__in=(REISSUED, *OPENS_NO_SEGMENT)))
    pruned = GaugeMetricFamily(
        "jaga_hub_audit_pruned",
        "Devices' audit chains the hub took after entries deleted on the device that it never"
        " held or no longer holds (a store registered again as a new device, or the hub"
        " restored from an older backup), per site and state: open (an operator should look"
        " into it and acknowledge it; the chain is not refused), acknowledged",
        labels=["site", "state"],
    )
    _by_state(pruned, slugs, AuditBreak.objects.filter(kind__in=OPENS_NO_SEGMENT))
    yield entries
    yield over_limit
    yield breaks
    yield pruned
    yield _audit_new_chains(slugs)
    yield from _audit_behind(slugs)


def _by_state(
    family: GaugeMetricFamily, slugs: dict[int, str], records: QuerySet[AuditBreak]
) -> None:
    """``records`` counted per site, open and acknowledged."""
    rows = (
        records.values("device__site_id")
        .annotate(
            open=Count("pk", filter=Q(acknowledged_at__isnull=True)),
            acknowledged=Count("pk", filter=Q(acknowledged_at__isnull=False)),
        )
        .order_by()
    )
    states = ("open", "acknowledged")
    for site, by_state in every_site(slugs, rows, states, "device__site_id").items():
        for state in states:
            family.add_metric([site, state], by_state[state])


def _audit_new_chains(slugs: dict[int, str]) -> GaugeMetricFamily:
    """New registration codes after which a new store's chain came (``reissued`` records
    judged ``continues_old_chain`` False): taken, but the device's old chain ends there."""
    family = GaugeMetricFamily(
        "jaga_hub_audit_new_chains",
        "Registration codes after which a new store's audit chain came, not continuing the"
        " device's old one, per site, ever (a count that only grows): a replaced device, or"
        " a store that was not the device's; the admin's Audit breaks names each",
        labels=["site"],
    )
    rows = (
        AuditBreak.objects.filter(kind=REISSUED)
        .values("device__site_id")
        .annotate(new=Count("pk", filter=Q(continues_old_chain=False)))
        .order_by()
    )
    for site, row in every_site(slugs, rows, ("new",), "device__site_id").items():
        family.add_metric([site], row["new"])
    return family


def _audit_behind(slugs: dict[int, str]) -> Iterator[GaugeMetricFamily]:
    """Entries of devices' reported chains the hub does not hold, and devices behind."""
    entries = GaugeMetricFamily(
        "jaga_hub_audit_unanchored_entries",
        "Entries of devices' audit chains (as last reported) the hub does not hold, per site",
        labels=["site"],
    )
    devices = GaugeMetricFamily(
        "jaga_hub_audit_devices_behind",
        "Devices whose reported audit chain the hub does not hold all of, per site",
        labels=["site"],
    )
    behind = F("reported_sequence") - F("anchored_sequence")
    rows = (
        AuditChainState.objects.filter(reported_sequence__gt=F("anchored_sequence"))
        .values("device__site_id")
        .annotate(entries=Sum(behind), devices=Count("pk"))
        .order_by()
    )
    for site, row in every_site(slugs, rows, ("entries", "devices"), "device__site_id").items():
        entries.add_metric([site], row["entries"])
        devices.add_metric([site], row["devices"])
    yield entries
    yield devices
