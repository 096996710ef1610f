"""A step's schedule worked out without SimPy, compiled (see Schedules without SimPy in
:mod:`archsim.engine.engine`).

:func:`describe` lays a step skeleton out once as one integer array; :func:`schedule` runs a step of it with its
cycles by SimPy's rules and refuses it where SimPy's order of events within one cycle would decide.
"""

from __future__ import annotations

from itertools import accumulate, chain

import numba as nb
import numpy as np

# The skeleton's description: its header (counts), where each section starts (and the last ends), the sections.
_SECTIONS = (
    "dep_ptr",  # per operation: where its dependencies start in dep_idx (n + 1 entries)
    "dep_idx",
    "res_ptr",  # per operation: where its resources start in res_id, in the order it acquires them (n + 1)
    "res_id",  # per hold: the resource (dense ids)
    "capacity",  # per resource: its slots
    "ranks",  # per operation: its queueing rank (a released slot goes to the waiting request of least rank)
    "root",  # per operation: the event whose processing resumes it once its dependencies ended (ids), and the
    "order",  # order of that resumption among those the same event causes (see engine._waker)
    "dependants_ptr",  # per operation: the operations that wait for it (n + 1 entries)
    "dependants_idx",
    "phase_of",  # per operation: its phase's index among the step's phases
    "workers_ptr",  # per resource: the operations that work on it (take cycles), in program order (resources + 1)
    "workers_idx",
)
_HEADER = 4  # operations, resources, phases, resources that work
(
    _DEP_PTR,
    _DEP_IDX,
    _RES_PTR,
    _RES_ID,
    _CAPACITY,
    _RANKS,
    _ROOT,
    _ORDER,
    _DEPENDANTS_PTR,
    _DEPENDANTS_IDX,
    _PHASE_OF,
    _WORKERS_PTR,
    _WORKERS_IDX,
) = range(len(_SECTIONS))


def describe(deps, resources, capacity, ranks, wakes, phases: int, phase_of, cycles) -> np.ndarray:
    """A step skeleton for :func:`schedule`: ``deps`` and ``resources`` (per operation, resources as dense ids in
    the order it acquires them), ``capacity`` (per resource), ``ranks``, ``wakes`` (per operation: (root id, order)
    of the resumption once its dependencies ended), ``phases`` (how many), ``phase_of`` and ``cycles`` (per
    operation: which are zero is the skeleton's)."""
    n, n_resources = len(deps), len(capacity)
    dependants: list[list[int]] = [[] for _ in range(n)]
    for index, row in enumerate(deps):
        for dep in row:
            dependants[dep].append(index)
    workers: list[list[int]] = [[] for _ in range(n_resources)]
    for index, row in enumerate(resources):
        if cycles[index]:
            for resource in row:
                workers[resource].append(index)
    return _pack(
        [n, n_resources, phases, sum(1 for row in workers if row)],
        [
            *_csr(deps),
            *_csr(resources),
            list(capacity),
            list(ranks),
            [root for root, _ in wakes],
            [order for _, order in wakes],
            *_csr(dependants),
            list(phase_of),
            *_csr(workers),
        ],
    )


def _csr(rows) -> tuple[list[int], list[int]]:
    """Where each row starts in the rows laid end to end (and where the last ends), and the rows laid so."""
    return [0, *accumulate(map(len, rows))], list(chain.from_iterable(rows))


def _pack(counts: list[int], sections: list[list[int]]) -> np.ndarray:
    """``counts``, then where each section starts (and the last ends), then the sections: one int64 array."""
    offsets = accumulate(map(len, sections), initial=len(counts) + len(sections) + 1)
    return np.array([*counts, *offsets, *chain.from_iterable(sections)], dtype=np.int64)


def out_size(skeleton: np.ndarray) -> int:
    """The length of the array :func:`schedule` writes its results into."""
    n, _, phases, working = (int(v) for v in skeleton[:_HEADER])
    return 1 + 2 * phases + working + 2 * n


