"""Physical units: the one place where strings such as ``"10ns"`` or ``"1.2pJ"`` become numbers.

Every quantity is stored in its SI base unit (seconds, hertz, joules, watts, volts, ohms, farads,
siemens) as a ``float``. Parsing goes through :class:`decimal.Decimal` so that ``"10ns"`` becomes the
float nearest to 1e-8 (not ``10 * 1e-9``), and :func:`format_quantity` always produces a string that
parses back to exactly the same float, which is what makes a written configuration reload bit for bit.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from archsim.errors import excerpt

#: kind -> (base symbol, accepted spellings of the base symbol)
UNIT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "time": ("s", ("s", "sec")),
    "frequency": ("Hz", ("Hz", "hz")),
    "energy": ("J", ("J",)),
    "power": ("W", ("W",)),
    "voltage": ("V", ("V",)),
    "resistance": ("Ohm", ("Ohm", "ohm", "Ω")),
    "capacitance": ("F", ("F",)),
    "conductance": ("S", ("S",)),
    "area": ("m2", ("m2", "m^2")),
}

#: SI prefixes, as powers of ten.
PREFIXES: dict[str, int] = {
    "a": -18,
    "f": -15,
    "p": -12,
    "n": -9,
    "u": -6,
    "µ": -6,
    "μ": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "K": 3,
    "M": 6,
    "G": 9,
    "T": 12,
}
#: Prefixes used when writing a value, from large to small.
_WRITE_PREFIXES = [
    ("T", 12),
    ("G", 9),
    ("M", 6),
    ("k", 3),
    ("", 0),
    ("m", -3),
    ("u", -6),
    ("n", -9),
    ("p", -12),
    ("f", -15),
    ("a", -18),
]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY_RE = re.compile(rf"^\s*({_NUMBER})\s*([^\s\d.+-][^\s]*)\s*$")


class UnitError(ValueError):
    """A quantity string that does not parse, or parses to the wrong kind of unit."""


def _split_unit(symbol: str) -> tuple[str, str, int] | None:
    """Return (kind, base, exponent) for a unit symbol such as ``"ns"`` or ``"kOhm"``."""
    matches = []
    for kind, (_, spellings) in UNIT_KINDS.items():
        for base in spellings:
            if symbol.endswith(base):
                prefix = symbol[: len(symbol) - len(base)]
                if prefix in PREFIXES:
                    matches.append((len(base), kind, base, PREFIXES[prefix]))
    if not matches:
        return None
    # Prefer the longest base spelling: "mS" is millisiemens, but "ms" is milliseconds.
    matches.sort(reverse=True)
    _, kind, base, exponent = matches[0]
    return kind, base, exponent


def parse_quantity(text: object, kind: str) -> float:
    """Parse ``text`` (e.g. ``"10ns"``, ``"1.5 GHz"``) as a quantity of ``kind``; return SI base units.

    Raises :class:`UnitError` with a message that says what was expected.
    """
    if kind not in UNIT_KINDS:
        raise KeyError(f"unknown unit kind {kind!r}")
    base_symbol = UNIT_KINDS[kind][0]
    example = {
        "time": "10ns",
        "frequency": "1GHz",
        "energy": "1.2pJ",
        "power": "16mW",
        "voltage": "0.5V",
        "resistance": "100kOhm",
        "capacitance": "10fF",
        "conductance": "10uS",
        "area": "0.01m2",
    }[kind]
    if isinstance(text, bool) or not isinstance(text, str):
        raise UnitError(f"expected a {kind} with a unit such as '{example}', got {excerpt(text)}")
    match = _QUANTITY_RE.match(text)
    if not match:
        raise UnitError(f"cannot parse {excerpt(text)} as a {kind}; expected a number and a unit such as '{example}'")
    number, symbol = match.groups()
    parsed = _split_unit(symbol)
    if parsed is None:
        raise UnitError(
            f"unknown unit {excerpt(symbol)} in {excerpt(text)}; expected a {kind} in {base_symbol} "
            f"with an SI prefix, such as '{example}'"
        )
    found_kind, _, exponent = parsed
    if found_kind != kind:
        raise UnitError(f"{excerpt(text)} is a {found_kind}, expected a {kind} such as '{example}'")
    try:
        result = float(Decimal(number).scaleb(exponent))
    except (InvalidOperation, ArithmeticError):  # e.g. an exponent beyond Decimal's range: 1e1000000GHz
        result = float("inf")
    if result != result or result in (float("inf"), float("-inf")):
        raise UnitError(f"{excerpt(text)} is not a finite {kind}")
    return result


def format_quantity(value: float, kind: str) -> str:
    """Write ``value`` (SI base units) with a readable prefix; the result parses back to ``value`` exactly."""
    base_symbol = UNIT_KINDS[kind][0]
    value = float(value)
    if value == 0.0:
        return f"0{base_symbol}"
    magnitude = abs(value)
    for prefix, exponent in _WRITE_PREFIXES:
        if magnitude >= 10.0**exponent * (1 - 1e-12) or exponent == -18:
            mantissa = Decimal(repr(value)).scaleb(-exponent).normalize()
            text = f"{_decimal_text(mantissa)}{prefix}{base_symbol}"
            if parse_quantity(text, kind) == value:
                return text
            break
    return f"{value!r}{base_symbol}"


def _decimal_text(number: Decimal) -> str:
    """Plain (non-scientific) text of a Decimal, without trailing zeros."""
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
