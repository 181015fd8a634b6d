"""Former path of gpu_worker.worker.storage, kept for the site until it imports the new one."""

from gpu_worker.worker.storage import *  # noqa: F403
from gpu_worker.worker.storage import __all__  # noqa: F401
