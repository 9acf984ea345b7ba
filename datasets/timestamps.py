"""Reading the time of a post, whatever shape the source gives it in.

Sources write times in many ways: Twitter's ``Wed Oct 10 20:19:24 +0000 2018``, ISO 8601,
RFC 2822 (``Wed, 10 Oct 2018 20:19:24 +0000``), US spreadsheets' ``2/24/2015 11:35``, epoch
numbers (or strings of 9 or more digits), parquet timestamps. :func:`parse_time` reads all of them without being told which;
``--time-format`` (a ``strptime`` format) makes it read exactly one.

The common shapes take fast paths (Twitter's format, epoch digits, ISO 8601 by the standard
library); everything else goes to ``dateutil``, which knows the other formats. Its guessing is
reined in: no fuzzy matching (``"posted 2/24/2015"`` is refused, not mined for a date), and a
date must have its year, month and day (``dateutil`` would fill missing parts from today, so
``"5"`` or ``"March"`` would become dates). Dates are month first (US) unless the first number
cannot be a month: ``3/4/2015`` is March 4, ``24/2/2015`` is February 24. Day-first sources
need ``--time-format "%d/%m/%Y %H:%M"``.

Times without an offset are taken as UTC. A value that cannot be read raises
:class:`UnreadableTime`; ingestion stores NULL and counts a warning rather than losing the post.
"""
from __future__ import annotations

import math
import re
import warnings
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from dateutil import parser as dateutil_parser
from dateutil.parser import UnknownTimezoneWarning

from datasets.errors import GoldloopError


class UnreadableTime(ValueError):
    """A timestamp no known format (or not the ``--time-format``) reads; the message names the field."""


_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
_TWITTER_TIME = re.compile(r"^[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$")
# Digit strings this long are epoch times (1973 on); shorter ones ("2015", "5") are not times at all.
_EPOCH_DIGITS = 9
# Two defaults that differ in year, month and day: a date read the same under both has all three.
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def check_format(fmt: str) -> str:
    """Validate a ``--time-format`` before any file is read; a ``GoldloopError`` says what is wrong."""
    if "%" not in fmt:
        raise GoldloopError(f"--time-format {fmt!r}: no %-directive; give a strptime format such as '%m/%d/%Y %H:%M'")
    sample = datetime(2001, 2, 3, 4, 5, 6, 7000, tzinfo=timezone.utc)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        raise GoldloopError(f"--time-format {fmt!r}: {exc}") from None
    return fmt


def parse_time(value: Any, field: str = "created_at", fmt: str | None = None) -> str | None:
    """The time ``value`` stands for, as ISO 8601 with an offset; None for an empty value.

    Numbers are epoch seconds (milliseconds when above 1e11), datetimes are taken as they are,
    strings are read with ``fmt`` when given, else by :func:`_read_text`. Raises
    :class:`UnreadableTime` for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = _from_epoch(value)
        elif isinstance(value, str):
            text = value.strip()
            moment = datetime.strptime(text, fmt) if fmt else _read_text(text)
        else:
            raise UnreadableTime(f"unreadable timestamp in '{field}': a {type(value).__name__}, not a time")
    except UnreadableTime:
        raise
    except (ValueError, OverflowError, OSError):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
        raise UnreadableTime(f"unreadable timestamp in '{field}': {shown}"
                             + (f" (does not match --time-format {fmt!r})" if fmt else "")) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


def _read_text(text: str) -> datetime:
    """A time written as text in any of the formats this module knows (see the module docstring)."""
    match = _TWITTER_TIME.match(text)
    if match:
        mon, day, hh, mm, ss, sign, oh, om, year = match.groups()
        if mon not in _MONTHS:
            raise ValueError(text)
        offset = (int(oh) * 60 + int(om)) * (1 if sign == "+" else -1)
        return datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss),
                        tzinfo=timezone(timedelta(minutes=offset)))
    if text.isdigit() and len(text) >= _EPOCH_DIGITS:
        return _from_epoch(int(text))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return _guess(text)


@lru_cache(maxsize=65536)
def _guess(text: str) -> datetime:
    """``dateutil``'s reading of ``text``, refused when it had to invent the year, month or day.

    Cached: a column of minute-resolution times repeats the same strings many times.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownTimezoneWarning)  # "EST": naive time, wrong by hours
        try:
            first, second = (dateutil_parser.parse(text, default=d, dayfirst=False, fuzzy=False) for d in _DEFAULTS)
        except UnknownTimezoneWarning as exc:
            raise ValueError(str(exc)) from None
    if first != second:
        raise ValueError(f"{text!r} lacks a year, month or day")
    return first


def _from_epoch(value: float) -> datetime:
    if not math.isfinite(value):
        raise ValueError(value)
    return datetime.fromtimestamp(value / 1000 if abs(value) > 1e11 else value, tz=timezone.utc)


_AGE = re.compile(r"^([1-9]\d{0,5})([mhdw])$")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(value: str) -> timedelta | None:
    """An age such as ``30m``, ``24h``, ``7d`` or ``2w`` (minutes, hours, days, weeks; above
    zero) as a ``timedelta``, or None when ``value`` is not one."""
    match = _AGE.match(value.strip()) if isinstance(value, str) else None
    return timedelta(**{_AGE_UNITS[match[2]]: int(match[1])}) if match else None
