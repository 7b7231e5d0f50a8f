"""The ``recdb`` command line, on top of every other part and imported by none of them.

One module per step of the data flow: :mod:`~recdb.cli.db` (the server and its
roles), :mod:`~recdb.cli.catalogue` (catalogue files, loading, building),
:mod:`~recdb.cli.science` (simulate, recommend, evaluate, tune), :mod:`~recdb.cli.serving`
(the web API, publishing to it from Spark, and the docs site) and :mod:`~recdb.cli.demo`
(all of it at once).
Each command imports its part when it runs, so that ``recdb --help`` stays fast.
"""

from recdb.cli.base import main
from recdb.cli.catalogue import build, catalog, load
from recdb.cli.db import db
from recdb.cli.demo import demo
from recdb.cli.science import evaluate, recommend, simulate, tune
from recdb.cli.serving import docs, publish, serve

for command in (
    db,
    catalog,
    load,
    build,
    simulate,
    recommend,
    evaluate,
    tune,
    publish,
    docs,
    serve,
    demo,
):
    main.add_command(command)

__all__ = ["main"]
