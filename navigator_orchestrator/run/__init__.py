"""One simulation run: the year loop with its resume plan, quality verdicts, metrics, run log and summary.json.

May import `errors`, `safety`, `inputs` and `dbt_layer`; never `ensembles` or the CLI.
"""
