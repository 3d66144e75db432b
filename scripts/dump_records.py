"""Dump every table of a run's store as text, times left out, so two runs of one experiment can be compared.

    python scripts/dump_records.py RUN_DIR > records.txt

Columns that hold wall or CPU time (started, finished, seconds, cpu_seconds, created) are left out, the run
directory's own path is written as <RUN>, and rows are sorted, so a refactoring that keeps behaviour keeps the dump.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

TIMES = {"started", "finished", "seconds", "cpu_seconds", "created"}
META_TIMES = {"created", "run_id"}  # the run id holds the start time


def dump(run_dir: Path) -> str:
    run_dir = run_dir.resolve()
    con = sqlite3.connect(f"file:{run_dir / 'run.db'}?mode=ro", uri=True)
    out: list[str] = []
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    for table in tables:
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] not in TIMES]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
        if table == "meta":
            rows = [r for r in rows if r[0] not in META_TIMES]
        text = sorted(json.dumps(list(r)).replace(str(run_dir), "<RUN>") for r in rows)
        out.append(f"== {table} ({', '.join(cols)}) {len(text)} rows")
        out.extend(text)
    con.close()
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dump(Path(sys.argv[1])))
