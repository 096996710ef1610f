"""Replaying a recorded SimPy run of a step with new cycles (see Replay in :mod:`archsim.engine.engine`), compiled.

A record (:class:`archsim.engine.engine._Record`) is flattened once into one integer array, its *program*
(:func:`flatten`); :func:`replay` evaluates the max-plus recurrence over it for a step's cycles and checks,
resource by resource, that SimPy's rules grant as recorded at the times found, with the rules of
:func:`archsim.engine.engine._same_grants` (the reference the tests hold this kernel to).
"""

from __future__ import annotations

import numba as nb
import numpy as np

# the program's sections, in order after its header (counts, then each section's offset)
_SECTIONS = (
    "finish",  # operations in the order they finished
    "dep_ptr",  # per operation: where its dependencies start in dep_idx (n + 1 entries)
    "dep_idx",
    "hand_ptr",  # per operation: where its held resources start in the per-hold sections (n + 1 entries)
    "hand_val",  # per hold: the operation that handed the resource over, or -1 (a free slot)
    "wake_root",  # per hold: the event that woke the request (ids), and its order among those that event wakes
    "wake_order",
    "g_slots",  # per resource granted more than once: its slots, whether every grant found it free (1 slot),
    "g_free",
    "g_ptr",  # and where its grants start in g_op / g_pos (groups + 1 entries)
    "g_op",
    "g_pos",
    "ranks",  # per operation: its queueing rank
    "phase_of",  # per operation: the index of its phase among the record's phases
    "b_ptr",  # per resource that worked: where the operations that worked on it start in b_op (+ 1 entries)
    "b_op",
)
_HEADER = 4  # operations, resource groups, phases, resources that worked
_FINISH, _DEP_PTR, _DEP_IDX, _HAND_PTR, _HAND_VAL, _WAKE_ROOT, _WAKE_ORDER = range(7)
_G_SLOTS, _G_FREE, _G_PTR, _G_OP, _G_POS, _RANKS, _PHASE_OF, _B_PTR, _B_OP = range(7, 16)


def flatten(
    finish,
    deps,
    handed,
    wakes,
    grants,
    ranks,
    phases: int,
    phase_of,
    workers,
) -> np.ndarray:
    """The program of a record: ``finish`` (operations in finishing order), ``deps`` and ``handed`` (per
    operation), ``wakes`` (per operation and hold: (root id, order)), ``grants`` (per resource granted more than
    once: (slots, ((operation, position), ...), whether any was handed over)), ``ranks``, ``phases`` (how many),
    ``phase_of`` (per operation) and ``workers`` (per resource that worked: its operations)."""
    n = len(finish)

    def csr(rows):
        ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(row) for row in rows])
        flat = np.fromiter((v for row in rows for v in row), dtype=np.int64, count=int(ptr[-1]))
        return ptr, flat

    dep_ptr, dep_idx = csr(deps)
    hand_ptr, hand_val = csr(handed)
    wake_root = np.fromiter((root for row in wakes for root, _ in row), dtype=np.int64, count=len(hand_val))
    wake_order = np.fromiter((order for row in wakes for _, order in row), dtype=np.int64, count=len(hand_val))
    g_ptr, g_pos = csr([[at for _, at in held] for _, held, _ in grants])
    g_op = np.fromiter((op for _, held, _ in grants for op, _ in held), dtype=np.int64, count=len(g_pos))
    g_slots = np.array([slots for slots, _, _ in grants], dtype=np.int64)
    g_free = np.array([1 if slots == 1 and not queued else 0 for slots, _, queued in grants], dtype=np.int64)
    b_ptr, b_op = csr(workers)
    sections = (
        np.asarray(finish, dtype=np.int64),
        dep_ptr,
        dep_idx,
        hand_ptr,
        hand_val,
        wake_root,
        wake_order,
        g_slots,
        g_free,
        g_ptr,
        g_op,
        g_pos,
        np.asarray(ranks, dtype=np.int64),
        np.asarray(phase_of, dtype=np.int64),
        b_ptr,
        b_op,
    )
    assert len(sections) == len(_SECTIONS) and len(sections[0]) == n
    offsets = np.cumsum([_HEADER + len(sections) + 1] + [len(section) for section in sections])
    header = np.array([n, len(grants), phases, len(workers), *offsets], dtype=np.int64)
    return np.concatenate((header, *sections))


def out_size(program: np.ndarray) -> int:
    """The length of the array :func:`replay` writes its results into."""
    n, _, phases, workers = (int(v) for v in program[:_HEADER])
    holds = int(program[_HEADER + _HAND_VAL + 1] - program[_HEADER + _HAND_VAL])
    return 1 + 2 * phases + workers + 2 * n + holds


