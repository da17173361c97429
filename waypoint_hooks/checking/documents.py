"""What checks found, as programs and people read it: the JSON documents of ``status``,
``history``, ``alerts`` and ``GET /api/cluster`` (the public contract), and the words the
terminal and the status page both show — health labels, ages, resource trees, and why an app
is not READY.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from ..model.health import Health
from ..model.wire import format_time, report_to_wire
from ..terminal import sanitize_line

if TYPE_CHECKING:
    # Only named: a command imports the stores it reads (status --cached: not the cluster's,
    # the outbox's or the silences').
    from ..model.quorum import Quorum
    from ..model.report import Resource, StatusReport
    from ..state.cluster import Instance
    from ..state.outbox import StoredAlert
    from ..state.records import Record
    from ..state.reports import StoredReport
    from ..state.silences import Silence
    from .checker import AppStatus, RemovedApp

__all__ = [
    "LABELS",
    "alerts_json",
    "app_json",
    "cluster_json",
    "history_json",
    "humanize_age",
    "locations_json",
    "notes",
    "pushed_json",
    "removed_notes",
    "silence_json",
    "silence_note",
    "silences_json",
    "status_document",
    "status_json",
    "tree",
    "until",
    "version_json",
]

#: The label of every health (Waypoint printed MISSING as N/A; here each has its own).
LABELS: Final = {
    Health.READY: "✔ READY",
    Health.ALIVE: "✔ ALIVE",
    Health.DOWN: "✖ DOWN",
    Health.PARTIAL: "● PARTIAL",
    Health.UNKNOWN: "? UNKNOWN",
    Health.MISSING: "✖ MISSING",
}


def humanize_age(then: datetime | None, now: datetime) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``; ``never`` for no time."""
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def until(moment: datetime, now: datetime) -> str:
    """``2024-05-01 14:00:00Z (in 1h)``: a time to come, and how soon."""
    shown = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    # humanize_age counts back from its second time: from the moment, to now.
    return f"{shown} (in {humanize_age(now, moment).removesuffix(' ago')})"


def silence_note(silence: Silence, now: datetime) -> str:
    """What a silence in force says of its app: ``alerts of the deployment of web silenced
    until … (in 1h) (silence 3, by ops@here): a comment`` (sanitized: the comment is
    anyone's who may write)."""
    what = f"the {silence.kind} of {silence.app}" if silence.kind else silence.app
    note = f"alerts of {what} silenced until {until(silence.expires, now)} (silence {silence.id}"
    note += f", by {silence.made_by})" if silence.made_by else ")"
    return sanitize_line(f"{note}: {silence.comment}" if silence.comment else note)


def notes(
    row: AppStatus, workspace: str, expect_live: bool = True, command: str | None = None
) -> Iterator[str]:
    """Why an app is not READY: nothing deployed, a version that failed or was interrupted,
    or a report's message, a line each. A line that says what to run starts it with
    ``command``: the program with the global options the user gave (by default, only the
    workspace's)."""
    app = sanitize_line(row.app)
    if command is None:
        command = "waypoint-hooks" if workspace == "default" else f"waypoint-hooks -w {workspace}"
    for record in row.unfinished:
        yield (
            f"{app}: {record.kind} v{record.sequence} {_unfinished(record)}; run "
            f"`{command} destroy {app}` to clean it up, then `{command} up {app}`"
        )
    said = {record.kind for record in row.unfinished}
    if expect_live and row.deployment is None and "deployment" not in said:
        yield f"{app}: nothing deployed; run `{command} up {app}`"
    for kind, report in (("deployment", row.deployment_report), ("release", row.release_report)):
        if report is not None and report.health is not Health.READY and report.health_message:
            yield f"{app} {kind}: {sanitize_line(report.health_message)}"


def removed_notes(removed: Sequence[RemovedApp], config: str, command: str) -> Iterator[str]:
    """A line for each app that ``config`` (the config file's name) no longer names but the
    state holds versions of, with those versions and what destroys them; then, for more than
    one, what destroys them all."""
    for item in removed:
        app = sanitize_line(item.app)
        versions = [
            f"{record.kind} v{record.sequence} ({sanitize_line(record.plugin)}, {record.status})"
            for record in item.versions
        ]
        listed = (
            versions[-1] if len(versions) == 1 else f"{', '.join(versions[:-1])} and {versions[-1]}"
        )
        them = "it" if len(versions) == 1 else "them"
        yield (
            f"{app}: not in {config}, but the state has its {listed}; "
            f"run `{command} destroy {app}` to destroy {them}"
        )
    if len(removed) > 1:
        yield f"run `{command} destroy --removed` to destroy every one of these apps"


