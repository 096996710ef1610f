"""``archsim ert`` through the real CLI, and the one-line errors of impossible architectures."""

import json

import pytest

from conftest import run_cli

REQUIRED = {"component", "action", "energy_pj", "latency_ns", "source", "parameters"}
from archsim.engine.ledger import COMPONENTS as LEDGER_COMPONENTS


def test_ert_json_is_a_list_of_entries_only():
    result = run_cli("ert", "hw_configs/isaac_like.yaml", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)  # nothing but JSON on stdout
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert set(entry) == REQUIRED
        assert entry["component"] in LEDGER_COMPONENTS
        assert isinstance(entry["parameters"], dict) and entry["source"]
        assert entry["energy_pj"] >= 0 and entry["latency_ns"] >= 0
    pairs = [(e["component"], e["action"]) for e in entries]
    assert len(pairs) == len(set(pairs))
    adc = entries[pairs.index(("adc", "convert"))]
    assert adc["parameters"]["bits"] == 8
    assert adc["parameters"]["sample_rate_hz"] == 1.28e9  # ISAAC Table I
    assert adc["parameters"]["tech_node_nm"] == 32
    assert adc["energy_pj"] == pytest.approx(1.67, rel=0.20)  # ISAAC's per-conversion ADC energy


def test_ert_set_moves_the_adc_entry():
    low = json.loads(run_cli("ert", "isaac_like", "--json", "--set", "adc.bits=4").stdout)
    high = json.loads(run_cli("ert", "isaac_like", "--json", "--set", "hw.adc.bits=12").stdout)
    energy = {name: next(e["energy_pj"] for e in entries if e["action"] == "convert")
              for name, entries in (("low", low), ("high", high))}
    assert energy["high"] > 16 * energy["low"]


def test_ert_table():
    result = run_cli("ert", "hw_configs/default.yaml")
    assert result.returncode == 0, result.stderr
    assert "convert" in result.stdout and "flit_hop" in result.stdout and "Energy reference table" in result.stdout


def one_error_line(result):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


IMPOSSIBLE = [
    ("zero_tiles", "tile:\n  count: 0\n", "hw.tile.count: 0 is out of range"),
    ("adc_slower_than_clock", "adc:\n  sample_rate: 10MHz\n",
     "hw.adc.sample_rate: one conversion at 1e+07 Hz lasts 100 cycles of the 1e+09 Hz clock; expected at most "
     "adc.max_conversion_cycles = 64"),
    ("adc_too_slow_for_read", "tile:\n  adcs: 1\nadc:\n  sample_rate: 100MHz\n",
     "hw.adc.sample_rate: 256 columns per ADC take 2560 ns to convert one read; expected them to finish within "
     "adc.hold_time"),
    ("disconnected_noc", "tile:\n  count: 4\nnoc:\n  removed_links: ['0-1', '0-2']\n",
     "hw.noc.removed_links: the network is disconnected: router(s) 0 cannot reach the other 3"),
    ("torus_does_not_fit", "tile:\n  count: 7\nnoc:\n  topology: torus\n",
     "hw.tile.count: a torus needs at least 3 routers along each side"),
    ("mesh_width_does_not_fit", "tile:\n  count: 10\nnoc:\n  mesh_width: 4\n",
     "hw.tile.count: 10 tiles need 10 routers, which do not fill rows of noc.mesh_width = 4"),
    ("ring_too_small", "tile:\n  count: 2\nnoc:\n  topology: ring\n", "hw.tile.count: a ring needs at least 3 routers"),
    ("not_a_link", "noc:\n  removed_links: ['0-9']\n", "hw.noc.removed_links: '0-9' is not a link of this mesh"),
]


@pytest.mark.parametrize("name,text,expected", IMPOSSIBLE, ids=[c[0] for c in IMPOSSIBLE])
def test_impossible_architecture_is_a_one_line_config_error(tmp_path, name, text, expected):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    line = one_error_line(run_cli("ert", path, "--json"))
    assert line.startswith(f"error: {path}: {expected}"), line


def test_set_error_names_set():
    line = one_error_line(run_cli("ert", "default", "--set", "noc.topology=torus", "--set", "tile.count=14"))
    assert line.startswith("error: --set: hw.tile.count: a torus needs at least 3 routers along each side")


def test_ert_source_names_the_set_that_changed_a_value():
    """The NoC row cites --set, not ISAAC, once --set changed its energy (the old ERT still cited ISAAC)."""
    entries = json.loads(run_cli("ert", "default", "--json", "--set", "noc.energy_per_bit_hop=1pJ").stdout)
    noc = next(e for e in entries if e["component"] == "noc")
    assert "hw.noc.energy_per_bit_hop = 1e-12, set by --set" in noc["source"]
    assert "ISAAC" not in noc["source"].split("hw.noc.energy_per_bit_hop")[1].split(";")[0]


def test_ert_has_a_row_for_every_ledger_component_the_engine_charges():
    from archsim.config import load_hw_config
    from archsim.engine.ledger import COMPONENTS as LEDGER
    from archsim.hw import build_ert

    components = {e["component"] for e in build_ert(load_hw_config("marinella2018_1024"))}
    assert components == set(LEDGER)


def test_ert_shows_the_cell_actions_of_a_role_with_its_own_device():
    """An ECRAM fast array (1 fJ per pulse, Tang et al. IEDM 2018) over the default cells: A's device pulse
    gets its own row, the shared row keeps hw.device's 4.4 pJ; without role devices there are no role rows."""
    entries = json.loads(run_cli("ert", "default", "--json", "--set", "role_devices.A.preset=ecram").stdout)
    pairs = [(e["component"], e["action"]) for e in entries]
    assert len(pairs) == len(set(pairs))
    assert all(e["component"] in LEDGER_COMPONENTS for e in entries)
    by_pair = dict(zip(pairs, entries))
    assert by_pair[("array_write", "device_pulse[A]")]["energy_pj"] == pytest.approx(0.001)
    assert by_pair[("array_write", "device_pulse[A]")]["parameters"]["role"] == "A"
    assert by_pair[("array_write", "device_pulse")]["energy_pj"] == pytest.approx(4.4)
    assert not any("[" in e["action"] for e in json.loads(run_cli("ert", "default", "--json").stdout))
