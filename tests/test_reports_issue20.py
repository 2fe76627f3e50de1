"""Issue 20 (reports for every TIN, faster, same files): the clinician pages' episode rows are written by
`scorecard.episode_table` with the bytes the template loop wrote; each TIN folder is scanned for privacy by the
process that wrote it (`PrivacyGuard`, `scan_tin_folders`) with the same refusals as the whole-folder scan;
keyed episode ids reused from one mapping equal those hashed again."""
from __future__ import annotations

import datetime as dt

import jinja2
import polars as pl
import pytest

from pipelines.engine.reports import build
from pipelines.engine.reports.episode_ids import display_episode_ids, keyed_episode_id, keyed_ids
from pipelines.engine.reports.inputs import tin_folder
from pipelines.engine.reports.privacy import FolderScan, PrivacyError, PrivacyGuard, privacy_scan, report_files
from pipelines.engine.reports.scorecard import episode_table

# the loop clinician.html.j2 held before issue 20 (episode_table replaces it)
TEMPLATE_LOOP = (
    """{% for e in r.episode_rows %}<tr class="{{ 'open' if e.status == 'open' else '' }}"><td class="l">"""
    """<a href="../{{ r.lines_page }}#E-{{ e.episode_id }}">{{ e.episode_id }}</a></td>\n"""
    """<td>{{ e.start_date }}</td><td>{{ e.end_date }}</td><td class="l">{{ "open" if e.status == "open" else e.status }}"""
    """</td><td>{{ e.share|pct(0) }}</td>\n"""
    """<td>{{ e.observed_cost|money }}</td><td>{{ e.get("observed_cost_winsorized")|money }}</td>"""
    """<td>{{ e.get("expected_cost")|money }}</td><td>{{ e.get("observed_to_expected")|num(2) }}</td>\n"""
    """<td>{{ e.get("excess_cost")|money }}</td><td>{{ e.lines }}</td><td class="l small">{{ e.note|plain }}</td></tr>"""
    """{% endfor %}""")


def _episode(**kw) -> dict:
    row = {"episode_id": "HF-R0123456789abcdef", "start_date": dt.date(2027, 1, 2), "end_date": dt.date(2027, 4, 1),
           "status": "closed", "share": 0.5, "observed_cost": 1234.5, "observed_cost_winsorized": 1200.0,
           "expected_cost": 1000.123, "observed_to_expected": 1.2, "excess_cost": 199.877, "lines": 12, "note": ""}
    return row | kw


def test_episode_table_writes_the_bytes_of_the_template_loop():
    env = build.environment()
    loop = env.from_string(TEMPLATE_LOOP)
    rows = [_episode(),
            _episode(status="open", end_date=None, expected_cost=None, observed_to_expected=None, excess_cost=None,
                     observed_cost_winsorized=None, note="open: cost to date, not scored yet (E5)"),
            _episode(episode_id="A&B<x>-R'\"", status="excluded", share=None, observed_cost=float("nan"), lines=None,
                     note="excluded: X1: age under 18 <b>"),
            _episode(observed_cost=-0.005, excess_cost=-1234567.891, observed_to_expected=float("inf"), share=1 / 3)]
    for page in ("lines/1234567890-HF.html", "lines/<odd>&.html"):
        want = loop.render(r={"episode_rows": rows, "lines_page": page})
        assert str(episode_table(rows, page)) == want
    assert str(episode_table([], "lines/x.html")) == ""
    assert isinstance(episode_table(rows, "p"), jinja2.runtime.Markup)  # not escaped again by the page


def _guard() -> PrivacyGuard:
    bene = pl.Series("token", ["1EG4TE5MK73", "2AB3CD4EF56"])
    owners = pl.DataFrame({"top": ["111111111", "222222222"], "token": ["1234567890", "9876543210"]})
    return PrivacyGuard(bene, owners, pl.concat([bene, owners["token"]]).str.len_bytes().unique())


def _folder(root, tin: str, text: str) -> None:
    (root / tin / "clinicians").mkdir(parents=True)
    (root / tin / "scorecard.html").write_text("<p>TIN page, NPI 1234567890 bills here</p>" if tin == "111111111" else "<p>ok</p>")
    (root / tin / "clinicians" / "x.html").write_text(text)


