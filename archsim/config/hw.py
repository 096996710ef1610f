"""Hardware description: the ``hw`` section, loaded from a file in ``hw_configs/``.

Every field acts on the functional model, the cost model or both (docs/architecture.md); none is
duplicated elsewhere. Defaults cite their source. The cost models that read these fields live in
:mod:`archsim.hw.components`; their formulas are documented there.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.config.device import DeviceConfig, IOConfig, UpdateConfig
from archsim.config.roles import RoleDevicesConfig, resolve_role_trees
from archsim.config.schema import Fail, param, section

NOC_TOPOLOGIES = ("mesh", "torus", "ring", "bus", "tree")


def read_passes(dac_mode: str, input_bits: int) -> int:
    """Array reads (passes) one input vector of ``input_bits`` bits takes: one bit plane per pass when the DAC
    is ``bit_serial``, one pass applying the whole level when it is ``multi_level``.

    The one home of this fact: the analog read path (:mod:`archsim.analog.io`) and the DAC's cost model
    (:mod:`archsim.hw.components`) both take it from here."""
    return input_bits if dac_mode == "bit_serial" else 1


def bits_per_pass(dac_mode: str, input_bits: int) -> int:
    """Input bits each pass applies to a row: ``input_bits / read_passes(dac_mode, input_bits)``."""
    return input_bits // read_passes(dac_mode, input_bits)


def cell_conductances(array: ArrayConfig, device: DeviceConfig) -> tuple[float, float]:
    """``(G_on, G_off)`` of one crossbar cell (S): the device's own resistance range where its preset or file
    states it (``hw.device.r_on``, ``on_off_ratio``), else the array's (``hw.array``).

    A weight ``w`` in the device's bounds ``[b_min, b_max]`` sits at ``G_off + (G_on - G_off) (w - b_min) /
    (b_max - b_min)``: one device per weight, its range spanning the weight range. The one home of this fact:
    the read statistics (:mod:`archsim.analog.array`) and the crossbar cost model (:mod:`archsim.hw.components`)
    both take it from here."""
    r_on = array.r_on if device.r_on is None else device.r_on
    ratio = array.on_off_ratio if device.on_off_ratio is None else device.on_off_ratio
    return 1.0 / r_on, 1.0 / (r_on * ratio)


#: Size limits that keep a configuration within what one workstation simulates (checked on load, before
#: anything is allocated). Published crossbars are at most 512-1024 wide. The tile limit is set by the NoC
#: set-up, whose hub search is quadratic in the routers (~20 s at 4096 tiles); ISAAC's 16128 crossbars are
#: simulated as a slice (hw_configs/isaac_like.yaml).
MAX_TILE_SIDE = 4096
MAX_TILES = 4096


@dataclass
class TileConfig:
    """Crossbar tile organisation."""

    rows: int = param(256, "crossbar rows (inputs) per tile", unit="rows", ge=1, le=MAX_TILE_SIDE)
    cols: int = param(256, "crossbar columns (outputs) per tile", unit="cols", ge=1, le=MAX_TILE_SIDE)
    count: int = param(64, "number of tiles on the chip", unit="tiles", ge=1, le=MAX_TILES)
    adcs: int = param(
        32,
        "ADCs per tile; columns share them round-robin",
        unit="ADCs",
        ge=1,
        le=MAX_TILE_SIDE,
        source="NeuroSim V2: 8 columns share one ADC (column mux of 8)",
    )

    def check(self, fail: Fail) -> None:
        if self.adcs > self.cols:
            fail("adcs", f"{self.adcs} ADCs exceed the {self.cols} columns of a tile; expected at most cols")


@dataclass
class ArrayConfig:
    """Electrical parameters of the crossbar cells."""

    read_voltage: float = param(0.5, "read voltage", kind="voltage", gt=0.0, source="NeuroSim V2 RRAM: 0.5 V")
    r_on: float = param(100e3, "on-state resistance", kind="resistance", gt=0.0, source="NeuroSim V2 RRAM: 100 kOhm")
    on_off_ratio: float = param(
        10.0, "ratio of off- to on-state resistance", unit="1", gt=1.0, source="NeuroSim V2 RRAM: 10"
    )
    read_time: float = param(
        10e-9, "integration time of one analog MVM", kind="time", gt=0.0, source="NeuroSim V2 RRAM: 10 ns read pulse"
    )
    write_voltage: float = param(4.0, "write pulse amplitude", kind="voltage", gt=0.0, source="NeuroSim V2 RRAM: 4 V")
    write_pulse_width: float = param(
        50e-9,
        "width of one write pulse; one BL slot of a pulsed update lasts this long",
        kind="time",
        gt=0.0,
        source="NeuroSim V2 RRAM: 50 ns",
    )
    write_phases: int = param(
        1,
        "phases of one pulsed update: 1 when both signs are written at once (bipolar "
        "half-select pulses), 4 when each sign combination of row and column is written in "
        "its own phase; an update lasts phases x BL slots",
        unit="phases",
        ge=1,
        source="Gokmen & Vlasov, Front. Neurosci. 10:333 (2016): one bipolar phase; "
        "Marinella et al., IEEE JETCAS 2018: four-phase write",
    )
    half_select_energy_ratio: float = param(
        0.25,
        "energy a half-selected cell of a pulsed update dissipates, relative to a device pulse (a cell on a "
        "pulsed line that is not a coincidence sees half the write voltage: (V/2)^2 / V^2 for an ohmic cell; "
        "0 when half the write voltage drives no current through the cell)",
        unit="1",
        ge=0.0,
        le=1.0,
        source="NeuroSim V2 write accounting: half-selected cells at (V_write/2)^2 G t = 1/4 of a device pulse",
    )
    wire_capacitance_per_cell: float = param(
        0.1e-15,
        "row/column wire capacitance per crossbar cell, charged by every driver pulse",
        kind="capacitance",
        ge=0.0,
        source="NeuroSim V2 interconnect: ~0.2 fF/um wire over a ~0.25 um 1T1R cell pitch at 32 nm, "
        "plus the access-device load (order of magnitude)",
    )


@dataclass
class AdcConfig:
    """Column analog-to-digital converters."""

    bits: int = param(8, "ADC resolution", unit="bits", ge=1, le=16, source="ISAAC (ISCA 2016): 8-bit SAR")
    sample_rate: float = param(
        1.2e9, "conversions per second of one ADC", kind="frequency", gt=0.0, source="ISAAC (ISCA 2016): 1.2 GS/s"
    )
    out_bound: float = param(
        12.0,
        "output range +/- covered by the ADC (normalised units)",
        unit="1",
        gt=0.0,
        source="aihwkit IOParameters.out_bound default",
    )
    transfer_bits: int | None = param(
        None,
        "ADC resolution of Tiki-Taka transfer reads (a SAR ADC may stop its search early); null: the same as bits",
        unit="bits",
        ge=1,
        le=16,
    )
    fom_walden: float = param(
        1e-15,
        "Walden figure of merit of the survey envelope below the speed corner: "
        "energy per conversion step (energy per conversion = FoM_W * 2^bits)",
        kind="energy",
        gt=0.0,
        source="Murmann ADC Performance Survey 1997-2021: low-speed Walden envelope ~1 fJ/conversion-step",
    )
    fom_schreier_db: float = param(
        180.14,
        "Schreier figure of merit of the survey envelope below the speed corner (thermal-noise-limited regime)",
        unit="dB",
        gt=100.0,
        lt=220.0,
        source="Murmann ADC survey, Pareto fit of FoM_S vs sample rate (Accelergy ADC plug-in model.yaml): 180.14 dB",
    )
    fom_corner_frequency: float = param(
        174.3e6,
        "sample rate above which the survey envelope degrades",
        kind="frequency",
        gt=0.0,
        source="Murmann ADC survey Pareto fit (Accelergy ADC plug-in): "
        "FoM_S = 302.74 dB - 6.461 dB * ln(fs) meets 180.14 dB at "
        "174 MHz",
    )
    fom_rolloff_db_per_decade: float = param(
        14.88,
        "fall of the Schreier envelope per decade of sample rate above the corner",
        unit="dB/decade",
        ge=0.0,
        le=60.0,
        source="Murmann ADC survey Pareto fit (Accelergy ADC plug-in): 6.461 dB per e-fold = 14.88 dB/decade",
    )
    architecture: str = param(
        "sar",
        "converter architecture, which sets how conversion time scales with the "
        "resolution used: sar one bit cycle per bit, flash one cycle whatever the bits, ramp "
        "one counter step per level (2^bits); sample_rate is the rate at the full resolution",
        unit="-",
        choices=("sar", "flash", "ramp"),
        source="ISAAC (ISCA 2016): SAR",
    )
    energy_floor_bits: int = param(
        4,
        "resolution below which a conversion costs no less (fixed per-conversion "
        "overheads: comparator, logic, reference buffering)",
        unit="bits",
        ge=1,
        le=16,
        source="CiMLoop (Andrulis et al., ISPASS 2024) ADC model: energy stops falling below about 4-5 bits",
    )
    energy_per_conversion: float | None = param(
        None,
        "energy of one conversion at the ADC's resolution when a design states it; null: the survey envelope below",
        kind="energy",
        ge=0.0,
    )
    integrator_energy: float = param(
        0.0,
        "energy of one column's charge integrator per read pass (a readout that "
        "integrates the column current before the ADC); 0: a current-mode "
        "sample-and-hold readout",
        kind="energy",
        ge=0.0,
        source="ISAAC (ISCA 2016) and NeuroSim V2 read columns through sample-and-holds: no integrator (0)",
    )
    max_conversion_cycles: int = param(
        64,
        "longest single conversion, in chip clock cycles, that the tile "
        "sequencer accepts; a slower ADC stalls the clocked read pipeline",
        unit="cycles",
        ge=1,
        source="design limit of the tile sequencer, not a fitted number",
    )
    hold_time: float = param(
        1e-6,
        "how long a column sample-and-hold keeps a read result; every conversion "
        "of one read (columns per ADC x conversion time) must finish within it",
        kind="time",
        gt=0.0,
        source="design limit (sample-and-hold droop), not a fitted number",
    )


@dataclass
class DacConfig:
    """Row digital-to-analog converters."""

    bits: int = param(
        8, "DAC resolution", unit="bits", ge=1, le=16, source="aihwkit IOParameters.inp_res: 7 bits + sign"
    )
    mode: str = param(
        "multi_level",
        "multi-level pulses in one read, or one read per input bit",
        unit="-",
        choices=("multi_level", "bit_serial"),
    )
    inp_bound: float = param(
        1.0,
        "input range +/- after noise management (normalised units)",
        unit="1",
        gt=0.0,
        source="aihwkit IOParameters.inp_bound default",
    )
    drive_power_per_bit: float = param(
        3.9e-6,
        "power of one driven line per input bit while a read integrates "
        "(a drive costs this x array.read_time; a multi-level drive of b bits "
        "costs b times a 1-bit one)",
        kind="power",
        ge=0.0,
        source="ISAAC (ISCA 2016) Table I: 4 mW for 8x128 1-bit DACs = 3.9 uW each "
        "(0.39 pJ per 1-bit drive over its 100 ns read)",
    )


@dataclass
class NocConfig:
    """On-chip network."""

    topology: str = param(
        "mesh", "network topology", unit="-", choices=NOC_TOPOLOGIES, source="ISAAC (ISCA 2016): concentrated mesh"
    )
    link_width: int = param(
        32,
        "bits per flit / link transfer",
        unit="bits",
        ge=1,
        source="ISAAC (ISCA 2016) Table I: 32-bit flits (its 256-bit figure is the tile bus)",
    )
    energy_per_bit_hop: float = param(
        0.137e-12,
        "router+link energy per bit per hop",
        kind="energy",
        ge=0.0,
        source="ISAAC (ISCA 2016) Table I: 42 mW router with 8 ports of 32-bit flits "
        "at 1.2 GHz = 0.137 pJ per bit per hop",
    )
    router_delay: int = param(1, "router pipeline delay per hop", unit="cycles", ge=0)
    link_delay: int = param(1, "wire delay of one link traversal", unit="cycles", ge=0)
    concentration: int = param(
        1, "tiles attached to one router (ISAAC's c-mesh shares a router among 4)", unit="tiles/router", ge=1
    )
    mesh_width: int = param(
        0,
        "routers per row of a mesh or torus; 0 picks the most square grid that the router count fills exactly",
        unit="routers",
        ge=0,
    )
    tree_arity: int = param(4, "children per router of a tree topology", unit="routers", ge=2)
    removed_links: list[str] = param(
        [], "router pairs 'a-b' whose link is absent (faulty or power-gated); the network must stay connected", unit="-"
    )


@dataclass
class DigitalConfig:
    """Global digital units (activations, errors, Tiki-Taka buffer arithmetic)."""

    units: int = param(4, "number of digital vector units", unit="units", ge=1)
    lanes: int = param(32, "operations per cycle of one unit", unit="ops/cycle", ge=1)
    precision: str = param("fp32", "arithmetic precision", unit="-", choices=("fp32", "int8"))
    fp32_add_energy: float = param(
        0.9e-12, "energy of one fp32 add", kind="energy", ge=0.0, source="Horowitz ISSCC 2014, 45 nm: fp32 add 0.9 pJ"
    )
    fp32_mult_energy: float = param(
        3.7e-12,
        "energy of one fp32 multiply",
        kind="energy",
        ge=0.0,
        source="Horowitz ISSCC 2014, 45 nm: fp32 mult 3.7 pJ",
    )
    int8_add_energy: float = param(
        0.03e-12,
        "energy of one int8 add",
        kind="energy",
        ge=0.0,
        source="Horowitz ISSCC 2014, 45 nm: 8-bit add 0.03 pJ",
    )
    int8_mult_energy: float = param(
        0.2e-12,
        "energy of one int8 multiply",
        kind="energy",
        ge=0.0,
        source="Horowitz ISSCC 2014, 45 nm: 8-bit mult 0.2 pJ",
    )
    reference_node_nm: int = param(
        45,
        "technology node of the energies above; they scale linearly with hw.tech_node_nm / this",
        unit="nm",
        ge=1,
        source="Horowitz ISSCC 2014 figures are for 45 nm",
    )

    @property
    def word_bits(self) -> int:
        """Bits of one digital value at ``precision`` (what moves and buffers carry)."""
        return {"fp32": 32, "int8": 8}[self.precision]


@dataclass
class BufferConfig:
    """On-chip SRAM buffer."""

    size: int = param(262144, "capacity", unit="bytes", ge=1)
    width: int = param(64, "bits per access", unit="bits", ge=1, source="Horowitz ISSCC 2014 quotes 64-bit SRAM reads")
    reference_access_energy: float = param(
        10e-12,
        "energy of one 64-bit read of an 8 KB SRAM; other sizes "
        "scale with sqrt(size / 8 KB) (Horowitz: 8 KB 10 pJ, 32 KB 20 pJ, "
        "1 MB 100 pJ)",
        kind="energy",
        ge=0.0,
        source="Horowitz ISSCC 2014, 45 nm: 64-bit read of 8 KB SRAM 10 pJ",
    )
    write_read_ratio: float = param(
        1.0,
        "write energy per bit relative to read energy per bit",
        unit="1",
        ge=0.0,
        source="assumption: symmetric 6T SRAM read/write (Horowitz quotes reads only)",
    )
    ports: int = param(2, "independent access ports (concurrent accesses)", unit="ports", ge=1)
    banks: int = param(
        1,
        "banks the capacity is split into; an access reads one bank, so its energy follows the "
        "bank's size (sqrt(size / banks / 8 KB))",
        unit="banks",
        ge=1,
        source="Horowitz ISSCC 2014: SRAM access energy grows with array size",
    )
    access_cycles: int = param(1, "cycles per width-bit access of one port", unit="cycles", ge=1)
    energy_per_bit: float | None = param(
        None,
        "energy of reading or writing one bit when a design states it for its memory (e.g. an eDRAM's, "
        "which the SRAM scaling does not describe); taken as the full-load total, of which the static "
        "share (hw.leakage.static_fraction) is charged as leakage; null: the SRAM scaling of "
        "reference_access_energy",
        kind="energy",
        ge=0.0,
    )


@dataclass
class LineBufferConfig:
    """Each tile's input line buffer: a small SRAM beside the crossbar that holds the input rows a convolution's
    windows slide over, so each output position's k*k*C window is read next to the array instead of from the
    global buffer (ISAAC's per-tile eDRAM and input registers; NeuroSim's tile and PE input buffers). A tile's line
    buffer holds ``bytes_per_row`` bytes per crossbar row (``tile.rows``): a crossbar row is one (channel, tap) of
    the window, so the need grows with the rows. A conv layer's line buffer is spread over the tiles of one column
    block (its row blocks hold disjoint channel slices), so its capacity is the sum over its row blocks; the share
    of the window reads beyond it comes from the global buffer. Its energy per bit follows the global buffer's SRAM
    model (``hw.buffer.reference_access_energy``, sqrt of size, technology node)."""

    bytes_per_row: int = param(
        16,
        "line buffer capacity per crossbar row of a tile (a 256-row tile holds 4 KB)",
        unit="bytes/row",
        ge=1,
        source="assumption: the 3 input rows of a 3x3 convolution over inputs up to 46 wide at 8 bits; a crossbar "
        "row is one (channel, tap), so a tile holds rows/9 channels x 3 rows x (46 + 2 padding) columns x 8 bits "
        "= 128 bits per crossbar row",
    )
    width: int = param(
        64,
        "bits per access of one tile's line buffer",
        unit="bits",
        ge=1,
        source="Horowitz ISSCC 2014 quotes 64-bit SRAM reads",
    )

    def size_bytes(self, tile_rows: int) -> int:
        """Capacity of one tile's line buffer (bytes)."""
        return self.bytes_per_row * tile_rows


