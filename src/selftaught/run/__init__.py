"""Running a loop: config to parts (build), the loop and its phases, strategies, executors."""
