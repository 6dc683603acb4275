"""Evolution snapshots of a batched training run: per-epoch weights of the S models, appended to a
file next to the checkpoint (:class:`SnapshotStore`; used by :func:`rnnhmm.training.engine.train_many`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

WEIGHT_KEYS = ("weight_ih", "weight_hh", "readout")  # NoiseRNN's parameter names, in its order


class SnapshotStore:
    """Evolution snapshots: one fixed-size record per snapshot (int64 epoch, then the S models'
    weights as float32), appended to ``path`` (or kept in memory when ``path`` is None).

    Appending keeps a checkpoint's cost independent of the number of snapshots (the checkpoint
    records only how many there are; a resume truncates the file to that count).
    """

    def __init__(self, path: Path | None, shapes: dict[str, tuple], S: int):
        self.path, self.shapes, self.S = path, shapes, S
        self.sizes = {k: int(np.prod(v)) for k, v in shapes.items()}
        self.floats = S * sum(self.sizes.values())
        self.record = 8 + 4 * self.floats
        self.mem: list[bytes] = []
        self.count = 0

    def reset(self, count: int = 0) -> None:
        """Keep the first ``count`` records (drop any written after the last checkpoint)."""
        if self.path is None:
            del self.mem[count:]
        elif count == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(b"")
        else:
            if not self.path.exists() or self.path.stat().st_size < count * self.record:
                raise RuntimeError(f"{self.path}: fewer than the {count} snapshots its checkpoint records")
            os.truncate(self.path, count * self.record)
        self.count = count

    def append(self, epoch: int, params: dict[str, torch.Tensor]) -> None:
        flat = torch.cat([params[k].detach().reshape(self.S, -1) for k in WEIGHT_KEYS], dim=1).float().cpu()
        rec = np.int64(epoch).tobytes() + flat.numpy().tobytes()
        if self.path is None:
            self.mem.append(rec)
        else:
            with open(self.path, "ab") as fh:
                fh.write(rec)
        self.count += 1

    def read(self) -> tuple[list[int], list[dict[str, torch.Tensor]]]:
        """(epochs, per model {name: (n, *shape)})."""
        raw = b"".join(self.mem) if self.path is None else self.path.read_bytes()[: self.count * self.record]
        buf = np.frombuffer(raw, dtype=np.uint8).reshape(self.count, self.record)
        epochs = buf[:, :8].copy().view(np.int64).ravel().tolist()
        w = torch.from_numpy(buf[:, 8:].copy().view(np.float32).reshape(self.count, self.S, -1))
        out = [{} for _ in range(self.S)]
        off = 0
        for k in WEIGHT_KEYS:
            n = self.sizes[k]
            for s in range(self.S):
                out[s][k] = w[:, s, off:off + n].reshape(self.count, *self.shapes[k]).clone()
            off += n
        return epochs, out
