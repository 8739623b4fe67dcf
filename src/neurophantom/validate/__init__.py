"""Validation: every metric of every stage against the ground truth."""
