"""The demo's report: a terminal summary and one self-contained HTML page (inline CSS, no assets).

Per policy and ticket: every action the bridge took with its time, rule and reason, the SLA outcome
(first response, resolution, credits), and any difference from the simulator's expected timeline."""

from __future__ import annotations

import html as _html
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from jsm_bridge.demo import DemoResult, TicketResult

LONDON = ZoneInfo("Europe/London")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;color:#172b4d;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #dfe1e6;padding-bottom:.2rem}
h3{margin:1.4rem 0 .3rem;font-size:1.05rem}.muted{color:#6b778c}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}th,td{text-align:left;padding:.3rem .5rem;vertical-align:top;border-bottom:1px solid #ebecf0}
th{background:#f4f5f7;font-weight:600}td.when{white-space:nowrap;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f4f5f7;padding:0 .2rem;border-radius:3px}
.ok{color:#006644;font-weight:600}.bad{color:#bf2600;font-weight:600}.run{color:#974f0c}
.badge{display:inline-block;padding:0 .45rem;border-radius:3px;font-size:12px;font-weight:600}
.badge.ok{background:#e3fcef}.badge.bad{background:#ffebe6}.badge.run{background:#fffae6}
pre.diff{background:#ffebe6;padding:.5rem;white-space:pre-wrap;font-size:12px}
.badge.none{background:#f4f5f7;color:#6b778c}.body{white-space:pre-wrap;margin-top:.2rem;color:#42526e;font-size:13px}
tr.event td{color:#6b778c;background:#fafbfc}
"""


def _e(value: Any) -> str:
    return _html.escape(str(value), quote=True)


def _when(at: Any) -> str:
    return f"{at.astimezone(LONDON):%a %d %b %H:%M}"


def _badge(outcome: str) -> str:
    cls = {"met": "ok", "breached": "bad", "no target": "none"}.get(outcome, "run")
    return f'<span class="badge {cls}">{_e(outcome)}</span>'


def _describe(kind: str, params: dict[str, Any]) -> str:
    if kind == "comment":
        visibility = "public" if params.get("public") else "internal"
        return f"{visibility} comment"
    if kind == "set_priority":
        return f"priority → {params.get('priority')}"
    if kind == "transition":
        return f"status → {params.get('status')}"
    if kind == "tier":
        return f"tier → {params.get('to')}"
    if kind == "assign":
        return f"assign → {params.get('assignee')}"
    if kind == "set_field":
        return f"{params.get('field')} → {params.get('value')}"
    if kind == "label":
        changes = [f"+{x}" for x in params.get("add", [])] + [f"-{x}" for x in params.get("remove", [])]
        return "labels " + " ".join(changes)
    return kind


def _ticket_html(t: TicketResult) -> str:
    verdict = (
        '<span class="badge ok">matches the simulator</span>'
        if not t.differences
        else f'<span class="badge bad">{len(t.differences)} difference(s)</span>'
    )
    parts = [
        f'<h3 id="{_e(t.ticket.key)}">{_e(t.ticket.key)} <span class="muted">· scenario '
        f"{_e(t.ticket.scenario.path.stem)} ({_e(t.ticket.item.ticket.key)})</span> {verdict}</h3>",
        f"<p>Now <b>{_e(t.status)}</b>, priority <b>{_e(t.priority or '-')}</b>. "
        f"First response {_badge(t.clocks.get('first_response', 'no target'))} · "
        f"resolution {_badge(t.clocks.get('resolution', 'no target'))} · "
        f"credits: {_e('; '.join(t.credits) if t.credits else 'none')}</p>",
    ]
    if t.done:
        # People's events (from the scenario) in grey, the bridge's actions between them; at one
        # instant the event comes first, since the actions answer it.
        timeline: list[tuple[Any, int, str]] = []
        item = t.ticket.item
        timeline.append(
            (
                item.ticket.created,
                0,
                _event_row(item.ticket.created, f"{item.ticket.reporter or 'customer'} opens the ticket"),
            )
        )
        for event in item.events:
            timeline.append((event.at, 0, _event_row(event.at, event.describe())))
        for i, d in enumerate(t.done):
            body = d.params.get("body")
            detail = f'<div class="body">{_e(body)}</div>' if body else ""
            timeline.append(
                (
                    d.at,
                    1 + i,
                    f'<tr><td class="when">{_e(_when(d.at))}</td><td>{_e(_describe(d.kind, d.params))}{detail}</td>'
                    f"<td><code>{_e(d.rule)}</code></td><td>{_e(d.reason)}</td></tr>",
                )
            )
        rows = [row for _, _, row in sorted(timeline, key=lambda r: (r[0], r[1]))]
        parts.append(
            "<table><tr><th>When</th><th>Action</th><th>Rule</th><th>Reason</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    else:
        parts.append('<p class="muted">No action was due.</p>')
    if t.differences:
        parts.append('<pre class="diff">' + _e("\n".join(t.differences)) + "</pre>")
    return "\n".join(parts)


def _event_row(at: Any, text: str) -> str:
    return f'<tr class="event"><td class="when">{_e(_when(at))}</td><td colspan="3">· {_e(text)}</td></tr>'


def _overview(result: DemoResult) -> str:
    rows = []
    for policy, tickets in result.by_policy().items():
        breached_fr = sum(t.clocks.get("first_response") == "breached" for t in tickets)
        breached_res = sum(t.clocks.get("resolution") == "breached" for t in tickets)
        differing = sum(bool(t.differences) for t in tickets)
        verdict = (
            '<span class="badge ok">matches</span>'
            if not differing
            else f'<span class="badge bad">{differing} differ</span>'
        )
        rows.append(
            f'<tr><td><a href="#policy-{_e(policy)}">{_e(policy)}</a></td><td>{len(tickets)}</td>'
            f"<td>{sum(len(t.done) for t in tickets)}</td><td>{breached_fr}</td><td>{breached_res}</td>"
            f"<td>{sum(len(t.credits) for t in tickets)}</td><td>{verdict}</td></tr>"
        )
    return (
        "<table><tr><th>Policy</th><th>Tickets</th><th>Actions</th><th>First responses breached</th>"
        "<th>Resolutions breached</th><th>Credits</th><th>Against the simulator</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def html(result: DemoResult) -> str:
    """The whole report as one HTML document."""
    verdict = (
        '<span class="ok">Everything the bridge did matches the simulator’s timeline.</span>'
        if result.ok
        else '<span class="bad">The bridge’s actions differ from the simulator’s timeline (details below).</span>'
    )
    actions = sum(len(t.done) for t in result.tickets)
    sections = []
    for policy, tickets in result.by_policy().items():
        sections.append(
            f'<h2 id="policy-{_e(policy)}">{_e(policy)}</h2>'
            f'<p class="muted">{_e(tickets[0].ticket.policy.spec.description or "")}</p>'
        )
        sections.extend(_ticket_html(t) for t in tickets)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>jsm-bridge demo report</title><style>{_CSS}</style></head><body>"
        "<h1>jsm-bridge demo report</h1>"
        f'<p class="muted">Sandbox clock from {_e(_when(result.started))} to {_e(_when(result.ended))} '
        f"(Europe/London) · {len(result.tickets)} tickets · {actions} actions · "
        f"{result.instants} instants visited · {result.seconds:.1f} s</p>"
        f"<p>{verdict}</p>" + _overview(result) + "\n".join(sections) + "</body></html>\n"
    )


def summary(result: DemoResult, quiet: bool = False) -> str:
    """The terminal summary: per policy, per ticket, actions and SLA outcome; then any differences."""
    lines = [""]
    for policy, tickets in result.by_policy().items():
        lines.append(f"{policy}")
        for t in tickets:
            mark = "ok  " if not t.differences else "DIFF"
            credits = f", credit {len(t.credits)}" if t.credits else ""
            lines.append(
                f"  {mark} {t.ticket.key:<7} {len(t.done):>3} actions  first response "
                f"{t.clocks.get('first_response', '-')}, resolution {t.clocks.get('resolution', '-')}{credits}"
                f"  ({t.ticket.scenario.path.stem})"
            )
    for t in result.tickets:
        if t.differences:
            lines.append(f"\n{t.ticket.key} ({t.ticket.scenario.path.stem}) differs from the simulator:")
            lines.extend(f"  {d}" for d in t.differences)
    actions = sum(len(t.done) for t in result.tickets)
    verdict = "matches the simulator" if result.ok else "DIFFERS from the simulator"
    lines.append(
        f"\n{len(result.tickets)} tickets, {actions} actions, {result.instants} instants in "
        f"{result.seconds:.1f} s: {verdict}"
    )
    return "\n".join(lines) + "\n"