def scan_tin_folders(guard: PrivacyGuard, out_dir, tins: list[str]) -> int:
    """The folders of `tins` scanned on their files read back (the reference FolderScan must match)."""
    files = [f for t in tins for f in report_files(out_dir / tin_folder(t))]
    guard.scan(out_dir, files)
    return len(files)


def test_a_tin_folder_is_scanned_by_its_writer_with_the_whole_scans_refusals(tmp_path):
    """The per-folder scan (a pool worker's) passes a clean folder and counts its files; it refuses a
    beneficiary id and another TIN's NPI, as the scan of the whole reports folder does."""
    guard = _guard()
    clean, bene, foreign = tmp_path / "clean", tmp_path / "bene", tmp_path / "foreign"
    _folder(clean, "111111111", "<p>NPI 1234567890, claim 12345678901234</p>")
    assert scan_tin_folders(guard, clean, ["111111111"]) == 2
    _folder(bene, "111111111", "<td>2AB3CD4EF56</td>")
    _folder(foreign, "111111111", "<td>9876543210</td>")  # an NPI of TIN 222222222
    for root, why in ((bene, "beneficiary id"), (foreign, "an NPI of another TIN")):
        with pytest.raises(PrivacyError, match=why):
            scan_tin_folders(guard, root, ["111111111"])
        with pytest.raises(PrivacyError, match=why):
            privacy_scan(None, root, guard=guard)
    (clean / "index.html").write_text("<p>1234567890</p>")  # any NPI at the top is refused
    assert scan_tin_folders(guard, clean, ["111111111"]) == 2  # the folders only
    with pytest.raises(PrivacyError, match="would show an NPI"):
        privacy_scan(None, clean, only=[], guard=guard)


def test_keyed_ids_reused_equal_keyed_ids_hashed_again():
    key = bytes(range(32))
    ids = pl.Series("episode_id", ["HF-0123456789abcdef", "LBP-fedcba9876543210", None, "HF-0123456789abcdef", "odd"])
    known = keyed_ids(ids, key)
    subset = ids.slice(1, 3)
    assert display_episode_ids(subset, key, known).to_list() == display_episode_ids(subset, key).to_list()
    assert display_episode_ids(ids, key, known).to_list() == [
        None if x is None else keyed_episode_id(x, key) for x in ids.to_list()]


def _scan_as_written(guard, root, tins, written=None) -> int:
    scan = FolderScan(guard, root)
    for tin in tins:
        scan.add(tin, {} if written is None else written)
    return scan.finish()


def test_a_tin_folder_scanned_on_the_texts_written_refuses_what_the_read_scan_refuses(tmp_path):
    """Issue 20: FolderScan (the writer's scan, on the texts it kept) counts and refuses as scan_tin_folders
    (which reads the files back): the same file named, with the same words; a file whose text was not kept
    (a workbook, about.json) is read; a kept text is what is scanned."""
    guard = _guard()
    clean, bene, foreign = tmp_path / "clean", tmp_path / "bene", tmp_path / "foreign"
    _folder(clean, "111111111", "<p>NPI 1234567890, claim 12345678901234</p>")
    _folder(clean, "222222222", "<p>ok</p>")
    assert _scan_as_written(guard, clean, ["111111111", "222222222"]) == 4
    _folder(bene, "111111111", "<td>2AB3CD4EF56</td>")
    _folder(bene, "222222222", "<td>1EG4TE5MK73</td>")
    _folder(foreign, "111111111", "<td>9876543210</td>")  # an NPI of TIN 222222222
    for root in (bene, foreign):
        tins = sorted(p.name for p in root.iterdir())
        with pytest.raises(PrivacyError) as read_back:
            scan_tin_folders(guard, root, tins)
        with pytest.raises(PrivacyError) as as_written:
            _scan_as_written(guard, root, tins)
        assert str(as_written.value) == str(read_back.value)
    # the kept text (parts as _lines_pages keeps them) is scanned, not the file on disk
    page = clean / "111111111" / "clinicians" / "x.html"
    written = {page: ("<p>", "<td>2AB3CD4EF56</td>".encode(), "</p>")}
    with pytest.raises(PrivacyError, match="111111111/clinicians/x.html would show a beneficiary id"):
        _scan_as_written(guard, clean, ["111111111"], written)
    assert written == {}  # emptied: a folder's texts are dropped once scanned