@dataclass
class DramConfig:
    """Off-chip DRAM behind the chip's I/O router: training inputs and labels come from it, and what the on-chip
    buffer cannot hold spills to it."""

    energy_per_bit: float = param(
        20e-12,
        "energy of moving one bit to or from DRAM",
        kind="energy",
        ge=0.0,
        source="Horowitz ISSCC 2014: DRAM 1.3-2.6 nJ per 64 bits (lower end, 20 pJ/bit)",
    )
    bandwidth: float = param(
        204.8e9,
        "bits per second of the DRAM channel",
        unit="bit/s",
        gt=0.0,
        source="JEDEC DDR4-3200: 3200 MT/s x 64 bits = 25.6 GB/s per channel",
    )


@dataclass
class MappingConfig:
    """Placement and scheduling policies."""

    array_placement: str = param(
        "same_tile",
        "whether Tiki-Taka's fast/slow/reference arrays share a tile's periphery or sit on separate tiles",
        unit="-",
        choices=("same_tile", "separate_tiles"),
    )
    placement: str = param(
        "locality",
        "how array blocks are placed on tiles: locality fills the tiles nearest (in "
        "NoC hops) to the digital unit and buffer first, layer after layer, so a layer's blocks, "
        "consecutive layers and the units they talk to sit close; linear fills tiles in number "
        "order",
        unit="-",
        choices=("locality", "linear"),
    )
    transfer_policy: str = param(
        "inline", "transfers block the step, or run on idle resources", unit="-", choices=("inline", "background")
    )
    schedule: str = param(
        "sequential",
        "how a step's batch runs: sequential moves the whole batch through each operation at once; pipelined "
        "streams the samples through the layers one by one, so layers, directions and updates of different "
        "samples overlap where dependencies and resources allow",
        unit="-",
        choices=("sequential", "pipelined"),
        source="pipelined: layer pipelining of training as in PipeLayer (Song et al., HPCA 2017)",
    )


