"""Virtual instruments: static scanners (expansion light-sheet, synchrotron, EM), damage, and dynamic imaging."""
