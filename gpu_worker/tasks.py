"""Former path of gpu_worker.worker.tasks, for the site until it imports the new one.

`import gpu_worker.tasks` gives the very module gpu_worker.worker.tasks (not a copy),
so the task registers once and a patched attribute is patched for every importer.
"""

import sys

from gpu_worker.worker import tasks

sys.modules[__name__] = tasks
