"""Reconstruction: from scans back to the annotated hypergraph."""