def schedule(
    skeleton: np.ndarray, cycles: np.ndarray, known: np.ndarray, out: np.ndarray, first_work: np.ndarray
) -> bool:
    """Run a step of ``skeleton`` (:func:`describe`) with ``cycles`` (per operation) by SimPy's rules: True when
    SimPy would decide alike at every cycle, with ``out`` holding the window's latency, each phase's (first start,
    last end), each working resource's busy cycles (in the order of ``first_work``, the resources in the order
    they first worked) and every operation's start and end; False where SimPy's order of events decides.

    Within a cycle SimPy fires the ends due first (a release hands its slot to the waiting request of least rank)
    and only then resumes the processes those ends wake. Requests of one cycle for a resource that do not all find
    a free slot are granted in the order SimPy resumes their processes: known only for processes one event
    resumes (in their wake-up order), otherwise the step is refused. ``known`` (per resource, 0 or 1): whether it
    has worked before; where two ends of one cycle put resources not known to work, the order of the utilisation
    table would be SimPy's event order, and the step is refused."""
    for array in (skeleton, cycles, known, out, first_work):
        if array.dtype != np.int64:
            raise TypeError("schedule takes int64 arrays")
    if len(cycles) != skeleton[0] or len(known) != skeleton[1]:
        raise ValueError("schedule: the cycles and known resources do not fit the skeleton")
    if len(out) != out_size(skeleton) or len(first_work) != skeleton[3]:
        raise ValueError("schedule: the result arrays do not fit the skeleton")
    return bool(_schedule(skeleton, cycles, known, out, first_work))


@nb.njit(cache=True, inline="always")
def _section(skeleton, number):
    """Section ``number`` of a skeleton (:func:`describe`): a view of its entries."""
    offsets = skeleton[_HEADER:]
    return skeleton[offsets[number] : offsets[number + 1]]


