"""aibook_course: the course tooling around the book (not the teaching library).

- `exercises`: build the graded exercises from their masters with otter-grader, and check them;
- `grading`: grade a folder of submissions into a gradebook;
- `progress`: a student's pass/fail status on the public tests.

The teaching library `aibook` imports nothing from here (tests/test_layout.py checks it).
Command line: `python -m aibook_course exercises|grade|progress ...`.
"""