@dataclass
class LeakageConfig:
    """Static power, charged for the whole simulated time as its own ledger line.

    Each component's static power comes from its own cost model: a fraction ``static_fraction`` of its
    full-load power (ADC: energy per conversion x sample rate; DAC line drivers: drive power of every row;
    digital units: every lane busy every cycle; buffer: every port streaming; routers: every port moving a
    flit every cycle). Where the model's figure is a total power (the ADC survey's P / f_s, ISAAC's DAC and
    router powers) that share is taken out of each action's energy, so the component at full load costs
    exactly its figure; where it is a switching energy per operation (Horowitz's digital and SRAM energies) the
    static share comes on top. The crossbar cells and pulse drivers do not leak.
    """

    static_fraction: float = param(
        0.1,
        "share of a component's full-load power that is static",
        unit="1",
        ge=0.0,
        lt=1.0,
        source="assumption in CiMLoop's manner (Andrulis et al., ISPASS 2024: ADC "
        "leakage as a fraction of energy x throughput), 10 %",
    )
    gate_unused_tiles: bool = param(True, "power-gate tiles the mapping leaves empty (they do not leak)", unit="-")
    gate_unused_routers: bool = param(
        True,
        "power-gate routers that host no powered tile or shared unit and lie on no shortest route between them",
        unit="-",
    )


