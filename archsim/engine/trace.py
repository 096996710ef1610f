"""Chrome trace-event export of an engine's recorded operations (opens in Perfetto / chrome://tracing)."""

from __future__ import annotations

from archsim.ops import ArrayId


def chrome_trace(engine) -> dict:
    """Build ``{"traceEvents": [...], "displayTimeUnit": "ns"}`` from ``engine``'s trace.

    Each operation becomes one complete ("X") event per resource it held, on the thread of that resource;
    timestamps are microseconds (cycles x clock period). Pool resources (digital units, buffer ports) get
    one thread per slot, assigned greedily so events on one thread never overlap.
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

    records = sorted(engine._trace, key=lambda r: (r[3], r[0], r[2]))
    for step, sid, index, start, end in records:
        plan = engine._plans[sid][index]
        unplaced: tuple[tuple, ...] = (("none",),)  # an op that holds no resource: one "unplaced" event
        for resource in plan.resources or unplaced:
            kind = resource[0]
            if kind == "array":
                tile = mapping.tile_of(ArrayId(*resource[1:]))
                group, lane = f"tile {tile}", f"crossbar L{resource[1]}{resource[2]}[{resource[3]},{resource[4]}]"
            elif kind in ("readout", "pulse"):
                group, lane = f"tile {resource[1]}", {"readout": "DACs + ADC bank", "pulse": "pulse generators"}[kind]
            elif kind == "link":
                group, lane = "noc", "bus" if resource[1] == "bus" else f"link {resource[1]}->{resource[2]}"
            elif kind == "digital":
                group, lane = "digital units", "all units"
            elif kind == "buffer":
                slots = pool_free.setdefault(kind, [])
                slot = next((i for i, free in enumerate(slots) if free <= start), None)
                if slot is None:
                    slots.append(end)
                    slot = len(slots) - 1
                else:
                    slots[slot] = end
                group, lane = "buffer", f"port {slot}"
            else:
                group, lane = "unplaced", "zero-hop moves"
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
    meta += [
        {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}
        for (pid, name), tid in threads.items()
    ]
    return {
        "traceEvents": meta + events,
        "displayTimeUnit": "ns",
        "otherData": {"clock_hz": engine.arch.clock_hz, "transfer_policy": engine.transfer_policy},
    }
