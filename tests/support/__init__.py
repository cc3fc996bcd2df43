"""This repository's own test machinery, imported by the tests as `support` (pyproject's pytest `pythonpath`
puts tests/ on sys.path); not part of the installed plugin.

`forkserver.py` is the fork server (children that skip the 2 s dbt import); `commands.py` is its client
(`ForkedProcess`, the process starter tests/conftest.py hands the plugin), plain dbt from dbt/, project copies
and run-log reading.
"""
