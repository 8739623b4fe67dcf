"""The pipeline runner: stages as a graph, cached by config hash, resumable."""
