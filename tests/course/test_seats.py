"""Per-seat resources from the chapter records (medsynth_nb.course.seats), and the hub configs
that must grant at least that much (hub/jupyterhub_config.py, hub/z2jh-values.yaml)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from traitlets.config.loader import PyFileConfigLoader

from medsynth_nb.course import seats
from medsynth_nb.course.results import RunRecord

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "hub"
MACHINE = "AMD EPYC, 2 cores, torch 2.13.0+cpu with 2 threads"


def fake_record(folder: Path, name: str, peak_mb: int | None, wall_s: int, profile: str = "cpu",
                machine: str = MACHINE) -> None:
    record = RunRecord(name=name, title=name, command=f"python benchmarks/notebooks.py # {name}", profile=profile,
                       machine=machine, date="2026-01-01 00:00 UTC", commit="abc1234")
    record.add("wall time (s)", wall_s)
    if peak_mb is not None:
        record.add("kernel peak memory (MB)", peak_mb)
    record.save(folder)


def test_the_table_and_limits_come_from_the_records(tmp_path):
    fake_record(tmp_path, "chapter-01-cpu", 1500, 300)
    fake_record(tmp_path, "chapter-00-cpu", 1000, 100, machine="Xeon, 8 cores, torch 2.13.0+cpu with 4 threads")
    fake_record(tmp_path, "chapter-00-smoke", 9000, 50, profile="smoke")  # another profile: not counted
    fake_record(tmp_path, "determinism-chapter-01-cpu", 9000, 50)        # not a chapter record
    rows = seats.chapter_needs(tmp_path)
    assert [(r.chapter, r.profile, r.peak_mb, r.wall_s) for r in rows] == [("00", "cpu", 1000, 100),
                                                                            ("01", "cpu", 1500, 300)]
    seat = seats.recommend(rows, server_overhead_mb=100, headroom=0.25)
    # 1500 + 100 = 1600 -> 1792 (a multiple of 256); x 1.25 = 2240 -> 2304; the most threads of any run: 4
    assert (seat.mem_guarantee_mb, seat.mem_limit_mb, seat.cpu_limit) == (1792, 2304, 4)
    assert (seat.largest_peak_mb, seat.largest_peak_chapter) == (1500, "01")
    assert seats.seats_on(16, 8, seat) == {"by memory, each at its guarantee": 9, "by memory, each at its limit": 7,
                                           "by CPU, all training at once at full speed": 2}
    text = seats.report(rows, seat, machine=(16, 8))
    assert "| 01 | cpu | 1500 | 300 |" in text and "1792M" in text and "2304M" in text


def test_a_record_without_its_memory_figure_or_no_records_at_all_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/notebooks.py"):
        seats.chapter_needs(tmp_path)
    fake_record(tmp_path, "chapter-00-cpu", None, 100)
    with pytest.raises(ValueError, match="kernel peak memory"):
        seats.chapter_needs(tmp_path)
    with pytest.raises(ValueError, match="thread"):
        seats.torch_threads("a machine line without threads")


def test_memory_sizes_read_as_jupyterhub_reads_them():
    assert seats.byte_spec_mb("2304M") == 2304
    assert seats.byte_spec_mb("2.5G") == 2560
    assert seats.byte_spec_mb(3 * 2**30) == 3072
    with pytest.raises(ValueError):
        seats.byte_spec_mb("2 GB")


@pytest.fixture(scope="module")
def needed() -> seats.Seat:
    return seats.recommend(seats.chapter_needs())


def load_hub_config(monkeypatch, **env) -> dict:
    monkeypatch.delenv("TLJH_INSTALL_PREFIX", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config()


def test_the_single_machine_hub_grants_what_the_records_need(monkeypatch, needed):
    config = load_hub_config(monkeypatch)
    spawner = config.Spawner
    assert seats.byte_spec_mb(spawner.mem_guarantee) >= needed.mem_guarantee_mb
    assert seats.byte_spec_mb(spawner.mem_limit) >= needed.mem_limit_mb
    assert spawner.cpu_limit >= needed.cpu_limit
    assert spawner.environment["MEDSYNTH_PROFILE"] == "cpu"
    assert spawner.environment["OMP_NUM_THREADS"] == str(spawner.cpu_limit)
    assert (ROOT / "notebooks" / Path(spawner.default_url).name).exists()
    # A real authenticator in production; the DummyAuthenticator only in tests/hub.
    assert "Dummy" not in config.JupyterHub.authenticator_class and config.JupyterHub.spawner_class


def test_under_tljh_the_config_keeps_tljhs_authenticator_and_spawner(monkeypatch):
    config = load_hub_config(monkeypatch, TLJH_INSTALL_PREFIX="/opt/tljh")
    assert "authenticator_class" not in config.JupyterHub and "spawner_class" not in config.JupyterHub
    assert config.Spawner.mem_limit and config.Spawner.cpu_limit


def test_the_kubernetes_values_grant_what_the_records_need(needed):
    values = yaml.safe_load((HUB / "z2jh-values.yaml").read_text())
    user = values["singleuser"]
    assert seats.byte_spec_mb(user["memory"]["guarantee"]) >= needed.mem_guarantee_mb
    assert seats.byte_spec_mb(user["memory"]["limit"]) >= needed.mem_limit_mb
    assert user["cpu"]["limit"] >= needed.cpu_limit
    assert user["extraEnv"]["MEDSYNTH_PROFILE"] == "cpu"
    assert user["extraEnv"]["OMP_NUM_THREADS"] == str(user["cpu"]["limit"])
    assert (ROOT / "notebooks" / Path(user["defaultUrl"]).name).exists()
    assert values["cull"]["enabled"] and values["hub"]["config"]["JupyterHub"]["authenticator_class"] != "dummy"