def replay(program: np.ndarray, cycles: np.ndarray, out: np.ndarray) -> bool:
    """Evaluate ``program`` for ``cycles`` (per operation): True when SimPy would grant as recorded, with ``out``
    holding the window's latency, each phase's (first start, last end), each resource's busy cycles, and every
    operation's start and end (in that order; :func:`out_size` long); False when the record does not apply."""
    if program.dtype != np.int64 or cycles.dtype != np.int64 or out.dtype != np.int64:
        raise TypeError("replay takes int64 arrays")
    if len(cycles) != program[0] or len(out) != out_size(program):
        raise ValueError(
            f"replay: {len(cycles)} cycles and {len(out)} outputs for a program of {program[0]} operations"
        )
    return bool(_replay(program, cycles, out))


@nb.njit(cache=True)
def _replay(program, cycles, out):  # pragma: no cover - compiled; tested against the Python reference
    n, n_groups, n_phases, n_workers = program[0], program[1], program[2], program[3]
    o = program[_HEADER:]
    finish = program[o[_FINISH] : o[_FINISH + 1]]
    dep_ptr = program[o[_DEP_PTR] : o[_DEP_PTR + 1]]
    dep_idx = program[o[_DEP_IDX] : o[_DEP_IDX + 1]]
    hand_ptr = program[o[_HAND_PTR] : o[_HAND_PTR + 1]]
    hand_val = program[o[_HAND_VAL] : o[_HAND_VAL + 1]]
    wake_root = program[o[_WAKE_ROOT] : o[_WAKE_ROOT + 1]]
    wake_order = program[o[_WAKE_ORDER] : o[_WAKE_ORDER + 1]]
    g_slots = program[o[_G_SLOTS] : o[_G_SLOTS + 1]]
    g_free = program[o[_G_FREE] : o[_G_FREE + 1]]
    g_ptr = program[o[_G_PTR] : o[_G_PTR + 1]]
    g_op = program[o[_G_OP] : o[_G_OP + 1]]
    g_pos = program[o[_G_POS] : o[_G_POS + 1]]
    ranks = program[o[_RANKS] : o[_RANKS + 1]]
    phase_of = program[o[_PHASE_OF] : o[_PHASE_OF + 1]]
    b_ptr = program[o[_B_PTR] : o[_B_PTR + 1]]
    b_op = program[o[_B_OP] : o[_B_OP + 1]]
    spans = out[1 : 1 + 2 * n_phases]
    busy = out[1 + 2 * n_phases : 1 + 2 * n_phases + n_workers]
    starts = out[1 + 2 * n_phases + n_workers : 1 + 2 * n_phases + n_workers + n]
    ends = out[1 + 2 * n_phases + n_workers + n : 1 + 2 * n_phases + n_workers + 2 * n]
    requests = out[1 + 2 * n_phases + n_workers + 2 * n :]
    # the max-plus recurrence, in the recorded finishing order
    for k in range(n):
        index = finish[k]
        time = 0
        for d in range(dep_ptr[index], dep_ptr[index + 1]):
            if ends[dep_idx[d]] > time:
                time = ends[dep_idx[d]]
        for h in range(hand_ptr[index], hand_ptr[index + 1]):
            requests[h] = time
            releaser = hand_val[h]
            if releaser >= 0 and ends[releaser] > time:
                time = ends[releaser]
        starts[index] = time
        ends[index] = time + cycles[index]
    # the grants, resource by resource
    for g in range(n_groups):
        first, last_grant = g_ptr[g], g_ptr[g + 1]
        if g_free[g] == 1:
            last_end = -1
            for j in range(first, last_grant):
                op = g_op[j]
                if requests[hand_ptr[op] + g_pos[j]] < last_end:
                    return False
                last_end = ends[op]
            continue
        if not _same_grants(
            g_slots[g],
            g_op[first:last_grant],
            g_pos[first:last_grant],
            requests,
            ends,
            hand_ptr,
            hand_val,
            wake_root,
            wake_order,
            ranks,
        ):
            return False
    # the window
    latency = 0
    for index in range(n):
        if ends[index] > latency:
            latency = ends[index]
    out[0] = latency
    for p in range(n_phases):
        spans[2 * p] = np.iinfo(np.int64).max
        spans[2 * p + 1] = np.iinfo(np.int64).min
    for index in range(n):
        p = phase_of[index]
        if p >= 0:
            if starts[index] < spans[2 * p]:
                spans[2 * p] = starts[index]
            if ends[index] > spans[2 * p + 1]:
                spans[2 * p + 1] = ends[index]
    for r in range(n_workers):
        total = 0
        for j in range(b_ptr[r], b_ptr[r + 1]):
            total += cycles[b_op[j]]
        busy[r] = total
    return True


