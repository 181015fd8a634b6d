"""The restoration app's pages: films and clips, presets, sweeps and renders."""
