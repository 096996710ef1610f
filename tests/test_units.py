import math

import pytest
from hypothesis import given, strategies as st

from archsim.config.units import UNIT_KINDS, UnitError, format_quantity, parse_quantity

EXAMPLES = [
    ("10ns", "time", 1e-8), ("1.5us", "time", 1.5e-6), ("40 ns", "time", 4e-8), ("2s", "time", 2.0),
    ("1GHz", "frequency", 1e9), ("25MHz", "frequency", 2.5e7), ("1.2pJ", "energy", 1.2e-12),
    ("20.7pJ", "energy", 2.07e-11), ("16mW", "power", 0.016), ("0.5V", "voltage", 0.5),
    ("100kOhm", "resistance", 1e5), ("1MOhm", "resistance", 1e6), ("10fF", "capacitance", 1e-14),
    ("10uS", "conductance", 1e-5), ("80fJ", "energy", 8e-14), ("1e-3s", "time", 1e-3),
]


@pytest.mark.parametrize("text,kind,value", EXAMPLES)
def test_parse_examples(text, kind, value):
    assert parse_quantity(text, kind) == value


@pytest.mark.parametrize("kind", sorted(UNIT_KINDS))
def test_every_kind_round_trips(kind):
    for value in (1.0, 1e-9, 2.5e-12, 1.2e9, 3.3e-15, 0.0, 123456.789, 7e-17):
        text = format_quantity(value, kind)
        assert parse_quantity(text, kind) == value, text


def test_wrong_kind_is_rejected():
    with pytest.raises(UnitError, match="is a frequency, expected a time"):
        parse_quantity("1GHz", "time")


@pytest.mark.parametrize("bad", ["10", "ten ns", "10 parsecs", "", "ns", "1..2ns", "10 n s"])
def test_unparseable_is_rejected(bad):
    with pytest.raises(UnitError):
        parse_quantity(bad, "time")


def test_bare_number_rejected_for_quantity():
    with pytest.raises(UnitError, match="with a unit"):
        parse_quantity(10, "time")


def test_millisecond_not_millisiemens():
    assert parse_quantity("2ms", "time") == 2e-3
    assert parse_quantity("2mS", "conductance") == 2e-3


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)


@given(value=finite, kind=st.sampled_from(sorted(UNIT_KINDS)))
def test_format_then_parse_is_identity(value, kind):
    assert parse_quantity(format_quantity(value, kind), kind) == value


@given(mantissa=st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
       prefix=st.sampled_from(["f", "p", "n", "u", "m", "", "k", "M", "G"]))
def test_prefix_scales_by_powers_of_ten(mantissa, prefix):
    exponent = {"f": -15, "p": -12, "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9}[prefix]
    value = parse_quantity(f"{mantissa}{prefix}J", "energy")
    assert math.isclose(value, float(mantissa) * 10.0 ** exponent, rel_tol=1e-12, abs_tol=1e-300)


@given(text=st.text(max_size=12))
def test_parser_never_crashes_unexpectedly(text):
    try:
        value = parse_quantity(text, "time")
    except UnitError:
        return
    assert math.isfinite(value)
