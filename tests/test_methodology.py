"""The typed methodology configuration (pipelines/engine/methodology/): every parameter typed, ranged and
documented once; a user's --config is validated the same way, and every problem is one line naming the
file and the dotted key."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from pipelines.engine.methodology import loading as mod
from pipelines.engine.methodology import (BASE_FILE, PERFORMANCE_YEARS, SECTIONS, Methodology, MethodologyError,
                                   MethodologyParams, _deep_merge, load_methodology, render_markdown)

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "methodology-parameters.md"


def _cfg(tmp_path: Path, text: str | bytes, name: str = "my.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _error(tmp_path: Path, text: str | bytes, py: int = 2027) -> str:
    path = _cfg(tmp_path, text)
    with pytest.raises(MethodologyError) as exc:
        load_methodology(py, path)
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"config {path}")
    return message


def _old_way(py: int) -> dict:
    """How the parameters of a PY were merged before the typed model: [defaults] then [performance_year.<PY>]."""
    raw = tomllib.loads(BASE_FILE.read_text())
    return _deep_merge(raw["defaults"], raw["performance_year"][str(py)])


# ---------------------------------------------------------------- unknown keys

def test_unknown_top_level_key_is_refused_naming_it(tmp_path):
    msg = _error(tmp_path, "[default.attribution]\nthreshold = 0.3\n")
    assert msg.endswith("unknown key 'default' (known: version, defaults, performance_year)")


def test_unknown_section_is_refused_naming_it(tmp_path):
    msg = _error(tmp_path, "[defaults.atribution]\nthreshold = 0.3\n")
    assert "unknown section 'atribution'" in msg and "attribution" in msg.split("known:")[1]


def test_unknown_nested_key_is_refused_naming_it_and_the_known_keys(tmp_path):
    msg = _error(tmp_path, "[defaults.attribution]\ntreshold = 0.3\n")
    assert msg == f"config {tmp_path / 'my.toml'}: unknown key 'attribution.treshold' (known: basis, threshold)"


def test_unknown_key_in_a_performance_year_table_is_refused_naming_the_table(tmp_path):
    msg = _error(tmp_path, "[performance_year.2027.attribution]\ntreshold = 0.3\n")
    assert msg == (f"config {tmp_path / 'my.toml'} [performance_year.2027]: unknown key 'attribution.treshold' "
                   "(known: basis, threshold)")


def test_unknown_key_in_another_performance_year_is_refused_whichever_year_runs(tmp_path):
    msg = _error(tmp_path, "[performance_year.2030.payment]\nrisk_levle = 0.2\n", py=2027)
    assert "[performance_year.2030]: unknown key 'payment.risk_levle'" in msg


def test_unknown_performance_year_in_the_config_is_refused_listing_the_known_years(tmp_path):
    msg = _error(tmp_path, "[performance_year.2032.payment]\nrisk_level = 0.1\n")
    assert msg.endswith("unknown performance year 'performance_year.2032' (known: 2027, 2028, 2029, 2030, 2031)")


def test_unknown_performance_year_requested_is_refused_listing_the_known_years():
    with pytest.raises(MethodologyError) as exc:
        load_methodology(2026)
    assert str(exc.value) == ("methodology data/methodology/methodology.toml: performance year 2026 is not "
                              "configured (known: 2027, 2028, 2029, 2030, 2031)")


# ---------------------------------------------------------------- ranges, types, cross-field checks

@pytest.mark.parametrize("toml, expected", [
    ("[defaults.attribution]\nthreshold = 3.0\n", "attribution.threshold = 3.0: must be <= 1"),
    ("[defaults.attribution]\nthreshold = 0.0\n", "attribution.threshold = 0.0: must be > 0"),
    ("[defaults.episodes]\nconfirming_window_days = { HF = 180, LBP = -5 }\n",
     "episodes.confirming_window_days.LBP = -5: must be >= 1"),
    ("[defaults.costs]\npost_acute_days = -1\n", "costs.post_acute_days = -1: must be >= 0"),
    ("[defaults.costs]\nwinsor_percentile = 1.5\n", "costs.winsor_percentile = 1.5: must be <= 1"),
    ("[defaults.quality]\nmin_data_completeness = 75\n", "quality.min_data_completeness = 75: must be <= 1"),
    ("[defaults.scoring]\nquality_weight = -0.5\n", "scoring.quality_weight = -0.5: must be >= 0"),
])
def test_out_of_range_value_is_refused_naming_the_key_and_the_bound(tmp_path, toml, expected):
    assert _error(tmp_path, toml) == f"config {tmp_path / 'my.toml'}: {expected}"


def test_out_of_range_value_in_a_performance_year_table_names_the_table(tmp_path):
    msg = _error(tmp_path, "[performance_year.2029.payment]\nrisk_level = 1.1\n", py=2027)
    assert msg == f"config {tmp_path / 'my.toml'} [performance_year.2029]: payment.risk_level = 1.1: must be <= 1"


@pytest.mark.parametrize("toml, expected", [
    ("[defaults.episodes]\npair_scope = 5\n", "episodes.pair_scope = 5: must be 'npi' or 'tin'"),
    ("[defaults.episodes]\npair_scope = \"NPI\"\n", "episodes.pair_scope = \"NPI\": must be 'npi' or 'tin'"),
    ("[defaults.quality]\nmin_cases = \"20\"\n", "quality.min_cases = \"20\": must be an integer"),
    ("[defaults.quality]\nmin_cases = 20.5\n", "quality.min_cases = 20.5: must be an integer"),
    ("[defaults.attribution]\nthreshold = \"0.3\"\n", "attribution.threshold = \"0.3\": must be a number"),
    ("[defaults.attribution]\nthreshold = true\n", "attribution.threshold = true: must be a number"),
    ("[defaults.attribution]\nbasis = \"visits\"\n", "attribution.basis = \"visits\": must be 'qualifying_lines', "
                                                    "'assigned_lines' or 'assigned_allowed'"),
    ("[defaults.risk]\nspecialty_adjusted_cohorts = \"LBP\"\n",
     "risk.specialty_adjusted_cohorts = \"LBP\": must be a list"),
    ("[defaults.risk]\ndual_status_codes = [\"1\"]\n", "risk.dual_status_codes[0] = \"1\": must match ^[0-9]{2}$"),
    ("[defaults]\nrisk = 3\n", "defaults.risk = 3: must be a table"),
    ("[defaults.quality]\ndecile_quantile_method = \"cubic\"\n",
     "quality.decile_quantile_method = \"cubic\": must be 'linear', 'lower', 'higher', 'nearest' or 'midpoint'"),
])
def test_wrong_type_is_refused_naming_the_key(tmp_path, toml, expected):
    assert _error(tmp_path, toml) == f"config {tmp_path / 'my.toml'}: {expected}"


@pytest.mark.parametrize("toml, expected", [
    ("[defaults.benchmarks]\nthreshold_sd_multiples = [2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, -1.25]\n",
     "benchmarks.threshold_sd_multiples = [2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, -1.25]: must be "
     "strictly decreasing (T1 highest .. T10 lowest)"),
    ("[defaults.benchmarks]\nthreshold_sd_multiples = [2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.25, -1.5]\n",
     "benchmarks.threshold_sd_multiples = [2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.25, -1.5]: must have at "
     "least 10 item(s)"),
    ("[defaults.admissions]\ncardiovascular_dx_range = [\"I99\", \"I00\"]\n",
     "admissions.cardiovascular_dx_range = [\"I99\", \"I00\"]: lower end \"I99\" is after upper end \"I00\""),
    ("[defaults.admissions]\ncardiovascular_dx_range = [\"I00\"]\n",
     "admissions.cardiovascular_dx_range = [\"I00\"]: must have at least 2 item(s)"),
    ("[defaults.scoring]\nquality_weight = 0.6\n",
     "scoring.quality_weight, scoring.cost_weight: must sum to 1 (0.6 + 0.5 = 1.1)"),
    ("[defaults.scoring]\nia_not_done_answers = [\"N\", \"Y\"]\n",
     "scoring.ia_not_done_answers, scoring.ia_done_answers: Y is in both lists"),
    ("[defaults.costs]\nbetos_category = { M = \"eandm\" }\n",
     "costs.betos_category.M = \"eandm\": must be 'em', 'imaging', 'procedures', 'tests', 'dme', 'inpatient', "
     "'post_acute' or 'other'"),
    ("[defaults.costs]\ninstitutional_claim_types = { \"60\" = \"hospital\" }\n",
     "costs.institutional_claim_types.60 = \"hospital\": must be 'em', 'imaging', 'procedures', 'tests', 'dme', "
     "'inpatient', 'post_acute' or 'other'"),
    ("[defaults.episodes]\ntrigger_tie_break = [\"confirming_date\", \"bene_id\"]\n",
     "episodes.trigger_tie_break[1] = \"bene_id\": must be 'confirming_date', 'trigger_tin', 'trigger_npi', "
     "'trigger_claim_control_number', 'trigger_line_number' or 'trigger_claim_id'"),
    ("[defaults.episodes]\ntrigger_tie_break = [\"trigger_tin\", \"confirming_date\"]\n",
     "episodes.trigger_tie_break = [\"trigger_tin\", \"confirming_date\"]: must start with \"confirming_date\" "
     "(E2: the confirming line is the earliest one)"),
    ("[defaults.quality]\nlower_is_better = [\"Q999\"]\n",
     "quality.lower_is_better: Q999 is not a required measure (quality.required_measures: Q005, Q008, Q128, "
     "Q134, Q220, Q236, Q238, Q377, Q492)"),
    ("[defaults.quality]\nrequired_measures.XX = [\"Q001\"]\n",
     "quality.required_measures.XX: key \"XX\" must be 'HF' or 'LBP'"),
    ("[defaults.admissions]\ncohort = \"LBP\"\n",
     "admissions.measure_id, admissions.cohort, quality.required_measures: Q492 is not a required measure of "
     "LBP"),
])
def test_cross_field_check_is_refused_naming_the_keys(tmp_path, toml, expected):
    assert _error(tmp_path, toml) == f"config {tmp_path / 'my.toml'}: {expected}"


def test_problem_in_the_base_file_names_the_base_file(tmp_path, monkeypatch):
    base = tmp_path / "methodology.toml"
    base.write_text(BASE_FILE.read_text().replace("threshold = 0.30", "threshold = 3.0"))
    monkeypatch.setattr(mod, "BASE_FILE", base)
    with pytest.raises(MethodologyError) as exc:
        load_methodology(2027)
    assert str(exc.value) == f"methodology {base}: attribution.threshold = 3.0: must be <= 1"


# ---------------------------------------------------------------- unreadable config files

@pytest.mark.parametrize("content, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not valid TOML: not UTF-8 text (byte 0x89 at offset 0; binary file?)"),
    ("x = \"caf\xe9\"".encode("latin-1"), "is not valid TOML: not UTF-8 text (byte 0xe9 at offset 8; binary file?)"),
    (b"a = 1\x00\x00\x00", "is not valid TOML: contains NUL bytes (binary file?)"),
    (b"this is = = not toml", "is not valid TOML: Expected '=' after a key in a key/value pair (at line 1, column 6)"),
    (b"[defaults.risk]\nlookback_days = 1\nlookback_days = 2\n", "is not valid TOML: Cannot overwrite a value"),
])
def test_binary_non_utf8_or_non_toml_config_is_refused_in_one_line(tmp_path, content, expected):
    msg = _error(tmp_path, content)
    assert msg.startswith(f"config {tmp_path / 'my.toml'}: {expected}")


def test_missing_config_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(MethodologyError, match=r"^config .*nope\.toml: config file not found$"):
        load_methodology(2027, tmp_path / "nope.toml")
    with pytest.raises(MethodologyError, match=r": not a file$"):
        load_methodology(2027, tmp_path)


def test_module_cli_reports_a_binary_config_on_one_line_without_traceback(tmp_path):
    cfg = _cfg(tmp_path, bytes(range(256)))
    proc = subprocess.run([sys.executable, "-m", "pipelines.engine.methodology", "--config", str(cfg)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: config {cfg}: is not valid TOML")


# ---------------------------------------------------------------- fingerprint and label

def test_valid_override_changes_the_fingerprint_and_the_label(tmp_path):
    default = load_methodology(2027)
    custom = load_methodology(2027, _cfg(tmp_path, "[defaults.episodes]\nconfirming_window_days = { LBP = 90 }\n"))
    assert custom.get("episodes.confirming_window_days") == {"HF": 180, "LBP": 90}
    assert custom.episodes.confirming_window_days == {"HF": 180, "LBP": 90}
    assert custom.fingerprint != default.fingerprint
    assert default.label == default.version == "2026.11-default-1"
    assert custom.label == f"{default.version}+{custom.fingerprint[:8]}"
    assert re.fullmatch(r"2026\.11-default-1\+[0-9a-f]{8}", custom.label)
    assert custom.sources == (str(BASE_FILE), str(tmp_path / "my.toml"))


def test_override_in_a_performance_year_table_changes_only_that_year(tmp_path):
    cfg = _cfg(tmp_path, "[performance_year.2029.payment]\nrisk_level = 0.2\n")
    assert load_methodology(2029, cfg).payment.risk_level == 0.2
    assert load_methodology(2029, cfg).label != load_methodology(2029).label
    assert load_methodology(2027, cfg).fingerprint == load_methodology(2027).fingerprint
    assert load_methodology(2027, cfg).label == "2026.11-default-1"


def test_override_defaults_apply_over_the_base_performance_year_tables(tmp_path):
    # a user's [defaults.payment] risk_level is not silently shadowed by the base file's per-PY value
    cfg = _cfg(tmp_path, "[defaults.payment]\nrisk_level = 0.05\n[performance_year.2031.payment]\nrisk_level = 0.07\n")
    assert [load_methodology(py, cfg).payment.risk_level for py in PERFORMANCE_YEARS] == [0.05] * 4 + [0.07]


def test_override_equal_to_the_defaults_changes_neither_fingerprint_nor_label(tmp_path):
    cfg = _cfg(tmp_path, "[defaults.attribution]\nthreshold = 0.3\nbasis = \"qualifying_lines\"\n"
                         "[defaults.payment]\nlogistic_c = 50\n"  # an integer for a float: same value
                         "[performance_year.2029.payment]\nrisk_level = 0.10\n")
    for py in PERFORMANCE_YEARS:
        default, same = load_methodology(py), load_methodology(py, cfg)
        assert same.fingerprint == default.fingerprint
        assert same.label == default.label == "2026.11-default-1"
        assert same.params == default.params


def test_integer_for_a_float_parameter_is_stored_as_a_float(tmp_path):
    m = load_methodology(2027, _cfg(tmp_path, "[defaults.attribution]\nthreshold = 1\n"))
    assert m.get("attribution.threshold") == 1.0 and isinstance(m.get("attribution.threshold"), float)


def test_fingerprint_includes_the_performance_year():
    # 2027 and 2028 have the same values (r = 9%) but are different configurations
    assert load_methodology(2027).params == load_methodology(2028).params
    assert load_methodology(2027).fingerprint != load_methodology(2028).fingerprint


def test_fingerprint_is_a_hash_of_the_sorted_effective_values_and_the_py():
    import hashlib

    m = load_methodology(2030)
    payload = json.dumps({"py": 2030, "params": m.model.model_dump(mode="json")}, sort_keys=True, default=str)
    assert m.fingerprint == hashlib.sha256(payload.encode()).hexdigest()[:12]


def test_override_version_becomes_the_label(tmp_path):
    m = load_methodology(2027, _cfg(tmp_path, "version = \"clinic-2\"\n[defaults.attribution]\nthreshold = 0.4\n"))
    assert m.version == "clinic-2" and m.label == f"clinic-2+{m.fingerprint[:8]}"


# ---------------------------------------------------------------- every PY, the old API, typed access

def test_every_performance_year_2027_to_2031_loads():
    assert sorted(int(y) for y in tomllib.loads(BASE_FILE.read_text())["performance_year"]) == list(PERFORMANCE_YEARS)
    levels = []
    for py in PERFORMANCE_YEARS:
        m = load_methodology(py)
        assert m.performance_year == py and isinstance(m.model, MethodologyParams)
        levels.append(m.payment.risk_level)
    assert levels == [0.09, 0.09, 0.10, 0.11, 0.12]


@pytest.mark.parametrize("py", PERFORMANCE_YEARS)
def test_params_and_get_return_the_same_plain_values_as_the_old_merge(py):
    m, old = load_methodology(py), _old_way(py)
    assert set(m.params) == set(old) == set(SECTIONS)
    for section, values in old.items():
        assert m.params[section] == values
        for key, value in values.items():
            got = m.get(f"{section}.{key}")
            assert got == value and type(got) is type(value), f"{section}.{key}"
            assert json.dumps(got) == json.dumps(value)  # same nested types (int vs float, list, dict)
    with pytest.raises(MethodologyError, match="'risk.nope' is not set"):
        m.get("risk.nope")


def test_typed_sections_match_the_plain_values():
    m = load_methodology(2027)
    for section in SECTIONS:
        typed = getattr(m, section)
        assert isinstance(typed, BaseModel) and typed is getattr(m.model, section)
        assert typed.model_dump() == m.params[section]
    assert m.risk.dual_status_codes == [f"{i:02d}" for i in range(1, 11)]
    assert m.episodes.pair_scope == "npi" and m.attribution.basis == "qualifying_lines"


def test_hand_built_methodology_keeps_working_and_validates_lazily():
    # tests/episode_support.py builds Methodology(py, version, params, sources) with merged overrides
    m = load_methodology(2027)
    bad = Methodology(m.performance_year, m.version, _deep_merge(m.params, {"episodes": {"pair_scope": "clinic"}}),
                      m.sources)
    assert bad.get("episodes.pair_scope") == "clinic" and bad.fingerprint != m.fingerprint
    with pytest.raises(MethodologyError, match=r"episodes\.pair_scope = \"clinic\": must be 'npi' or 'tin'"):
        bad.model  # noqa: B018
    good = Methodology(m.performance_year, m.version, _deep_merge(m.params, {"attribution": {"threshold": 0.5}}))
    assert good.attribution.threshold == 0.5 and good.label == f"{m.version}+{good.fingerprint[:8]}"


# ---------------------------------------------------------------- the model itself and its reference

def _models() -> list[type[BaseModel]]:
    return [MethodologyParams, *SECTIONS.values()]


def test_every_model_forbids_unknown_keys_and_is_strict():
    for model in _models():
        assert model.model_config.get("extra") == "forbid", model.__name__
        assert model.model_config.get("strict") is True, model.__name__


def test_every_parameter_is_documented_once_with_its_rule_id_and_cms_or_default():
    rule = r"([A-Z][0-9]?(/[A-Z][0-9])*|Bad input \(data-contracts\))"
    for section, model in SECTIONS.items():
        for name, f in model.model_fields.items():
            text = f.description or ""
            assert re.match(rf"^{rule} \[(CMS|DEFAULT)\] \S", text), f"{section}.{name}: {text!r}"
            assert f.is_required(), f"{section}.{name} must come from the TOML, not a Python default"
    count = sum(len(m.model_fields) for m in SECTIONS.values())
    assert count == len(render_markdown().split("\n| `")) - 1


def test_base_file_sets_every_parameter_once_and_nothing_else():
    raw = tomllib.loads(BASE_FILE.read_text())
    defaults = {f"{s}.{k}" for s, d in raw["defaults"].items() for k in d}
    set_in = set(defaults)
    for py in raw["performance_year"].values():
        per_py = {f"{s}.{k}" for s, d in py.items() for k in d}
        assert not per_py & defaults, "a key is set both in [defaults] and per PY"
        set_in |= per_py
    assert set_in == {f"{s}.{k}" for s, m in SECTIONS.items() for k in m.model_fields}


def test_docs_file_is_in_sync_with_the_model_and_the_toml():
    expected = render_markdown()
    assert DOCS.read_text() == expected, (
        "docs/methodology-parameters.md is stale: run "
        "`.venv/bin/python -m pipelines.engine.methodology --markdown > docs/methodology-parameters.md`")


def test_markdown_cli_prints_the_same_reference(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipelines.engine.methodology", "--markdown"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == render_markdown()
    one = subprocess.run([sys.executable, "-m", "pipelines.engine.methodology", "--markdown", "--performance-year", "2029"],
                         cwd=REPO, capture_output=True, text=True, timeout=120).stdout
    assert "| `payment.risk_level` | float in [0, 1] | `0.1` |" in one
