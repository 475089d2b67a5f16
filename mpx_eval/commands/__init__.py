"""The commands behind the command line: ``run``, ``splits`` and what they print."""