@nb.njit(cache=True, error_model="numpy")
def _schedule(skeleton, cycles, known, out, first_work):  # pragma: no cover - compiled; tested against SimPy
    n, n_resources, n_phases, n_working = skeleton[0], skeleton[1], skeleton[2], skeleton[3]
    dep_ptr = _section(skeleton, _DEP_PTR)
    res_ptr = _section(skeleton, _RES_PTR)
    res_id = _section(skeleton, _RES_ID)
    capacity = _section(skeleton, _CAPACITY)
    ranks = _section(skeleton, _RANKS)
    root = _section(skeleton, _ROOT)
    order = _section(skeleton, _ORDER)
    dependants_ptr = _section(skeleton, _DEPENDANTS_PTR)
    dependants_idx = _section(skeleton, _DEPENDANTS_IDX)
    phase_of = _section(skeleton, _PHASE_OF)
    workers_ptr = _section(skeleton, _WORKERS_PTR)
    workers_idx = _section(skeleton, _WORKERS_IDX)
    spans = out[1 : 1 + 2 * n_phases]
    busy = out[1 + 2 * n_phases : 1 + 2 * n_phases + n_working]
    starts = out[1 + 2 * n_phases + n_working : 1 + 2 * n_phases + n_working + n]
    ends = out[1 + 2 * n_phases + n_working + n :]
    holds = len(res_id)
    work = np.zeros(8 * n + 7 * n_resources + holds + 1, dtype=np.int64)  # (one allocation: less code to compile)
    deps_left = work[:n]
    held = work[n : 2 * n]  # resources acquired so far
    waiting_on = work[2 * n : 3 * n]  # the resource an operation queues for, plus one (0: none)
    running = work[3 * n : 4 * n]  # a heap of end * (n + 1) + the order they started in (SimPy's timeouts)
    started_op = work[4 * n : 5 * n]
    later = work[5 * n : 6 * n]  # ended dependencies of several: resumed a level later
    handed = work[6 * n : 7 * n]  # 1: a resource was handed over to it (it resumed on that, its own event)
    root_base = 0  # ids of the roots "handed over to operation i": root_base + i
    for index in range(n):
        deps_left[index] = dep_ptr[index + 1] - dep_ptr[index]
        if root[index] >= root_base:
            root_base = root[index] + 1
    at = 8 * n
    n_waiting = work[at : at + n_resources]
    users = work[at + n_resources : at + 2 * n_resources]
    listed = work[at + 2 * n_resources : at + 3 * n_resources]
    # per resource, its requests of the last cycle that asked for it: cycle + 1, the root and order of the last,
    # and what happened (1: one took a free slot, 2: one queued, 4: not all of one root in wake-up order)
    batch_at = work[at + 3 * n_resources : at + 4 * n_resources]
    batch_root = work[at + 4 * n_resources : at + 5 * n_resources]
    batch_order = work[at + 5 * n_resources : at + 6 * n_resources]
    batch = work[at + 6 * n_resources : at + 7 * n_resources]
    woken = work[at + 7 * n_resources :]  # the operations to resume in the current cycle, in order
    n_running = 0
    started = 0
    finished = 0
    worked = 0
    introduced_at = -1  # the last cycle an end put a resource not known before to work, and that end's operation
    introduced_by = -1
    count = 0
    for index in range(n):
        if deps_left[index] == 0:
            woken[count] = index
            count += 1
    now = 0
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
                r = res_id[res_ptr[op] + held[op]]
                asker = root_base + op if handed[op] else root[op]
                if batch_at[r] != now + 1:
                    batch_at[r] = now + 1
                    batch_root[r] = asker
                    batch[r] = 0
                elif asker != batch_root[r] or order[op] <= batch_order[r]:
                    batch[r] |= 4
                batch_order[r] = order[op]
                if users[r] < capacity[r]:
                    users[r] += 1
                    held[op] += 1
                    batch[r] |= 1
                else:
                    waiting_on[op] = r + 1
                    n_waiting[r] += 1
                    batch[r] |= 2
                if batch[r] == 7:
                    return False  # some take free slots, some queue: which is SimPy's order of resuming them
                if waiting_on[op] > 0:
                    break
            if waiting_on[op] > 0:
                continue
            starts[op] = now
            ends[op] = now + cycles[op]
            if cycles[op] > 0:
                started_op[started] = op
                n_running = _heap_push(running, n_running, (now + cycles[op]) * (n + 1) + started)
                started += 1
                continue
            if res_ptr[op + 1] > res_ptr[op]:
                return False  # a resource held for no time: its release would meet requests of its own cycle
            finished += 1
            count, n_later = _resume_dependants(
                op, dependants_ptr, dependants_idx, dep_ptr, deps_left, woken, count, later, n_later
            )
        if n_running == 0:
            break
        # the next cycle operations end in: their ends fire in the order they started, before any request
        now = running[0] // (n + 1)
        count = 0
        n_later = 0
        while n_running > 0 and running[0] // (n + 1) == now:
            op = started_op[running[0] % (n + 1)]
            n_running = _heap_pop(running, n_running)
            for h in range(res_ptr[op], res_ptr[op + 1]):
                r = res_id[h]
                if listed[r] == 0:  # its first work: the utilisation table's order
                    if known[r] == 0:
                        if introduced_at == now and introduced_by != op:
                            return False  # two ends of one cycle introduce resources: SimPy's event order decides
                        introduced_at, introduced_by = now, op
                    listed[r] = 1
                    first_work[worked] = r
                    worked += 1
                if n_waiting[r] == 0:
                    users[r] -= 1
                    continue
                w = -1  # the waiting request of least rank takes the slot
                for index in range(n):
                    if waiting_on[index] == r + 1 and (w < 0 or ranks[index] < ranks[w]):
                        w = index
                waiting_on[w] = 0
                n_waiting[r] -= 1
                held[w] += 1
                handed[w] = 1
                woken[count] = w
                count += 1
            finished += 1
            count, n_later = _resume_dependants(
                op, dependants_ptr, dependants_idx, dep_ptr, deps_left, woken, count, later, n_later
            )
        for j in range(n_later):
            woken[count] = later[j]
            count += 1
    if finished != n or worked != n_working:
        return False  # (cannot happen: ordered acquisition does not deadlock)
    # the window: its length, the phases' spans, the resources' busy cycles
    latency = 0
    for index in range(n):
        if ends[index] > latency:
            latency = ends[index]
    out[0] = latency
    for p in range(n_phases):
        spans[2 * p] = latency
        spans[2 * p + 1] = 0
    for index in range(n):
        p = phase_of[index]
        if starts[index] < spans[2 * p]:
            spans[2 * p] = starts[index]
        if ends[index] > spans[2 * p + 1]:
            spans[2 * p + 1] = ends[index]
    for j in range(n_working):
        r = first_work[j]
        total = 0
        for i in range(workers_ptr[r], workers_ptr[r + 1]):
            total += cycles[workers_idx[i]]
        busy[j] = total
    return True


@nb.njit(cache=True, error_model="numpy", inline="always", no_cpython_wrapper=True)
def _resume_dependants(
    op, dependants_ptr, dependants_idx, dep_ptr, deps_left, woken, count, later, n_later
):  # pragma: no cover - compiled
    """Operation ``op`` ended: the dependants whose last dependency it was resume, one of a single dependency in
    this cycle's wake-up order (``woken``), one of several a level later (``later``); the new lengths of both."""
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
    return count, n_later


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
