"""``python -m recdb.cli``: the same as the ``recdb`` command."""

from recdb.cli import main

main()
