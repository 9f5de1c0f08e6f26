"""``python -m curbside``: the command line (:func:`curbside.cli.main.main`)."""

from curbside.cli.main import main

main()
