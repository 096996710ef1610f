"""Weight stores: where one layer's weight matrix lives and how each training algorithm changes it.

A store holds the weights of one layer as an (out, in) matrix — in a digital array, on one analog
array, or on the fast/slow/reference arrays of the Tiki-Taka family — and offers ``forward``,
``backward`` and ``update``. Each call records the hardware operations it caused on a
:class:`~archsim.algorithms.recorder.StepRecorder` (when one is given), so the algorithms meet the
cost side only through the operation stream.

Learning rates follow aihwkit's TransferCompound conventions: the fast array A learns with
``algorithm.fast_lr``; a transfer writes ``algorithm.transfer_lr * training.lr`` times the read value
onto C; Analog SGD, Digital SGD and mixed precision use ``training.lr``. Every update is
``W -= lr * sum_b d_b x_b^T`` with the batch mean already folded into ``d``.
"""

from __future__ import annotations

import numpy as np

from archsim.algorithms.recorder import StepRecorder
from archsim.config.hw import HwConfig
from archsim.config.workload import AlgorithmConfig, TrainingConfig
from archsim.ops import ArrayId

ANALOG_ROLES = {"analog_sgd": ("W",), "mixed_precision": ("W",), "tiki_taka": ("A", "C"),
                "residual": ("A", "C", "R"), "ttv2": ("A", "C"), "chopped_ttv2": ("A", "C"), "agad": ("A", "C")}


#: Bits that carry one device's signed pulse count to a tile's pulse generators (|count| <= BL < 128).
PULSE_COUNT_BITS = 8


def array_seed(run_seed: int, layer: int, role: str) -> int:
    """Independent, reproducible seed of one array's device-to-device sampling and noise streams."""
    return int(np.random.SeedSequence([run_seed, layer, ord(role[0])]).generate_state(1)[0])


def _record_accumulate(rec: StepRecorder, size: int, products: int, phase: str, deps) -> list[int]:
    """A digital accumulator pass: load ``size`` words, ``products`` multiply-adds (0: adds only), a
    threshold compare per word, store them back."""
    load = rec.buffer("read", size * rec.digital_bits, phase, deps)
    last = load
    if products:
        last = rec.digital("mult", products, phase, (last,))
    last = rec.digital("add", products or size, phase, (last,))
    last = rec.digital("compare", size, phase, (last,))
    return [rec.buffer("write", size * rec.digital_bits, phase, (last,))]


def _write_pulses(array, counts: np.ndarray, layer: int, role: str, rec: StepRecorder | None, phase: str,
                  deps: list[int]) -> list[int]:
    """Fire signed whole-pulse ``counts`` at ``array`` (up where positive); the counts travel from the
    digital unit to each block's pulse generators first."""
    if not np.any(counts):
        return deps
    stats = array.apply_pulses(counts)
    if rec is None:
        return []
    moves = [rec.move("digital", ArrayId(layer, role, b.row_block, b.col_block), b.device_pulses * PULSE_COUNT_BITS,
                      phase, deps) for b in stats.blocks]
    return rec.updates(layer, role, stats, moves, phase=phase)


class DigitalStore:
    """Floating-point weights in digital memory; the reference (Digital SGD) and non-analog layers."""

    roles: tuple[str, ...] = ()

    def __init__(self, layer: int, weights: np.ndarray, lr: float):
        self.layer = layer
        self.weights = weights.copy()
        self.lr = lr

    def effective_weights(self) -> np.ndarray:
        return self.weights

    def _macs(self, rec: StepRecorder | None, count: int, phase: str, deps) -> list[int]:
        if rec is None:
            return []
        load = rec.buffer("read", self.weights.size * rec.digital_bits, phase, deps)
        mult = rec.digital("mult", count, phase, (load,))
        return [rec.digital("add", count, phase, (mult,))]

    def forward(self, x: np.ndarray, rec: StepRecorder | None = None, deps=()) -> tuple[np.ndarray, list[int]]:
        return x @ self.weights.T, self._macs(rec, x.shape[0] * self.weights.size, "forward", deps)

    def backward(self, d: np.ndarray, rec: StepRecorder | None = None, deps=()) -> tuple[np.ndarray, list[int]]:
        return d @ self.weights, self._macs(rec, d.shape[0] * self.weights.size, "backward", deps)

    def update(self, x: np.ndarray, d: np.ndarray, rec: StepRecorder | None = None, deps=()) -> list[int]:
        self.weights -= self.lr * (d.T @ x)
        done = self._macs(rec, x.shape[0] * self.weights.size, "update", deps)
        if rec is not None:
            done = [rec.buffer("write", self.weights.size * rec.digital_bits, "update", done)]
        return done


