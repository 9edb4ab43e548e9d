"""The pipeline over files and folders: inputs, run folders, per-slide outputs, the Ray engine."""
