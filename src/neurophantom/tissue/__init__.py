"""Tissue: fold a Circuit into a 3D specimen (Phantom)."""
