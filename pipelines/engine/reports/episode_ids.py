"""The episode ids a practice sees (issue 19 item 9). The warehouse's episode_id is `<cohort>-` + 16 hex of an
unsalted MD5 of beneficiary id, cohort and trigger date (sql/20_episodes/25_episodes.sql): anyone holding a list
of beneficiary ids could recompute it and link a report's episode to a patient. Every practice-facing output
(scorecards, lines pages and their anchors, workbooks, lever descriptions, `asm explain`) shows a keyed id
instead: `<cohort>-R` + 16 hex of HMAC-SHA256(key, internal id). The key is 32 random bytes kept in
OUT/keys/episode-id.key (mode 0600), created once per output folder and reused by every later run and report
of it, so an episode keeps its keyed id; it is never written under OUT/reports. The internal id stays in the
warehouse (tests and differential references use it)."""
from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from pathlib import Path

import polars as pl

from pipelines.engine.warehouse import OutFolder

KEY_BYTES = 32
KEYED_MARK = "R"  # HF-R...: never confused with an internal id (HF-<16 hex>)
OLD_LEVER_PREFIX = r"^Episode [A-Za-z]+-[0-9a-f]{16}: "  # levers' description before issue 19 item 9


class EpisodeKeyError(Exception):
    """The key file cannot be read or created. str() is the one-line user message."""


def episode_key(out_dir: Path) -> bytes:
    """OUT's episode-id key: read, or created once (os.urandom, mode 0600). Created under a temporary name and
    linked into place, so two processes creating it at once agree on one key and nobody reads half a file."""
    path = OutFolder(Path(out_dir)).episode_key_file
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made the key first: theirs is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return _read_key(path)
    except OSError as exc:
        raise EpisodeKeyError(f"cannot create the episode-id key {path}: {exc.strerror or exc}") from None


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise EpisodeKeyError(f"{path}: not an episode-id key ({len(key)} bytes, expected {KEY_BYTES}); restore it "
                              "from a backup (a new key changes every episode id the reports show)")
    return key


def keyed_episode_id(episode_id: str, key: bytes) -> str:
    """'HF-0123456789abcdef' -> 'HF-R' + 16 hex of HMAC-SHA256(key, the whole internal id)."""
    cohort = episode_id.split("-", 1)[0] if "-" in episode_id else "EP"
    return f"{cohort}-{KEYED_MARK}{hmac.digest(key, episode_id.encode(), hashlib.sha256).hex()[:16]}"


def keyed_ids(ids: pl.Series, key: bytes) -> pl.DataFrame:
    """Each distinct internal id of `ids` (`d`) with its keyed id (`keyed`), equal to `keyed_episode_id` of it:
    hashed once (300k episodes in about 0.7 s)."""
    distinct = ids.drop_nulls().unique()
    macs = [hmac.digest(key, x.encode(), "sha256").hex()[:16] for x in distinct.to_list()]
    d = pl.col("d")
    cohort = pl.when(d.str.contains("-", literal=True)).then(d.str.splitn("-", 2).struct.field("field_0"))
    return pl.DataFrame({"d": distinct, "m": pl.Series(macs, dtype=pl.Utf8)}).select(
        "d", pl.concat_str(cohort.otherwise(pl.lit("EP")), pl.lit(f"-{KEYED_MARK}"), pl.col("m")).alias("keyed"))


def display_episode_ids(ids: pl.Series, key: bytes, known: pl.DataFrame | None = None) -> pl.Series:
    """Keyed ids of a column of internal ids (nulls stay null), equal to `keyed_episode_id` of each. `known`: a
    `keyed_ids` frame holding every id of `ids` (they are not hashed again)."""
    keyed = known if known is not None else keyed_ids(ids, key)
    return ids.replace_strict(keyed["d"], keyed["keyed"], default=None, return_dtype=pl.Utf8).alias(ids.name)


def with_display_ids(frame: pl.DataFrame, key: bytes, order: list[str] | None = None,
                     known: pl.DataFrame | None = None) -> pl.DataFrame:
    """`frame` with its episode_id column keyed (frames without one, or empty, unchanged), then sorted stably by
    `order` (which names episode_id): rows ordered by the internal id would leak that id's order. `known`: as
    `display_episode_ids`'."""
    if frame.height == 0 or "episode_id" not in frame.columns:
        return frame
    keyed = frame.with_columns(display_episode_ids(frame["episode_id"], key, known))
    return keyed.sort(order, maintain_order=True) if order else keyed


def display_levers(levers: pl.DataFrame, key: bytes) -> pl.DataFrame:
    """improvement_levers as a report shows them: an episode lever's id keyed and named in its description
    (levers.py leaves the id out of the text; tables published before it did name the internal id: replaced)."""
    if levers.height == 0 or "episode_id" not in levers.columns:
        return levers
    keyed = display_episode_ids(levers["episode_id"], key)
    text = pl.col("description").str.replace(OLD_LEVER_PREFIX, "")
    return levers.with_columns(
        pl.when(pl.col("episode_id").is_null()).then(pl.col("description"))
        .otherwise(pl.format("Episode {}: {}", keyed, text)).alias("description"), keyed)


def internal_episode_id(given: str, internal_ids: list[str], key: bytes) -> str | None:
    """The internal id a person typed as either id (`asm explain --episode`), or None."""
    if given in set(internal_ids):
        return given
    return next((x for x in internal_ids if keyed_episode_id(x, key) == given), None)


__all__ = ["EpisodeKeyError", "display_episode_ids", "display_levers", "episode_key", "internal_episode_id",
           "keyed_episode_id", "keyed_ids", "with_display_ids"]
