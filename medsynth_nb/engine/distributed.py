"""Training on several processes: ``torchrun --nproc_per_node=N -m medsynth_nb train ...``.

Data parallel over ``torch.distributed`` (nccl between GPUs, gloo between CPU processes):

- every process builds the same model from the same seed, and rank 0's weights are
  broadcast, so all start identical;
- every step, all processes draw the same global batch (same generator, same state) and each
  takes its share, rows ``rank::N`` (``shard``);
- after each backward, gradients are averaged over the processes in one flat all-reduce per
  optimizer, before the optimizer steps (``average_gradients``): the update equals one
  process's on the whole global batch, which is DDP's rule. The ``DistributedDataParallel``
  wrapper itself is not used: it synchronises through its ``forward``, and the course's
  models call their networks from ``train_step`` (a GAN runs two optimizers per step),
  which that hook would not see;
- the losses logged are the means over the processes (the global batch's loss);
- only rank 0 validates, prints and writes the checkpoint and metrics; stopping (the step
  budget or the time cap) is rank 0's decision, shared, so no process waits for one that
  has stopped. Resume works as in one process: every rank reads the same checkpoint.

Without torchrun (no ``WORLD_SIZE`` in the environment) ``context()`` is one process and
every method here does nothing, so the engine has one code path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def describe(self) -> str:
        return f"data parallel: {self.world_size} processes ({self.backend})" if self.active else "1 process"

    def device(self, device: str) -> str:
        """Each process's own GPU under nccl ("cuda" -> "cuda:<local rank>")."""
        if self.active and device == "cuda":
            return f"cuda:{int(os.environ.get('LOCAL_RANK', self.rank))}"
        return device

    def shard(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.active:
            return batch
        size = len(next(iter(batch.values())))
        if size % self.world_size:
            raise ValueError(f"The global batch of {size} does not split over {self.world_size} processes: choose a "
                             "batch size that the number of processes divides.")
        return {k: v[self.rank::self.world_size] for k, v in batch.items()}

    def broadcast_weights(self, module: torch.nn.Module) -> None:
        if self.active:
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def average_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        if not self.active:
            return
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean of each logged value over the processes."""
        if not self.active or not values:
            return values
        flat = torch.tensor(list(values.values()), dtype=torch.float64)
        dist.all_reduce(flat)
        return dict(zip(values, (flat / self.world_size).tolist()))

    def from_main(self, flag: bool) -> bool:
        """Rank 0's ``flag``, on every process."""
        if not self.active:
            return flag
        shared = torch.tensor([int(flag)])
        dist.broadcast(shared, src=0)
        return bool(shared.item())

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def context() -> Context:
    """The process group this process belongs to (one process when torch.distributed is off)."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), dist.get_backend())
    return Context()


def init_from_env(device: str) -> Context:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE`` > 1):
    nccl for GPUs, gloo for CPUs. Without torchrun: one process, nothing to join."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return context()


def finish() -> None:
    """Leave the process group (the end of a torchrun'ed command)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
