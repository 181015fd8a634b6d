"""`python -m gpu_worker …`: the engine's command line (see gpu_worker.cli)."""

from gpu_worker.cli import main

raise SystemExit(main())
