"""Former path of gpu_worker.worker.storage, for the site until it imports the new one.

`import gpu_worker.storage` gives the very module gpu_worker.worker.storage (not a
copy), so a patched attribute is patched for every importer.
"""

import sys

from gpu_worker.worker import storage

sys.modules[__name__] = storage
