"""Throughput of the analog tile kernels: pulsed update and forward read of a 512 x 512 tile.

Update: stochastic pulse trains, BL 31 (update-BL management off, so every sample uses all 31 slots),
update management on, soft-bounds devices with cycle-to-cycle noise (dw_min_std 0.3) and device-to-device
variation; x and d uniform in [-1, 1] and lr = 0.004 with dw_min = 0.001, so a device expects
lr |x| |d| / dw_min = 1 coincidence per sample on average. One device-update = one device considered for
one sample's BL-long train: 512 * 512 per sample. Measured through ``AnalogArray.update`` (Python overhead
included), for single samples and for batches of 64.

Read: ``AnalogArray.forward`` of a batch of 64 vectors, 8-bit DAC and ADC, output noise 0.06, noise and
bound management on; every timed read starts from weights just updated (the float32 read copy is rebuilt),
as in training. 512 * 512 * 64 multiply-accumulates per call.

Small-block update: microseconds per ``pulsed_update`` call (devices layer, no array wrapper) on a 256 x 256 block
with a batch of 10 sparse inputs, like the first layer of the FCN 784-256-128-10 on MNIST (x: 20 % of the pixels
at 1, d: normal with std 0.002, 20 % zero rows; lr 0.05, the default hardware's device and update settings). On
such blocks the per-call overhead around the kernel matters as much as the kernel.

Every figure is the median over ``--runs`` timed runs. ``--json`` prints one JSON object and nothing else.

``--against-aihwkit`` (when aihwkit is installed) times the same three calls on an aihwkit 1.1 ``AnalogTile``
configured alike (SoftBoundsDevice with the same dw_min, bounds, cycle-to-cycle and device-to-device spreads;
BL 31 without BL management, update management on; 8-bit input and output resolution, output noise 0.06,
abs-max noise management, iterative bound management), adds its figures under ``aihwkit_*`` keys and prints
archsim / aihwkit ratios against the speed goals: the update kernel at least 10x aihwkit's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archsim.analog import AnalogArray  # noqa: E402
from archsim.config import load_hw_config  # noqa: E402
from archsim.devices.models import device_model, sample_device_state  # noqa: E402
from archsim.devices.update import pulsed_update  # noqa: E402

SIZE = 512
BATCH = 64
LR = 0.004

SETTINGS = [f"hw.tile.rows={SIZE}", f"hw.tile.cols={SIZE}", "hw.tile.adcs=512", "hw.update.bl=31",
            "hw.update.mode=stochastic", "hw.update.update_management=true", "hw.update.update_bl_management=false",
            "hw.device.model=soft_bounds", "hw.device.dw_min=0.001", "hw.device.dw_min_std=0.3",
            "hw.device.write_noise_std=0", "hw.adc.bits=8", "hw.dac.bits=8", "hw.dac.mode=multi_level",
            "hw.io.out_noise=0.06", "hw.io.w_noise=0", "hw.io.noise_management=abs_max",
            "hw.io.bound_management=iterative"]


def median_rate(work, units_per_call: float, calls: int, runs: int) -> float:
    """Median over runs of units per second, each run timing ``calls`` calls of ``work(call_index)``."""
    rates = []
    for run in range(runs):
        start = time.perf_counter()
        for call in range(calls):
            work(run * calls + call)
        rates.append(units_per_call * calls / (time.perf_counter() - start))
    return float(np.median(rates))


SMALL_BLOCK, SMALL_BATCH, SMALL_LR = 256, 10, 0.05


def small_block_call_us(runs: int) -> float:
    """Median microseconds per ``pulsed_update`` call on the FCN-like 256 x 256 block (module docstring)."""
    hw = load_hw_config(None, [])
    model = device_model(hw.device)
    state = sample_device_state(hw.device, (SMALL_BLOCK, SMALL_BLOCK), np.random.default_rng(0))
    rng = np.random.default_rng(2)
    pool = 64
    xs = (rng.random((pool, SMALL_BATCH, SMALL_BLOCK)) < 0.2) * 1.0
    ds = rng.normal(0, 0.002, (pool, SMALL_BATCH, SMALL_BLOCK)) * (rng.random((pool, SMALL_BATCH, SMALL_BLOCK)) < 0.8)

    def call(k):
        i = k % pool
        pulsed_update(state, model, xs[i], ds[i], SMALL_LR, hw.update, 1, k * SMALL_BATCH)

    call(0)  # compile / load the cached kernels
    return 1e6 / median_rate(call, 1.0, 200, runs)


#: Speed goals (archsim / aihwkit) this benchmark reports against.
GOALS = {"update_mdev_per_s_single": 10.0, "update_mdev_per_s_batch64": 10.0}


def aihwkit_figures(hw, xs, ds, read_input, runs: int) -> dict:
    """The same update and read calls on an aihwkit AnalogTile configured like archsim's ``hw``."""
    import torch
    from aihwkit.simulator.configs import SingleRPUConfig, SoftBoundsDevice
    from aihwkit.simulator.tiles import AnalogTile

    device = hw.device
    config = SingleRPUConfig(device=SoftBoundsDevice(
        dw_min=device.dw_min, dw_min_dtod=device.dw_min_dtod, dw_min_std=device.dw_min_std,
        w_max=device.w_max, w_min=device.w_min, w_max_dtod=device.w_max_dtod, w_min_dtod=device.w_min_dtod,
        up_down=device.up_down, up_down_dtod=device.up_down_dtod))
    config.update.desired_bl = hw.update.bl
    config.update.update_bl_management = hw.update.update_bl_management
    config.update.update_management = hw.update.update_management
    config.forward.inp_res = 1 / (2**hw.dac.bits - 2)
    config.forward.out_res = 1 / (2**hw.adc.bits - 2)
    config.forward.out_noise = hw.io.out_noise
    config.forward.w_noise = hw.io.w_noise
    tile = AnalogTile(SIZE, SIZE, config)
    tile.set_learning_rate(LR)
    tx, td = torch.tensor(xs, dtype=torch.float32), torch.tensor(ds, dtype=torch.float32)
    tread = torch.tensor(read_input, dtype=torch.float32)
    pool = tx.shape[0]

    def update_single(k):
        i = k % pool
        tile.update(tx[i:i + 1], td[i:i + 1])

    def update_batch(k):
        i = (k * BATCH) % pool
        tile.update(tx[i:i + BATCH], td[i:i + BATCH])

    def read_batch(k):
        tile.forward(tread)

    update_batch(0)
    read_batch(0)
    return {"aihwkit_update_mdev_per_s_single": round(median_rate(update_single, SIZE * SIZE, 40, runs) / 1e6, 1),
            "aihwkit_update_mdev_per_s_batch64": round(median_rate(update_batch, SIZE * SIZE * BATCH, 3, runs) / 1e6, 1),
            "aihwkit_read_gmac_per_s": round(median_rate(read_batch, SIZE * SIZE * BATCH, 20, runs) / 1e9, 2),
            "aihwkit_version": __import__("aihwkit").__version__, "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median reported)")
    parser.add_argument("--against-aihwkit", action="store_true",
                        help="also time the same calls in aihwkit (when installed) and print the ratios")
    args = parser.parse_args(argv)

    hw = load_hw_config(None, SETTINGS)
    array = AnalogArray(SIZE, SIZE, hw, seed=0)
    rng = np.random.default_rng(1)
    pool = 16 * BATCH
    xs, ds = rng.uniform(-1, 1, (pool, SIZE)), rng.uniform(-1, 1, (pool, SIZE))

    def update_single(k):
        i = k % pool
        array.update(xs[i:i + 1], ds[i:i + 1], LR)

    def update_batch(k):
        i = (k * BATCH) % pool
        array.update(xs[i:i + BATCH], ds[i:i + BATCH], LR)

    read_input = rng.uniform(-1, 1, (BATCH, SIZE))

    def read_batch(k):
        array._read_cache.clear()  # the weights changed since the last read, as after every training update
        array.forward(read_input)

    update_batch(0)  # compile / load the cached kernels
    read_batch(0)
    stats = array.update(xs[:BATCH], ds[:BATCH], LR)
    pulses_per_device_update = stats.device_pulses / (SIZE * SIZE * BATCH)

    single = median_rate(update_single, SIZE * SIZE, 40, args.runs) / 1e6
    batch = median_rate(update_batch, SIZE * SIZE * BATCH, 3, args.runs) / 1e6
    read = median_rate(read_batch, SIZE * SIZE * BATCH, 20, args.runs) / 1e9
    small = small_block_call_us(args.runs)
    result = {"update_mdev_per_s_single": round(single, 1), "update_mdev_per_s_batch64": round(batch, 1),
              "read_gmac_per_s": round(read, 2), "update_us_per_call_256_batch10": round(small, 1)}
    if args.against_aihwkit:
        try:
            import aihwkit  # noqa: F401
        except ImportError:
            result["aihwkit_skipped"] = "aihwkit is not installed"
        else:
            result.update(aihwkit_figures(hw, xs, ds, read_input, args.runs))
            for key in ("update_mdev_per_s_single", "update_mdev_per_s_batch64", "read_gmac_per_s"):
                result[f"ratio_{key}"] = round(result[key] / result[f"aihwkit_{key}"], 2)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"512x512 tile, soft bounds with cycle-to-cycle noise, stochastic update BL 31, "
          f"{pulses_per_device_update:.2f} device pulses per device-update; medians of {args.runs} runs")
    print(f"update, single sample : {single:8.1f} M device-updates/s")
    print(f"update, batch of 64   : {batch:8.1f} M device-updates/s")
    print(f"forward read, batch 64: {read:8.2f} G MAC/s (8-bit DAC/ADC, output noise, noise+bound management)")
    print(f"update, 256x256 block, batch of 10 sparse inputs (FCN-like, default device): {small:6.1f} us per call")
    if "aihwkit_skipped" in result:
        print(f"aihwkit: skipped ({result['aihwkit_skipped']})")
    elif args.against_aihwkit:
        print(f"aihwkit {result['aihwkit_version']} AnalogTile, same settings, torch threads {result['torch_threads']}:")
        for key, label in (("update_mdev_per_s_single", "update, single sample "),
                           ("update_mdev_per_s_batch64", "update, batch of 64   "),
                           ("read_gmac_per_s", "forward read, batch 64")):
            goal = GOALS.get(key)
            verdict = "" if goal is None else f"  goal >= {goal:g}x: {'met' if result[f'ratio_{key}'] >= goal else 'not met'}"
            print(f"{label}: aihwkit {result[f'aihwkit_{key}']:8.2f}, archsim/aihwkit {result[f'ratio_{key}']:5.2f}x{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
