"""Replaying a recorded SimPy run of a step with new cycles (see Replay in :mod:`archsim.engine.engine`), compiled.

A record (:class:`archsim.engine.engine._Record`) is flattened once into one integer array, its *program*
(:func:`flatten`); :func:`replay` evaluates the max-plus recurrence over it for a step's cycles and checks,
resource by resource, that SimPy's rules grant as recorded at the times found, with the rules of
:func:`archsim.engine.engine._same_grants` (the reference the tests hold this kernel to).
"""

from __future__ import annotations

from itertools import accumulate, chain

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
    sections = [
        list(finish),
        *_csr(deps),
        *_csr(handed),
        [root for row in wakes for root, _ in row],
        [order for row in wakes for _, order in row],
        [slots for slots, _, _ in grants],
        [1 if slots == 1 and not queued else 0 for slots, _, queued in grants],
        _pointers([held for _, held, _ in grants]),
        [op for _, held, _ in grants for op, _ in held],
        [at for _, held, _ in grants for _, at in held],
        list(ranks),
        list(phase_of),
        *_csr(workers),
    ]
    assert len(sections) == len(_SECTIONS) and len(sections[0]) == n
    return _pack([n, len(grants), phases, len(workers)], sections)


def _pointers(rows) -> list[int]:
    """Where each row starts in the rows laid end to end (and where the last ends)."""
    return [0, *accumulate(map(len, rows))]


def _csr(rows) -> tuple[list[int], list[int]]:
    return _pointers(rows), list(chain.from_iterable(rows))


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


@nb.njit(cache=True, error_model="numpy")
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


@nb.njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _same_grants(
    slots, grant_op, grant_pos, requests, ends, hand_ptr, hand_val, wake_root, wake_order, ranks
):  # pragma: no cover - compiled; tested against the Python reference
    total = len(grant_op)
    # the requests in order of (time, operation, position)
    work = np.empty(7 * total, dtype=np.int64)  # (one allocation: every np.empty is code to compile)
    asked_time = work[:total]
    asked_op = work[total : 2 * total]
    asked_pos = work[2 * total : 3 * total]
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
    holder_end = work[3 * total : 4 * total]  # unordered; the first is the one of least (end, operation)
    holder_op = work[4 * total : 5 * total]
    holders = 0
    waiting_op = work[5 * total : 6 * total]  # unordered; served by least rank
    waiting_pos = work[6 * total :]
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


# -- a candidate record from a schedule worked out without SimPy ------------------------------------------------
# The skeleton's description (:func:`describe`): its header, then these sections.
_SKELETON_SECTIONS = (
    "dep_ptr",  # per operation: where its dependencies start (n + 1 entries)
    "dep_idx",
    "res_ptr",  # per operation: where its resources start (n + 1 entries); its holds in the record's order
    "res_id",  # per hold: the resource (dense ids)
    "capacity",  # per resource: its slots
    "ranks",  # per operation: its queueing rank
    "root",  # per operation: the event that wakes it when nothing was handed over to it (ids), and its order
    "order",
    "dependants_ptr",  # per operation: the operations that depend on it (n + 1 entries)
    "dependants_idx",
    "group_of",  # per resource: its group in the record (granted more than once), or -1
    "workers_ptr",  # per resource: the operations that work on it, in program order (resources + 1 entries)
    "workers_idx",
)
_SKELETON_HEADER = 4  # operations, resources, groups, resources that work
(
    _S_DEP_PTR,
    _S_DEP_IDX,
    _S_RES_PTR,
    _S_RES_ID,
    _S_CAPACITY,
    _S_RANKS,
    _S_ROOT,
    _S_ORDER,
    _S_DEPENDANTS_PTR,
    _S_DEPENDANTS_IDX,
    _S_GROUP_OF,
    _S_WORKERS_PTR,
    _S_WORKERS_IDX,
) = range(13)


