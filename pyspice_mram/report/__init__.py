"""Report wing: the `paper` pipeline, its figures, the paper-vs-model comparison and the reports.

Hands to the user figures (PNG + PDF), `paper_vs_model.csv`, `report.md` and `report.html`.
"""