def _unfinished(record: Record) -> str:
    """How a version's hook ended when it did not return: the first line of its error (the
    whole of it, a log tail maybe, is in ``status APP``'s versions and the deploy's error)."""
    if record.status == "interrupted":
        return "was interrupted before its hook returned"
    first = (record.error or "its hook raised").partition("\n")[0]
    return f"failed ({sanitize_line(first)})"


def tree(report: StatusReport) -> list[tuple[str, Resource]]:
    """The report's resources in tree order (by ``parent_resource_id``), each with the
    branch drawn before it (``├─ ``, ``│  └─ ``…; nothing for a top-level one)."""
    ids = {r.id for r in report.resources if r.id}
    children: dict[str, list[Resource]] = {}
    for resource in report.resources:
        parent = resource.parent_resource_id if resource.parent_resource_id in ids else ""
        children.setdefault(parent, []).append(resource)
    rows: list[tuple[str, Resource]] = []
    seen: set[int] = set()

    def walk(parent: str, prefix: str, roots: bool) -> None:
        siblings = [r for r in children.get(parent, []) if id(r) not in seen]
        seen.update(id(r) for r in siblings)  # parent ids in a cycle: each resource once
        for index, resource in enumerate(siblings):
            last = index == len(siblings) - 1
            branch, below = ("", "") if roots else ("└─ ", "   ") if last else ("├─ ", "│  ")
            rows.append((prefix + branch, resource))
            if resource.id:
                walk(resource.id, prefix + below, False)

    walk("", "", True)
    return rows


def _target_json(record: Record | None, report: StatusReport | None, plugin_key: str) -> Any:
    if record is None:
        return None
    return {
        "id": record.id,
        "sequence": record.sequence,
        plugin_key: record.plugin,
        "report": None if report is None else report_to_wire(report),
    }


