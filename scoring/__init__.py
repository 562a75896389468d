"""Pure scoring domain logic: rubrics, aggregation, calibration, ranking, awards.

Nothing in this package may import Flask, SQLAlchemy or WeasyPrint: the rules that decide
results must run, and be tested, without a web server or a database (DESIGN.md).
"""
