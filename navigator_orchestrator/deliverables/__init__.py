"""What an analyst hands on, read from a run, an ensemble or a census (never changed): report, workbook, census page.

May import `errors`, `safety`, `inputs`, `run` and `ensembles`.
"""