class AnalogSgdStore:
    """Analog SGD: the gradient goes straight onto one analog array as stochastic pulses."""

    roles = ("W",)

    def __init__(self, layer: int, weights: np.ndarray, hw: HwConfig, lr: float, seed: int):
        from archsim.analog import AnalogArray

        self.layer = layer
        self.lr = lr
        out_size, in_size = weights.shape
        self.W = AnalogArray(out_size, in_size, hw, seed=array_seed(seed, layer, "W"))
        self.W.set_weights(weights)

    def effective_weights(self) -> np.ndarray:
        return self.W.get_weights()

    def forward(self, x, rec=None, deps=()):
        y, stats = self.W.forward(x)
        done = rec.reads(self.layer, "W", stats, "forward", "forward", deps) if rec else []
        return y, done

    def backward(self, d, rec=None, deps=()):
        z, stats = self.W.backward(d)
        done = rec.reads(self.layer, "W", stats, "backward", "backward", deps) if rec else []
        return z, done

    def update(self, x, d, rec=None, deps=()):
        stats = self.W.update(x, d, self.lr)
        return rec.updates(self.layer, "W", stats, deps) if rec else []


class MixedPrecisionStore(AnalogSgdStore):
    """Mixed precision: gradients accumulate in a digital matrix chi and are written to the analog
    array in whole pulses once they pass ``mp_threshold * dw_min`` (the costly, accurate baseline)."""

    def __init__(self, layer, weights, hw: HwConfig, lr, seed, algorithm: AlgorithmConfig):
        super().__init__(layer, weights, hw, lr, seed)
        self.chi = np.zeros_like(weights, dtype=np.float64)
        self.step = algorithm.mp_threshold * hw.device.dw_min
        self.max_pulses = hw.update.bl

    def update(self, x, d, rec=None, deps=()):
        self.chi -= self.lr * (d.T @ x)
        pulses = np.clip(np.trunc(self.chi / self.step), -self.max_pulses, self.max_pulses).astype(np.int64)
        self.chi -= pulses * self.step
        done = _record_accumulate(rec, self.chi.size, x.shape[0] * self.chi.size, "update", deps) if rec else []
        return _write_pulses(self.W, pulses, self.layer, "W", rec, "update", done)


