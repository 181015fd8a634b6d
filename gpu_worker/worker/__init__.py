"""The GPU worker: Celery tasks that execute render jobs, and the storage they use.

Kept apart from the engine (gpu_worker.engine), which is a library with no queue in
it: the worker is what turns a job message into an engine call and a result message.
Importing this package loads nothing heavy; Celery comes with `tasks` and `app`, the
engine and torch only inside a running task. No Django anywhere.
"""