def status_json(
    project: str,
    workspace: str,
    rows: Sequence[AppStatus],
    versions: Mapping[str, Sequence[Record]] | None = None,
    removed: Sequence[RemovedApp] = (),
    located: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``status --json`` (DESIGN §8); an app in ``versions`` (the one ``status APP`` names)
    also lists those, and one in ``located`` the members of :func:`locations_json`;
    ``removed`` apps, where there are any, are listed after the apps."""
    versions = versions or {}
    located = located or {}
    document = status_document(
        project,
        workspace,
        [{**app_json(row, versions.get(row.app)), **located.get(row.app, {})} for row in rows],
    )
    if removed:
        document["removed"] = [
            {"app": item.app, "versions": [version_json(record) for record in item.versions]}
            for item in removed
        ]
    return document


def status_document(project: str, workspace: str, apps: list[dict[str, Any]]) -> dict[str, Any]:
    """``status --json`` of the apps already in their JSON form (see :func:`app_json`)."""
    return {"project": project, "workspace": workspace, "apps": apps}


def app_json(row: AppStatus, versions: Sequence[Record] | None = None) -> dict[str, Any]:
    """One app of ``status --json``: its deployment and release, with their reports; and,
    when given, its ``versions``."""
    document = {
        "app": row.app,
        "deployment": _target_json(row.deployment, row.deployment_report, "platform"),
        "release": _target_json(row.release, row.release_report, "release_manager"),
    }
    if versions is not None:
        document["versions"] = [version_json(record) for record in versions]
    return document


def locations_json(
    row: AppStatus,
    rule: Quorum,
    latest: Mapping[tuple[str, str, str], StatusReport],
    alive: Collection[str],
) -> dict[str, Any]:
    """The members an app checked from several locations adds to its part of ``status
    --json`` (DESIGN §21): its ``quorum``, its ``combined`` health of each kind (``null``
    before any location reported), and each location's latest reports, with whether an
    instance of that location is alive (one that is not checks nothing: its reports are old)."""
    targets = {"deployment": row.deployment, "release": row.release}
    combined: dict[str, str | None] = {}
    for kind, record in targets.items():
        healths = {
            name: report.health
            for name in rule.locations
            if record is not None
            and (report := latest.get((kind, record.id, name))) is not None
            and report.health is not None
        }
        combined[kind] = rule.combine(healths).name if healths else None
    return {
        "quorum": rule.needed,
        "combined": combined,
        "locations": [
            {
                "location": name,
                "alive": name in alive,
                **{
                    kind: None if record is None else _brief(latest.get((kind, record.id, name)))
                    for kind, record in targets.items()
                },
            }
            for name in rule.locations
        ],
    }


def _brief(report: StatusReport | None) -> dict[str, Any] | None:
    if report is None or report.health is None:
        return None
    return {
        "health": report.health.name,
        "message": report.health_message,
        "generated": _time_or_none(report.generated_time),
    }


def version_json(record: Record) -> dict[str, Any]:
    """A version of an app, whatever its state: what ``destroy`` would act on."""
    return {
        "kind": record.kind,
        "id": record.id,
        "sequence": record.sequence,
        "plugin": record.plugin,
        "state": record.status,
        "created": format_time(record.created),
        # Whether destroy has something to clean up of a version whose hook never returned.
        "checkpointed": record.checkpoint is not None,
    }


def history_json(
    project: str, workspace: str, app: str, stored: Iterable[StoredReport]
) -> dict[str, Any]:
    """``history APP --json`` (DESIGN §8), newest first; its ``reports``, last, is an
    iterator, made as it is read (the CLI writes it one report at a time)."""
    return {
        "project": project,
        "workspace": workspace,
        "app": app,
        "reports": (
            _stored_json(
                item.kind, item.target_id, item.sequence, item.plugin, item.report, item.location
            )
            for item in stored
        ),
    }


def pushed_json(
    project: str, workspace: str, record: Record, report: StatusReport
) -> dict[str, Any]:
    """The answer to a report pushed from outside (DESIGN §20): the version it was stored
    for, and the report as stored, each as ``history --json`` lists them."""
    return {
        "project": project,
        "workspace": workspace,
        "app": record.app,
        **_stored_json(record.kind, record.id, record.sequence, record.plugin, report),
    }


def _stored_json(
    kind: str, target_id: str, sequence: int, plugin: str, report: StatusReport, location: str = ""
) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": target_id,
        "sequence": sequence,
        "plugin": plugin,
        "report": report_to_wire(report),
        # Only where there is one (DESIGN §21): documents of before stay as they were.
        **({"location": location} if location else {}),
    }


def alerts_json(project: str, workspace: str, stored: Sequence[StoredAlert]) -> dict[str, Any]:
    """``alerts --json``, newest first: each alert's fields, its id, when it was raised, and
    its delivery (when it was delivered, the next attempt, every attempt, and the silence it
    was raised under: then it is never sent)."""
    return {
        "project": project,
        "workspace": workspace,
        "alerts": [
            {
                "id": item.id,
                "raised": format_time(item.raised),
                **item.alert.to_wire(),
                "delivery": {
                    "delivered": _time_or_none(item.delivered),
                    "next_attempt": _time_or_none(item.next_attempt),
                    "attempts": [
                        {
                            "number": attempt.number,
                            "started": format_time(attempt.started),
                            "ended": format_time(attempt.ended),
                            "error": attempt.error,
                        }
                        for attempt in item.attempts
                    ],
                    "silenced": item.silenced,
                },
            }
            for item in stored
        ],
    }


def silences_json(project: str, workspace: str, silences: Sequence[Silence]) -> dict[str, Any]:
    """``silences --json`` and ``GET /api/silences``: the silences in force, the soonest to
    end first."""
    return {
        "project": project,
        "workspace": workspace,
        "silences": [silence_json(silence) for silence in silences],
    }


def silence_json(silence: Silence) -> dict[str, Any]:
    """A silence: what it silences (``kind`` null: both kinds), from when, until when, and
    when it was lifted, if it was."""
    return {
        "id": silence.id,
        "app": silence.app,
        "kind": silence.kind,
        "created": format_time(silence.created),
        "expires": format_time(silence.expires),
        "lifted": _time_or_none(silence.lifted),
        "comment": silence.comment,
        "made_by": silence.made_by,
    }


def cluster_json(
    project: str, workspace: str, instances: Sequence[Instance], this: str
) -> dict[str, Any]:
    """``GET /api/cluster``: every process with a lease on the state, the latest started
    first, which of them answers (``this``), whether its lease lasts, and the checks it
    holds now (of the workspace)."""
    return {
        "project": project,
        "workspace": workspace,
        "instances": [
            {
                "owner": item.owner,
                "host": item.host,
                "pid": item.pid,
                "location": item.location or None,
                "this": item.owner == this,
                "alive": item.alive,
                "started": format_time(item.started),
                "renewed": format_time(item.renewed),
                "lease_until": format_time(item.lease_until),
                "holding": [{"app": app, "kind": kind} for app, kind in item.holding],
            }
            for item in instances
        ],
    }


def _time_or_none(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)
