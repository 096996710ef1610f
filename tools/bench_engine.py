"""Benchmark the cost engine on a realistic step mix: FCN 784-256-128-10 trained with Tiki-Taka.

Each step is what the algorithms emit for a batch (moves of inputs and partial sums, forward and
backward MVMs on the slow arrays, digital arithmetic, pulsed updates of the fast arrays, transfer reads,
moves and writes). Device-pulse counts vary from step to step (energy only); the structure repeats, as
it does with update-BL management off. A second mix also varies the BL actually used and adds
bound-management retries, so most steps are new structures of the same skeleton: the engine times them from a
schedule worked out without SimPy where SimPy would decide alike (``schedule_rate``), else replays a recorded
SimPy run with the new cycles where that applies (``replay_rate``), and simulates the rest.

Prints medians of several runs: engine operations per second without the cache, seconds per step with
and without it, and their ratio. ``--json`` prints one JSON object and nothing else.

    python tools/bench_engine.py [--steps 300] [--repeats 5] [--hw default] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from archsim.config import load_hw_config
from archsim.engine import Engine
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.ops import ArrayId, Digital, Move, Mvm, PulseUpdate, TransferRead, TransferWrite

SIZES = (784, 256, 128, 10)
BATCH = 10
BL = 31


def tiki_taka_step(mapping, rng: random.Random, vary_structure: bool) -> list:
    """One Tiki-Taka training step of the FCN (batch BATCH, one transfer read per layer)."""
    ops: list = []

    def add(op) -> int:
        ops.append(op)
        return len(ops) - 1

    layers = len(SIZES) - 1
    previous: tuple = ()
    for layer in range(layers):
        outs = []
        for block in mapping.blocks(layer, "C"):
            rows, cols = mapping.shape_of(block)
            move_in = add(Move("digital", block, BATCH * rows * 8, "forward", previous))
            retries = rng.choice((1, 2)) if vary_structure and rng.random() < 0.1 else 0
            read = add(Mvm(block, "forward", BATCH, rows, cols, 8, 8, retries, "forward", (move_in,)))
            outs.append(add(Move(block, "digital", BATCH * cols * 8, "forward", (read,))))
        total = add(Digital("add", BATCH * SIZES[layer + 1] * len(outs), "forward", tuple(outs)))
        previous = (add(Digital("activation", BATCH * SIZES[layer + 1], "forward", (total,))),)
    previous = (add(Digital("add", BATCH * SIZES[-1], "backward", previous)),)  # output error
    for layer in reversed(range(layers)):
        outs = []
        for block in mapping.blocks(layer, "C"):
            rows, cols = mapping.shape_of(block)
            move_in = add(Move("digital", block, BATCH * cols * 8, "backward", previous))
            read = add(Mvm(block, "backward", BATCH, rows, cols, 8, 8, 0, "backward", (move_in,)))
            outs.append(add(Move(block, "digital", BATCH * rows * 8, "backward", (read,))))
        total = add(Digital("add", BATCH * SIZES[layer] * len(outs), "backward", tuple(outs)))
        previous = (add(Digital("mult", BATCH * SIZES[layer], "backward", (total,))),)  # activation derivative
    updates = []
    for block in mapping.blocks(role="A"):
        rows, cols = mapping.shape_of(block)
        bl = BATCH * (rng.randint(8, BL) if vary_structure else BL)
        move = add(Move("digital", block, BATCH * (rows + cols) * 8, "update", previous))
        updates.append(add(PulseUpdate(block, BATCH, bl, rng.randrange(bl * rows // 4), rng.randrange(bl * cols // 4),
                                       rng.randrange(rows * cols // 8), "update", (move,))))
    for block in mapping.blocks(role="A"):
        rows, _ = mapping.shape_of(block)
        read = add(TransferRead(block, 1, rows, 8, 8, 0, "transfer", tuple(updates)))
        slow = ArrayId(block.layer, "C", block.row_block, block.col_block)
        move = add(Move(block, slow, rows * 8, "transfer", (read,)))
        add(TransferWrite(slow, 1, BL, rng.randrange(rows), "transfer", (move,)))
    return ops


def time_engine(arch, mapping, steps, policy: str, cache: bool) -> tuple[float, Engine]:
    engine = Engine(arch, mapping, transfer_policy=policy, cache=cache)
    start = time.perf_counter()
    for ops in steps:
        engine.run_step(ops)
    engine.totals()
    return time.perf_counter() - start, engine


def bench(hw_name: str, n_steps: int, repeats: int) -> dict:
    hw = load_hw_config(hw_name)
    arch = Architecture(hw)
    arrays = {(layer, role): (SIZES[layer + 1], SIZES[layer]) for layer in range(len(SIZES) - 1) for role in "AC"}
    mapping = Mapping.build(arch, arrays)
    result: dict = {"hw": hw.name, "network": "-".join(map(str, SIZES)), "algorithm": "tiki_taka", "batch": BATCH,
                    "steps": n_steps, "repeats": repeats, "tiles_used": mapping.tiles_used}
    for mix, vary in (("repeating_structure", False), ("varying_bl_and_retries", True)):
        rng = random.Random(0)
        steps = [tiki_taka_step(mapping, rng, vary) for _ in range(n_steps)]
        ops_per_step = statistics.mean(len(s) for s in steps)
        for policy in ("inline", "background"):
            uncached, cached, hits, replays, scheduled = [], [], 0, 0, 0
            for _ in range(repeats):
                seconds, _ = time_engine(arch, mapping, steps, policy, cache=False)
                uncached.append(seconds)
                seconds, engine = time_engine(arch, mapping, steps, policy, cache=True)
                cached.append(seconds)
                hits, replays, scheduled = engine.cache_hits, engine.replays, engine.scheduled
            u, c = statistics.median(uncached), statistics.median(cached)
            result[f"{mix}/{policy}"] = {
                "ops_per_step": ops_per_step,
                "uncached_ops_per_s": ops_per_step * n_steps / u,
                "uncached_ms_per_step": 1e3 * u / n_steps,
                "cached_ms_per_step": 1e3 * c / n_steps,
                "cached_over_uncached": c / u,
                "cache_hit_rate": hits / n_steps,
                "replay_rate": replays / n_steps,
                "schedule_rate": scheduled / n_steps,
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hw", default="default", help="hardware YAML (default: hw_configs/default.yaml)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (medians are printed)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()
    result = bench(args.hw, args.steps, args.repeats)
    if args.json:
        print(json.dumps(result))
        return
    print(f"engine benchmark: {result['network']} Tiki-Taka, batch {BATCH}, hw {result['hw']}, "
          f"{result['tiles_used']} tiles, {args.steps} steps, median of {args.repeats}")
    for key, row in result.items():
        if isinstance(row, dict):
            print(f"  {key:40s} {row['ops_per_step']:6.0f} ops/step  uncached {row['uncached_ops_per_s']:9.0f} ops/s "
                  f"({row['uncached_ms_per_step']:.3f} ms/step)  cached {row['cached_ms_per_step']:.3f} ms/step  "
                  f"cached/uncached {row['cached_over_uncached']:.3f}  hit rate {row['cache_hit_rate']:.2f} "
                  f"(replays {row['replay_rate']:.2f}, scheduled {row['schedule_rate']:.2f})")


if __name__ == "__main__":
    main()
