r"""Replay a captured graph (:mod:`.graph_capture`) on CUDA as one CUDA graph.

On a GPU one training step of these networks is microseconds of arithmetic in about a hundred
kernel launches, so replaying the captured ATen graph op by op still pays a launch and a few
microseconds of Python per operation. A CUDA graph records the launches once and replays them
with one call (``torch.cuda.CUDAGraph``).

A CUDA graph reads and writes fixed addresses. So:

* the *state* inputs (parameters and buffers) are used where they are: an optimizer updates them
  in place. Their addresses are checked at every call; a moved tensor (``module.to(...)``, a
  replaced parameter) means the graph is recorded again;
* the *batch* inputs are copied into static tensors before each replay;
* the outputs are the same tensors at every replay, overwritten by the next: a caller that keeps
  one across calls must copy it.

Random operations in a CUDA graph draw from the device's default CUDA generator, as eager
operations do: at each replay PyTorch hands the graph the generator's current seed and offset and
advances the offset by what the graph consumes (the graph-safe RNG of ``CUDAGeneratorImpl``), so
a replay draws the numbers the eager operations would draw from the same generator state. The
warm-up runs that CUDA graphs need (on a side stream, before recording) and the recording run on
a forked generator and leave its state as they found it.

Every recording is checked before it is used: from one generator state, the recorded graph is
replayed once and ``fn`` run op by op, and their outputs must agree (:data:`RTOL`, :data:`ATOL`;
different noise or a stale address would differ by far more). Where they do not,
:class:`CUDAGraphMismatch` is raised, and the caller replays op by op instead (the training step
logs one line). So a fault of the graph path on some device or torch version costs speed, never
numbers. The generator is left as it was found.

Written against the documented API of ``torch.cuda.graph``; its tests (``tests/cuda/``) run only
where CUDA is available.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

#: Runs before recording, on a side stream (CUDA libraries allocate their workspaces on first use).
WARMUP_RUNS = 2
#: How closely a recording's replay must match ``fn`` run op by op (the same kernels on the same
#: numbers; the tolerance leaves room for a library that picks another algorithm inside a graph).
RTOL, ATOL = 1e-4, 1e-5


class CUDAGraphMismatch(RuntimeError):
    """A recorded CUDA graph's replay does not give what its function gives op by op."""


def cuda_device(tensors: Sequence) -> Optional[torch.device]:
    """The CUDA device of the first CUDA tensor among ``tensors``, or None."""
    for t in tensors:
        if torch.is_tensor(t) and t.device.type == "cuda":
            return t.device
    return None


def mismatch(got: Sequence[torch.Tensor], want: Sequence[torch.Tensor]) -> Optional[str]:
    """Where ``got`` and ``want`` disagree beyond :data:`RTOL`/:data:`ATOL` (NaN matches NaN), in
    words, or None where they agree."""
    if len(got) != len(want):
        return f"{len(got)} outputs against {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            return f"output {i} has shape {tuple(g.shape)} against {tuple(w.shape)}"
        if not torch.allclose(g, w, rtol=RTOL, atol=ATOL, equal_nan=True):
            worst = float((g - w).abs().nan_to_num(float("inf")).max())
            return f"output {i}, max |difference| {worst:.3g}"
    return None


class CUDAGraphReplay:
    """``fn(state, *batch)`` recorded as a CUDA graph; ``self(state, batch)`` replays it.

    :param fn: a function of a list of state tensors and the batch, returning a list of tensors,
        with no host synchronisation (a captured :class:`torch.fx.GraphModule` is one).
    :param state: tensors the graph reads in place (parameters, buffers).
    :param batch: an example batch: its shapes, dtypes and device are the graph's.
    """

    def __init__(self, fn: Callable, state: list, batch: tuple):
        self.fn = fn
        self.device = cuda_device(list(batch) + list(state))
        if self.device is None:
            raise ValueError("CUDA graphs need CUDA tensors")
        self.static_batch = tuple(t.detach().clone() if torch.is_tensor(t) else t for t in batch)
        self._record(state)

    def _record(self, state: list) -> None:
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        with torch.cuda.device(index), torch.no_grad(), torch.random.fork_rng(devices=[index]):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(WARMUP_RUNS):
                    self.fn(state, *self.static_batch)
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = self.fn(state, *self.static_batch)
            self._check(state, index)
        self.addresses = [t.data_ptr() for t in state]

    def _check(self, state: list, index: int) -> None:
        """Raises :class:`CUDAGraphMismatch` unless one replay gives what ``fn`` gives op by op
        from the same generator state (module docstring). Runs inside ``_record``'s forked
        generator, which restores the caller's state afterwards."""
        start = torch.cuda.get_rng_state(index)
        expected = [t.clone() for t in self.fn(state, *self.static_batch)]
        torch.cuda.set_rng_state(start, index)
        self.graph.replay()
        why = mismatch(self.outputs, expected)
        if why is not None:
            raise CUDAGraphMismatch(f"the CUDA graph's replay differs from the op-by-op replay: {why}")

    def __call__(self, state: list, batch: tuple) -> list:
        """The outputs of ``fn(state, *batch)``: static tensors, overwritten by the next call."""
        if [t.data_ptr() for t in state] != self.addresses:
            self._record(state)  # the state moved: record against its new addresses
        for static, t in zip(self.static_batch, batch):
            if torch.is_tensor(static):
                static.copy_(t, non_blocking=True)
        self.graph.replay()
        return self.outputs