@nb.njit(cache=True)
def _same_grants(
    slots, grant_op, grant_pos, requests, ends, hand_ptr, hand_val, wake_root, wake_order, ranks
):  # pragma: no cover - compiled; tested against the Python reference
    total = len(grant_op)
    # the requests in order of (time, operation, position)
    asked_time = np.empty(total, dtype=np.int64)
    asked_op = np.empty(total, dtype=np.int64)
    asked_pos = np.empty(total, dtype=np.int64)
    for j in range(total):
        t, op, at = requests[hand_ptr[grant_op[j]] + grant_pos[j]], grant_op[j], grant_pos[j]
        k = j
        while k > 0 and (
            asked_time[k - 1] > t
            or (asked_time[k - 1] == t and (asked_op[k - 1] > op or (asked_op[k - 1] == op and asked_pos[k - 1] > at)))
        ):
            asked_time[k], asked_op[k], asked_pos[k] = asked_time[k - 1], asked_op[k - 1], asked_pos[k - 1]
            k -= 1
        asked_time[k], asked_op[k], asked_pos[k] = t, op, at
    holder_end = np.empty(total, dtype=np.int64)  # unordered; the first is the one of least (end, operation)
    holder_op = np.empty(total, dtype=np.int64)
    holders = 0
    waiting_op = np.empty(total, dtype=np.int64)  # unordered; served by least rank
    waiting_pos = np.empty(total, dtype=np.int64)
    waiting = 0
    granted = 0
    next_request = 0
    while granted < total:
        if holders > 0:
            best = 0
            for k in range(1, holders):
                if holder_end[k] < holder_end[best] or (
                    holder_end[k] == holder_end[best] and holder_op[k] < holder_op[best]
                ):
                    best = k
            if next_request == total or holder_end[best] <= asked_time[next_request]:
                release_at = holder_end[best]
                holders -= 1
                holder_end[best], holder_op[best] = holder_end[holders], holder_op[holders]
                if waiting > 0:
                    w = 0
                    for k in range(1, waiting):
                        if ranks[waiting_op[k]] < ranks[waiting_op[w]]:
                            w = k
                    op, at = waiting_op[w], waiting_pos[w]
                    waiting -= 1
                    waiting_op[w], waiting_pos[w] = waiting_op[waiting], waiting_pos[waiting]
                    releaser = hand_val[hand_ptr[op] + at]
                    if grant_op[granted] != op or grant_pos[granted] != at or releaser < 0:
                        return False
                    if ends[releaser] != release_at:
                        return False
                    granted += 1
                    holder_end[holders], holder_op[holders] = ends[op], op
                    holders += 1
                continue
        if next_request >= total:
            return False
        # the requests of this cycle (its releases came first)
        request_at = asked_time[next_request]
        last = next_request + 1
        while last < total and asked_time[last] == request_at:
            last += 1
        free = slots - holders
        tied = last - next_request
        if 0 < free < tied:
            # which of them take the free slots is the order SimPy wakes them in: known for one waking event only
            root = wake_root[hand_ptr[asked_op[next_request]] + asked_pos[next_request]]
            for k in range(next_request + 1, last):
                if wake_root[hand_ptr[asked_op[k]] + asked_pos[k]] != root:
                    return False
            for j in range(next_request + 1, last):  # insertion sort by wake-up order
                op, at, key = asked_op[j], asked_pos[j], wake_order[hand_ptr[asked_op[j]] + asked_pos[j]]
                k = j
                while k > next_request and wake_order[hand_ptr[asked_op[k - 1]] + asked_pos[k - 1]] > key:
                    asked_op[k], asked_pos[k] = asked_op[k - 1], asked_pos[k - 1]
                    k -= 1
                asked_op[k], asked_pos[k] = op, at
        taking = min(free, tied)
        if taking > 0:
            if taking == tied:  # granted at once, in an order that does not matter when all of them fit
                for k in range(next_request, last):
                    found = False
                    for j in range(granted, granted + taking):
                        if grant_op[j] == asked_op[k] and grant_pos[j] == asked_pos[k]:
                            found = True
                    if not found:
                        return False
            else:
                for k in range(taking):
                    if grant_op[granted + k] != asked_op[next_request + k]:
                        return False
                    if grant_pos[granted + k] != asked_pos[next_request + k]:
                        return False
            for k in range(next_request, next_request + taking):
                if hand_val[hand_ptr[asked_op[k]] + asked_pos[k]] != -1:
                    return False
                holder_end[holders], holder_op[holders] = ends[asked_op[k]], asked_op[k]
                holders += 1
            granted += taking
        for k in range(next_request + taking, last):
            waiting_op[waiting], waiting_pos[waiting] = asked_op[k], asked_pos[k]
            waiting += 1
        next_request = last
    return True
