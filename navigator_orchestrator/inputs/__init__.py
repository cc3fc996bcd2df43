"""Inputs: what a run is asked to do: where files live, the validated config, the census, the years supported.

Imports only `navigator_orchestrator.errors`; bad input is rejected here, before any file is touched.
"""