def test_issue20_templates_read_a_dicts_key_as_jinja_did():
    """`x.name` on a dict: the key (looked up at once), a dict method where the name is one (`.items`), and
    StrictUndefined's error where the key is missing: what Jinja's own lookup gives."""
    env = build.environment()
    row = {"title": "<b>", "items": "a key named like a method", "n": 3}
    page = env.from_string("{{ r.title }} {{ r.n|num(1) }} {% for k, v in r.items() %}{{ k }}{% endfor %}")
    assert page.render(r=row) == jinja2.Environment(autoescape=True).from_string(
        "{{ r.title }} {{ '%.1f'|format(r.n) }} {% for k, v in r.items() %}{{ k }}{% endfor %}").render(r=row)
    assert page.render(r=row) == "&lt;b&gt; 3.0 titleitemsn"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ r.missing }}").render(r=row)


def test_issue20_the_vega_runtime_is_bundled_once_per_machine(tmp_path, monkeypatch):
    """A reports folder gets the runtime from this machine's cache (same versions, same bytes as a fresh
    bundle); a fresh folder with no published one does not bundle again."""
    from pipelines.engine.reports import charts

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(charts, "runtime_bundle", lambda: calls.append(1) or "/* bundle */")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        charts.write_runtime(tmp_path / name, tmp_path / "not-published")
        assert (tmp_path / name / charts.RUNTIME).read_text(encoding="utf-8") == "/* bundle */"
        assert (tmp_path / name / charts.RUNTIME_LICENSE).read_text(encoding="utf-8") == charts.runtime_notice()
    assert calls == [1]
    assert charts.runtime_cache(charts.runtime_notice()).read_text(encoding="utf-8") == "/* bundle */"


def test_issue20_the_files_at_the_top_are_listed_without_walking_the_tin_folders(tmp_path):
    """report_files(out, set()): the top files, in the order the whole walk lists them."""
    for rel in ("index.html", "b.csv", "123/scorecard.html", "123/lines/1-HF.html", "a.json", "9/x.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    walked = [f for f in report_files(tmp_path) if f.parent == tmp_path]
    assert report_files(tmp_path, set()) == walked == [tmp_path / n for n in ("a.json", "b.csv", "index.html")]
    assert report_files(tmp_path, set(), top_files=False) == []


def test_issue20_the_vega_runtime_as_shipped_is_not_read_for_ids_a_changed_one_is(tmp_path, monkeypatch):
    """At 100 M lines the whole book was refused: the Vega runtime holds 2^30 - 1 = 1073741823 as a constant, and a
    clinician's NPI was 1073741823 (the files at the top may show no NPI). The runtime as `write_runtime` puts it
    in the folder (the same bytes whatever the data) is code, not report content: the scan leaves it out and
    says so. The same text in another file, or a runtime whose bytes were changed, is still refused."""
    from pipelines.engine.reports import charts

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(charts, "runtime_bundle", lambda: "/* vega */ var MAX = 1073741823;")
    charts.runtime_digest.cache_clear()
    try:
        guard = _guard()
        guard = PrivacyGuard(guard.bene, pl.concat([guard.owners, pl.DataFrame({"top": ["111111111"],
                                                                               "token": ["1073741823"]})]),
                             guard.lengths)
        out = tmp_path / "reports"
        out.mkdir()
        charts.write_runtime(out)
        (out / "index.html").write_text("<p>no ids</p>")
        summary = privacy_scan(None, out, guard=guard)
        assert summary["not_scanned"] == [charts.RUNTIME] and summary["files"] == 2  # index and the licence

        (out / "copy.js").write_text((out / charts.RUNTIME).read_text())
        with pytest.raises(PrivacyError, match="copy.js would show an NPI"):
            privacy_scan(None, out, guard=guard)
        (out / "copy.js").unlink()
        (out / charts.RUNTIME).write_text((out / charts.RUNTIME).read_text() + "\n")
        with pytest.raises(PrivacyError, match="vega-embed.js would show an NPI"):
            privacy_scan(None, out, guard=guard)
    finally:
        charts.runtime_digest.cache_clear()