def describe(deps, resources, capacity, ranks, wakes, phases: int, phase_of, cycles) -> tuple[np.ndarray, np.ndarray]:
    """A skeleton's description for :func:`schedule` and the template of the records it makes: ``deps`` and
    ``resources`` (per operation, resources as dense ids), ``capacity`` (per resource), ``ranks``, ``wakes`` (per
    operation: (root id, order) of the event that wakes it when nothing was handed over to it), ``phases`` (how
    many), ``phase_of`` and ``cycles`` (per operation; which are zero is the skeleton's)."""
    n, n_resources = len(deps), len(capacity)
    dependants: list[list[int]] = [[] for _ in range(n)]
    for index, row in enumerate(deps):
        for dep in row:
            dependants[dep].append(index)
    holders: list[list[int]] = [[] for _ in range(n_resources)]
    workers: list[list[int]] = [[] for _ in range(n_resources)]
    for index, row in enumerate(resources):
        for resource in row:
            holders[resource].append(index)
            if cycles[index]:
                workers[resource].append(index)
    grouped = [resource for resource in range(n_resources) if len(holders[resource]) > 1]
    group_of = [-1] * n_resources
    for group, resource in enumerate(grouped):
        group_of[resource] = group
    working = [row for row in workers if row]
    dep_ptr, dep_idx = _csr(deps)
    res_ptr, res_id = _csr(resources)
    skeleton = _pack(
        [n, n_resources, len(grouped), len(working)],
        [
            dep_ptr,
            dep_idx,
            res_ptr,
            res_id,
            list(capacity),
            list(ranks),
            [root for root, _ in wakes],
            [order for _, order in wakes],
            *_csr(dependants),
            group_of,
            *_csr(workers),
        ],
    )
    # the record's template (see flatten): what the skeleton fixes; the schedule fills in the rest
    holds = len(res_id)
    granted = _pointers([holders[resource] for resource in grouped])
    template = _pack(
        [n, len(grouped), phases, len(working)],
        [
            list(range(n)),  # finish
            dep_ptr,
            dep_idx,
            res_ptr,  # hand_ptr
            [-1] * holds,  # hand_val
            [0] * holds,  # wake_root
            [0] * holds,  # wake_order
            [capacity[resource] for resource in grouped],  # g_slots
            [0] * len(grouped),  # g_free
            granted,  # g_ptr
            [0] * granted[-1],  # g_op
            [0] * granted[-1],  # g_pos
            list(ranks),
            list(phase_of),
            _pointers(working),  # b_ptr
            [0] * sum(map(len, working)),  # b_op
        ],
    )
    return skeleton, template


def _pack(counts: list[int], sections: list[list[int]]) -> np.ndarray:
    """``counts``, then where each section starts (and the last ends), then the sections: one int64 array."""
    offsets = accumulate(map(len, sections), initial=len(counts) + len(sections) + 1)
    return np.array([*counts, *offsets, *chain.from_iterable(sections)], dtype=np.int64)


def schedule(
    skeleton: np.ndarray,
    template: np.ndarray,
    cycles: np.ndarray,
    known: np.ndarray,
    out: np.ndarray,
    first_work: np.ndarray,
) -> bool:
    """Work out a step's schedule without SimPy (its skeleton and template from :func:`describe`) as a candidate
    record, and check it as :func:`replay` checks a recorded one: True when SimPy would decide alike, with ``out``
    as :func:`replay` fills it and ``first_work`` the resources in the order they first worked (dense ids).

    ``known`` (per resource, 0 or 1): whether it has worked before. The order in which resources not known first
    work is the order SimPy fires the ends of their first workers; where two such ends come in one cycle that order
    is SimPy's event order, and the schedule is refused."""
    for array in (skeleton, template, cycles, known, out, first_work):
        if array.dtype != np.int64:
            raise TypeError("schedule takes int64 arrays")
    if len(cycles) != skeleton[0] or len(known) != skeleton[1]:
        raise ValueError("schedule: the arrays do not fit the skeleton")
    if len(out) != out_size(template) or len(first_work) != skeleton[3]:
        raise ValueError("schedule: the arrays do not fit the skeleton")
    return bool(_schedule(skeleton, template.copy(), cycles, known, out, first_work))


