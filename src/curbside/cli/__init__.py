"""The ``curbside`` command line: thin click commands over :mod:`curbside.api`.

:mod:`.main` holds the command group (the ``curbside`` entry point) and the core commands;
:mod:`.store_commands`, :mod:`.review`, :mod:`.articles` and :mod:`.train` add theirs;
:mod:`.progress` draws progress; :mod:`.doctor`, :mod:`.demo` and :mod:`.docgen` are the
commands' own library (what works here, the demo corpus, the generated references).
"""
