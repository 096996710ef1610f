"""Per-role devices: the arrays of one layer may be different device technologies.

An analog layer holds one array per *role* (:data:`archsim.ops.ROLES`): Analog SGD's and mixed precision's
weights W; the Tiki-Taka family's fast array A, slow (weight) array C and reference array R. ``hw.device`` is
the device of every role; ``hw.role_devices.<role>`` replaces it for one role, e.g. a capacitor- or ECRAM-like
fast A over an RRAM C::

    role_devices:
      A: {preset: ecram}

A role's section is a device section (the keys of ``hw.device``) resolved on top of ``hw.device``: a section
that names a ``preset`` describes its device from that preset, as ``hw.device`` does (the keys it lists win);
one without a preset starts from ``hw.device`` as resolved and changes the keys it lists. Either way the
resolved role device is validated as ``hw.device`` is, and it carries its own response (model, parameters)
and its own electrics (``r_on``, ``on_off_ratio``, ``write_energy``): the analog arrays of that role are built
with it (:class:`archsim.analog.AnalogArray`) and the cost side charges that role's reads and writes with its
electrics (:mod:`archsim.engine.costing`). A section for a role that the chosen algorithm does not use is an
error (:func:`check_roles_used`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any

from archsim.config.device import DeviceConfig
from archsim.config.schema import Fail, param

_ROLE_NOTE = "a device section resolved on top of hw.device (see archsim/config/roles.py); null: hw.device"


@dataclass
class RoleDevicesConfig:
    """Per-role device overrides: each role's arrays use hw.device unless a section here gives that role its
    own device technology (response and electrics). A section naming a preset starts from that preset; one
    without a preset starts from hw.device and changes the keys it lists. A role the algorithm does not use
    must stay null."""

    W: DeviceConfig | None = param(
        None, f"device of the weight array W (analog_sgd, mixed_precision): {_ROLE_NOTE}", unit="-"
    )
    A: DeviceConfig | None = param(None, f"device of the Tiki-Taka family's fast array A: {_ROLE_NOTE}", unit="-")
    C: DeviceConfig | None = param(
        None, f"device of the Tiki-Taka family's slow (weight) array C: {_ROLE_NOTE}", unit="-"
    )
    R: DeviceConfig | None = param(
        None,
        f"device of the reference array R (residual; reference_array: true), programmed to A's symmetric "
        f"point: {_ROLE_NOTE}",
        unit="-",
    )


#: The roles a section may name (archsim.ops.ROLES, which the configuration does not import; a test keeps them equal).
ROLE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(RoleDevicesConfig))


def resolve_role_trees(raw_hw: dict[str, Any]) -> dict[str, Any]:
    """The plain ``hw`` tree with every role section written out on top of ``hw.device`` (before building).

    A role section without a ``preset`` becomes a copy of ``hw.device``'s keys with its own keys on top; one
    with a preset is kept as given (it starts from its preset when built). Anything that is not a mapping is
    left for the schema to reject with its usual message."""
    roles = raw_hw.get("role_devices")
    if not isinstance(roles, dict):
        return raw_hw
    base = raw_hw.get("device")
    base = base if isinstance(base, dict) else {}
    resolved = dict(roles)
    for role, section in roles.items():
        if isinstance(section, dict) and section.get("preset") is None:
            merged = copy.deepcopy(base)
            merged.update(copy.deepcopy({k: v for k, v in section.items() if k != "preset"}))
            resolved[role] = merged
    return {**raw_hw, "role_devices": resolved}


def role_device(hw: Any, role: str) -> DeviceConfig:
    """The resolved device of ``role``'s arrays: ``hw.role_devices.<role>``, else ``hw.device``."""
    override = getattr(hw.role_devices, role)
    device: DeviceConfig = hw.device if override is None else override
    return device


def check_roles_used(hw: Any, algorithm: Any, fail: Fail) -> None:
    """A role device given for an array the algorithm does not have is an error (it would silently do nothing)."""
    from archsim.algorithms.registry import ALGORITHMS, analog_roles

    used = analog_roles(algorithm)
    spec_keys = ALGORITHMS[algorithm.name].keys
    for role in ROLE_KEYS:
        if getattr(hw.role_devices, role) is not None and role not in used:
            arrays = ", ".join(used) if used else "none (all weights digital)"
            hint = "; R only with reference_array: true" if role == "R" and "reference_array" in spec_keys else ""
            fail(
                f"hw.role_devices.{role}",
                f"algorithm {algorithm.name} has no {role} array (its analog arrays: {arrays}{hint}); "
                f"expected no device for {role} (null)",
            )
