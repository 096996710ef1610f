"""Run the same experiments in IBM aihwkit 1.1 and archsim and print the results side by side.

1. Pulse responses of every pulsed model aihwkit and archsim share (and aihwkit's device presets): a device
   population starts at the nominal w_min, takes ``--pulses`` up pulses then as many down pulses, one at a time.
   *noise-free*: no cycle-to-cycle noise, no device-to-device spread, one device: the maximum absolute
   difference of the two traces (should be float32 rounding). *population*: aihwkit's default noise and
   spreads on ``--devices`` devices: the maximum absolute difference of the mean traces, beside the standard
   error of that difference (the two simulators draw different random numbers, so only statistics compare).
   Every archsim device is configured with aihwkit's own parameter spelling (e.g. ``pow_gamma``, ``A_up``);
   the preset rows compare archsim's preset of the same name with aihwkit's preset class.
2. Digits accuracy (scikit-learn 8x8 digits, FCN 64-64-10 sigmoid, batch 10, lr 0.05, summed loss (each sample updates by lr d x),
   analog bias, the default soft-bounds device with tau = 0.7): Analog SGD, TTv1, TTv2, chopped TTv2 and AGAD,
   over ``--seeds`` seeds. Each simulator uses its own defaults for the algorithm's other hyper-parameters
   (aihwkit: ``build_config``; archsim: workloads/fcn_digits.yaml) and for the IO path.

Needs the optional extra: ``pip install 'archsim[aihwkit]'`` (aihwkit 1.1.0; see README for the torch pins).
Usage: ``python tools/aihwkit_parity.py [--quick] [--skip-training] [--epochs N] [--seeds S]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archsim.config import load_run_config  # noqa: E402
from archsim.config.device import DeviceConfig  # noqa: E402
from archsim.devices.presets import DEVICE_PRESETS  # noqa: E402
from archsim.devices.models import device_model, sample_device_state  # noqa: E402
from archsim.devices.registry import MODELS  # noqa: E402
from archsim.devices.update import pulse_protocol  # noqa: E402

DIGITS = ROOT / "workloads" / "fcn_digits.yaml"
MODEL_OF_CLASS = {m.aihwkit: m.name for m in MODELS if m.aihwkit}

#: (label, aihwkit device class, parameters in aihwkit's spelling)
DEVICE_CASES = [
    ("constant step", "ConstantStepDevice", {}),
    ("linear step", "LinearStepDevice", {"gamma_up": 0.3, "gamma_down": 0.5}),
    ("soft bounds", "SoftBoundsDevice", {}),
    ("soft bounds, up_down 0.2", "SoftBoundsDevice", {"up_down": 0.2}),
    ("soft bounds, up_down -0.3, additive noise", "SoftBoundsDevice", {"up_down": -0.3, "mult_noise": False}),
    ("exp step", "ExpStepDevice", {}),
    ("exp step, A/a/b", "ExpStepDevice", {"A_up": 0.1, "A_down": 0.2, "a": 0.3, "b": 0.1, "gamma_up": 3.0,
                                          "gamma_down": 4.0}),
    ("pow step, gamma 2, up_down 0.2", "PowStepDevice", {"pow_gamma": 2.0, "pow_up_down": 0.2}),
    ("piecewise", "PiecewiseStepDevice", {"piecewise_up": [1.5, 1.2, 1.0, 0.7, 0.3],
                                          "piecewise_down": [0.2, 0.6, 1.0, 1.3, 1.6]}),
]
#: archsim preset -> aihwkit preset class (reram_sb is aihwkit's SoftBoundsReferenceDevice, a soft-bounds device
#: read against a reference device, which archsim models as a calibrated soft-bounds device: not compared)
PRESET_CASES = {"reram_es": "ReRamESPresetDevice", "ecram": "EcRamPresetDevice",
                "ecram_mo": "EcRamMOPresetDevice", "capacitor": "CapacitorPresetDevice",
                "idealized": "IdealizedPresetDevice", "gokmen_vlasov": "GokmenVlasovPresetDevice"}
QUIET = {"dw_min_std": 0.0, "dw_min_dtod": 0.0, "up_down_dtod": 0.0, "w_max_dtod": 0.0, "w_min_dtod": 0.0,
         "write_noise_std": 0.0}
QUIET_EXTRA = {"LinearStepDevice": {"gamma_up_dtod": 0.0, "gamma_down_dtod": 0.0},
               "PowStepDevice": {"pow_gamma_dtod": 0.0, "pow_up_down_dtod": 0.0}}
ALGORITHMS = [("Analog SGD", "analog_sgd", "sgd"), ("TTv1", "tiki_taka", "tiki-taka"), ("TTv2", "ttv2", "ttv2"),
              ("chopped TTv2", "chopped_ttv2", "c-ttv2"), ("AGAD", "agad", "agad")]


def aihwkit_modules():
    try:
        import aihwkit  # noqa: F401
    except ImportError:
        sys.exit("error: aihwkit is not installed (pip install 'archsim[aihwkit]'; see README)")
    from aihwkit.simulator.configs import devices, SingleRPUConfig
    from aihwkit.simulator.presets import devices as presets
    return devices, presets, SingleRPUConfig


# ---------------------------------------------------------------------------------------------
# pulse responses
# ---------------------------------------------------------------------------------------------
def aihwkit_trace(device, directions: np.ndarray, n_devices: int, seed: int) -> np.ndarray:
    """Weights after each pulse (pulses x devices) of aihwkit's simulator, one pulse at a time from w_min."""
    import torch
    from aihwkit.simulator.configs import SingleRPUConfig
    from aihwkit.simulator.tiles import AnalogTile
    from aihwkit.utils.visualization import compute_pulse_response

    torch.manual_seed(seed)
    config = SingleRPUConfig(device=device)
    config.update.update_bl_management = False   # exactly one pulse per update, as aihwkit's own plots
    config.update.update_management = False
    config.update.desired_bl = 1
    config.device.construction_seed = seed + 1
    tile = AnalogTile(n_devices, 1, config)
    tile.set_learning_rate(1.0)
    tile.set_weights(torch.full((n_devices, 1), float(device.w_min)))
    return compute_pulse_response(tile, directions.astype(np.float64))[:, :, 0]


