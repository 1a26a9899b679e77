"""The engine: pipeline config, execution graph, model client, AIMD throttle, two executors.

Both executors run the same pipeline through the same generators, client and throttle and
differ only in scheduling: ``SyncExecutor`` column by column with a barrier, batch by
batch; ``AsyncExecutor`` cell by cell as each cell's inputs are done, in row groups.
"""

from __future__ import annotations

from dd_core.chat import ChatResponse
from dd_core.client import CallTrace, ModelClient, parse_retry_after
from dd_core.config import (
    ColumnConfig,
    CustomColumn,
    ExpressionColumn,
    JudgeScore,
    LLMJudgeColumn,
    LLMTextColumn,
    ModelConfig,
    Pipeline,
    ProviderConfig,
    RunSettings,
    SamplerColumn,
    ThrottleSettings,
)
from dd_core.errors import (
    BadResponseError,
    ConfigError,
    DDCoreError,
    GenerationError,
    ModelCallError,
    RateLimitError,
    RequestTimeoutError,
    RunError,
    TransportError,
    is_retryable,
)
from dd_core.executors.async_ import AsyncExecutor, run_async_pipeline
from dd_core.executors.sync import SyncExecutor, run_sync
from dd_core.generators import BatchContext, CellContext, ColumnGenerator, build_generators
from dd_core.graph import ExecutionGraph
from dd_core.loader import load_pipeline, validate_pipeline
from dd_core.results import LeakSnapshot, RunResult, TaskRecord, dataset_hash
from dd_core.throttle import (
    AIMDController,
    LimitChange,
    Permit,
    ThrottleEvent,
    ThrottleManager,
    ThrottleSnapshot,
)

__all__ = [
    "AIMDController",
    "AsyncExecutor",
    "BadResponseError",
    "BatchContext",
    "CallTrace",
    "CellContext",
    "ChatResponse",
    "ColumnConfig",
    "ColumnGenerator",
    "ConfigError",
    "CustomColumn",
    "DDCoreError",
    "ExecutionGraph",
    "ExpressionColumn",
    "GenerationError",
    "JudgeScore",
    "LLMJudgeColumn",
    "LLMTextColumn",
    "LeakSnapshot",
    "LimitChange",
    "ModelCallError",
    "ModelClient",
    "ModelConfig",
    "Permit",
    "Pipeline",
    "ProviderConfig",
    "RateLimitError",
    "RequestTimeoutError",
    "RunError",
    "RunResult",
    "RunSettings",
    "SamplerColumn",
    "SyncExecutor",
    "TaskRecord",
    "ThrottleEvent",
    "ThrottleManager",
    "ThrottleSettings",
    "ThrottleSnapshot",
    "TransportError",
    "build_generators",
    "dataset_hash",
    "is_retryable",
    "load_pipeline",
    "parse_retry_after",
    "run_async_pipeline",
    "run_sync",
    "validate_pipeline",
]
