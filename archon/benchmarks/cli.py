"""`archon bench` and `archon compare` (being written)."""


def add_commands(sub) -> None:
    return None
