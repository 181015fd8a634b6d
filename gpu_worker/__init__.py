"""Reel Arena's restoration engine and its GPU worker.

    gpu_worker.engine   the restoration library (no queue, no Django)
    gpu_worker.jobs     the job / result / progress messages the site and worker exchange
    gpu_worker.worker   Celery tasks that execute jobs, their storage and Celery settings
    gpu_worker.cli      the engine's command line (`python -m gpu_worker`)

Nothing in this package imports Django: the engine can be used from a notebook or the
command line, and the worker takes JSON jobs and returns JSON results, so a GPU
machine needs the broker and the media storage but never the database.
"""