@dataclass
class HwConfig:
    """One accelerator."""

    name: str = param("default", "name of this hardware description", unit="-")
    clock: float = param(
        1e9, "chip clock", kind="frequency", gt=0.0, source="Marinella et al., IEEE JETCAS 2018: 1 GHz core clock"
    )
    tech_node_nm: int = param(32, "technology node", unit="nm", ge=1, source="ISAAC (ISCA 2016): 32 nm")
    tile: TileConfig = section(TileConfig, "crossbar tiles")
    array: ArrayConfig = section(ArrayConfig, "crossbar cell electrics")
    adc: AdcConfig = section(AdcConfig, "column ADCs")
    dac: DacConfig = section(DacConfig, "row DACs")
    io: IOConfig = section(IOConfig, "analog read noise and management")
    update: UpdateConfig = section(UpdateConfig, "pulsed update")
    device: DeviceConfig = section(DeviceConfig, "device response")
    role_devices: RoleDevicesConfig = section(RoleDevicesConfig, "per-role devices (archsim/config/roles.py)")
    resolve_raw = staticmethod(resolve_role_trees)  # role sections are resolved on top of hw.device
    noc: NocConfig = section(NocConfig, "on-chip network")
    digital: DigitalConfig = section(DigitalConfig, "digital units")
    buffer: BufferConfig = section(BufferConfig, "SRAM buffer")
    line_buffer: LineBufferConfig = section(LineBufferConfig, "each tile's input line buffer (convolutions)")
    dram: DramConfig = section(DramConfig, "off-chip DRAM")
    mapping: MappingConfig = section(MappingConfig, "placement and scheduling policies")
    leakage: LeakageConfig = section(LeakageConfig, "static power")

    def read_input_bits(self) -> int:
        """Input resolution of a read (bits): the DAC's, or ``io.serial_input_bits`` streamed by a bit-serial DAC.

        The one home of this fact: the analog read path and the trainer's operation recorder take it from here."""
        return self.io.serial_input_bits if self.dac.mode == "bit_serial" else self.dac.bits

    def check(self, fail: Fail) -> None:
        """Cross-section checks: the ADC must keep up with the clock and the read, the NoC must fit."""
        conversion_cycles = self.clock / self.adc.sample_rate
        if conversion_cycles > self.adc.max_conversion_cycles + 1e-9:
            fail(
                "adc.sample_rate",
                f"one conversion at {self.adc.sample_rate:.4g} Hz lasts "
                f"{conversion_cycles:.4g} cycles of the {self.clock:.4g} Hz clock; expected at "
                f"most adc.max_conversion_cycles = {self.adc.max_conversion_cycles}",
            )
        columns_per_adc = -(-self.tile.cols // self.tile.adcs)
        conversion_time = columns_per_adc / self.adc.sample_rate
        if conversion_time > self.adc.hold_time * (1 + 1e-12):
            fail(
                "adc.sample_rate",
                f"{columns_per_adc} columns per ADC take {conversion_time * 1e9:.4g} ns to "
                f"convert one read; expected them to finish within adc.hold_time = "
                f"{self.adc.hold_time * 1e9:.4g} ns (raise sample_rate or tile.adcs)",
            )
        # The same graph builder the architecture uses, so validation and simulation cannot disagree.
        from archsim.hw.noc import TopologyError, build_router_graph

        try:
            build_router_graph(self.noc, self.tile.count)
        except TopologyError as problem:
            fail(problem.key, problem.message)
