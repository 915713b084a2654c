"""Data-parallel training under torchrun; without torchrun everything here is a no-op.

torchrun (`python -m torch.distributed.run`) starts WORLD_SIZE copies of one command, one per
device, and gives each RANK, LOCAL_RANK and a rendezvous address in its environment. Every trainer
starts with `Replicas.setup`, which then joins the process group (gloo on CPU, nccl on CUDA, one
GPU per local rank), and uses the replicas object at these points of its loop:

- `wrap(model)`: DistributedDataParallel around the model, for the training forward passes; the
  bare model stays what is evaluated, early-stopped and saved (no "module." key prefixes);
- `shard(batches)`: every rank builds the same epoch's batches from the same seeded shuffle and
  takes batches r, r + world, ...; the list is first filled up to a multiple of the world size,
  since each step all-reduces gradients and one rank with an extra step would hang the others;
- `agree(score)`: each rank evaluates dev on identical weights, and rank 0's score is broadcast,
  so early stopping takes the same decision everywhere and all ranks stop together;
- `sum(...)`: per-epoch loss and token counts summed over ranks, for the learning curve;
- `finish(model)`: checks that all ranks hold the same weights and leaves the process group.

Batch and learning-rate semantics: DDP averages the ranks' gradients, so one optimizer step sees
world × batch_size rows (the global batch) and an epoch has 1/world as many steps. The learning
rate is not scaled. To reproduce a single process's step size and step count, divide batch_size by
the world size (tests/test_distributed.py does); to keep batch_size and go faster, consider raising
lr (the usual linear-scaling rule) and check dev.

Only rank 0 writes: the flow's train runners call `leave_unless_writer()` after training, which
ends the other ranks' processes before the model directory and the stage report are written.
"""

from __future__ import annotations

import os
from typing import Iterable
from dataclasses import dataclass

import torch
from torch import distributed as dist
from torch import nn

from tasks.progress import progress


def env_ranks() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) outside torchrun."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


def is_writer() -> bool:
    """True in a single process and in rank 0 of a torchrun job: the one process that writes."""
    return env_ranks()[0] == 0


def leave_unless_writer() -> None:
    """In a torchrun worker other than rank 0, end the process (exit code 0) without writing anything."""
    if not is_writer():
        raise SystemExit(0)


@dataclass
class Replicas:
    """This process's place among the training replicas, and the collectives the training loop needs."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    @classmethod
    def setup(cls, device: torch.device) -> "Replicas":
        """Join torchrun's process group when WORLD_SIZE > 1; otherwise one replica on `device`."""
        rank, world, local_rank = env_ranks()
        if world <= 1:
            return cls(device)
        if device.type == "cuda":
            # One GPU per process: local rank r on this node takes cuda:r.
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        owns = not dist.is_initialized()
        if owns:
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        if dist.get_world_size() != world or dist.get_rank() != rank:
            raise RuntimeError(
                f"process group has rank {dist.get_rank()}/{dist.get_world_size()} but the "
                f"environment says {rank}/{world}"
            )
        return cls(device, rank, world, owns)

    def wrap(self, model: nn.Module, seed: int = 0, find_unused_parameters: bool = False) -> nn.Module:
        """The module to run training forward passes through; the model itself when not distributed.

        DDP copies rank 0's weights to every rank here. From here on each rank draws its own random
        numbers (dropout masks, token dropout) from seed + rank; batch order comes from a separate
        generator seeded alike on every rank.
        """
        if not self.active:
            return model
        torch.manual_seed(seed + 1_000_003 * self.rank)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)

    def shard(self, batches: list) -> Iterable:
        """This rank's share of an epoch's batches: equal counts on every rank, in the shared order.

        On a terminal rank 0 shows a progress bar; in logs (no tty: Prefect, DVC, CI) it stays silent.
        """
        if self.active and batches:
            total = -(-len(batches) // self.world_size) * self.world_size
            filled = [batches[i % len(batches)] for i in range(total)]  # a few batches seen twice per epoch
            batches = filled[self.rank :: self.world_size]
        return progress(batches, "batches", enabled=self.is_writer)

    def agree(self, score: float) -> float:
        """Rank 0's value of `score` on every rank (dev metrics then drive one early-stopping decision)."""
        if not self.active:
            return score
        value = torch.tensor([float(score)], dtype=torch.float64, device=self._comm_device)
        dist.broadcast(value, src=0)
        return float(value.item())

    def sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over all ranks."""
        if not self.active:
            return tuple(float(v) for v in values)
        total = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(total)
        return tuple(float(v) for v in total.tolist())

    def in_sync(self, model: nn.Module) -> bool:
        """True when every rank holds exactly the same weights (per-tensor sums and absolute sums)."""
        if not self.active:
            return True
        with torch.no_grad():
            sums = torch.stack([torch.stack([p.double().sum(), p.double().abs().sum()]) for p in model.parameters()])
        sums = sums.to(self._comm_device)
        low, high = sums.clone(), sums.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        return bool(torch.equal(low, high))

    def finish(self, model: nn.Module) -> dict:
        """After training: check the replicas agree, leave the process group we joined, and say what ran
        (for train_metrics.json)."""
        info: dict = {"world_size": self.world_size, "rank": self.rank, "backend": None}
        if self.active:
            info["backend"] = dist.get_backend()
            info["replicas_in_sync"] = self.in_sync(model)
            if self.owns_group:
                dist.barrier()  # every rank is past its last collective
                dist.destroy_process_group()
        return info

    @property
    def _comm_device(self) -> torch.device:
        # nccl moves CUDA tensors only; gloo takes CPU tensors.
        return self.device if self.device.type == "cuda" else torch.device("cpu")
