"""Graded coursework: exercise notebooks in nbgrader format, released and autograded.

- :mod:`course_lib.grading.notebooks` finds exercise notebooks and reads their nbgrader cells.
- :mod:`course_lib.grading.release` writes student copies (no solutions, no hidden tests).
- :mod:`course_lib.grading.grade` autogrades a folder of submissions into a scores table and
  per-student feedback.
"""