class TikiTakaStore:
    """The Tiki-Taka family on a fast array A and a slow array C (and a reference R for residual).

    * ``tiki_taka`` (TTv1): every ``transfer_every`` samples, ``n_reads_per_transfer`` columns (rows) of
      A are read through the real IO path and written onto C as pulses: C[:, k] += transfer_lr*lr*A[:, k].
    * ``residual``: A starts at its symmetric point and is read against a reference array R programmed
      to that point (zero shifting), so A - R is zero where A has no drive; effective W = gamma*(A-R) + C.
    * ``ttv2``: reads accumulate in a digital buffer H; where |H| passes ``ttv2_threshold * dw_min`` that
      many pulses (at most ``ttv2_max_pulses``) go to C and H is reduced by what was written.
    * ``chopped_ttv2``: TTv2 with random sign choppers on A's inputs, undone at read; each chopper flips
      with ``chopper_probability`` after every full sweep of the transfer pointer.
    * ``agad``: chopped TTv2 whose reads are taken against a slow running average of past reads (weight
      ``agad_beta``), an on-the-fly estimate of A's symmetric point, instead of a reference array.
    """

    def __init__(self, layer: int, weights: np.ndarray, hw: HwConfig, algorithm: AlgorithmConfig,
                 training: TrainingConfig, seed: int):
        from archsim.analog import AnalogArray

        self.layer = layer
        self.variant = algorithm.name
        self.roles = ANALOG_ROLES[self.variant]
        out_size, in_size = weights.shape
        self.shape = (out_size, in_size)
        self.A = AnalogArray(out_size, in_size, hw, seed=array_seed(seed, layer, "A"))
        self.C = AnalogArray(out_size, in_size, hw, seed=array_seed(seed, layer, "C"))
        self.C.set_weights(weights)
        self.A.set_weights(np.zeros_like(weights))
        self.R = None
        if self.variant == "residual":
            # Zero shifting: A is driven to its symmetric point and R is programmed to the same values.
            symmetric = self.A.symmetric_points()
            self.A.set_weights(symmetric)
            self.R = AnalogArray(out_size, in_size, hw, seed=array_seed(seed, layer, "R"))
            self.R.set_weights(symmetric)
        self.gamma = algorithm.gamma
        self.fast_lr = algorithm.fast_lr
        self.transfer_scale = algorithm.transfer_lr * training.lr
        self.transfer_every = algorithm.transfer_every
        self.reads_per_transfer = algorithm.n_reads_per_transfer
        self.by_column = algorithm.transfer_direction == "column"
        self.n_vectors = in_size if self.by_column else out_size
        self.pointer = 0
        self.samples_pending = 0
        # transfer_every counts training samples; a conv layer's update holds this many vectors (its output
        # positions) per sample, and the network that owns the layer sets it
        self.vectors_per_sample = 1
        self.buffered = self.variant in ("ttv2", "chopped_ttv2", "agad")
        self.chopped = self.variant in ("chopped_ttv2", "agad")
        self.rng = np.random.default_rng(array_seed(seed, layer, "X"))
        self.chopper = np.ones(self.n_vectors)
        self.chopper_probability = algorithm.chopper_probability
        if self.buffered:
            self.H = np.zeros(self.shape)
            self.threshold = algorithm.ttv2_threshold * hw.device.dw_min
            self.max_pulses = algorithm.ttv2_max_pulses
        if self.variant == "agad":
            self.reference = np.zeros(self.shape)
            self.agad_beta = algorithm.agad_beta
        self.transfers = 0          # transfer events so far
        self.pulses_written = 0     # TTv2 pulses written onto C so far

    # -- weights -----------------------------------------------------------------------------
    def fast_weights(self) -> np.ndarray:
        fast = self.A.get_weights()
        return fast - self.R.get_weights() if self.R is not None else fast

    def effective_weights(self) -> np.ndarray:
        slow = self.C.get_weights()
        return slow + self.gamma * self.fast_weights() if self.gamma else slow

    # -- reads ---------------------------------------------------------------------------------
    def _read(self, direction: str, v: np.ndarray, rec, deps, phase: str):
        read = self.C.forward if direction == "forward" else self.C.backward
        out, stats = read(v)
        done = rec.reads(self.layer, "C", stats, direction, phase, deps) if rec else []
        if self.gamma:
            arrays = [("A", self.A)] + ([("R", self.R)] if self.R is not None else [])
            for role, array in arrays:
                value, stats = (array.forward if direction == "forward" else array.backward)(v)
                out = out + (self.gamma if role == "A" else -self.gamma) * value
                if rec:
                    done += rec.reads(self.layer, role, stats, direction, phase, deps)
            if rec:
                done = [rec.digital("add", out.size * (len(arrays)), phase, done)]
        return out, done

    def forward(self, x, rec=None, deps=()):
        return self._read("forward", x, rec, deps, "forward")

    def backward(self, d, rec=None, deps=()):
        return self._read("backward", d, rec, deps, "backward")

    # -- update and transfer -------------------------------------------------------------------
    def update(self, x, d, rec=None, deps=()):
        if self.chopped:
            if self.by_column:
                x = x * self.chopper
            else:
                d = d * self.chopper
        stats = self.A.update(x, d, self.fast_lr)
        done = rec.updates(self.layer, "A", stats, deps) if rec else []
        self.samples_pending += x.shape[0] // self.vectors_per_sample
        due = self.samples_pending // self.transfer_every
        self.samples_pending -= due * self.transfer_every
        # The step's transfers all follow its updates, so transfers of distinct lines commute: they run as
        # one batched read and write. A batch that would visit a line twice runs one transfer at a time.
        if due * self.reads_per_transfer <= self.n_vectors:
            if due:
                done = self.transfer(rec, done, due)
        else:
            for _ in range(due):
                done = self.transfer(rec, done)
        return done

    def _next_indices(self, transfers: int) -> np.ndarray:
        total = transfers * self.reads_per_transfer
        indices = (self.pointer + np.arange(total)) % self.n_vectors
        sweeps_ended = (self.pointer + total) // self.n_vectors
        self.pointer = (self.pointer + total) % self.n_vectors
        for _ in range(sweeps_ended if self.chopped else 0):
            flips = self.rng.random(self.n_vectors) < self.chopper_probability
            self.chopper = np.where(flips, -self.chopper, self.chopper)
        return indices

    def transfer(self, rec: StepRecorder | None, deps, transfers: int = 1) -> list[int]:
        """Read the next ``transfers`` x ``n_reads_per_transfer`` columns (rows) of A and move them onto C;
        returns the ops to wait for."""
        self.transfers += transfers
        chopper = self.chopper.copy()
        indices = self._next_indices(transfers)
        read = self.A.read_columns if self.by_column else self.A.read_rows
        values, stats = read(indices)                      # (n, out) for columns, (n, in) for rows
        reads = rec.transfer_reads(self.layer, "A", stats, self.transfer_direction, deps) if rec else {}
        if self.R is not None:
            reference, r_stats = (self.R.read_columns if self.by_column else self.R.read_rows)(indices)
            values = values - reference
            if rec:
                # A and R share a tile's periphery (or sit side by side); the difference is formed before
                # the values leave, so R's reads gate the same moves as A's.
                r_reads = rec.transfer_reads(self.layer, "R", r_stats, self.transfer_direction, deps)
                reads = {key: (rec.digital("add", bits // rec.transfer_bits, "transfer", [op, r_reads[key][0]]), bits)
                         for key, (op, bits) in reads.items()}
        if self.variant == "agad":
            # AGAD: the reference is a slow running average of A's own raw reads. Over many chopper periods
            # the chopped gradient content averages out and A's symmetric-point offset does not, so p
            # estimates that offset and v - p is the (chopped) gradient content alone.
            ref = self._reference_slice(indices)
            self._set_reference_slice(indices, ref + self.agad_beta * (values - ref))
            values = values - ref
        if self.chopped:
            values = values * chopper[indices][:, None]
        if self.buffered:
            return self._buffered_write(indices, values, rec, reads)
        one_hot = np.zeros((len(indices), self.n_vectors))
        one_hot[np.arange(len(indices)), indices] = 1.0
        if self.by_column:
            stats = self.C.update(one_hot, -values, self.transfer_scale)
        else:
            stats = self.C.update(values, -one_hot, self.transfer_scale)
        if rec is None:
            return []
        # a one-hot transfer drives only the blocks that hold the transferred lines
        stats = type(stats)([b for b in stats.blocks if (b.row_block, b.col_block) in reads])
        moves = self._moves_to_c(rec, stats, reads)
        return rec.updates(self.layer, "C", stats, moves, phase="transfer")

    @property
    def transfer_direction(self) -> str:
        return "column" if self.by_column else "row"

    def _reference_slice(self, indices):
        return self.reference[:, indices].T if self.by_column else self.reference[indices, :]

    def _set_reference_slice(self, indices, values):
        if self.by_column:
            self.reference[:, indices] = values.T
        else:
            self.reference[indices, :] = values

    def _moves_to_c(self, rec: StepRecorder, stats, reads: dict) -> list[int]:
        """Read values travel from each A block to the C block at the same position (A and C share one
        block grid, and a one-hot read of A block (r, c) feeds exactly C block (r, c))."""
        moves = []
        for block in stats.blocks:
            key = (block.row_block, block.col_block)
            op, bits = reads[key]
            moves.append(rec.move(ArrayId(self.layer, "A", *key), ArrayId(self.layer, "C", *key), bits,
                                  "transfer", [op]))
        return moves

    def _buffered_write(self, indices, values, rec, reads: dict) -> list[int]:
        """TTv2: accumulate into H; write whole pulses where |H| passed the threshold."""
        increment = self.transfer_scale * values          # weight units
        if self.by_column:
            h = self.H[:, indices] + increment.T
        else:
            h = self.H[indices, :] + increment
        pulses = np.clip(np.trunc(h / self.threshold), -self.max_pulses, self.max_pulses).astype(np.int64)
        h = h - pulses * self.threshold
        counts = np.zeros(self.shape, dtype=np.int64)
        if self.by_column:
            self.H[:, indices] = h
            counts[:, indices] = pulses
        else:
            self.H[indices, :] = h
            counts[indices, :] = pulses
        self.pulses_written += int(np.abs(pulses).sum())
        done: list[int] = []
        if rec is not None:
            arrivals = [rec.move(ArrayId(self.layer, "A", *key), "digital", bits, "transfer", [op])
                        for key, (op, bits) in reads.items()]
            done = _record_accumulate(rec, values.size, 0, "transfer", arrivals)
        return _write_pulses(self.C, counts, self.layer, "C", rec, "transfer", done)


def make_store(layer: int, weights: np.ndarray, analog: bool, hw: HwConfig, algorithm: AlgorithmConfig,
               training: TrainingConfig, seed: int):
    """The store for one layer under the configured algorithm (digital for non-analog layers)."""
    name = algorithm.name
    if name == "digital_sgd" or not analog:
        return DigitalStore(layer, weights, training.lr)
    if name == "analog_sgd":
        return AnalogSgdStore(layer, weights, hw, training.lr, seed)
    if name == "mixed_precision":
        return MixedPrecisionStore(layer, weights, hw, training.lr, seed, algorithm)
    return TikiTakaStore(layer, weights, hw, algorithm, training, seed)
