"""The planner: instruments, cost, time, floor space, staff and compute."""