@nb.njit(cache=True, error_model="numpy")
def _schedule(skeleton, program, cycles, known, out, first_work):  # pragma: no cover - compiled; tested against SimPy
    n, n_resources, n_groups = skeleton[0], skeleton[1], skeleton[2]
    s = skeleton[_SKELETON_HEADER:]
    dep_ptr = skeleton[s[_S_DEP_PTR] : s[_S_DEP_PTR + 1]]
    res_ptr = skeleton[s[_S_RES_PTR] : s[_S_RES_PTR + 1]]
    res_id = skeleton[s[_S_RES_ID] : s[_S_RES_ID + 1]]
    capacity = skeleton[s[_S_CAPACITY] : s[_S_CAPACITY + 1]]
    ranks = skeleton[s[_S_RANKS] : s[_S_RANKS + 1]]
    root = skeleton[s[_S_ROOT] : s[_S_ROOT + 1]]
    order = skeleton[s[_S_ORDER] : s[_S_ORDER + 1]]
    dependants_ptr = skeleton[s[_S_DEPENDANTS_PTR] : s[_S_DEPENDANTS_PTR + 1]]
    dependants_idx = skeleton[s[_S_DEPENDANTS_IDX] : s[_S_DEPENDANTS_IDX + 1]]
    group_of = skeleton[s[_S_GROUP_OF] : s[_S_GROUP_OF + 1]]
    workers_ptr = skeleton[s[_S_WORKERS_PTR] : s[_S_WORKERS_PTR + 1]]
    workers_idx = skeleton[s[_S_WORKERS_IDX] : s[_S_WORKERS_IDX + 1]]
    o = program[_HEADER:]
    finish = program[o[_FINISH] : o[_FINISH + 1]]
    hand_val = program[o[_HAND_VAL] : o[_HAND_VAL + 1]]
    wake_root = program[o[_WAKE_ROOT] : o[_WAKE_ROOT + 1]]
    wake_order = program[o[_WAKE_ORDER] : o[_WAKE_ORDER + 1]]
    g_free = program[o[_G_FREE] : o[_G_FREE + 1]]
    g_ptr = program[o[_G_PTR] : o[_G_PTR + 1]]
    g_op = program[o[_G_OP] : o[_G_OP + 1]]
    g_pos = program[o[_G_POS] : o[_G_POS + 1]]
    b_ptr = program[o[_B_PTR] : o[_B_PTR + 1]]
    b_op = program[o[_B_OP] : o[_B_OP + 1]]
    # the schedule: SimPy's rules, with same-cycle orders as SimPy mostly takes them (the check decides)
    holds = len(res_id)
    work = np.zeros(7 * n + 4 * n_resources + n_groups + holds + 1, dtype=np.int64)  # (one allocation: less code)
    deps_left = work[:n]
    for index in range(n):
        deps_left[index] = dep_ptr[index + 1] - dep_ptr[index]
    held = work[n : 2 * n]
    waiting_on = work[2 * n : 3 * n]  # the resource an operation waits for, plus one (0: none)
    # running operations: a heap of end * (n + 1) + the order they started in (SimPy's timeouts fire in that order)
    running = work[3 * n : 4 * n]
    n_running = 0
    started_op = work[4 * n : 5 * n]
    later = work[5 * n : 6 * n]  # several dependencies: resumed a level later
    n_waiting = work[6 * n : 6 * n + n_resources]
    users = work[6 * n + n_resources : 6 * n + 2 * n_resources]
    listed = work[6 * n + 2 * n_resources : 6 * n + 3 * n_resources]
    granted = work[6 * n + 3 * n_resources : 6 * n + 3 * n_resources + n_groups]
    woken = work[6 * n + 3 * n_resources + n_groups :]  # the operations to resume in the current cycle
    finished = 0
    started = 0
    worked = 0
    b_fill = 0
    count = 0
    for index in range(n):
        if deps_left[index] == 0:
            woken[count] = index
            count += 1
    now = 0
    introduced_at = -1  # the last cycle an end put a resource not known before to work, and that end's operation
    introduced_by = -1
    while True:
        k = 0
        n_later = 0
        while k < count or n_later > 0:
            if k == count:  # the next level: operations whose several dependencies ended
                for j in range(n_later):
                    woken[count] = later[j]
                    count += 1
                n_later = 0
            op = woken[k]
            k += 1
            while held[op] < res_ptr[op + 1] - res_ptr[op]:
                h = res_ptr[op] + held[op]
                r = res_id[h]
                if users[r] < capacity[r]:
                    users[r] += 1
                    hand_val[h] = -1
                    g = group_of[r]
                    if g >= 0:
                        g_op[g_ptr[g] + granted[g]] = op
                        g_pos[g_ptr[g] + granted[g]] = held[op]
                        granted[g] += 1
                    held[op] += 1
                else:
                    waiting_on[op] = r + 1
                    n_waiting[r] += 1
                    break
            if waiting_on[op] > 0:
                continue
            if cycles[op] > 0:
                started_op[started] = op
                n_running = _heap_push(running, n_running, (now + cycles[op]) * (n + 1) + started)
                started += 1
                continue
            if res_ptr[op + 1] > res_ptr[op]:
                return False  # a resource held for no time: not a replayable skeleton
            finish[finished] = op
            finished += 1
            for j in range(dependants_ptr[op], dependants_ptr[op + 1]):
                d = dependants_idx[j]
                deps_left[d] -= 1
                if deps_left[d] == 0:
                    if dep_ptr[d + 1] - dep_ptr[d] > 1:
                        later[n_later] = d
                        n_later += 1
                    else:
                        woken[count] = d
                        count += 1
        # the next cycle an operation ends in, and the operations ending then, in the order they started
        if n_running == 0:
            break
        now = running[0] // (n + 1)
        count = 0
        n_later = 0
        while n_running > 0 and running[0] // (n + 1) == now:
            key = running[0]
            n_running = _heap_pop(running, n_running)
            op = started_op[key % (n + 1)]
            for h in range(res_ptr[op], res_ptr[op + 1]):
                r = res_id[h]
                if listed[r] == 0 and workers_ptr[r + 1] > workers_ptr[r]:
                    if known[r] == 0:
                        if introduced_at == now and introduced_by != op:
                            return False  # two ends of one cycle introduce resources: SimPy's event order decides
                        introduced_at, introduced_by = now, op
                    listed[r] = 1
                    first_work[worked] = r
                    worked += 1
                    b_ptr[worked] = b_ptr[worked - 1] + workers_ptr[r + 1] - workers_ptr[r]
                    for j in range(workers_ptr[r], workers_ptr[r + 1]):
                        b_op[b_fill] = workers_idx[j]
                        b_fill += 1
                if n_waiting[r] == 0:
                    users[r] -= 1
                    continue
                w = -1  # the waiting request of highest priority takes the slot
                for index in range(n):
                    if waiting_on[index] == r + 1 and (w < 0 or ranks[index] < ranks[w]):
                        w = index
                waiting_on[w] = 0
                n_waiting[r] -= 1
                hand_val[res_ptr[w] + held[w]] = op
                g = group_of[r]
                if g >= 0:
                    g_op[g_ptr[g] + granted[g]] = w
                    g_pos[g_ptr[g] + granted[g]] = held[w]
                    granted[g] += 1
                held[w] += 1
                woken[count] = w
                count += 1
            finish[finished] = op
            finished += 1
            for j in range(dependants_ptr[op], dependants_ptr[op + 1]):
                d = dependants_idx[j]
                deps_left[d] -= 1
                if deps_left[d] == 0:
                    if dep_ptr[d + 1] - dep_ptr[d] > 1:
                        later[n_later] = d
                        n_later += 1
                    else:
                        woken[count] = d
                        count += 1
        for j in range(n_later):
            woken[count] = later[j]
            count += 1
    if finished != n:
        return False  # (cannot happen: ordered acquisition does not deadlock)
    # what woke each request, and whether each group's grants all found a free slot
    handed_base = np.int64(0)
    for index in range(n):
        if root[index] >= handed_base:
            handed_base = root[index] + 1
    for index in range(n):
        was_handed = False
        for h in range(res_ptr[index], res_ptr[index + 1]):
            if was_handed:
                wake_root[h] = handed_base + index
                wake_order[h] = 0
            else:
                wake_root[h] = root[index]
                wake_order[h] = order[index]
            if hand_val[h] >= 0:
                was_handed = True
    for g in range(n_groups):
        g_free[g] = 0
    for r in range(n_resources):
        g = group_of[r]
        if g >= 0 and capacity[r] == 1:
            free = 1
            for j in range(g_ptr[g], g_ptr[g + 1]):
                if hand_val[res_ptr[g_op[j]] + g_pos[j]] >= 0:
                    free = 0
            g_free[g] = free
    return _replay(program, cycles, out)


@nb.njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _heap_push(heap, size, key):  # pragma: no cover - compiled
    at = size
    heap[at] = key
    while at > 0:
        parent = (at - 1) // 2
        if heap[parent] <= heap[at]:
            break
        heap[parent], heap[at] = heap[at], heap[parent]
        at = parent
    return size + 1


@nb.njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _heap_pop(heap, size):  # pragma: no cover - compiled
    size -= 1
    heap[0] = heap[size]
    at = 0
    while True:
        child = 2 * at + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[at] <= heap[child]:
            break
        heap[at], heap[child] = heap[child], heap[at]
        at = child
    return size
