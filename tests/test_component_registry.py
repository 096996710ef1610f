"""A cost component is one class plus its configuration section: the architecture, the energy reference table, the
static power and the ledger's lines all derive from the list of component models."""

from typing import ClassVar

import pytest

from archsim.config import load_hw_config
from archsim.config.hw import HwConfig
from archsim.config.schema import iter_fields
from archsim.engine.ledger import COMPONENTS
from archsim.hw import Architecture, architecture
from archsim.hw.components import COMPONENT_MODELS, ERT_FIELDS, Action, LeakageModel


def test_the_ledger_lines_are_the_models_lines_in_order():
    lines = [line for model in COMPONENT_MODELS for line in model.ledger_lines] + ["leakage"]
    assert list(COMPONENTS) == lines
    assert len(set(lines)) == len(lines)  # each line charged by one model


def test_every_ert_field_is_a_configuration_key_and_every_action_a_ledger_line():
    # digital.add_energy and mult_energy resolve to the fields of the configured precision
    known = {name for name, _, _ in iter_fields(HwConfig)} | {"digital.add_energy", "digital.mult_energy"}
    for (component, _), keys in ERT_FIELDS.items():
        assert component in COMPONENTS
        assert set(keys) <= known, set(keys) - known
    arch = Architecture(load_hw_config("default"))
    assert {row["component"] for row in arch.ert()} <= set(COMPONENTS)


class ToyModel:
    """A component that exists only in this test: one action, static power per tile."""

    attribute = "toy"
    ledger_lines = ("toy",)
    leakage_kind = "toy"
    ert_fields: ClassVar[dict] = {("toy", "*"): ("clock",)}
    static_power_w = 1e-3

    @classmethod
    def from_hw(cls, hw, cycle_ns):
        return cls()

    def leakage_instances(self, hw, tiles, router_ports):
        return 2 * tiles

    def actions(self):
        return [Action("toy", "poke", 1.0, 1.0, "test")]


def test_a_listed_model_is_built_costed_in_the_ert_and_leaks(monkeypatch):
    monkeypatch.setattr(architecture, "COMPONENT_MODELS", (*COMPONENT_MODELS, ToyModel))
    monkeypatch.setitem(architecture.ERT_FIELDS, ("toy", "*"), ToyModel.ert_fields[("toy", "*")])
    hw = load_hw_config("default")
    arch = Architecture(hw)
    assert isinstance(arch.components["toy"], ToyModel)
    rows = [row for row in arch.ert() if row["component"] == "toy"]
    assert [row["action"] for row in rows] == ["poke"] and "hw.clock" in rows[0]["source"]
    assert arch.leakage.powers_w["toy"] == pytest.approx(1e-3)
    assert arch.leakage_counts({0, 1})["toy"] == 4
    assert isinstance(arch.leakage, LeakageModel)
