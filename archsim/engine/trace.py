"""Chrome trace-event export of an engine's recorded operations (opens in Perfetto / chrome://tracing)."""

from __future__ import annotations

from typing import Any

from archsim.ops import ArrayId


def resource_lane(mapping: Any, key: tuple) -> tuple[str, str]:
    """(group, lane) of a resource key: the trace's process and thread names (a tile, the NoC, a shared unit)."""
    kind = key[0]
    if kind == "array":
        tile = mapping.tile_of(ArrayId(*key[1:]))
        return f"tile {tile}", f"crossbar L{key[1]}{key[2]}[{key[3]},{key[4]}]"
    if kind in ("readout", "pulse"):
        return f"tile {key[1]}", {"readout": "DACs + ADC bank", "pulse": "pulse generators"}[kind]
    if kind == "link":
        return "noc", "bus" if key[1] == "bus" else f"link {key[1]}->{key[2]}"
    if kind == "digital":
        return "digital units", "all units"
    if kind == "buffer":
        return "buffer", "ports"
    if kind == "dram":
        return "dram", "channel"
    return "unplaced", "zero-hop moves"


def resource_name(mapping: Any, key: tuple) -> str:
    """A resource key as a report names it, e.g. ``tile 3 DACs + ADC bank`` or ``noc link 0->1``."""
    group, lane = resource_lane(mapping, key)
    return f"{group} {lane}"


def chrome_trace(engine: Any) -> dict:
    """Build ``{"traceEvents": [...], "displayTimeUnit": "ns"}`` from ``engine``'s trace.

    Each operation becomes one complete ("X") event per resource it held, on the thread of that resource;
    timestamps are microseconds (cycles x clock period). Pool resources (digital units, buffer ports) get
    one thread per slot, assigned greedily so events on one thread never overlap. Each thread's name ends with
    its resource's utilisation over the traced time (where the pipeline stalls), and ``otherData.utilisation``
    lists every resource's.
    """
    mapping, cycle_us = engine.mapping, engine.cycle_ns / 1000.0
    processes: dict[str, int] = {}
    threads: dict[tuple[int, str], int] = {}
    pool_free: dict[str, list[int]] = {}  # pool resource -> end cycle of each slot
    events: list[dict] = []

    def process_id(name: str) -> int:
        if name not in processes:
            processes[name] = len(processes) + 1
        return processes[name]

    def thread_id(pid: int, name: str) -> int:
        key = (pid, name)
        if key not in threads:
            threads[key] = len(threads) + 1
        return threads[key]

    shares = engine.utilisation()
    lane_share: dict[tuple[str, str], float] = {}
    for key, share in shares.items():
        if key[0] != "buffer":
            lane_share[resource_lane(mapping, key)] = share
    records = sorted(engine._trace, key=lambda r: (r[3], r[0], r[2]))
    for step, sid, index, start, end in records:
        plan = engine._plans[sid][index]
        for resource in plan.resources or (("none",),):
            if resource[0] == "buffer":
                slots = pool_free.setdefault("buffer", [])
                slot = next((i for i, free in enumerate(slots) if free <= start), None)
                if slot is None:
                    slots.append(end)
                    slot = len(slots) - 1
                else:
                    slots[slot] = end
                group, lane = "buffer", f"port {slot}"
            else:
                group, lane = resource_lane(mapping, resource)
            pid = process_id(group)
            events.append(
                {
                    "name": plan.label,
                    "cat": plan.phase,
                    "ph": "X",
                    "ts": start * cycle_us,
                    "dur": (end - start) * cycle_us,
                    "pid": pid,
                    "tid": thread_id(pid, lane),
                    "args": {"step": step, "op": index, "cycles": end - start, "background": plan.background},
                }
            )
    meta = [
        {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": name}}
        for name, pid in processes.items()
    ]
    group_of = {pid: name for name, pid in processes.items()}

    def thread_label(pid: int, name: str) -> str:
        share = lane_share.get((group_of[pid], name))
        return name if share is None else f"{name} (busy {100.0 * share:.1f} %)"

    meta += [
        {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": thread_label(pid, name)}}
        for (pid, name), tid in threads.items()
    ]
    return {
        "traceEvents": meta + events,
        "displayTimeUnit": "ns",
        "otherData": {
            "clock_hz": engine.arch.clock_hz,
            "transfer_policy": engine.transfer_policy,
            "schedule": engine.schedule,
            "utilisation": {resource_name(mapping, key): share for key, share in shares.items()},
        },
    }
