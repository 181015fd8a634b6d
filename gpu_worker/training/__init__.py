"""Training of the project's own default weights (no Django, no downloads).

`data` holds what every trainer shares: the clean sources (stills that installed
packages ship, the project's drawn demo film, and the clean footage in
../shared/media when present), the fixed split between training, validation and the
held-out material the benchmarks score, random crops, and the degradation (the
project's synthetic old-film damage model plus blur, grain, downscaling and
compression). `sr` trains the super-resolution defaults (`python -m
gpu_worker.training.sr`), `faces` the face-restoration default (`python -m
gpu_worker.training.faces`).
"""
