"""Hardware description: the ``hw`` section, loaded from a file in ``hw_configs/``.

Every field acts on the functional model, the cost model or both (DESIGN section 2); none is
duplicated elsewhere. Defaults cite their source.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.config.device import DeviceConfig, IOConfig, UpdateConfig
from archsim.config.schema import Fail, param, section

NOC_TOPOLOGIES = ("mesh", "torus", "ring", "bus", "tree")


@dataclass
class TileConfig:
    """Crossbar tile organisation."""

    rows: int = param(256, "crossbar rows (inputs) per tile", unit="rows", ge=1)
    cols: int = param(256, "crossbar columns (outputs) per tile", unit="cols", ge=1)
    count: int = param(64, "number of tiles on the chip", unit="tiles", ge=1)
    adcs: int = param(32, "ADCs per tile; columns share them round-robin", unit="ADCs", ge=1)

    def check(self, fail: Fail) -> None:
        if self.adcs > self.cols:
            fail("adcs", f"{self.adcs} ADCs exceed the {self.cols} columns of a tile; expected at most cols")


@dataclass
class ArrayConfig:
    """Electrical parameters of the crossbar cells."""

    read_voltage: float = param(0.5, "read voltage", kind="voltage", gt=0.0, source="NeuroSim V2 RRAM: 0.5 V")
    r_on: float = param(100e3, "on-state resistance", kind="resistance", gt=0.0,
                        source="NeuroSim V2 RRAM: 100 kOhm")
    on_off_ratio: float = param(10.0, "ratio of off- to on-state resistance", unit="1", gt=1.0,
                                source="NeuroSim V2 RRAM: 10")
    read_time: float = param(10e-9, "integration time of one analog MVM", kind="time", gt=0.0,
                             source="NeuroSim V2 RRAM: 10 ns read pulse")
    write_voltage: float = param(4.0, "write pulse amplitude", kind="voltage", gt=0.0,
                                 source="NeuroSim V2 RRAM: 4 V")
    write_pulse_width: float = param(50e-9, "width of one write pulse; one BL slot of a pulsed update lasts "
                                     "this long", kind="time", gt=0.0,
                                     source="NeuroSim V2 RRAM: 50 ns")


@dataclass
class AdcConfig:
    """Column analog-to-digital converters."""

    bits: int = param(8, "ADC resolution", unit="bits", ge=1, le=16, source="ISAAC (ISCA 2016): 8-bit SAR")
    sample_rate: float = param(1.2e9, "conversions per second of one ADC", kind="frequency", gt=0.0,
                               source="ISAAC (ISCA 2016): 1.2 GS/s")
    out_bound: float = param(12.0, "output range +/- covered by the ADC (normalised units)", unit="1", gt=0.0,
                             source="aihwkit IOParameters.out_bound default")


@dataclass
class DacConfig:
    """Row digital-to-analog converters."""

    bits: int = param(8, "DAC resolution", unit="bits", ge=1, le=16)
    mode: str = param("multi_level", "multi-level pulses in one read, or one read per input bit",
                      unit="-", choices=("multi_level", "bit_serial"))
    inp_bound: float = param(1.0, "input range +/- after noise management (normalised units)", unit="1",
                             gt=0.0, source="aihwkit IOParameters.inp_bound default")


@dataclass
class NocConfig:
    """On-chip network."""

    topology: str = param("mesh", "network topology", unit="-", choices=NOC_TOPOLOGIES)
    link_width: int = param(256, "bits per flit / link transfer", unit="bits", ge=1,
                            source="ISAAC (ISCA 2016): 256-bit flits")
    energy_per_bit_hop: float = param(0.08e-12, "router+link energy per bit per hop", kind="energy", ge=0.0,
                                      source="ISAAC (ISCA 2016): 20.7 pJ per 256-bit flit per hop")
    router_delay: int = param(1, "router pipeline delay per hop", unit="cycles", ge=0)


@dataclass
class DigitalConfig:
    """Global digital units (activations, errors, Tiki-Taka buffer arithmetic)."""

    units: int = param(4, "number of digital vector units", unit="units", ge=1)
    lanes: int = param(32, "operations per cycle of one unit", unit="ops/cycle", ge=1)
    precision: str = param("fp32", "arithmetic precision", unit="-", choices=("fp32", "int8"))


@dataclass
class BufferConfig:
    """On-chip SRAM buffer."""

    size: int = param(262144, "capacity", unit="bytes", ge=1)
    width: int = param(64, "bits per access", unit="bits", ge=1)


@dataclass
class MappingConfig:
    """Placement and scheduling policies."""

    array_placement: str = param("same_tile", "whether Tiki-Taka's fast/slow/reference arrays share a tile's "
                                 "periphery or sit on separate tiles", unit="-",
                                 choices=("same_tile", "separate_tiles"))
    transfer_policy: str = param("inline", "transfers block the step, or run on idle resources", unit="-",
                                 choices=("inline", "background"))


@dataclass
class HwConfig:
    """One accelerator."""

    name: str = param("default", "name of this hardware description", unit="-")
    clock: float = param(1e9, "chip clock", kind="frequency", gt=0.0)
    tech_node_nm: int = param(32, "technology node", unit="nm", ge=1, source="ISAAC (ISCA 2016): 32 nm")
    tile: TileConfig = section(TileConfig, "crossbar tiles")
    array: ArrayConfig = section(ArrayConfig, "crossbar cell electrics")
    adc: AdcConfig = section(AdcConfig, "column ADCs")
    dac: DacConfig = section(DacConfig, "row DACs")
    io: IOConfig = section(IOConfig, "analog read noise and management")
    update: UpdateConfig = section(UpdateConfig, "pulsed update")
    device: DeviceConfig = section(DeviceConfig, "device response")
    noc: NocConfig = section(NocConfig, "on-chip network")
    digital: DigitalConfig = section(DigitalConfig, "digital units")
    buffer: BufferConfig = section(BufferConfig, "SRAM buffer")
    mapping: MappingConfig = section(MappingConfig, "placement and scheduling policies")
