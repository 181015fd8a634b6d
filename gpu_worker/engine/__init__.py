"""The restoration engine: streaming PyAV I/O, an operator registry, JSON pipeline
specs, damage analysis and the restoration operators. No Django imports."""
