"""Every rule over one batch of events, in DuckDB, on Arrow columns.

One :class:`Detector` lives for one scan run. It holds, in its DuckDB connection, the
look-back state window rules need (hourly counts per principal for 31 days, readers
without a case per taxpayer for 3 days), loaded once from the scan tables and grown
batch by batch; the scan writes each batch's increments back in the same transaction
as the alerts and the cursor.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from taxvault.access.resources import Resource
from taxvault.oversight.alerts import AlertDraft
from taxvault.oversight.detect.facts import Facts
from taxvault.oversight.detect.rules import RULES

TAXPAYER_KINDS = tuple(sorted(r.value for r in Resource if r.taxpayer_data and r.locator in ("entity", "module")))
DATASET_OF_KIND = {r.value: r.dataset for r in Resource}
CASE_VERBS = ("read", "lookup", "adjust", "request_adjustment")
LOOKBACK_HOURS = 31 * 24
CELEBRITY_DAYS = 3
CELEBRITY_READERS = 3
OFF_HOURS_GAP = 2
MIN_HISTORY_DAYS = 5
REVIEW_DAYS = 7
GRANT_END_DAYS = 7
MIN_HOURS = 8  # active hours a baseline needs before it is trusted
MIN_AGENCY_HOURS = 4  # ... the agency's, as a last resort
MANY = 3  # more taxpayers than this in a day: one alert for the person-day

_HOURLY = pa.schema(
    [("pid", pa.string()), ("hour", pa.int64()), ("reads", pa.int64()), ("refused", pa.int64()), ("bg", pa.int64())]
)
_READERS = pa.schema(
    [
        ("sref", pa.string()),
        ("day", pa.int64()),
        ("pid", pa.string()),
        ("reads", pa.int64()),
        ("first_leaf", pa.int64()),
        ("last_leaf", pa.int64()),
    ]
)


@dataclass(slots=True)
class BatchResult:
    """What one batch produced: alert drafts and the state increments to store."""

    drafts: list[AlertDraft]
    hourly: pa.Table  # pid, hour, reads, refused, bg (increments)
    readers: pa.Table  # sref, day, pid, reads, first_leaf, last_leaf (increments)
    last_time: dt.datetime | None


def _naive(table: pa.Table, name: str) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, name, pc.cast(table.column(name), pa.timestamp("us")))


def _utc(value: Any) -> dt.datetime:
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Detector:
    """DuckDB over a batch's columns; window state carried across batches of one run."""

    def __init__(self, hourly: pa.Table | None = None, readers: pa.Table | None = None) -> None:
        self.db = duckdb.connect(config={"threads": 2})
        self.db.execute("SET TimeZone = 'UTC'")
        self.db.register("hourly_init", hourly if hourly is not None else _HOURLY.empty_table())
        self.db.register("readers_init", readers if readers is not None else _READERS.empty_table())
        self.db.execute("CREATE TABLE hourly AS SELECT * FROM hourly_init")
        self.db.execute("CREATE TABLE readers AS SELECT * FROM readers_init")
        self.db.unregister("hourly_init")
        self.db.unregister("readers_init")
        kinds = ", ".join(f"'{k}'" for k in TAXPAYER_KINDS)
        self.kinds_sql = kinds
        ds = pa.table(
            {"kind": list(DATASET_OF_KIND), "dataset": list(DATASET_OF_KIND.values())},
        )
        self.db.register("datasets", ds)
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def start_batch(self) -> None:
        """Start the clock of a batch's timings (facts loading is timed by the scan)."""
        self._last = time.perf_counter()

    def close(self) -> None:
        self.db.close()

    # -- one batch -----------------------------------------------------------------------

    def run(self, frame: pa.Table, facts: Facts) -> BatchResult:
        db = self.db
        tick = self._tick
        db.register("ev", _naive(frame, "time"))
        for name, table in facts.tables().items():
            if name == "grants":
                table = _naive(_naive(table, "starts"), "ends")
            db.register(name, table)
        self._prepare()
        tick("prepare")
        drafts: list[AlertDraft] = []
        drafts += self._per_event()
        tick("per_event")
        hourly = db.sql(
            "SELECT pid, hour, count(DISTINCT coalesce(CAST(sid AS VARCHAR), 'leaf' || leaf))::BIGINT AS reads, "
            "count(*) FILTER (WHERE verb = 'lookup' AND NOT allowed)::BIGINT AS refused, "
            "count(*) FILTER (WHERE break_glass)::BIGINT AS bg FROM tev GROUP BY pid, hour"
        ).to_arrow_table()
        db.register("hourly_batch", hourly)
        db.execute("INSERT INTO hourly SELECT * FROM hourly_batch")
        self._history()
        tick("history")
        drafts += self._burst()
        tick("burst")
        drafts += self._off_hours()
        tick("off_hours")
        drafts += self._fishing()
        drafts += self._grant_end()
        drafts += self._break_glass_excess()
        tick("fishing_break_glass")
        readers = db.sql(
            "SELECT sref, day_no AS day, pid, count(*)::BIGINT AS reads, min(leaf) AS first_leaf, "
            "max(leaf) AS last_leaf FROM x WHERE sref IS NOT NULL AND NOT open_any AND verb IN ('read', 'lookup') "
            "AND NOT (engineer AND allowed) GROUP BY sref, day_no, pid"
        ).to_arrow_table()
        db.register("readers_batch", readers)
        db.execute("INSERT INTO readers SELECT * FROM readers_batch")
        drafts += self._celebrity()
        tick("celebrity")
        last = db.execute("SELECT max(time) FROM ev").fetchall()[0][0]
        self._prune()
        self._forget()
        last_time = _utc(last) if last is not None else None
        return BatchResult(drafts, hourly, readers, last_time)

    def _prune(self) -> None:
        """Keep only the look-back the rules use, so memory stays flat over a long log."""
        lo = self.db.execute("SELECT min(hour) FROM hourly_batch").fetchall()[0][0]
        if lo is None:
            return
        self.db.execute("DELETE FROM hourly WHERE hour < ?", [int(lo) - 2 * LOOKBACK_HOURS])
        self.db.execute("DELETE FROM readers WHERE day < ?", [int(lo) // 24 - 2 * CELEBRITY_DAYS])

    def _tick(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._last
        self._last = now

    def _forget(self) -> None:
        for name in ("ev", "staff", "people", "module_owner", "related", "exes", "cases", "grants"):
            self.db.unregister(name)
        self.db.unregister("hourly_batch")
        self.db.unregister("readers_batch")

    def _prepare(self) -> None:
        """``tev``: the batch's taxpayer-data events by staff, the subject resolved; ``x``: with case flags."""
        db = self.db
        db.execute(
            """
            CREATE OR REPLACE TEMP TABLE pk AS
            SELECT eid, ref, upper(trim(coalesce(last_name, ''))) AS lname,
                   upper(regexp_replace(trim(coalesce(address_line, '')), '\\s+', ' ', 'g'))
                       || '|' || left(coalesce(zip, ''), 5) AS akey,
                   left(coalesce(zip, ''), 5) AS zip5, spouse_eid, is_employee, is_restricted, household_id
            FROM people
            """
        )
        db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE tev AS
            SELECT e.leaf, e.time, CAST(e.time AS DATE) AS day,
                   (epoch_us(e.time) // 86400000000)::BIGINT AS day_no,
                   (epoch_us(e.time) // 3600000000)::BIGINT AS hour,
                   e.principal AS pid, e.verb, e.kind, e.allowed, e.break_glass, e.purpose, e.policy,
                   coalesce(p.eid, mo.eid) AS sid
            FROM ev e
            JOIN staff s ON s.pid = e.principal
            LEFT JOIN people p ON p.ref = coalesce(e.subject, e.resource)
            LEFT JOIN module_owner mo ON mo.mref = e.resource AND e.subject IS NULL
            WHERE e.kind IN ({self.kinds_sql})
            """  # noqa: S608
        )
        db.execute(
            """
            CREATE OR REPLACE TEMP TABLE cases_at AS
            SELECT pid, eid, purpose, opened,
                   CASE WHEN closed IS NULL AND status = 'closed' THEN opened - 1 ELSE closed END AS closed
            FROM cases
            """
        )
        db.execute(
            """
            CREATE OR REPLACE TEMP TABLE cflags AS
            SELECT t.leaf,
              bool_or(c.opened <= t.day AND (c.closed IS NULL OR c.closed >= t.day)
                      AND c.purpose = t.purpose) AS open_purpose,
              bool_or(c.opened <= t.day AND (c.closed IS NULL OR c.closed >= t.day)) AS open_any,
              bool_or(c.opened <= t.day) AS ever,
              bool_or(c.closed < t.day) AS closed_before
            FROM tev t JOIN cases_at c ON c.pid = t.pid AND c.eid = t.sid
            GROUP BY t.leaf
            """
        )
        db.execute(
            """
            CREATE OR REPLACE TEMP TABLE x AS
            SELECT t.*, sp.ref AS sref,
                   coalesce(f.open_purpose, false) AS open_purpose, coalesce(f.open_any, false) AS open_any,
                   coalesce(f.ever, false) AS ever, coalesce(f.closed_before, false) AS closed_before,
                   s.kind AS pkind, s.roles, s.unit, s.manager, s.own_eid,
                   (' ' || s.roles || ' ') LIKE '% caseworker %' AS caseworker,
                   (' ' || s.roles || ' ') LIKE '% engineer %' OR s.kind = 'contractor' AS engineer
            FROM tev t
            JOIN staff s ON s.pid = t.pid
            LEFT JOIN pk sp ON sp.eid = t.sid
            LEFT JOIN cflags f ON f.leaf = t.leaf
            """
        )

    # -- per-event rules -------------------------------------------------------------------

    def _per_event(self) -> list[AlertDraft]:
        verbs = ", ".join(f"'{v}'" for v in CASE_VERBS)
        case_base = f"x.caseworker AND x.sid IS NOT NULL AND x.verb IN ({verbs}) AND NOT x.break_glass"
        sql = f"""
        WITH hits AS (
          SELECT 'household_lookup' AS rule, x.leaf, x.pid, x.sref, x.day, x.time,
            CASE WHEN x.sid = x.own_eid THEN 'her own account'
                 WHEN r.relation IS NOT NULL THEN 'a declared ' || r.relation
                 WHEN xe.eid IS NOT NULL THEN 'a former spouse'
                 WHEN sp.akey = op.akey OR sp.household_id = op.household_id THEN 'an account of her household'
                 WHEN EXISTS (SELECT 1 FROM exes x2 JOIN pk xp ON xp.eid = x2.eid
                              WHERE x2.pid = x.pid AND xp.akey = sp.akey)
                      THEN 'an account at a former spouse''s address'
                 WHEN sp.lname = op.lname AND sp.lname <> '' AND sp.zip5 = op.zip5 THEN 'her surname in her ZIP'
                 ELSE 'an account in her ZIP, no case' END AS why
          FROM x
          JOIN pk sp ON sp.eid = x.sid
          LEFT JOIN pk op ON op.eid = x.own_eid
          LEFT JOIN (SELECT pid, eid, min(relation) AS relation FROM related GROUP BY pid, eid) r
                 ON r.pid = x.pid AND r.eid = x.sid
          LEFT JOIN exes xe ON xe.pid = x.pid AND xe.eid = x.sid
          WHERE x.pkind = 'employee' AND (
                x.sid = x.own_eid OR r.relation IS NOT NULL OR xe.eid IS NOT NULL
             OR (op.eid IS NOT NULL AND sp.akey = op.akey AND sp.akey <> '|')
             OR (op.household_id IS NOT NULL AND sp.household_id = op.household_id)
             OR EXISTS (SELECT 1 FROM exes x2 JOIN pk xp ON xp.eid = x2.eid
                        WHERE x2.pid = x.pid AND xp.akey = sp.akey)
             OR (op.eid IS NOT NULL AND sp.lname = op.lname AND sp.lname <> '' AND sp.zip5 = op.zip5)
             OR (op.eid IS NOT NULL AND sp.zip5 = op.zip5 AND sp.zip5 <> '' AND NOT x.open_any
                 AND NOT x.break_glass))
          UNION ALL
          SELECT 'coworker_lookup', x.leaf, x.pid, x.sref, x.day, x.time,
            CASE WHEN q.pid IS NOT NULL THEN 'a co-worker''s account' ELSE 'an employee''s account outside her unit'
            END
          FROM x
          JOIN pk sp ON sp.eid = x.sid
          LEFT JOIN staff q ON q.own_eid = x.sid AND q.pid <> x.pid AND (
               q.unit = x.unit OR q.manager = x.manager OR q.manager = x.pid OR x.manager = q.pid)
          WHERE x.sid <> coalesce(x.own_eid, -1)
            AND ((q.pid IS NOT NULL AND NOT x.open_purpose)
                 OR (sp.is_employee AND coalesce(x.unit, '') <> 'employee_accounts'))
          UNION ALL
          SELECT 'restricted_lookup', x.leaf, x.pid, x.sref, x.day, x.time, 'a restricted taxpayer'
          FROM x JOIN pk sp ON sp.eid = x.sid
          WHERE sp.is_restricted AND NOT (x.unit = 'special' AND x.open_purpose)
          UNION ALL
          SELECT 'no_open_case', x.leaf, x.pid, x.sref, x.day, x.time, 'no open case for the purpose'
          FROM x WHERE {case_base} AND NOT x.open_purpose
          UNION ALL
          SELECT 'case_closed', x.leaf, x.pid, x.sref, x.day, x.time, 'after her case closed'
          FROM x WHERE {case_base} AND x.closed_before AND NOT x.open_any
          UNION ALL
          SELECT 'never_assigned', x.leaf, x.pid, x.sref, x.day, x.time, 'never assigned to her'
          FROM x WHERE {case_base} AND NOT x.ever
          UNION ALL
          SELECT 'grant_probe', x.leaf, x.pid, NULL, x.day, x.time, 'outside her grants'
          FROM x WHERE x.engineer AND NOT x.allowed
        )
        , spread AS (SELECT rule, pid, day, count(DISTINCT sref) AS k FROM hits GROUP BY rule, pid, day)
        SELECT h.rule, h.pid, CASE WHEN s.k > {MANY} THEN NULL ELSE h.sref END AS sref, h.day,
               list(h.leaf ORDER BY h.leaf) AS leaves, min(h.time) AS t0, max(h.time) AS t1,
               count(*) AS n, min(h.why) AS why, any_value(s.k) AS k
        FROM hits h JOIN spread s ON s.rule = h.rule AND s.pid = h.pid AND s.day = h.day
        GROUP BY h.rule, h.pid, CASE WHEN s.k > {MANY} THEN NULL ELSE h.sref END, h.day
        ORDER BY h.rule, h.pid, h.day
        """  # noqa: S608
        out: list[AlertDraft] = []
        for rule, pid, sref, day, leaves, t0, t1, n, why, k in self.db.execute(sql).fetchall():
            if k > MANY:  # one alert for a run over many taxpayers, not one per taxpayer
                summary = f"{pid}: {n} event(s) on {k} taxpayers on {day}: {why}"
                dedupe = f"{rule}:{pid}:many:{day}"
            else:
                summary = f"{pid}: {n} event(s) on one taxpayer's records on {day}: {why}"
                dedupe = f"{rule}:{pid}:{key(sref)}:{day}"
            out.append(_draft(rule, summary, leaves, pid, sref, (t0, t1), dedupe))
        return out

    # -- window rules --------------------------------------------------------------------------

    def _history(self) -> None:
        self.db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE hist AS
            SELECT h.pid, h.hour, sum(h.reads) AS reads, sum(h.refused) AS refused, sum(h.bg) AS bg
            FROM hourly h
            WHERE h.hour >= (SELECT min(hour) FROM hourly_batch) - {LOOKBACK_HOURS}
              AND h.hour <= (SELECT max(hour) FROM hourly_batch) + {LOOKBACK_HOURS}
            GROUP BY h.pid, h.hour
            """  # noqa: S608
        )

    def _burst(self) -> list[AlertDraft]:
        """Hours touching far more taxpayers than her own hours and her unit's.

        A look-up that found nobody she may see touched no taxpayer (``hourly.reads`` counts
        each one as distinct, having no subject to tell them apart): the refused look-ups
        are taken out of the count here (those refused after being found too: she saw
        nobody), so a run of mistyped or tried TINs is fishing (its own rule), not a burst
        "on far more taxpayers". Found by independent scenarios (tests/oversight/
        test_independent_scenarios.py), where fishing sessions also raised bursts.
        """
        sql = f"""
        WITH touched AS (SELECT pid, hour, greatest(reads - refused, 0) AS reads FROM hist),
        own AS (SELECT pid, median(reads) AS med, mad(reads) AS mad, count(*) AS n FROM touched GROUP BY pid),
        unitstat AS (SELECT s.unit, median(h.reads) AS med, mad(h.reads) AS mad, count(*) AS k
                     FROM touched h JOIN staff s ON s.pid = h.pid GROUP BY s.unit),
        allstat AS (SELECT median(reads) AS med, mad(reads) AS mad, count(*) AS k FROM touched),
        cand AS (
          -- her unit's hours as the baseline; the agency's when the unit has too few; none (no
          -- alarm: nothing to compare with) when the log is too young for either
          SELECT b.pid, b.hour, h.reads, o.med AS omed, o.mad AS omad, o.n,
                 CASE WHEN u.k >= {MIN_HOURS} THEN u.med WHEN a.k >= {MIN_AGENCY_HOURS} THEN a.med END AS umed,
                 CASE WHEN u.k >= {MIN_HOURS} THEN u.mad WHEN a.k >= {MIN_AGENCY_HOURS} THEN a.mad END AS umad
          FROM (SELECT DISTINCT pid, hour FROM hourly_batch) b
          JOIN touched h ON h.pid = b.pid AND h.hour = b.hour
          JOIN own o ON o.pid = b.pid
          JOIN staff s ON s.pid = b.pid
          JOIN unitstat u ON u.unit IS NOT DISTINCT FROM s.unit
          CROSS JOIN allstat a
        )
        SELECT pid, hour, reads FROM cand
        WHERE umed IS NOT NULL AND reads > umed + 6 * greatest(1.4826 * umad, 1.0, 0.25 * umed)
          AND reads >= 3 * greatest(umed, 1)
          AND (n < {MIN_HOURS} OR (reads > omed + 6 * greatest(1.4826 * omad, 1.0, 0.25 * omed)
                                   AND reads >= 3 * greatest(omed, 1)))
        """  # noqa: S608
        return self._hour_alerts(
            "burst", sql, "{n} events in an hour on far more taxpayers than her own and her unit's hours"
        )

    def _hour_alerts(self, rule: str, sql: str, text: str) -> list[AlertDraft]:
        """One alert per person and day for the hours ``sql`` flags (a run across an hour boundary is one)."""
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE fired AS {sql}")
        rows = self.db.execute(
            """
            SELECT f.pid, f.hour // 24 AS day, list(DISTINCT f.hour % 24 ORDER BY f.hour % 24),
                   list(t.leaf ORDER BY t.leaf), min(t.time), max(t.time), count(*)
            FROM fired f JOIN tev t ON t.pid = f.pid AND t.hour = f.hour
            GROUP BY f.pid, f.hour // 24 ORDER BY f.pid, day
            """
        ).fetchall()
        out: list[AlertDraft] = []
        for pid, day, hours, leaves, t0, t1, n in rows:
            date = (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()
            at = ", ".join(f"{h:02d}h" for h in hours)
            summary = f"{pid}: {text.format(n=n)} ({date} at {at} UTC)"
            out.append(_draft(rule, summary, leaves, pid, None, (t0, t1), f"{rule}:{pid}:{date}"))
        return out

    def _off_hours(self) -> list[AlertDraft]:
        """Hours at least OFF_HOURS_GAP from every hour she worked on her *other* days.

        An hour counts as hers when she was active in it on at least one other day (two
        once she has 20 days), so overtime widens her hours and a night she browsed before
        does not hide the next one for long; the day judged never vouches for itself.
        """
        sql = f"""
        WITH act AS (SELECT DISTINCT pid, hour // 24 AS day, hour % 24 AS hod FROM hist WHERE reads > 0),
        days AS (SELECT pid, count(DISTINCT day) AS n FROM act GROUP BY pid),
        hod AS (SELECT pid, hod, count(*) AS d FROM act GROUP BY pid, hod),
        cand AS (SELECT DISTINCT b.pid, b.hour, b.hour // 24 AS day FROM hourly_batch b JOIN days USING (pid)
                 WHERE days.n - 1 >= {MIN_HISTORY_DAYS} AND b.reads > 0),
        usual AS (
          SELECT c.pid, c.hour, h.hod
          FROM cand c JOIN hod h ON h.pid = c.pid JOIN days ds ON ds.pid = c.pid
          LEFT JOIN act a ON a.pid = c.pid AND a.day = c.day AND a.hod = h.hod
          WHERE h.d - (CASE WHEN a.pid IS NULL THEN 0 ELSE 1 END) >= greatest(1, floor(0.1 * (ds.n - 1)))
        ),
        near AS (
          SELECT DISTINCT u.pid, u.hour FROM usual u
          WHERE least(abs(u.hod - u.hour % 24), 24 - abs(u.hod - u.hour % 24)) < {OFF_HOURS_GAP}
        )
        SELECT c.pid, c.hour FROM cand c
        WHERE EXISTS (SELECT 1 FROM usual u WHERE u.pid = c.pid AND u.hour = c.hour)
          AND NOT EXISTS (SELECT 1 FROM near n WHERE n.pid = c.pid AND n.hour = c.hour)
        """  # noqa: S608
        return self._hour_alerts("off_hours", sql, "{n} event(s) at an hour she never works")

    def _fishing(self) -> list[AlertDraft]:
        sql = """
        WITH daily AS (SELECT pid, hour // 24 AS day, sum(refused) AS refused FROM hist GROUP BY pid, hour // 24),
        own AS (SELECT pid, median(refused) AS med, mad(refused) AS mad FROM daily GROUP BY pid),
        bday AS (SELECT DISTINCT pid, hour // 24 AS day FROM hourly_batch WHERE refused > 0)
        SELECT d.pid, d.day, d.refused FROM bday b
        JOIN daily d ON d.pid = b.pid AND d.day = b.day JOIN own o ON o.pid = d.pid
        WHERE d.refused >= greatest(4, ceil(o.med + 6 * greatest(1.4826 * o.mad, 1.0)))
        """
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE fired AS {sql}")
        rows = self.db.execute(
            """
            SELECT f.pid, f.day, list(t.leaf ORDER BY t.leaf), min(t.time), max(t.time), any_value(f.refused)
            FROM fired f JOIN tev t ON t.pid = f.pid AND t.day_no = f.day AND t.verb = 'lookup' AND NOT t.allowed
            GROUP BY f.pid, f.day ORDER BY f.pid, f.day
            """
        ).fetchall()
        out = []
        for pid, day, leaves, t0, t1, n in rows:
            date = (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()
            out.append(
                _draft(
                    "tin_fishing",
                    f"{pid}: {n} look-ups that found nothing she may see on {date}",
                    leaves,
                    pid,
                    None,
                    (t0, t1),
                    f"tin_fishing:{pid}:{date}",
                )
            )
        return out

    def _grant_end(self) -> list[AlertDraft]:
        """Reads inside a grant in its last days, far above her own days: taking what she can before it ends."""
        sql = f"""
        WITH cover AS (
          SELECT DISTINCT x.leaf, x.pid, x.day_no, x.time
          FROM x JOIN datasets d ON d.kind = x.kind
          JOIN grants g ON g.pid = x.pid AND g.purpose = x.purpose
               AND list_contains(string_split(g.datasets, ','), d.dataset)
               AND g.starts <= x.time AND x.time < g.ends
          WHERE x.engineer AND x.allowed AND g.ends - x.time <= INTERVAL {GRANT_END_DAYS} DAY
        ),
        daily AS (SELECT pid, hour // 24 AS day, sum(greatest(reads - refused, 0)) AS n  -- look-ups that found
                  FROM hist GROUP BY pid, hour // 24),  -- nobody read no taxpayer (see _burst)
        norm AS (SELECT pid, median(n) AS med, mad(n) AS mad FROM daily GROUP BY pid),
        fired AS (
          SELECT DISTINCT c.pid, c.day_no, d.n FROM cover c
          JOIN daily d ON d.pid = c.pid AND d.day = c.day_no JOIN norm o ON o.pid = c.pid
          WHERE d.n >= greatest(20, 3 * o.med, o.med + 6 * greatest(1.4826 * o.mad, 1.0))
        )
        SELECT f.pid, f.day_no, any_value(f.n), list(c.leaf ORDER BY c.leaf), min(c.time), max(c.time)
        FROM fired f JOIN cover c ON c.pid = f.pid AND c.day_no = f.day_no
        GROUP BY f.pid, f.day_no ORDER BY f.pid, f.day_no
        """  # noqa: S608
        out = []
        for pid, day, n, leaves, t0, t1 in self.db.execute(sql).fetchall():
            date = (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()
            summary = (
                f"{pid}: {n} taxpayers read on {date}, within {GRANT_END_DAYS} days of her grant's end, "
                "far above her other days"
            )
            out.append(_draft("grant_probe", summary, leaves, pid, None, (t0, t1), f"grant_probe:{pid}:end:{date}"))
        return out

    def _break_glass_excess(self) -> list[AlertDraft]:
        sql = """
        WITH holders AS (SELECT pid, unit FROM staff WHERE (' ' || roles || ' ') LIKE '% break_glass %'),
        counts AS (SELECT ho.pid, ho.unit, coalesce(sum(h.bg), 0) AS n
                   FROM holders ho LEFT JOIN hist h ON h.pid = ho.pid
                        AND h.hour > (SELECT max(hour) FROM hourly_batch) - 720
                   GROUP BY ho.pid, ho.unit),
        uq AS (SELECT unit, quantile_cont(n, 0.9) AS q90 FROM counts GROUP BY unit),
        unitn AS (SELECT c.unit, count(*) AS k, median(c.n) AS med, avg(c.n) FILTER (WHERE c.n <= uq.q90) AS tm
                  FROM counts c JOIN uq ON uq.unit IS NOT DISTINCT FROM c.unit GROUP BY c.unit),
        alln AS (SELECT median(n) AS med,
                        avg(n) FILTER (WHERE n <= (SELECT quantile_cont(n, 0.9) FROM counts)) AS tm FROM counts),
        base AS (SELECT c.pid, c.n,
                        CASE WHEN u.k >= 5 THEN u.med ELSE a.med END AS med,
                        coalesce(CASE WHEN u.k >= 5 THEN u.tm ELSE a.tm END, 0) AS tm
                 FROM counts c JOIN unitn u ON u.unit IS NOT DISTINCT FROM c.unit, alln a),
        cand AS (SELECT DISTINCT pid FROM hourly_batch WHERE bg > 0)
        -- counts of rare events: the norm is the holders' trimmed mean rate; above it by 4 of its
        -- standard deviations (Poisson) and one more, and never fewer than 6 in 30 days
        SELECT b.pid, b.n FROM base b JOIN cand USING (pid)
        WHERE b.n >= greatest(6, ceil(b.tm + 4 * sqrt(b.tm) + 1), 3 * b.med)
        """
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE fired AS {sql}")
        rows = self.db.execute(
            """
            SELECT f.pid, any_value(f.n), list(t.leaf ORDER BY t.leaf), min(t.time), max(t.time)
            FROM fired f JOIN tev t ON t.pid = f.pid AND t.break_glass
            GROUP BY f.pid ORDER BY f.pid
            """
        ).fetchall()
        out = []
        for pid, n, leaves, t0, t1 in rows:
            month = t1.strftime("%Y-%m")
            out.append(
                _draft(
                    "break_glass_excess",
                    f"{pid}: {n} break-glass accesses in 30 days, above her unit's norm",
                    leaves,
                    pid,
                    None,
                    (t0, t1),
                    f"break_glass_excess:{pid}:{month}",
                )
            )
        return out

    def _celebrity(self) -> list[AlertDraft]:
        sql = f"""
        WITH touched AS (SELECT DISTINCT sref, day FROM readers_batch),
        win AS (
          SELECT t.sref, t.day, r.pid, r.day AS rday, r.first_leaf
          FROM touched t JOIN readers r ON r.sref = t.sref AND r.day BETWEEN t.day - {CELEBRITY_DAYS - 1} AND t.day
        ),
        fired AS (SELECT sref, day FROM win GROUP BY sref, day HAVING count(DISTINCT pid) >= {CELEBRITY_READERS})
        SELECT w.sref, min(w.rday) AS d0, max(w.rday) AS d1, count(DISTINCT w.pid) AS k,
               list(DISTINCT w.first_leaf ORDER BY w.first_leaf) AS leaves
        FROM fired f JOIN win w ON w.sref = f.sref AND w.day = f.day
        GROUP BY w.sref ORDER BY w.sref
        """  # noqa: S608
        out = []
        for sref, d0, d1, k, leaves in self.db.execute(sql).fetchall():
            start = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(d0))
            end = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(d1) + 1)
            leaves = sorted(set(leaves) | set(self._batch_leaves(sref, int(d0), int(d1))))
            out.append(
                _draft(
                    "celebrity",
                    f"one taxpayer read by {k} employees without a case on her within {CELEBRITY_DAYS} days",
                    leaves,
                    None,
                    sref,
                    (start, end),
                    f"celebrity:{key(sref)}:{start.date().isoformat()}",
                )
            )
        return out

    def _batch_leaves(self, sref: str, d0: int, d1: int) -> list[int]:
        rows = self.db.execute(
            "SELECT leaf FROM x WHERE sref = ? AND day_no BETWEEN ? AND ? AND NOT open_any "
            "AND verb IN ('read', 'lookup') AND NOT (engineer AND allowed)",
            [sref, d0, d1],
        ).fetchall()
        return [int(r[0]) for r in rows]


def key(ref: str | None) -> str:
    """A subject ref as it appears in dedupe keys: a base32 digest (random hex refs can hold nine
    digits in a row, which the alert check rightly refuses as TIN-shaped)."""
    if ref is None:
        return "-"
    return base64.b32encode(hashlib.sha256(ref.encode()).digest()[:15]).decode().lower()


def _draft(
    rule: str,
    summary: str,
    leaves: list[int],
    pid: str | None,
    sref: str | None,
    window: tuple[Any, Any] | None,
    dedupe: str,
) -> AlertDraft:
    win = (_utc(window[0]), _utc(window[1])) if window is not None else None
    return AlertDraft(
        rule=rule,
        severity=RULES[rule].severity,
        summary=summary[:500],
        leaves=[int(v) for v in leaves],
        principal_id=pid,
        subject=sref,
        window=win,
        dedupe=dedupe[:200],
    )
