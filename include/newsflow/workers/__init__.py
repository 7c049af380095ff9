"""Worker processes for the CPU-bound stages (extraction and classification), and how they fail."""

from newsflow.workers.pool import (
    IN_PROCESS,
    WorkerCrashed,
    WorkerPool,
    WorkerTimeout,
    cpu_workers,
    worker_count,
)

__all__ = ["IN_PROCESS", "WorkerCrashed", "WorkerPool", "WorkerTimeout", "cpu_workers", "worker_count"]
