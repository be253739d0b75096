"""`gongzhi db backup FILE`: a consistent copy of a running bot's database.

SQLite: the online backup API copies the database page by page while the bot keeps writing
(WAL readers are not blocked); the copy is a plain SQLite file, restored by putting it in place
of the database while the bot is stopped. PostgreSQL: `pg_dump --format=custom` (one consistent
snapshot), restored with `pg_restore`.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    pass


def backup(database_url: str, dest: Path) -> str:
    """Write the copy to `dest`; returns how it was made, for the operator."""
    url = make_url(database_url)
    if dest.exists():
        raise BackupError(f"{dest} exists already: choose a new file name")
    if url.get_backend_name() == "sqlite":
        if not url.database or not Path(url.database).is_file():
            raise BackupError(f"no SQLite database at {url.database}")
        source = sqlite3.connect(url.database)
        target = sqlite3.connect(dest)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        return "sqlite online backup"
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    done = subprocess.run([pg_dump, "--format=custom", "--file", str(dest), dsn], capture_output=True, text=True)
    if done.returncode != 0:
        dest.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
    return "pg_dump --format=custom (restore with pg_restore)"
