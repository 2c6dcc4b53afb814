"""Property-based tests over every parser and importer: arbitrary input is either accepted or
refused with our own error type — never a crash, never a traceback to the user."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import slack, webhook
from commands.kpi_data import KpiFileError, parse_kpi_csv
from commands.location import PositionError, parse_position
from commands.staff import DirectoryError, parse_directory
from commands.status import ImportError_, parse_procedures, parse_statuses
from handlers.jma.report import ReportError, parse_feed, parse_report
from handlers.messages import BadInput, Incoming
from handlers.pii import Guard
from handlers.router import parse_text

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
odd_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=300) | st.sampled_from([
    "\u200b\u200d\ufeff", "'; DROP TABLE events;--", "<script>alert(1)</script>", "\x00\x1b[31m",
    "０９０－１２３４－５６７８", "/draft " + "あ" * 200])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12)
csv_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@FAST
@given(odd_text)
def test_pii_guard_spans_are_sane(text):
    spans = Guard(names=["山田 太郎"]).scan(text)
    last = 0
    for finding in spans:
        assert last <= finding.start < finding.end <= len(text)
        last = finding.end


@FAST
@given(odd_text)
def test_room_text_is_classified(text):
    kind, name, rest = parse_text(text)
    assert kind in ("command", "mention", "message")
    try:
        Incoming(platform="local", kind=kind, user="u", room="r", delivery_id="d", text=rest,
                 command=name)
    except BadInput:
        pass


def _csv(rows: list[list[str]]) -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


header_sets = st.sampled_from([
    ["user_id", "name", "department", "roles"], ["receipt_no", "procedure", "status", "updated_at"],
    ["metric", "period", "value", "target"], ["procedure", "online", "channel", "url", "notes"],
    ["a", "b"]])


@FAST
@given(header_sets, st.lists(st.lists(csv_cells, min_size=0, max_size=6), max_size=6),
       st.binary(max_size=40))
def test_importers_accept_or_refuse_as_a_whole(header, rows, noise):
    data = _csv([header, *rows])
    for parse, error in ((parse_directory, DirectoryError), (parse_statuses, ImportError_),
                         (parse_kpi_csv, KpiFileError), (parse_procedures, ImportError_)):
        for candidate in (data, noise, data + noise):
            try:
                result = parse(candidate)
            except error as exc:
                assert exc.errors and all(isinstance(e, str) for e in exc.errors)
            else:
                assert isinstance(result, list) and result


@FAST
@given(st.binary(max_size=400) | odd_text.map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_jma_documents_parse_or_are_rejected(data):
    for parse in (parse_report, parse_feed):
        try:
            parse(data)
        except ReportError:
            pass


@FAST
@given(odd_text)
def test_positions_parse_or_are_refused(text):
    try:
        lat, lon, _ = parse_position(text)
        assert abs(lat) <= 90 and abs(lon) <= 180
    except PositionError:
        pass


@FAST
@given(json_values)
def test_slack_payloads_map_or_are_refused(body):
    if slack.well_formed(body):
        try:
            slack.to_incoming(body)
        except (BadInput, KeyError, TypeError, ValueError):
            # well_formed bodies must map cleanly
            raise AssertionError(f"well-formed payload failed to map: {body!r}")


@FAST
@given(json_values)
def test_webhook_messages_map_or_are_refused(body):
    if not isinstance(body, dict):
        return
    try:
        webhook.to_incoming(body)
    except BadInput:
        pass
