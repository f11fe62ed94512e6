"""The stacks under benchmark, each a script that polls the fake Bot API until SIGTERM."""
