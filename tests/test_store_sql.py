"""The one COPY helper against a real PostgreSQL: what goes in through csv_line comes back equal."""
from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from datasets.store import sql

TRICKY = ['', 'a"b', 'back\\slash', '\\"', 'x,y', '{braces}', ' spaced ', 'NULL', 'line\nbreak', 'é ☃']


def test_copy_rows_round_trips_text_arrays_json_and_nulls(engine: sa.engine.Engine) -> None:
    rows = [(i, text, [text, "plain"], i % 2 == 0, {"text": text, "n": [i, None]}, None)
            for i, text in enumerate(TRICKY)]
    rows.append((len(TRICKY), "empty array", [], False, {}, 1.5))
    with sql.transaction(engine) as conn:
        conn.execute(sa.text("CREATE TEMP TABLE copied (n integer, t text, a text[], b boolean, j jsonb,"
                             " f double precision) ON COMMIT DROP"))
        assert sql.copy_rows(conn, "copied", ("n", "t", "a", "b", "j", "f"), rows) == len(rows)
        back = [tuple(r) for r in conn.execute(sa.text("SELECT n, t, a, b, j, f FROM copied ORDER BY n"))]
    assert back == rows


def test_numpy_numbers_are_written_as_numbers() -> None:
    assert sql.csv_line((np.float64(0.25), 0.25, np.int64(3), 3)) == b"0.25,0.25,3,3\n"


def test_csv_line_refuses_text_utf8_cannot_encode() -> None:
    with pytest.raises(UnicodeEncodeError):
        sql.csv_line(("ok", "lone \udcff surrogate"))
