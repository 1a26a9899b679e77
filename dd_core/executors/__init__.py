"""The two executors; import them from ``dd_core`` (``SyncExecutor``, ``AsyncExecutor``)."""