def archsim_trace(cfg: DeviceConfig, directions: np.ndarray, n_devices: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over devices of archsim's weights after each pulse, from w_min."""
    model = device_model(cfg)
    state = sample_device_state(cfg, (1, n_devices), np.random.default_rng(seed))
    np.clip(np.full(state.shape, cfg.w_min), state.bound_min, state.bound_max, out=state.w)
    if state.w_apparent is not None:
        state.w_apparent[...] = state.w
    return pulse_protocol(state, model, directions, seed)


def device_fields(device) -> dict:
    """The aihwkit device's parameters that archsim knows, in aihwkit's spelling."""
    known = {f.name for f in dataclasses.fields(DeviceConfig)}
    values = {f.name: getattr(device, f.name) for f in dataclasses.fields(device) if f.name in known}
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in values.items()}


def pulse_table(pulses: int, n_devices: int) -> list[tuple]:
    devices, presets, _ = aihwkit_modules()
    cases = [(label, getattr(devices, cls)(**params), None) for label, cls, params in DEVICE_CASES]
    cases += [(f"preset {name}", getattr(presets, cls)(), name) for name, cls in PRESET_CASES.items()]
    rows = []
    for label, device, preset in cases:
        cls = type(device).__name__
        base = next((c.__name__ for c in type(device).__mro__ if c.__name__ in MODEL_OF_CLASS), None)
        if base is None:
            raise SystemExit(f"error: {cls} has no archsim counterpart ({[c.__name__ for c in type(device).__mro__]})")
        model = MODEL_OF_CLASS[base]
        if preset is None:   # archsim configured with aihwkit's spelling of the same parameters
            fields = device_fields(device)
            if not getattr(device, "mult_noise", True):
                fields["mult_noise"] = False
        else:                # archsim's own preset (its data carried over from aihwkit's)
            fields = dict(DEVICE_PRESETS[preset])
            fields.pop("model")
        directions = np.array([1] * pulses + [-1] * pulses, dtype=np.int8)
        # noise-free single device
        quiet = {**QUIET, **QUIET_EXTRA.get(base, {})}
        quiet_device = dataclasses.replace(device, **{k: v for k, v in quiet.items() if hasattr(device, k)})
        if hasattr(quiet_device, "dw_min_std_add"):
            quiet_device.dw_min_std_add = 0.0
        ours_quiet = DeviceConfig(model=model, **{**fields, **quiet, "mult_noise": None, "dw_min_std_add": 0.0})
        theirs = aihwkit_trace(quiet_device, directions, 1, 0)[:, 0]
        mine, _ = archsim_trace(ours_quiet, directions, 1, 0)
        exact = float(np.max(np.abs(theirs - mine)))
        # population with the defaults
        ours = DeviceConfig(model=model, **fields)
        theirs_pop = aihwkit_trace(device, directions, n_devices, 1)
        mine_mean, mine_std = archsim_trace(ours, directions, n_devices, 1)
        diff = np.abs(theirs_pop.mean(axis=1) - mine_mean)
        se = np.sqrt((theirs_pop.std(axis=1) ** 2 + mine_std ** 2) / n_devices)
        worst = int(np.argmax(diff / np.maximum(se, 1e-12)))
        span = float(device.w_max - device.w_min)
        rows.append((label, cls, model, exact, float(diff.max()), float(diff[worst]), float(se[worst]), span))
    return rows


