"""``python -m course.grading``: the instructor's grading command (see :mod:`course.grading.cli`)."""
import sys

from course.grading.cli import main

sys.exit(main())
