"""Component cost models: each component exposes named actions that return an :class:`Action`.

Units: energies in picojoules (pJ), latencies in nanoseconds (ns), powers in watts. Every default
number comes from the hardware configuration (:mod:`archsim.config.hw`), whose fields cite their source;
the formulas below say how a component turns those numbers into the cost of one action. The models
know nothing of the engine, of devices or of algorithms.

A component is one class here, listed in :data:`COMPONENT_MODELS`, plus its configuration section. The class
says everything the rest of archsim needs: ``from_hw`` builds it from a hardware description, ``attribute`` is
its name on :class:`~archsim.hw.Architecture`, ``ledger_lines`` the ledger lines it charges (the ledger's list
of components and the reports follow them), ``ert_fields`` the configuration fields each action rests on (the
energy reference table cites them), ``actions()`` its rows of that table, and, if it leaks, ``leakage_kind``,
``static_power_w`` and ``leakage_instances``. What charges it is the engine's costing of the operations that
use it (:mod:`archsim.engine.costing`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from archsim.config.device import DeviceConfig
from archsim.config.hw import HwConfig, bits_per_pass, cell_conductances, read_passes
from archsim.config.roles import ROLE_KEYS, role_device

PJ_PER_J = 1e12
#: (component, action or "*") -> the configuration fields the action rests on
ErtFields = dict[tuple[str, str], tuple[str, ...]]
NS_PER_S = 1e9


@dataclass(frozen=True)
class Action:
    """The cost of one named action of one component: one row of the energy reference table."""

    component: str
    action: str
    energy_pj: float
    latency_ns: float
    source: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "action": self.action,
            "energy_pj": self.energy_pj,
            "latency_ns": self.latency_ns,
            "source": self.source,
            "parameters": dict(self.parameters),
        }


class ComponentModel:
    """What every component model declares (see the module docstring); the models in :data:`COMPONENT_MODELS`
    derive from it."""

    #: name of the model on :class:`~archsim.hw.Architecture` (``arch.components[attribute]``)
    attribute: ClassVar[str]
    #: ledger lines the component charges, in report order
    ledger_lines: ClassVar[tuple[str, ...]]
    #: the configuration fields each of its ERT actions rests on
    ert_fields: ClassVar[ErtFields] = {}
    #: its kind in the static-power table, or None when it does not leak
    leakage_kind: ClassVar[str | None] = None
    #: static power of one leaking instance (W)
    static_power_w: float = 0.0

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> ComponentModel:
        """The model of the component described by ``hw`` (``cycle_ns``: the chip's clock period)."""
        raise NotImplementedError

    def actions(self) -> list[Action]:
        """Its rows of the energy reference table."""
        raise NotImplementedError

    def leakage_instances(self, hw: HwConfig, tiles: int, router_ports: int) -> int:
        """Instances that leak with ``tiles`` tiles and ``router_ports`` router ports powered."""
        return 0


# --------------------------------------------------------------------------------------------------
# ADC
# --------------------------------------------------------------------------------------------------


def sndr_db(enob: float) -> float:
    """Signal-to-noise-and-distortion ratio of an ADC with ``enob`` effective bits (dB)."""
    return 6.02 * enob + 1.76


def survey_energy_per_conversion(
    enob: float,
    sample_rate_hz: float,
    fom_walden_j: float,
    fom_schreier_db: float,
    corner_hz: float,
    rolloff_db_per_decade: float,
) -> tuple[float, str]:
    """Energy of one conversion (J) on the envelope of Murmann's ADC survey, and the limiting regime.

    The envelope is the larger of two asymptotes (B. Murmann, "ADC Performance Survey 1997-2021"):

    - technology-limited (Walden): ``E_W = FoM_W * 2^ENOB``, doubling per bit; ``FoM_W`` ~ 1 fJ/step for the
      best low-speed designs;
    - thermal-noise-limited (Schreier): ``FoM_S = SNDR + 10 log10(fs / 2 / P)``, so
      ``E_S = P / fs = 0.5 * 10^((SNDR - FoM_S) / 10)``, quadrupling per bit; ``FoM_S`` = 180.14 dB is the
      Pareto fit of the survey by the Accelergy ADC plug-in.

    Above the speed corner (174 MHz in the same Pareto fit) the envelope degrades: the Schreier figure
    falls by ``rolloff_db_per_decade`` (14.88 dB/decade in the fit) and the Walden energy rises in
    proportion to the sample rate (10 dB/decade, the slope of the survey's high-speed Walden envelope).
    Below ~10 effective bits the Walden term dominates at low speed; at 1.2 GS/s the crossover is ~9 bits.
    With these defaults an 8-bit 1.2 GS/s ADC costs 1.76 pJ per conversion, within 6 % of the 1.67 pJ
    ISAAC (ISCA 2016) assumed for its 8-bit SAR ADC. The survey spans many nodes; no node scaling is applied.
    """
    decades_above_corner = max(0.0, math.log10(sample_rate_hz / corner_hz))
    walden = fom_walden_j * 2.0**enob * 10.0**decades_above_corner
    schreier = fom_schreier_db - rolloff_db_per_decade * decades_above_corner
    thermal = 0.5 * 10.0 ** ((sndr_db(enob) - schreier) / 10.0)
    return (walden, "walden") if walden >= thermal else (thermal, "thermal")


class AdcModel(ComponentModel):
    """A bank of ``adcs`` column ADCs per tile; columns share them round-robin.

    Action ``convert``: one conversion. Energy from :func:`survey_energy_per_conversion` at
    ``max(bits, floor_bits)`` (fixed per-conversion overheads set a floor at low resolution), or the design's
    stated figure scaled across resolutions like the survey. A fraction ``static_fraction`` of the full-rate
    power ``E * sample_rate`` is static (charged as leakage whether the ADC converts or not); each conversion
    charges the rest. Conversion time at the full resolution is ``1 / sample_rate``; at ``b`` bits a SAR takes
    ``b / bits`` of it, a ramp ``2^b / 2^bits``, a flash all of it. An ADC shared by ``k`` columns needs ``k``
    conversions per read.
    """

    name = "adc"
    attribute = "adc"
    ledger_lines = ("adc", "integrator")
    leakage_kind = "adc"
    ert_fields: ClassVar[ErtFields] = {
        ("adc", "convert"): (
            "adc.bits",
            "adc.sample_rate",
            "adc.energy_per_conversion",
            "adc.fom_walden",
            "adc.fom_schreier_db",
            "adc.energy_floor_bits",
            "adc.architecture",
            "leakage.static_fraction",
        ),
        ("integrator", "integrate"): ("adc.integrator_energy",),
    }

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> AdcModel:
        return cls(
            hw.adc.bits,
            hw.adc.sample_rate,
            hw.tech_node_nm,
            hw.tile.adcs,
            hw.tile.cols,
            hw.adc.fom_walden,
            hw.adc.fom_schreier_db,
            hw.adc.fom_corner_frequency,
            hw.adc.fom_rolloff_db_per_decade,
            hw.adc.energy_per_conversion,
            hw.adc.integrator_energy,
            hw.adc.architecture,
            hw.adc.energy_floor_bits,
            hw.leakage.static_fraction,
        )

    def leakage_instances(self, hw: HwConfig, tiles: int, router_ports: int) -> int:
        """ADCs that leak when ``tiles`` tiles are powered."""
        return hw.tile.adcs * tiles

    def actions(self) -> list[Action]:
        return [self.convert(), self.integrate()]

    def __init__(
        self,
        bits: int,
        sample_rate_hz: float,
        tech_node_nm: int,
        adcs_per_tile: int,
        cols: int,
        fom_walden_j: float,
        fom_schreier_db: float,
        corner_hz: float,
        rolloff_db_per_decade: float,
        stated_energy_j: float | None = None,
        integrator_energy_j: float = 0.0,
        architecture: str = "sar",
        floor_bits: int = 1,
        static_fraction: float = 0.0,
    ):
        self.bits = bits
        self.stated_energy_j = stated_energy_j
        self.integrator_pj = integrator_energy_j * PJ_PER_J
        self.sample_rate_hz = sample_rate_hz
        self.tech_node_nm = tech_node_nm
        self.adcs_per_tile = adcs_per_tile
        self.cols = cols
        self.architecture = architecture
        self.floor_bits = floor_bits
        self.static_fraction = static_fraction
        self.fom = (fom_walden_j, fom_schreier_db, corner_hz, rolloff_db_per_decade)
        self.conversion_time_ns = NS_PER_S / sample_rate_hz
        self._energy = {
            b: survey_energy_per_conversion(max(b, floor_bits), sample_rate_hz, *self.fom) for b in range(1, 17)
        }
        if stated_energy_j is not None:
            # a design's stated figure at its resolution; other resolutions keep the survey's ratio to it
            ratio = stated_energy_j / self._energy[bits][0]
            self._energy = {b: (e * ratio, "stated") for b, (e, _) in self._energy.items()}
        #: static power of one ADC (W)
        self.static_power_w = static_fraction * self._energy[bits][0] * sample_rate_hz

    def energy_per_conversion_pj(self, bits: int | None = None) -> float:
        """Dynamic energy of one conversion at ``bits`` effective bits (default: the ADC's resolution), pJ."""
        return self._energy[bits or self.bits][0] * PJ_PER_J * (1.0 - self.static_fraction)

    def conversion_time_scale(self, bits: int) -> float:
        """Conversion time at ``bits`` relative to the full resolution (by architecture)."""
        bits = min(bits, self.bits)
        if self.architecture == "sar":
            return bits / self.bits
        if self.architecture == "ramp":
            return 2.0 ** (bits - self.bits)
        return 1.0

    def integrate(self) -> Action:
        return Action(
            "integrator",
            "integrate",
            self.integrator_pj,
            0.0,
            "hw.adc.integrator_energy: one column integration per read pass",
            {},
        )

    def conversions_per_adc(self, outputs: int) -> int:
        """Conversions the busiest ADC makes to read ``outputs`` outputs (round-robin sharing)."""
        return -(-outputs // self.adcs_per_tile)

    def convert(self, bits: int | None = None) -> Action:
        bits = bits or self.bits
        regime = self._energy[bits][1]
        energy_pj = self.energy_per_conversion_pj(bits)
        if regime == "stated":
            return Action(
                self.name,
                "convert",
                energy_pj,
                self.conversion_time_ns,
                "hw.adc.energy_per_conversion (a design's stated figure)",
                {
                    "bits": bits,
                    "sample_rate_hz": self.sample_rate_hz,
                    "regime": regime,
                    "columns_per_adc": self.conversions_per_adc(self.cols),
                },
            )
        return Action(
            self.name,
            "convert",
            energy_pj,
            self.conversion_time_ns,
            "Murmann ADC survey envelope: max(Walden FoM_W*2^b, Schreier FoM_S thermal limit), "
            "FoM_S fit and speed corner from the Accelergy ADC plug-in; ISAAC (ISCA 2016) 8b 1.2 GS/s "
            "= 1.67 pJ as check",
            {
                "bits": bits,
                "sample_rate_hz": self.sample_rate_hz,
                "tech_node_nm": self.tech_node_nm,
                "regime": regime,
                "floor_bits": self.floor_bits,
                "architecture": self.architecture,
                "static_fraction": self.static_fraction,
                "fom_walden_j": self.fom[0],
                "fom_schreier_db": self.fom[1],
                "corner_hz": self.fom[2],
                "columns_per_adc": self.conversions_per_adc(self.cols),
            },
        )


# --------------------------------------------------------------------------------------------------
# DAC
# --------------------------------------------------------------------------------------------------


class DacModel(ComponentModel):
    """Row DACs, one per row. ``multi_level``: one read with a b-bit level per row; ``bit_serial``: b reads
    with 1-bit inputs. A driven line draws ``drive_power_per_bit`` for the whole read (``read_time``), so a
    1-bit drive costs ``P * t_read``; a b-bit multi-level drive costs b 1-bit drives (stated assumption;
    ISAAC gives the 1-bit figure)."""

    name = "dac"
    attribute = "dac"
    ledger_lines = ("dac",)
    leakage_kind = "tile"  # a tile's row drivers
    ert_fields: ClassVar[ErtFields] = {
        ("dac", "drive"): ("dac.drive_power_per_bit", "array.read_time", "dac.mode", "leakage.static_fraction")
    }

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> DacModel:
        return cls(
            hw.dac.bits,
            hw.dac.mode,
            hw.dac.drive_power_per_bit,
            hw.array.read_time,
            hw.tile.rows,
            hw.leakage.static_fraction,
        )

    def leakage_instances(self, hw: HwConfig, tiles: int, router_ports: int) -> int:
        """Tiles' row-driver banks that leak when ``tiles`` tiles are powered."""
        return tiles

    def actions(self) -> list[Action]:
        return [self.drive()]

    def __init__(
        self,
        bits: int,
        mode: str,
        drive_power_per_bit_w: float,
        read_time_s: float,
        rows: int = 1,
        static_fraction: float = 0.0,
    ):
        self.bits = bits
        self.mode = mode
        self.drive_power_per_bit_w = drive_power_per_bit_w
        self.read_time_s = read_time_s
        self.drive_energy_per_bit_pj = drive_power_per_bit_w * read_time_s * PJ_PER_J * (1.0 - static_fraction)
        #: static power of one tile's row drivers (W): a share of every row driving at full resolution
        self.static_power_w = static_fraction * rows * bits_per_pass(mode, bits) * drive_power_per_bit_w

    def passes(self, in_bits: int) -> int:
        """Array reads one input vector takes at ``in_bits`` input resolution."""
        return read_passes(self.mode, in_bits)

    def drive_energy_pj(self, in_bits: int) -> float:
        """Energy to drive one row for one pass (pJ)."""
        return bits_per_pass(self.mode, in_bits) * self.drive_energy_per_bit_pj

    def drive(self) -> Action:
        return Action(
            self.name,
            "drive",
            self.drive_energy_pj(self.bits),
            self.read_time_s * NS_PER_S,
            "hw.dac.drive_power_per_bit x hw.array.read_time, less its static share; b-bit level = b drives",
            {
                "bits": self.bits,
                "mode": self.mode,
                "passes_per_read": self.passes(self.bits),
                "drive_power_per_bit_w": self.drive_power_per_bit_w,
                "read_time_ns": self.read_time_s * NS_PER_S,
            },
        )


# --------------------------------------------------------------------------------------------------
# Crossbar array and pulse generators
# --------------------------------------------------------------------------------------------------


#: The configuration keys one device write pulse's energy comes from (the ERT cites them).
_WRITE_PULSE_KEYS = (
    "array.write_voltage",
    "array.r_on",
    "array.on_off_ratio",
    "device.r_on",
    "device.on_off_ratio",
    "device.write_energy",
    "array.write_pulse_width",
)


class CrossbarModel(ComponentModel):
    """Resistive crossbar cells.

    Read: a cell at conductance ``G`` on a line driven at full scale conducts ``V_read^2 * G * t_read`` (pJ); a
    read charges ``V_read^2 * G_on * t_read`` per cell per pass times the read's load, the measured cell current
    relative to full drive on cells at ``G_on`` (``Mvm.drive_fraction``, filled by the analog read); without it,
    full drive at the mean of the on and off conductances. Write: one device pulse dissipates the device's
    stated ``write_energy``, else ``V_write^2 * G_mean * t_pulse`` (NeuroSim V2: 4 V, 50 ns, 10-100 uS gives
    0.8-8 pJ, 4.4 pJ at the mean); a half-selected cell ``half_select_ratio`` of that.
    """

    attribute = "crossbar"
    ledger_lines = ("array_read", "array_write")
    leakage_kind = None  # the cells do not leak
    ert_fields: ClassVar[ErtFields] = {
        ("array_read", "*"): (
            "array.read_voltage",
            "array.r_on",
            "array.on_off_ratio",
            "device.r_on",
            "device.on_off_ratio",
            "array.read_time",
        ),
        # a half-selected cell is charged that ratio of a device pulse, so it cites the pulse's keys too
        ("array_write", "half_selected_cell"): ("array.half_select_energy_ratio", *_WRITE_PULSE_KEYS),
        ("array_write", "*"): _WRITE_PULSE_KEYS,
    }

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float, device: DeviceConfig | None = None) -> CrossbarModel:
        """``device``: the cells' device when it is not hw.device (one role's, hw.role_devices)."""
        array, device = hw.array, hw.device if device is None else device
        return cls(
            hw.tile.rows,
            hw.tile.cols,
            array.read_voltage,
            cell_conductances(array, device),
            array.read_time,
            array.write_voltage,
            array.write_pulse_width,
            device.write_energy,
            array.half_select_energy_ratio,
        )

    @classmethod
    def by_role(cls, hw: HwConfig) -> dict[str, CrossbarModel]:
        """The cells of each array role, each with its role's device electrics (hw.role_devices)."""
        return {role: cls.from_hw(hw, 0.0, role_device(hw, role)) for role in ROLE_KEYS}

    def __init__(
        self,
        rows: int,
        cols: int,
        read_voltage: float,
        conductances_s: tuple[float, float],
        read_time_s: float,
        write_voltage: float,
        write_pulse_width_s: float,
        write_energy_j: float | None,
        half_select_ratio: float,
    ):
        self.rows, self.cols = rows, cols
        self.g_on, self.g_off = conductances_s
        self.conductance_s = 0.5 * (self.g_on + self.g_off)
        self.read_voltage, self.read_time_s = read_voltage, read_time_s
        self.write_voltage, self.write_pulse_width_s = write_voltage, write_pulse_width_s
        self.read_cell_on_pj = read_voltage**2 * self.g_on * read_time_s * PJ_PER_J
        self.read_cell_pj = read_voltage**2 * self.conductance_s * read_time_s * PJ_PER_J
        self.write_energy_stated = write_energy_j is not None
        self.write_pulse_pj = (
            write_energy_j * PJ_PER_J
            if write_energy_j is not None
            else write_voltage**2 * self.conductance_s * write_pulse_width_s * PJ_PER_J
        )
        self.half_select_ratio = half_select_ratio
        self.half_selected_pj = half_select_ratio * self.write_pulse_pj

    def read_pj(self, cells: int, drive_fraction: float | None) -> float:
        """Cell energy of reading ``cells`` cell-passes whose load is ``drive_fraction`` (None: full drive at the
        mean conductance), pJ."""
        if drive_fraction is None:
            return cells * self.read_cell_pj
        return cells * drive_fraction * self.read_cell_on_pj

    def actions(self) -> list[Action]:
        source_read = "V_read^2 * G * t_read per cell and pass, scaled by the read's measured load"
        write_source = (
            "the device's stated energy per write pulse (hw.device.write_energy)"
            if self.write_energy_stated
            else "V_write^2 * G_mean * t_pulse"
        )
        return [
            Action(
                "array_read",
                "read_cell",
                self.read_cell_pj,
                self.read_time_s * NS_PER_S,
                source_read + "; this row: full drive at G_mean",
                {
                    "read_voltage_v": self.read_voltage,
                    "conductance_s": self.conductance_s,
                    "read_time_ns": self.read_time_s * NS_PER_S,
                },
            ),
            Action(
                "array_read",
                "read_cell_on",
                self.read_cell_on_pj,
                self.read_time_s * NS_PER_S,
                source_read + "; this row: full drive at G_on (a load of 1)",
                {"conductance_on_s": self.g_on},
            ),
            Action(
                "array_read",
                "read_tile",
                self.read_cell_pj * self.rows * self.cols,
                self.read_time_s * NS_PER_S,
                source_read + "; all rows x cols cells at full drive at G_mean",
                {"rows": self.rows, "cols": self.cols},
            ),
            Action(
                "array_write",
                "device_pulse",
                self.write_pulse_pj,
                self.write_pulse_width_s * NS_PER_S,
                write_source,
                {
                    "write_voltage_v": self.write_voltage,
                    "conductance_s": self.conductance_s,
                    "pulse_width_ns": self.write_pulse_width_s * NS_PER_S,
                },
            ),
            Action(
                "array_write",
                "half_selected_cell",
                self.half_selected_pj,
                self.write_pulse_width_s * NS_PER_S,
                "hw.array.half_select_energy_ratio x a device pulse per cell on a pulsed line that is not a "
                "coincidence (NeuroSim V2 write accounting: (V_write/2)^2 G t)",
                {"half_select_energy_ratio": self.half_select_ratio},
            ),
        ]


class PulseGeneratorModel(ComponentModel):
    """Row and column drivers of a pulsed update, one BL slot (``write_pulse_width``) per pulse.

    A pulse charges one line: a row spans ``cols`` cells, a column ``rows`` cells, each cell adding
    ``wire_capacitance_per_cell``; rows and columns swing to half the write voltage so that only
    coincident pulses see the full amplitude (half-select scheme of Gokmen & Vlasov, Front. Neurosci.
    10:333, 2016). Energy per pulse ``C_line * (V_write / 2)^2``.
    """

    name = "pulse_generator"
    attribute = "pulse_generator"
    ledger_lines = ("pulse_generator",)
    leakage_kind = None  # drivers do not leak
    ert_fields: ClassVar[ErtFields] = {
        ("pulse_generator", "*"): ("array.wire_capacitance_per_cell", "array.write_voltage")
    }

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> PulseGeneratorModel:
        array = hw.array
        return cls(
            hw.tile.rows, hw.tile.cols, array.wire_capacitance_per_cell, array.write_voltage, array.write_pulse_width
        )

    def __init__(
        self, rows: int, cols: int, wire_capacitance_per_cell_f: float, write_voltage: float, slot_time_s: float
    ):
        swing = write_voltage / 2.0
        self.row_pulse_pj = cols * wire_capacitance_per_cell_f * swing**2 * PJ_PER_J
        self.col_pulse_pj = rows * wire_capacitance_per_cell_f * swing**2 * PJ_PER_J
        self.slot_time_ns = slot_time_s * NS_PER_S
        self.parameters = {
            "rows": rows,
            "cols": cols,
            "wire_capacitance_per_cell_f": wire_capacitance_per_cell_f,
            "swing_v": swing,
        }

    def actions(self) -> list[Action]:
        source = "C_line * (V_write/2)^2, half-select (Gokmen & Vlasov 2016); wire capacitance NeuroSim V2"
        return [
            Action(self.name, "row_pulse", self.row_pulse_pj, self.slot_time_ns, source, self.parameters),
            Action(self.name, "col_pulse", self.col_pulse_pj, self.slot_time_ns, source, self.parameters),
        ]


# --------------------------------------------------------------------------------------------------
# Digital units and SRAM buffer
# --------------------------------------------------------------------------------------------------

#: Operation kinds as recipes of primitive add/mult operations; the number of primitives is also the
#: number of lane-cycles one operation occupies.
DIGITAL_RECIPES: dict[str, dict[str, int]] = {
    "add": {"add": 1},
    "mult": {"mult": 1},
    "compare": {"add": 1},  # a comparison is a subtraction
    "max": {"add": 1},  # abs-max / compare-select: a subtraction and a select
    "rng": {"add": 3},  # one xorshift draw: three shift-xor steps (Marsaglia, J. Stat. Softw. 2003)
    "sign": {"add": 1},  # a sign flip (chopper), priced as one adder-class operation
    "activation": {"add": 2, "mult": 1},  # piecewise-linear sigmoid/tanh: compare, multiply, add
    "exp": {"add": 4, "mult": 4},  # degree-4 polynomial by Horner's rule
    "div": {"add": 3, "mult": 7},  # Newton-Raphson reciprocal (3 iterations of 2 mult + 1 add) + 1 mult
}
DIGITAL_KINDS = tuple(DIGITAL_RECIPES)


class DigitalUnitModel(ComponentModel):
    """A digital vector unit of ``lanes`` lanes at ``precision``; energies from Horowitz (ISSCC 2014, 45 nm)
    scaled linearly by ``tech_node_nm / reference_node_nm`` (switched capacitance ~ feature size at a
    roughly constant supply below 45 nm)."""

    name = "digital"
    attribute = "digital"
    ledger_lines = ("digital",)
    leakage_kind = "digital_unit"
    ert_fields: ClassVar[ErtFields] = {
        ("digital", "translator_line_slot"): ("digital.int8_add_energy", "tech_node_nm"),
        ("digital", "shift_add"): ("digital.int8_add_energy", "tech_node_nm", "dac.mode"),
        ("digital", "*"): (
            "digital.add_energy",
            "digital.mult_energy",
            "tech_node_nm",
            "digital.reference_node_nm",
            "digital.lanes",
        ),
    }

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> DigitalUnitModel:
        digital = hw.digital
        primitives = (
            {"add": digital.fp32_add_energy, "mult": digital.fp32_mult_energy}
            if digital.precision == "fp32"
            else {"add": digital.int8_add_energy, "mult": digital.int8_mult_energy}
        )
        return cls(
            digital.precision,
            digital.lanes,
            primitives,
            hw.tech_node_nm,
            digital.reference_node_nm,
            cycle_ns,
            digital.int8_add_energy,
            hw.leakage.static_fraction,
        )

    def leakage_instances(self, hw: HwConfig, tiles: int, router_ports: int) -> int:
        return hw.digital.units

    def __init__(
        self,
        precision: str,
        lanes: int,
        primitive_energy_j: dict[str, float],
        tech_node_nm: int,
        reference_node_nm: int,
        cycle_ns: float,
        translator_add_energy_j: float = 0.0,
        static_fraction: float = 0.0,
    ):
        self.precision = precision
        self.lanes = lanes
        self.scale = tech_node_nm / reference_node_nm
        full_pj = {k: v * PJ_PER_J * self.scale for k, v in primitive_energy_j.items()}
        #: static power of one unit (W): a share of every lane doing an average primitive every cycle
        self.static_power_w = (
            static_fraction * lanes * (sum(full_pj.values()) / len(full_pj)) / PJ_PER_J / (cycle_ns / NS_PER_S)
        )
        # Horowitz's figures are switching energies per operation: the static share comes on top of them
        self.primitive_pj = full_pj
        self.cycle_ns = cycle_ns
        self.energy_pj = {
            kind: sum(n * self.primitive_pj[p] for p, n in recipe.items()) for kind, recipe in DIGITAL_RECIPES.items()
        }
        self.lane_cycles = {kind: sum(recipe.values()) for kind, recipe in DIGITAL_RECIPES.items()}
        # stochastic translators: a random number and a comparison per line per BL slot, in narrow integer logic
        self.translator_slot_pj = (
            (DIGITAL_RECIPES["rng"]["add"] + DIGITAL_RECIPES["compare"]["add"])
            * translator_add_energy_j
            * PJ_PER_J
            * self.scale
        )
        # a tile's shift-and-add of one bit-serial pass into an output: one narrow integer add
        self.shift_add_pj = translator_add_energy_j * PJ_PER_J * self.scale

    def cycles(self, kind: str, count: int, units: int = 1) -> int:
        """Cycles ``units`` units need for ``count`` operations of ``kind`` spread over all their lanes."""
        return -(-count * self.lane_cycles[kind] // (self.lanes * units))

    def actions(self) -> list[Action]:
        return [
            Action(
                self.name,
                kind,
                self.energy_pj[kind],
                self.lane_cycles[kind] * self.cycle_ns,
                f"Horowitz ISSCC 2014 ({self.precision} add/mult at 45 nm, scaled x{self.scale:.3g}); "
                f"recipe {DIGITAL_RECIPES[kind]}",
                {"precision": self.precision, "lanes": self.lanes, "recipe": DIGITAL_RECIPES[kind]},
            )
            for kind in DIGITAL_KINDS
        ] + [
            Action(
                self.name,
                "shift_add",
                self.shift_add_pj,
                0.0,
                "a tile's shift-and-add of a bit-serial pass into one output: one int8 add (Horowitz ISSCC "
                f"2014, scaled x{self.scale:.3g})",
                {},
            ),
            Action(
                self.name,
                "translator_line_slot",
                self.translator_slot_pj,
                0.0,
                "stochastic pulse translators: one xorshift draw + one comparison per line per BL slot at int8 "
                f"add energy (Horowitz ISSCC 2014, scaled x{self.scale:.3g})",
                {},
            ),
        ]


def sram_energy_per_bit_pj(reference_access_energy_j: float, bank_bytes: float, node_scale: float) -> float:
    """Switching energy per bit (pJ) of an SRAM bank of ``bank_bytes``: Horowitz ISSCC 2014's 64-bit read of an
    8 KB SRAM (``reference_access_energy_j``) times ``sqrt(bank_bytes / 8 KB)`` (his 8 KB / 32 KB / 1 MB figures
    follow this), scaled to the technology node by ``node_scale``."""
    return (
        reference_access_energy_j
        * PJ_PER_J
        / SramBufferModel.REFERENCE_BITS
        * math.sqrt(bank_bytes / SramBufferModel.REFERENCE_BYTES)
        * node_scale
    )


class SramBufferModel(ComponentModel):
    """On-chip buffer. Its switching energy per bit scales with the bank's size and the technology node
    (:func:`sram_energy_per_bit_pj`, from Horowitz's 8 KB SRAM access), and the static share comes on top.
    A design's stated ``energy_per_bit`` (e.g. an eDRAM's) replaces the scaling and is a full-load total, like the
    ADC's stated figure: its static share is taken out of every access and charged as leakage."""

    name = "buffer"
    attribute = "buffer"
    ledger_lines = ("buffer",)
    leakage_kind = "buffer"
    ert_fields: ClassVar[ErtFields] = {
        ("buffer", "*"): (
            "buffer.energy_per_bit",
            "buffer.reference_access_energy",
            "buffer.size",
            "buffer.width",
            "buffer.write_read_ratio",
        )
    }
    REFERENCE_BYTES = 8192
    REFERENCE_BITS = 64

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> SramBufferModel:
        buffer = hw.buffer
        return cls(
            buffer.size,
            buffer.width,
            buffer.reference_access_energy,
            buffer.write_read_ratio,
            buffer.ports,
            buffer.access_cycles,
            hw.tech_node_nm / hw.digital.reference_node_nm,
            cycle_ns,
            hw.leakage.static_fraction,
            buffer.banks,
            buffer.energy_per_bit,
        )

    def leakage_instances(self, hw: HwConfig, tiles: int, router_ports: int) -> int:
        return 1

    def __init__(
        self,
        size_bytes: int,
        width_bits: int,
        reference_access_energy_j: float,
        write_read_ratio: float,
        ports: int,
        access_cycles: int,
        node_scale: float,
        cycle_ns: float,
        static_fraction: float = 0.0,
        banks: int = 1,
        stated_energy_per_bit_j: float | None = None,
    ):
        self.size_bytes, self.width_bits = size_bytes, width_bits
        self.ports, self.access_cycles, self.banks = ports, access_cycles, banks
        self.stated = stated_energy_per_bit_j is not None
        if stated_energy_per_bit_j is not None:
            per_bit = stated_energy_per_bit_j * PJ_PER_J
        else:
            per_bit = sram_energy_per_bit_pj(reference_access_energy_j, size_bytes / banks, node_scale)
        #: static power of the buffer (W): a share of every port reading back to back
        self.static_power_w = (
            static_fraction * per_bit / PJ_PER_J * width_bits * ports / (access_cycles * cycle_ns / NS_PER_S)
        )
        # Horowitz's figure is a switching energy per access: the static share comes on top of it; a stated
        # figure is the full-load total, of which the static share is leakage
        dynamic = per_bit * (1.0 - static_fraction) if self.stated else per_bit
        self.energy_per_bit_pj = {"read": dynamic, "write": dynamic * write_read_ratio}
        self.cycle_ns = cycle_ns

    def cycles(self, bits: int) -> int:
        return -(-bits // self.width_bits) * self.access_cycles

    def actions(self) -> list[Action]:
        return [
            Action(
                self.name,
                f"{kind}_bit",
                self.energy_per_bit_pj[kind],
                self.access_cycles * self.cycle_ns / self.width_bits,
                "hw.buffer.energy_per_bit (a design's stated figure), less its static share"
                if self.stated
                else "Horowitz ISSCC 2014: 10 pJ per 64-bit read of 8 KB SRAM, x sqrt(size/8 KB)",
                {
                    "size_bytes": self.size_bytes,
                    "width_bits": self.width_bits,
                    "ports": self.ports,
                    "banks": self.banks,
                },
            )
            for kind in ("read", "write")
        ]


class LineBufferModel(ComponentModel):
    """Each tile's input line buffer (``hw.line_buffer``): an SRAM of ``bytes_per_row x tile.rows`` bytes whose
    energy per bit follows
    the global buffer's SRAM model at that size (Horowitz ISSCC 2014: a 64-bit read of an 8 KB SRAM costs
    ``hw.buffer.reference_access_energy``, larger banks ``sqrt(size / 8 KB)`` times more, scaled to the node);
    a switching energy, so the static share comes on top. A conv layer's line buffer is spread over its row
    blocks' tiles, which read in parallel: ``row_blocks`` buffers of ``width`` bits per access."""

    name = "line_buffer"
    attribute = "line_buffer"
    ledger_lines = ("line_buffer",)
    leakage_kind = "line_buffer"
    ert_fields: ClassVar[ErtFields] = {
        ("line_buffer", "*"): (
            "line_buffer.bytes_per_row",
            "tile.rows",
            "line_buffer.width",
            "buffer.reference_access_energy",
            "buffer.write_read_ratio",
            "tech_node_nm",
            "leakage.static_fraction",
        )
    }

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> LineBufferModel:
        return cls(
            hw.line_buffer.size_bytes(hw.tile.rows),
            hw.line_buffer.width,
            hw.buffer.reference_access_energy,
            hw.buffer.write_read_ratio,
            hw.tech_node_nm / hw.digital.reference_node_nm,
            cycle_ns,
            hw.leakage.static_fraction,
        )

    def leakage_instances(self, hw: HwConfig, tiles: int, router_ports: int) -> int:
        """One line buffer per powered tile."""
        return tiles

    def __init__(
        self,
        size_bytes: int,
        width_bits: int,
        reference_access_energy_j: float,
        write_read_ratio: float,
        node_scale: float,
        cycle_ns: float,
        static_fraction: float = 0.0,
    ):
        self.size_bytes, self.width_bits = size_bytes, width_bits
        self.capacity_bits = 8 * size_bytes
        per_bit = sram_energy_per_bit_pj(reference_access_energy_j, size_bytes, node_scale)
        self.energy_per_bit_pj = {"read": per_bit, "write": per_bit * write_read_ratio}
        #: static power of one tile's line buffer (W): a share of its port reading every cycle
        self.static_power_w = static_fraction * per_bit / PJ_PER_J * width_bits / (cycle_ns / NS_PER_S)
        self.cycle_ns = cycle_ns

    def cycles(self, bits: int, buffers: int = 1) -> int:
        """Cycles ``buffers`` line buffers reading in parallel take to move ``bits``."""
        return -(-bits // (self.width_bits * max(buffers, 1)))

    def actions(self) -> list[Action]:
        return [
            Action(
                self.name,
                f"{kind}_bit",
                self.energy_per_bit_pj[kind],
                self.cycle_ns / self.width_bits,
                "Horowitz ISSCC 2014: 10 pJ per 64-bit read of 8 KB SRAM, x sqrt(size/8 KB), node-scaled",
                {"size_bytes": self.size_bytes, "width_bits": self.width_bits},
            )
            for kind in ("read", "write")
        ]


class DramModel(ComponentModel):
    """Off-chip DRAM: ``energy_per_bit`` per bit moved, streaming at ``bandwidth``."""

    name = "dram"
    attribute = "dram"
    ledger_lines = ("dram",)
    leakage_kind = None  # off chip: not part of the chip's static power
    ert_fields: ClassVar[ErtFields] = {("dram", "*"): ("dram.energy_per_bit", "dram.bandwidth")}

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> DramModel:
        return cls(hw.dram.energy_per_bit, hw.dram.bandwidth, hw.clock)

    def __init__(self, energy_per_bit_j: float, bandwidth_bits_per_s: float, clock_hz: float):
        self.energy_per_bit_pj = energy_per_bit_j * PJ_PER_J
        self.bits_per_cycle = bandwidth_bits_per_s / clock_hz
        self.bandwidth = bandwidth_bits_per_s

    def cycles(self, bits: int) -> int:
        return math.ceil(bits / self.bits_per_cycle - 1e-9) if bits > 0 else 0

    def actions(self) -> list[Action]:
        return [
            Action(
                self.name,
                "bit",
                self.energy_per_bit_pj,
                1e9 / self.bandwidth,
                "hw.dram.energy_per_bit per bit, streamed at hw.dram.bandwidth",
                {"bandwidth_bits_per_s": self.bandwidth},
            )
        ]


# --------------------------------------------------------------------------------------------------
# NoC and leakage
# --------------------------------------------------------------------------------------------------


class NocModel(ComponentModel):
    """Routers and links: a flit of ``link_width`` bits costs ``link_width * energy_per_bit_hop`` per hop
    (ISAAC Table I: a 42 mW router moving 8 ports x 32 bits per 1.2 GHz cycle = 0.137 pJ per bit per hop)
    and ``router_delay + link_delay`` cycles per hop; a packet of
    ``f`` flits streams behind its head (wormhole), adding ``f`` cycles."""

    name = "noc"
    attribute = "noc"
    ledger_lines = ("noc",)
    leakage_kind = "router_port"
    ert_fields: ClassVar[ErtFields] = {
        ("noc", "*"): ("noc.energy_per_bit_hop", "noc.link_width", "leakage.static_fraction")
    }

    @classmethod
    def from_hw(cls, hw: HwConfig, cycle_ns: float) -> NocModel:
        noc = hw.noc
        return cls(
            noc.link_width,
            noc.energy_per_bit_hop,
            noc.router_delay,
            noc.link_delay,
            cycle_ns,
            noc.topology,
            hw.leakage.static_fraction,
        )

    def leakage_instances(self, hw: HwConfig, tiles: int, router_ports: int) -> int:
        return router_ports

    def __init__(
        self,
        link_width: int,
        energy_per_bit_hop_j: float,
        router_delay: int,
        link_delay: int,
        cycle_ns: float,
        topology: str,
        static_fraction: float = 0.0,
    ):
        self.link_width = link_width
        full_pj = link_width * energy_per_bit_hop_j * PJ_PER_J
        #: static power of one router port (W): a share of a flit through it every cycle
        self.port_static_power_w = static_fraction * full_pj / PJ_PER_J / (cycle_ns / NS_PER_S)
        self.static_power_w = self.port_static_power_w  # a leaking instance is one router port
        self.flit_hop_pj = full_pj * (1.0 - static_fraction)
        self.hop_cycles = router_delay + link_delay
        self.router_delay, self.link_delay = router_delay, link_delay
        self.cycle_ns = cycle_ns
        self.topology = topology

    def flits(self, bits: int) -> int:
        return -(-bits // self.link_width)

    def move_cycles(self, bits: int, hops: int) -> int:
        return 0 if hops == 0 else hops * self.hop_cycles + self.flits(bits)

    def move_energy_pj(self, bits: int, hops: int) -> float:
        return self.flits(bits) * hops * self.flit_hop_pj

    def actions(self) -> list[Action]:
        return [
            Action(
                self.name,
                "flit_hop",
                self.flit_hop_pj,
                self.hop_cycles * self.cycle_ns,
                "hw.noc.energy_per_bit_hop x link_width, less its static share",
                {
                    "link_width_bits": self.link_width,
                    "router_delay_cycles": self.router_delay,
                    "link_delay_cycles": self.link_delay,
                    "topology": self.topology,
                },
            )
        ]


class LeakageModel:
    """Static power of each component kind (W per instance); energy per clock cycle in pJ."""

    name = "leakage"
    ledger_lines = ("leakage",)
    ert_fields: ClassVar[ErtFields] = {
        ("leakage", "*"): ("leakage.static_fraction", "leakage.gate_unused_tiles", "leakage.gate_unused_routers")
    }

    def __init__(self, powers_w: dict[str, float], counts: dict[str, int], cycle_ns: float, source: str):
        self.powers_w = powers_w
        self.counts = counts
        self.cycle_ns = cycle_ns
        self.source = source

    def chip_power_w(self, counts: dict[str, int] | None = None) -> float:
        counts = counts or self.counts
        return math.fsum(self.powers_w[k] * counts[k] for k in sorted(self.powers_w))

    def actions(self) -> list[Action]:
        return [
            Action(
                self.name,
                kind,
                self.powers_w[kind] * self.cycle_ns * 1e-9 * PJ_PER_J,
                self.cycle_ns,
                self.source,
                {"power_w": self.powers_w[kind], "instances": self.counts[kind]},
            )
            for kind in sorted(self.powers_w)
        ]


#: Every component's model, in ledger order; static power (:class:`LeakageModel`) comes last, built from theirs.
COMPONENT_MODELS: tuple[type[ComponentModel], ...] = (
    AdcModel,
    DacModel,
    CrossbarModel,
    PulseGeneratorModel,
    DigitalUnitModel,
    SramBufferModel,
    LineBufferModel,
    DramModel,
    NocModel,
)
#: Ledger lines, in order: the one list of what the ledger, the ERT and the reports know.
LEDGER_LINES: tuple[str, ...] = tuple(line for model in COMPONENT_MODELS for line in model.ledger_lines) + (
    LeakageModel.ledger_lines
)
#: The configuration fields each ERT action rests on ("*": every action of the component), from the models.
ERT_FIELDS: ErtFields = {
    **{key: keys for model in COMPONENT_MODELS for key, keys in model.ert_fields.items()},
    **LeakageModel.ert_fields,
}
