"""Banks of correct and subtly wrong answers, one module per assignment (used by tests/test_grading_checks.py).

Each module defines
    CORRECT: {name: {function_name: source}}      other correct answers (float32, another order of operations)
    WRONG:   {name: (function_name, [(old, new), ...])}   an edit of the instructor solution that is a typical bug
Every correct answer must pass every grader check; every wrong one must fail at least one, and every
autograded test cell must be failed by at least one wrong answer.
"""
