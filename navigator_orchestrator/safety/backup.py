"""Verified backups of a simulation database, and restore: a run must never destroy the only good copy.

A backup is taken under the run lock (the caller holds it) after `CHECKPOINT`, with a DuckDB connection open so
no other process can write while the file is copied. The copy goes to a `.part` temp file in the backup
folder, is fsynced, opened read-only and compared table by table with the source's digests; only then is its
manifest written and the file renamed to `backup_<UTC time>[_N].duckdb`. The manifest comes first, so a file
named as a backup always has one; a process killed mid-copy leaves only a `.part` file, which list and
rotation ignore and the next backup of that database removes. `backup_latest.duckdb` is a second copy of the
newest backup, swapped in with os.replace (there is never a moment without one).

Backups of several databases may share a folder: each manifest names its database file, and listing and
rotation only ever look at that database's backups (`backup_latest` is the newest of any of them).
"""

from __future__ import annotations

import errno
import glob
import hashlib
import itertools
import json
import os
import re
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .. import __version__
from ..errors import BackupError
from .atomic import fsync_dir
from .digest import whole_table_digests
from .locking import duckdb_lock_error
from .masking import mask_data

FOLDER = "backups"
LATEST = "backup_latest.duckdb"
FAULT_ENV = "PLANWISE_TEST_FAULT"  # tests only: "<backup|latest|restore>:<enospc|pause|kill>", half-way through a copy
_NAME = re.compile(r"backup_(?P<stamp>\d{8}_\d{6})(?:_(?P<n>\d+))?\.duckdb")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Backup:
    """A backup file and its manifest (time, run id, size, sha256, per-table digests, versions)."""

    path: Path
    manifest: dict

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]

    @property
    def tables(self) -> dict[str, list[int]]:
        return self.manifest["tables"]

    def describe(self) -> str:
        m = self.manifest
        return (f"{self.path.name}  {m['created_at']}  {m['size'] / 1e6:,.1f} MB  {len(m['tables'])} tables  "
                f"run {m['run_id']}")


@dataclass(frozen=True)
class Restored:
    """What a restore did: the backup installed, and where the database it replaced went."""

    backup: Backup
    previous: Backup | None = None  # the replaced database, backed up first
    set_aside: Path | None = None  # ... or moved here when DuckDB could not read it


class _Unreadable(BackupError):
    """DuckDB cannot read the database being backed up (damaged): restore moves it aside instead."""


def folder_of(db_path: Path) -> Path:
    return db_path.parent / FOLDER


def table_digests(con: duckdb.DuckDBPyConnection) -> dict[str, list[int]]:
    """The digest (digest.table_digest) of every table of the main schema: what a backup must reproduce exactly."""
    names = con.execute("select table_name from duckdb_tables() where database_name = current_database() "
                        "and schema_name = 'main' order by table_name").fetchall()
    return whole_table_digests(con, [name for (name,) in names])


def create_backup(db_path: Path, run_id: str, keep: int) -> Backup:
    """Back up `db_path` (the caller holds its run lock), replace latest, keep the newest `keep` backups."""
    folder = folder_of(db_path)
    temp = _temp(folder, db_path, "backup")
    try:
        folder.mkdir(exist_ok=True)
        _remove_leftovers(folder, db_path.name)
        try:
            with duckdb.connect(str(db_path)) as con:  # held while copying: no other process can write
                con.execute("CHECKPOINT")
                tables = table_digests(con)
                size, sha256 = _copy(db_path, temp, "backup")
        except duckdb.Error as error:
            raise duckdb_lock_error(error, db_path) or _Unreadable(
                f"cannot read {db_path} to back it up: {_first_line(error)}",
                f"the database is damaged: restore the last good backup with `planwise backup restore --db {db_path}`",
            ) from None
        try:
            copied = _digests_of(temp)
        except duckdb.Error as error:
            raise BackupError(f"the copy of {db_path} cannot be opened: {_first_line(error)}",
                              "run the same command again; if it repeats, check the disk") from None
        if copied != tables:
            changed = sorted(t for t in tables.keys() | copied.keys() if tables.get(t) != copied.get(t))
            raise BackupError(f"the copy of {db_path} differs from the database in {', '.join(changed)}",
                              "run the same command again; if it repeats, check the disk")
        backup = _publish(folder, temp, {
            "database": db_path.name, "source": str(db_path), "run_id": run_id, "size": size, "sha256": sha256,
            "tables": tables, "duckdb_version": duckdb.__version__, "planwise_version": __version__,
        })
        _replace_latest(backup, db_path)
        _rotate(folder, db_path.name, keep)
        return backup
    except OSError as error:
        raise _os_error(error, folder) from None
    finally:
        with suppress(OSError):
            temp.unlink(missing_ok=True)


