"""The JSON API (/api/v1/...), one module per resource: questions and imports (the bank), auth, papers,
sessions, results, grading and the wrong-answer book; `common` holds what they share.

Each path has one class and each of its methods is one operation: validate the input, call one
service or selector, return the output. Queries live in `quizbank.selectors`, never here.
"""
