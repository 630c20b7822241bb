"""The course content pipeline: ``slides/`` (Markdown and YAML) → validated sources → database.

``source`` reads and validates the files without touching the database; ``sync`` writes a
valid source in one transaction. Errors are collected, each naming file and line.
"""
