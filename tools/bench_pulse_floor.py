"""How fast can a pulsed update go in numba on this machine? The floor under ``bench_devices.py``'s update figure.

Takes ``bench_devices.py``'s single-sample update (512 x 512 soft-bounds devices with cycle-to-cycle noise, BL 31,
update management, ~1 pulse per device) and times, on one core, kernels over the *same* pulse trains (archsim's own
update plan):

- ``archsim``: archsim's stochastic update kernel, serial (``kernels._stochastic_update(model, False)``): on this
  dense sample, each device's first two pulses fired in vector loops over the row, the rest from a hit list;
- ``archsim_hit_list``: the same kernel built with ``dense=False``: every pulse from the hit list (one device at a
  time, as before the vector loops);
- ``floor_plain``: the physics and nothing else, one device at a time: per device, the coincidence count (a
  popcount), the device's stream key, then per pulse one hash, a normal draw by archsim's table, the soft-bounds step
  and the clip; no bookkeeping (no pulse counts, no write noise, no apparent weights, no model dispatch);
- ``floor_first_pulses_apart``: the same with each row's hit devices listed first and their first pulses fired in
  a pass of their own (fewer mispredicted branches on the random counts);
- ``floor_without_noise``: ``floor_plain`` with the noise draw left out (the physics is then wrong: for the
  breakdown only).

Every kernel but the last must give archsim's weights to the bit, which the script checks: the same work. The
``fastest`` of them sets the ceiling this prints for two cores (its rate times two: perfect scaling, no memory
limit), against ``GOALS`` of ``bench_devices.py`` times aihwkit's figure given with ``--aihwkit-mdev`` (default: the
last one measured on the development machine, see the README's Benchmarks). Medians of ``--runs`` runs.

Also checks whether LLVM vectorises a loop of the normal draw's table loads next to a store, with the table passed
as an argument (it cannot rule out that the store overlaps the table) and as a constant of the compiled code, as
archsim's vector loops have it.

    python tools/bench_pulse_floor.py [--runs 9] [--aihwkit-mdev 59.6] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from archsim.analog import AnalogArray
from archsim.config import load_hw_config
from archsim.devices import kernels
from archsim.devices.registry import SOFT_BOUNDS
from archsim.devices.rng import NORMAL_TABLE
from archsim.devices.update import _noise_args, _state_args  # the arguments pulsed_update gives the kernel
from bench_devices import GOALS, LR, SETTINGS, SIZE

_mix64, _subkey, _normal, _popcount = kernels._mix64, kernels._subkey, kernels._normal, kernels._popcount
_DEVICE_SALT, _GOLDEN, _S52, _TOP = kernels._DEVICE_SALT, kernels._GOLDEN, kernels._S52, kernels._TOP_BIN


@nb.njit(cache=True, inline="always")
def _soft_bounds_pulse(w, up, scale_up, scale_down, b_max, b_min, std_mult, noise):
    """One soft-bounds pulse from ``w`` (archsim's formula, cap and clip; multiplicative c2c noise only)."""
    scale = np.float64(scale_up if up else scale_down)
    bound = np.float64(b_max if up else b_min)
    step = scale * (1.0 - w / bound) if bound != 0.0 and scale != 0.0 else 0.0
    span = np.float64(b_max) - np.float64(b_min)
    step = step if step <= span else span
    step += abs(std_mult * step) * noise
    return min(max(w + (step if up else -step), np.float64(b_min)), np.float64(b_max))


@nb.njit(cache=True)
def _floor(w, scale_up, scale_down, b_max, b_min, std_mult, d_sign, x_sign, row_bits, col_bits, key, table, noisy):
    """Sample 0 of a single-word (BL <= 64) stochastic update, the physics alone."""
    n_rows, n_in = w.shape
    for i in range(n_rows):
        row_word = row_bits[0, i, 0]
        if row_word == 0:
            continue
        for j in range(n_in):
            n = _popcount(row_word & col_bits[0, j, 0])
            if n == 0:
                continue
            up = d_sign[0, i] * x_sign[0, j] < 0
            device_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
            value = w[i, j]
            for k in range(n):
                noise = _normal(device_key, k, table) if noisy else 0.0
                value = _soft_bounds_pulse(
                    value, up, scale_up[i, j], scale_down[i, j], b_max[i, j], b_min[i, j], std_mult, noise
                )
            w[i, j] = value


@nb.njit(cache=True)
def _floor_first_pulses_apart(
    w, scale_up, scale_down, b_max, b_min, std_mult, d_sign, x_sign, row_bits, col_bits, key, table, noisy
):
    """:func:`_floor` with each row's devices hit listed first and their first pulses fired in a pass of their own
    (no branch on the random count there), the further pulses after: fewer mispredicted branches."""
    n_rows, n_in = w.shape
    hit_cols = np.empty(n_in, dtype=np.int64)
    hit_counts = np.empty(n_in, dtype=np.int64)
    again = np.empty(n_in, dtype=np.int64)
    for i in range(n_rows):
        row_word = row_bits[0, i, 0]
        if row_word == 0:
            continue
        hits = 0
        for j in range(n_in):
            n = _popcount(row_word & col_bits[0, j, 0])
            hit_cols[hits] = j
            hit_counts[hits] = n
            hits += n != 0
        n_again = 0
        for h in range(hits):
            j = hit_cols[h]
            up = d_sign[0, i] * x_sign[0, j] < 0
            noise = _normal(_subkey(key, i * n_in + j, _DEVICE_SALT), 0, table) if noisy else 0.0
            w[i, j] = _soft_bounds_pulse(
                w[i, j], up, scale_up[i, j], scale_down[i, j], b_max[i, j], b_min[i, j], std_mult, noise
            )
            again[n_again] = h
            n_again += hit_counts[h] > 1
        for a in range(n_again):
            j = hit_cols[again[a]]
            up = d_sign[0, i] * x_sign[0, j] < 0
            device_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
            value = w[i, j]
            for k in range(1, hit_counts[again[a]]):
                noise = _normal(device_key, k, table) if noisy else 0.0
                value = _soft_bounds_pulse(
                    value, up, scale_up[i, j], scale_down[i, j], b_max[i, j], b_min[i, j], std_mult, noise
                )
            w[i, j] = value


_CONSTANT_TABLE = NORMAL_TABLE  # frozen into the compiled code


@nb.njit  # not cached: numba's assembly of cached code cannot be inspected
def _table_loads_from_argument(hashes, table, out):
    """``out[k] = table[bin of hashes[k]]``: the gather of a normal draw, from an argument array."""
    for k in range(hashes.size):
        out[k] = table[np.int64(hashes[k] >> _S52)]


@nb.njit
def _table_loads_from_constant(hashes, out):
    """The same gather from the table as a constant of the compiled code."""
    for k in range(hashes.size):
        out[k] = _CONSTANT_TABLE[np.int64(hashes[k] >> _S52)]


def _median_seconds(call, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per kernel (median reported)")
    parser.add_argument(
        "--aihwkit-mdev",
        type=float,
        default=59.6,
        help="aihwkit's single-sample update, M device-updates/s (bench_devices.py --against-aihwkit)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)

    hw = load_hw_config(None, SETTINGS)
    array = AnalogArray(SIZE, SIZE, hw, seed=0)
    if len(array.blocks) != 1 or array.device.model != "soft_bounds" or hw.device.write_noise_std != 0:
        raise SystemExit("bench_pulse_floor: expects bench_devices' one-block soft-bounds tile without write noise")
    state, model = array._states[(0, 0)], array.model
    if model.glob[1] != 0.0:
        raise SystemExit("bench_pulse_floor: the floor kernel models multiplicative cycle-to-cycle noise only")
    rng = np.random.default_rng(1)
    x, d = rng.uniform(-1, 1, (1, SIZE)), rng.uniform(-1, 1, (1, SIZE))
    plan = kernels._update_plan_kernel(False)(
        x, d, LR, model.dw0, hw.update.bl, True, False, np.uint64(array._keys[(0, 0)]), 0, True
    )
    _, keys, _, _, _, d_sign, x_sign, row_bits, col_bits, _, _, _, device_pulses, sample_pulses = plan
    if row_bits.shape[2] != 1:
        raise SystemExit("bench_pulse_floor: expects trains of one word (BL <= 64)")
    start_w = state.w.copy()
    std_mult = float(model.glob[0])

    def run_archsim(dense=True):
        state.w[...] = start_w
        kernels._stochastic_update(SOFT_BOUNDS, False, dense)(
            *_state_args(state, model), d_sign, x_sign, row_bits, col_bits, keys, *_noise_args(model), device_pulses,
            sample_pulses,
        )  # fmt: skip

    floor_w = start_w.copy()

    def run_floor(noisy=True, kernel=_floor):
        floor_w[...] = start_w
        kernel(
            floor_w,
            state.scale_up,
            state.scale_down,
            state.bound_max,
            state.bound_min,
            std_mult,
            d_sign,
            x_sign,
            row_bits,
            col_bits,
            keys[0],
            NORMAL_TABLE,
            noisy,
        )

    run_archsim()
    for kernel in (_floor, _floor_first_pulses_apart):
        run_floor(kernel=kernel)
        if not np.array_equal(state.w, floor_w):
            raise SystemExit(f"bench_pulse_floor: {kernel.__name__} does not give archsim's weights: not the same work")
    floor_w[...] = state.w
    run_archsim(dense=False)
    if not np.array_equal(state.w, floor_w):
        raise SystemExit("bench_pulse_floor: archsim's hit-list kernel does not give its weights: not the same work")
    pulses = int(sample_pulses[0])
    devices = SIZE * SIZE
    seconds = {
        "archsim": _median_seconds(run_archsim, args.runs),
        "archsim_hit_list": _median_seconds(lambda: run_archsim(False), args.runs),
        "floor_plain": _median_seconds(run_floor, args.runs),
        "floor_first_pulses_apart": _median_seconds(lambda: run_floor(kernel=_floor_first_pulses_apart), args.runs),
        "floor_without_noise": _median_seconds(lambda: run_floor(False), args.runs),
    }
    fastest = min((s, name) for name, s in seconds.items() if name != "floor_without_noise")
    state.w[...] = start_w

    hashes = np.random.default_rng(3).integers(0, 2**63, 1 << 16, dtype=np.uint64)
    gathered = np.empty(hashes.size)
    _table_loads_from_argument(hashes, NORMAL_TABLE, gathered)
    _table_loads_from_constant(hashes, gathered)
    vectorised = {
        where: "gather" in probe.inspect_asm(probe.signatures[0])
        for where, probe in (("argument", _table_loads_from_argument), ("constant", _table_loads_from_constant))
    }

    goal = GOALS["update_mdev_per_s_single"] * args.aihwkit_mdev
    ceiling = 2 * devices / fastest[0] / 1e6
    result = {
        "pulses_per_device": round(pulses / devices, 3),
        **{f"{name}_ns_per_device": round(1e9 * s / devices, 2) for name, s in seconds.items()},
        "fastest": fastest[1],
        "fastest_ns_per_pulse": round(1e9 * fastest[0] / pulses, 2),
        "floor_same_bits_as_archsim": True,
        "table_gather_vectorised_from_argument": vectorised["argument"],
        "table_gather_vectorised_from_constant": vectorised["constant"],
        "two_core_ceiling_mdev_per_s": round(ceiling, 1),
        "goal_mdev_per_s": round(goal, 1),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{SIZE}x{SIZE} soft bounds + c2c noise, one sample, BL {hw.update.bl}: {result['pulses_per_device']} pulses "
        f"per device; one core, medians of {args.runs} runs"
    )
    for name in seconds:
        print(f"  {name:26s}: {result[f'{name}_ns_per_device']:6.2f} ns per device")
    print(f"  fastest: {fastest[1]}, {result['fastest_ns_per_pulse']:.2f} ns per pulse (all but the last: same bits)")
    print(
        "  normal draw's table gather vectorised by LLVM: from an argument "
        f"{'yes' if vectorised['argument'] else 'no'}, from a constant {'yes' if vectorised['constant'] else 'no'}"
    )
    print(
        f"two cores at the fastest, perfect scaling: {ceiling:.0f} M device-updates/s; "
        f"{GOALS['update_mdev_per_s_single']:.0f}x aihwkit ({args.aihwkit_mdev} M/s) needs {goal:.0f}: "
        f"{'reachable' if ceiling >= goal else 'out of reach'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
