"""Safety: what keeps a user's files whole: verified backups, the run lock, atomic writes, masking, interrupts.

Imports only `navigator_orchestrator.errors` (and the package version); every other layer may import it.
"""
