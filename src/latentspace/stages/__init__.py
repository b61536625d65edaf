"""The pipeline as library functions, one module per stage (``fit``, ``encode``, ``evaluate``,
``demo``, ...): each reads and writes a run folder, and each CLI command is a thin wrapper around one.
The most used are re-exported at the top level (``latentspace.fit``, ``latentspace.encode``)."""
