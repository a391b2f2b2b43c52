"""Evaluation: offline measurements on real data, one module per task (recommend, predictors, retrieval, chat) and
one command line (cli.py; `python -m assistant.evaluate ...`). Metrics and their tie rule are
assistant/recsys/metrics.py, the ones training tunes on.

May import anything in the project; nothing but its own command line imports it.
"""
