"""The episode lines of TINs' folders: `lines/<npi>-<cohort>.html` (one section per listed episode, anchored
`E-<episode id>`) and `lines.csv` (every listed line). The pages' tables are built as strings in Polars, a
column expression per cell over all lines at once (HTML-escaped like Jinja's autoescape); Jinja renders only
each page's frame (templates/lines.html.j2). At 10M lines a TIN folder lists millions of lines: a template
call per line took most of the reports stage."""
from __future__ import annotations

import polars as pl

# Jinja's autoescape (markupsafe): these five characters, replaced in one pass
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}
# Millions of rows: each is kept short. Cells are aligned by column (style.css, table.lines), and the optional
# end tags of cells and rows (HTML5) are left out: half the bytes to write, scan for privacy and load.
TABLE_HEAD = ('<table class="compact lines"><tr><th>Date</th><th>Day</th><th class="l">Part</th><th class="l">Code</th>'
              '<th class="l">Category</th><th class="l">Billed by</th>\n<th>Cost</th><th class="l">Claim</th>'
              '<th>Line</th><th class="l">Source file</th><th>Row</th></tr>\n')


def escape(e: pl.Expr) -> pl.Expr:
    """HTML-escaped text of a text column; null as ''. One pass over every cell (`replace_many` leaves a cell
    without those characters as it is; a test for them first cost as much again: both branches run)."""
    return e.cast(pl.String).str.replace_many(list(_ESCAPES), list(_ESCAPES.values())).fill_null("")


def plain_text(e: pl.Expr) -> pl.Expr:
    """The text of a date or number column, which holds no character to escape; null as ''."""
    return e.cast(pl.String).fill_null("")


def money(e: pl.Expr) -> pl.Expr:
    """'$1,234.56' / '-$1,234.56' (build.py's `money` filter); null or NaN as ''."""
    e = e.cast(pl.Float64)
    cents = (e.abs() * 100).round(0).cast(pl.Int64, strict=False)  # NaN: null
    dollars = cents // 100
    groups = [(dollars // 10 ** k % 1000).cast(pl.String) for k in (9, 6, 3, 0)]  # thousands, by 3 digits
    padded = [g.str.zfill(3) for g in groups]
    text = (pl.when(dollars < 1_000).then(groups[3])
            .when(dollars < 1_000_000).then(pl.concat_str([groups[2], padded[3]], separator=","))
            .when(dollars < 1_000_000_000).then(pl.concat_str([groups[1], *padded[2:]], separator=","))
            .otherwise(pl.concat_str([(dollars // 10 ** 9).cast(pl.String), *padded[1:]], separator=",")))
    sign = pl.when(e < 0).then(pl.lit("-$")).otherwise(pl.lit("$"))
    return (pl.when(e.is_null() | e.is_nan()).then(pl.lit(""))
            .otherwise(pl.concat_str([sign, text, pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2)])))


def percent0(e: pl.Expr) -> pl.Expr:
    """A share as a whole percent, '50%' (the `pct(0)` filter); null as ''."""
    return pl.concat_str([(e * 100).round(0).cast(pl.Int64).cast(pl.String), pl.lit("%")]).fill_null("")


def _cells(parts: list) -> pl.Expr:
    """One string from literal markup (str) and column expressions, in order."""
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _line_row() -> pl.Expr:
    c = lambda name: escape(pl.col(name))  # noqa: E731
    n = lambda name: plain_text(pl.col(name))  # noqa: E731  a date or a number
    return _cells(["<tr><td>", n("service_date"), "<td>", n("episode_day"), "<td>", c("source"), "<td>", c("code"),
                   "<td>", c("service_category"), "<td>", c("billed_by"), "<td>", money(pl.col("cost_amount")),
                   "<td>", c("claim_control_number"), "<td>", n("line_number"), "<td>", c("source_file"), "<td>",
                   n("source_row")])


def _section() -> pl.Expr:
    """An episode's section: heading, summary line and its lines' table (`rows`)."""
    c = lambda name: escape(pl.col(name))  # noqa: E731
    opened = pl.when(pl.col("status") == "open").then(pl.lit(' <span class="notscored">(OPEN)</span>')).otherwise(pl.lit(""))
    note = pl.when(pl.col("note").fill_null("") != "").then(pl.concat_str([pl.lit(" &middot; "), c("note")])).otherwise(pl.lit(""))
    n = lambda name: plain_text(pl.col(name))  # noqa: E731  a date or a number
    return _cells(['<section id="E-', c("episode_id"), '">\n<h2>Episode ', c("episode_id"), opened, "</h2>\n<p>",
                   n("start_date"), " to ", n("end_date"), " &middot; share ", percent0(pl.col("share")), " &middot; cost ",
                   money(pl.col("observed_cost")), " &middot; ", n("lines"), " line(s)", note, "</p>\n", TABLE_HEAD,
                   pl.col("rows"), "\n</table></section>\n"])


def page_sections(episodes: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """Per participant (tin, npi, cohort) with listed episodes, the HTML of its lines page's sections, episodes
    by start date. `episodes`: participant_episodes; `lines`: episodes.listed_lines (per report_tin)."""
    rows = (lines.select("report_tin", "episode_id", _line_row().alias("row"))
            .group_by("report_tin", "episode_id", maintain_order=True).agg(pl.col("row").str.join("\n").alias("rows"))
            .rename({"report_tin": "tin"}))
    return (episodes.sort("tin", "npi", "cohort", "start_date", "episode_id")
            .join(rows, on=["tin", "episode_id"], how="left", maintain_order="left")
            .with_columns(pl.col("rows").fill_null(""))
            .select("tin", "npi", "cohort", _section().alias("section"))
            .group_by("tin", "npi", "cohort", maintain_order=True).agg(pl.col("section").str.join("").alias("sections")))
