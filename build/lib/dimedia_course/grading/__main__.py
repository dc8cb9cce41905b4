"""``python -m dimedia_course.grading``: the instructor command line."""

import sys

from dimedia_course.grading import main

sys.exit(main())
