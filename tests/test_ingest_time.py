"""Timestamps: common formats recognised, --time-format, unreadable times stored as NULL with a warning."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from datasets.errors import GoldloopError
from datasets.timestamps import UnreadableTime, check_format, parse_time

REPO = Path(__file__).resolve().parent.parent
INGEST = str(REPO / "bin" / "ingest.sh")


@pytest.mark.parametrize("text, expected", [
    ("2/24/2015 11:35", "2015-02-24T11:35:00+00:00"),                 # US M/D/YYYY H:MM
    ("2/24/2015 11:35:52", "2015-02-24T11:35:52+00:00"),              # ... with seconds
    ("3/4/2015 10:00", "2015-03-04T10:00:00+00:00"),                  # ambiguous: month first
    ("24/2/2015 11:35", "2015-02-24T11:35:00+00:00"),                 # 24 cannot be a month
    ("Wed Oct 10 20:19:24 +0000 2018", "2018-10-10T20:19:24+00:00"),  # Twitter
    ("Sun Apr 05 10:46:44 -0130 2020", "2020-04-05T10:46:44-01:30"),
    ("Wed, 10 Oct 2018 20:19:24 +0200", "2018-10-10T20:19:24+02:00"),  # RFC 2822
    ("2015-02-24 11:35:52 -0800", "2015-02-24T11:35:52-08:00"),
    ("2020-04-05T10:46:44Z", "2020-04-05T10:46:44+00:00"),            # ISO 8601
    ("2013-11-07T06:20:48.652000", "2013-11-07T06:20:48.652000+00:00"),
    ("1586083604", "2020-04-05T10:46:44+00:00"),                       # epoch seconds
    ("1586083604000", "2020-04-05T10:46:44+00:00"),                    # epoch milliseconds
])
def test_common_formats_are_recognised(text: str, expected: str) -> None:
    assert parse_time(text) == expected


def test_numbers_and_empty_values() -> None:
    assert parse_time(1586083604) == parse_time(1586083604000) == "2020-04-05T10:46:44+00:00"
    assert parse_time("") is None and parse_time("   ") is None and parse_time(None) is None


@pytest.mark.parametrize("junk", ["yesterday", "5", "2015", "March", "11:35", "Monday", "N/A", "-",
                                  "posted 2/24/2015", "13/13/2015 10:00", "2/30/2015 10:00",
                                  "2015-02-24 11:35 PST", "Sun Foo 05 10:46:44 +0000 2020"])
def test_guessing_does_not_accept_junk_or_invent_missing_parts(junk: str) -> None:
    with pytest.raises(UnreadableTime, match=r"unreadable timestamp in 'DATE'"):
        parse_time(junk, "DATE")


def test_time_format_reads_exactly_that_format() -> None:
    assert parse_time("3/4/2015 10:00", fmt="%d/%m/%Y %H:%M") == "2015-04-03T10:00:00+00:00"
    with pytest.raises(UnreadableTime, match="does not match --time-format"):
        parse_time("2015-04-03 10:00", fmt="%d/%m/%Y %H:%M")
    for bad, message in (("%Q", "bad directive"), ("dd/mm/yyyy", "no %-directive")):
        with pytest.raises(GoldloopError, match=message):
            check_format(bad)


def _airline_csv(path: Path, times: list[str]) -> Path:
    lines = ["tweet_id,text,tweet_created"] + [f"{570306133677760513 + i},flight {i} was late,{t}"
                                               for i, t in enumerate(times)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _times(engine: sa.Engine) -> list[str | None]:
    with engine.connect() as conn:
        return [None if t is None else t.isoformat() for t in
                conn.execute(sa.text("SELECT created_at FROM raw_posts ORDER BY id")).scalars()]


def test_us_times_are_read_and_an_unreadable_one_is_a_warning_not_a_reject(engine, tmp_path):
    path = _airline_csv(tmp_path / "airline.csv", ["2/24/2015 11:35", "2/24/2015 11:15:59", "soon", "12/31/2015 23:59"])
    cmd = [INGEST, str(path), "--id-column", "tweet_id", "--time-column", "tweet_created"]
    proc = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["inserted"], result["rejected"], result["rejects_file"]) == (4, 0, None)
    assert result["time_warnings"] == 1
    assert result["time_warning_example"] == {"file": str(path), "line": 4,
                                              "warning": "unreadable timestamp in 'tweet_created': 'soon'"}
    assert _times(engine) == ["2015-02-24T11:35:00+00:00", "2015-02-24T11:15:59+00:00", None,
                              "2015-12-31T23:59:00+00:00"]
    again = subprocess.run(cmd, capture_output=True, text=True)  # the human summary says it too
    assert again.returncode == 0, again.stderr
    assert "warning: 1 post(s) stored with no time" in again.stdout and "line 4" in again.stdout


def test_time_format_flag_reads_day_first_dates(engine, tmp_path):
    path = _airline_csv(tmp_path / "eu.csv", ["3/4/2015 10:00", "24/2/2015 11:35"])
    proc = subprocess.run([INGEST, str(path), "--id-column", "tweet_id", "--time-column", "tweet_created",
                           "--time-format", "%d/%m/%Y %H:%M", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["time_warnings"] == 0
    assert _times(engine) == ["2015-04-03T10:00:00+00:00", "2015-02-24T11:35:00+00:00"]
    bad = subprocess.run([INGEST, str(path), "--id-column", "tweet_id", "--time-format", "%Q"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "--time-format '%Q'" in bad.stderr
