"""Settings file: round trip, schema migration, validation, corrupt files."""

import json

from mangacolor.core.settings import SCHEMA_VERSION, Settings, load_settings, save_settings, settings_path


def test_round_trip_in_the_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MANGACOLOR_CONFIG_DIR", str(tmp_path))
    s = Settings(device="cpu", render_size=640, output_format="webp", output_quality=80, open_folder="/x",
                 overspill_threshold=0.1, fix_overspill=True)
    path = save_settings(s)
    assert path == tmp_path / "settings.json" == settings_path()
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert load_settings() == s


def test_missing_file_gives_defaults(tmp_path):
    assert load_settings(tmp_path / "none.json") == Settings()


def test_migration_from_schema_1(tmp_path):
    p = tmp_path / "settings.json"
    p.write_text(json.dumps({"schema_version": 1, "gpu": False, "size": 768, "overspill_threshold_percent": 8,
                             "obsolete": 1}))
    s = load_settings(p)
    assert s.device == "cpu" and s.render_size == 768 and abs(s.overspill_threshold - 0.08) < 1e-9
    save_settings(s, p)
    assert "obsolete" not in json.loads(p.read_text())


def test_invalid_values_and_corrupt_file_fall_back(tmp_path):
    p = tmp_path / "settings.json"
    p.write_text(json.dumps({"schema_version": 2, "render_size": 5, "output_format": "gif", "half_precision": "yes",
                             "device": "tpu"}))
    s = load_settings(p)
    d = Settings()
    assert (s.render_size, s.output_format, s.half_precision, s.device) == (d.render_size, d.output_format,
                                                                             d.half_precision, d.device)
    p.write_text("{broken")
    assert load_settings(p) == Settings()


def test_default_overspill_threshold_is_the_calibrated_one():
    from mangacolor.core.overspill import OverspillParams

    assert Settings().overspill_threshold == OverspillParams().threshold