def list_backups(db_path: Path) -> list[Backup]:
    """The timestamped backups of this database that have a manifest, oldest first."""
    folder = folder_of(db_path)
    found = []
    for manifest_path in folder.glob("backup_*.json") if folder.is_dir() else ():
        path = manifest_path.with_suffix(".duckdb")
        manifest = _read_manifest(manifest_path)
        if _NAME.fullmatch(path.name) and manifest.get("database") == db_path.name and path.is_file():
            found.append(Backup(path, manifest))
    return sorted(found, key=lambda b: _order(b.path.name))


def latest_path(db_path: Path) -> Path:
    return folder_of(db_path) / LATEST


def latest_backup(db_path: Path) -> Backup | None:
    """`backup_latest.duckdb` with its manifest (`copy_of` names the backup it copies), if there is one."""
    path = latest_path(db_path)
    return Backup(path, _read_manifest(path.with_suffix(".json"))) if path.is_file() else None


def verify_backup(path: Path) -> Backup:
    """Check a backup against its manifest (size, sha256) and open it read-only (digests equal the manifest's)."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file {path}", "pick one from `planwise backup list`")
    size, sha256 = _hash(path)
    manifest = _manifest_matching(path, sha256)
    if manifest is None:
        own = _read_manifest(path.with_suffix(".json"))
        if not own:
            problem = f"has no manifest ({path.with_suffix('.json').name}): it was never verified"
        elif own.get("size") != size:
            problem = f"is {size:,} bytes, its manifest says {own.get('size', 0):,}: the file is incomplete"
        else:
            problem = (f"has sha256 {sha256[:16]}..., its manifest says {str(own.get('sha256'))[:16]}...: "
                       "the file is damaged")
        raise BackupError(f"backup {path} {problem}", "restore another backup (see `planwise backup list`)")
    try:
        tables = _digests_of(path)
    except duckdb.Error as error:
        raise BackupError(f"backup {path} cannot be opened: {_first_line(error)}",
                          "restore another backup (see `planwise backup list`)") from None
    if tables != manifest.get("tables"):
        raise BackupError(f"backup {path} opens but its tables differ from its manifest",
                          "restore another backup (see `planwise backup list`)")
    return Backup(path, manifest)


def restore_backup(db_path: Path, source: Path, run_id: str, keep: int) -> Restored:
    """Verify `source`, back up the current database, then atomically replace it (the caller holds the lock)."""
    backup = verify_backup(source)
    staged = _temp(db_path.parent, db_path, "restore")
    try:
        for leftover in db_path.parent.glob(f".{glob.escape(db_path.name)}.restore.*.part"):
            leftover.unlink()  # a restore killed earlier; we hold the lock, so none is in progress
        _, sha256 = _copy(backup.path, staged, "restore")
        if sha256 != backup.sha256:
            raise BackupError(f"backup {backup.path} changed while it was copied", "run the restore again")
        previous = set_aside = None
        if db_path.exists():
            try:
                previous = create_backup(db_path, run_id, keep)
            except _Unreadable:
                set_aside = _set_aside(db_path)
        db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)  # a stale log must not replay into it
        os.replace(staged, db_path)
        fsync_dir(db_path.parent)
        return Restored(backup, previous, set_aside)
    except OSError as error:
        raise _os_error(error, db_path.parent) from None
    finally:
        with suppress(OSError):
            staged.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------------


def _temp(folder: Path, db_path: Path, role: str) -> Path:
    """Temp names start with '.<database name>.' and end in '.part': never mistaken for a backup."""
    return folder / f".{db_path.name}.{role}.{os.getpid()}.{os.urandom(4).hex()}.part"


def _copy(source: Path, target: Path, role: str) -> tuple[int, str]:
    """Copy with fsync, returning (size, sha256); the test fault hook fires half-way through."""
    fault = os.environ.get(FAULT_ENV, "").split(":")
    fault = fault[1] if fault[0] == role and len(fault) == 2 else None
    digest, copied, total = hashlib.sha256(), 0, source.stat().st_size
    with source.open("rb") as src, target.open("xb") as dst:
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
            digest.update(chunk)
            copied += len(chunk)
            if fault and copied >= total // 2:
                _fire(fault, target, copied, total)
                fault = None
        dst.flush()
        os.fsync(dst.fileno())
    return copied, digest.hexdigest()


def _fire(fault: str, target: Path, copied: int, total: int) -> None:
    if fault == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    if fault == "kill":  # a crash half-way through the copy (tests of --resume)
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "pause":
        print(f"planwise: test fault: paused writing {target.name} at {copied:,} of {total:,} bytes",
              file=sys.stderr, flush=True)
        time.sleep(120)


def _hash(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _digests_of(path: Path) -> dict[str, list[int]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return table_digests(con)


def _publish(folder: Path, temp: Path, fields: dict) -> Backup:
    """Manifest first (claiming the name, never overwriting), then the data file renamed into place."""
    stamp = datetime.now(timezone.utc)
    prefix = f"backup_{stamp:%Y%m%d_%H%M%S}"
    # after the highest number used this second, so a name freed by rotation is never reused out of order
    taken = [_order(f.with_suffix(".duckdb").name)[1] for f in folder.glob(prefix + "*")
             if _NAME.fullmatch(f.with_suffix(".duckdb").name)]
    for n in itertools.count(max(taken, default=0) + 1):
        name = f"{prefix}{'' if n == 1 else f'_{n}'}.duckdb"
        path = folder / name
        manifest = {"file": name, "created_at": stamp.isoformat(timespec="seconds"), **fields}
        if not path.exists() and _write_json(path.with_suffix(".json"), manifest, exclusive=True):
            break
    os.rename(temp, path)
    fsync_dir(folder)
    return Backup(path, _read_manifest(path.with_suffix(".json")))


def _replace_latest(backup: Backup, db_path: Path) -> None:
    folder = backup.path.parent
    temp = _temp(folder, db_path, "latest")
    try:
        _, sha256 = _copy(backup.path, temp, "latest")
        if sha256 != backup.sha256:
            raise BackupError(f"the copy of {backup.path.name} to {LATEST} differs", "run the same command again")
        os.replace(temp, folder / LATEST)
        # a crash between these two lines leaves the previous manifest: verify then finds this copy's by sha256
        _write_json(folder / "backup_latest.json", {**backup.manifest, "file": LATEST, "copy_of": backup.path.name})
        fsync_dir(folder)
    finally:
        with suppress(OSError):
            temp.unlink(missing_ok=True)


def _rotate(folder: Path, database: str, keep: int) -> None:
    """Delete all but the newest `keep` backups of `database` (data first: a manifest alone is never a backup)."""
    for old in list_backups(folder.parent / database)[:-keep]:
        old.path.unlink()
        old.path.with_suffix(".json").unlink()


def _remove_leftovers(folder: Path, database: str) -> None:
    """Temp files of a killed backup, and manifests whose data never arrived (we hold the lock)."""
    for leftover in folder.glob(f".{glob.escape(database)}.*.part"):
        leftover.unlink()
    for manifest_path in folder.glob("backup_*.json"):
        if (_NAME.fullmatch(manifest_path.with_suffix(".duckdb").name)
                and not manifest_path.with_suffix(".duckdb").exists()
                and _read_manifest(manifest_path).get("database") == database):
            manifest_path.unlink()


def _manifest_matching(path: Path, sha256: str) -> dict | None:
    """The file's own manifest if it matches; for latest, also the manifest of the backup it is a copy of."""
    candidates = [path.with_suffix(".json")]
    if path.name == LATEST:
        candidates += sorted(path.parent.glob("backup_*.json"))
    for candidate in candidates:
        manifest = _read_manifest(candidate)
        if manifest.get("sha256") == sha256:
            return manifest
    return None


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _write_json(path: Path, data: dict, exclusive: bool = False) -> bool:
    """Write atomically (temp, fsync, rename); with `exclusive`, False instead of replacing an existing file."""
    temp = path.with_name(f".{data['database']}.manifest.{os.getpid()}.{os.urandom(4).hex()}.part")
    try:
        with temp.open("x", encoding="utf-8") as handle:
            json.dump(mask_data(data), handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        if not exclusive:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with suppress(OSError):
            temp.unlink(missing_ok=True)


def _set_aside(db_path: Path) -> Path:
    """Move a database DuckDB cannot read (and its log) into the backup folder rather than delete it."""
    folder = folder_of(db_path)
    target = folder / f"damaged_{datetime.now(timezone.utc):%Y%m%d_%H%M%S}_{db_path.name}"
    os.replace(db_path, target)
    wal = db_path.with_name(db_path.name + ".wal")
    if wal.exists():
        os.replace(wal, target.with_name(target.name + ".wal"))
    return target


def _order(name: str) -> tuple[str, int]:
    match = _NAME.fullmatch(name)
    return match.group("stamp"), int(match.group("n") or 1)


def _os_error(error: OSError, folder: Path) -> BackupError:
    """Disk full, an unwritable folder, anything else: one line, and the live database was not changed."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError(f"no space left on the disk of {folder} for the backup; the database was not changed",
                           f"free space there (df -h {folder}) and run again, or skip the backup with "
                           "`planwise run --no-backup`")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST):
        return BackupError(f"cannot write the backup folder {folder}: {error.strerror}; the database was not changed",
                           f"make {folder} a writable folder (chmod u+w) and run again, or skip the backup with "
                           "`planwise run --no-backup`")
    return BackupError(f"backup in {folder} failed: {error.strerror or error}; the database was not changed",
                       "fix the cause and run the same command again")


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]
