"""Reel Arena's restoration engine and GPU-queue tasks.

Nothing in this package imports Django: the engine is a library that can be used
from a notebook or the command line (`python -m gpu_worker`), and the GPU tasks take
JSON jobs and return JSON results, so a worker needs the broker and the media storage
but never the database.
"""