# ---------------------------------------------------------------------------------------------
# digits training
# ---------------------------------------------------------------------------------------------
def digits_data(seed: int):
    from archsim.nn.data import load_dataset
    config = load_run_config(DIGITS, None, [f"training.seed={seed}"])
    return load_dataset(config.dataset, seed)


def aihwkit_digits(algorithm: str, seed: int, epochs: int) -> float:
    import torch
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import build_config
    from aihwkit.simulator.configs.devices import SoftBoundsDevice

    torch.manual_seed(seed)
    data = digits_data(seed)
    device = SoftBoundsDevice(w_max=0.7, w_min=-0.7, dw_min=0.001)   # archsim's seed_mnist device
    config = build_config(algorithm, device=device, construction_seed=seed + 1)
    config.mapping.digital_bias = False                               # archsim's bias is an analog column
    model = AnalogSequential(AnalogLinear(64, 64, bias=True, rpu_config=config), torch.nn.Sigmoid(),
                             AnalogLinear(64, 10, bias=True, rpu_config=config))
    optimizer = AnalogSGD(model.parameters(), lr=0.05)
    optimizer.regroup_param_groups(model)
    x_train = torch.tensor(data.train_x, dtype=torch.float32)
    y_train = torch.tensor(data.train_y)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")   # lr d x per sample, as archsim's default
    generator = np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        order = generator.permutation(len(x_train))
        for start in range(0, len(order), 10):
            batch = order[start:start + 10]
            optimizer.zero_grad()
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.tensor(data.test_x, dtype=torch.float32)).argmax(dim=1).numpy()
    return 100.0 * float((predicted == data.test_y).mean())


def archsim_digits(algorithm: str, seed: int, epochs: int) -> float:
    from archsim.run import execute
    config = load_run_config(DIGITS, None, [f"algorithm.name={algorithm}", f"training.seed={seed}",
                                            f"training.epochs={epochs}"])
    report = execute(config, costing=False)
    return float(report["metric"]["final"])


def training_table(seeds: int, epochs: int) -> list[tuple]:
    aihwkit_modules()
    rows = []
    for label, ours, theirs in ALGORITHMS:
        a = [aihwkit_digits(theirs, seed, epochs) for seed in range(seeds)]
        b = [archsim_digits(ours, seed, epochs) for seed in range(seeds)]
        rows.append((label, ours, theirs, a, b))
        print(f"  {label}: aihwkit {np.mean(a):.1f} %, archsim {np.mean(b):.1f} %", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer pulses, devices, seeds and epochs")
    parser.add_argument("--skip-training", action="store_true", help="pulse responses only")
    parser.add_argument("--pulses", type=int, default=800, help="up pulses (then as many down) per trace")
    parser.add_argument("--devices", type=int, default=400, help="devices of the population traces")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    if args.quick:
        args.pulses, args.devices, args.seeds, args.epochs = 300, 100, 1, 2
    start = time.time()
    import aihwkit
    print(f"aihwkit {aihwkit.__version__} vs archsim (python tools/aihwkit_parity.py "
          f"{' '.join(sys.argv[1:])})\n")
    print(f"Pulse responses: {args.pulses} up then {args.pulses} down pulses from w_min.")
    print("| device | aihwkit class | archsim model | noise-free max abs diff | population: max abs diff of "
          "the mean | at the worst point: diff / standard error | range |")
    print("|---|---|---|---|---|---|---|")
    for label, cls, model, exact, worst_abs, diff, se, span in pulse_table(args.pulses, args.devices):
        print(f"| {label} | {cls} | {model} | {exact:.2e} | {worst_abs:.2e} | {diff:.2e} / {se:.2e} "
              f"| {span:.2f} |")
    if not args.skip_training:
        print(f"\nDigits test accuracy (%), {args.epochs} epochs, mean over {args.seeds} seeds (min-max):")
        print("| algorithm | archsim name | aihwkit build_config | aihwkit | archsim |")
        print("|---|---|---|---|---|")
        for label, ours, theirs, a, b in training_table(args.seeds, args.epochs):
            print(f"| {label} | {ours} | {theirs} | {np.mean(a):.1f} ({min(a):.1f}-{max(a):.1f}) "
                  f"| {np.mean(b):.1f} ({min(b):.1f}-{max(b):.1f}) |")
    print(f"\n({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
