"""Every status a graded submission can end with, in one place.

A submission's row in the export, its entry in ``grading/<id>.json`` and its
feedback page all carry one :class:`Status` and a reason. Each status has
advice for the student (shown in the feedback) and says whether its score is
final. Add a status here, with its advice, and nowhere else: the tests check
that every status has both.
"""
from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """How grading a submission ended. A ``str``, so it is stored and compared as text."""

    GRADED = "graded"
    WRONG_FILENAME = "wrong_filename"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    TAMPERED = "tampered"
    NEEDS_REVIEW = "needs_review"
    UNREADABLE = "unreadable"
    MISSING_NOTEBOOK = "missing_notebook"
    INVALID_STUDENT_ID = "invalid_student_id"
    NO_SUBMISSION = "no_submission"
    NOT_GRADED = "not_graded"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    @property
    def advice(self) -> str:
        """What the student can do about it (shown in their feedback)."""
        return ADVICE[self]

    @property
    def score_is_final(self) -> bool:
        """False when the instructor must look before the score counts."""
        return self not in (Status.TAMPERED, Status.NEEDS_REVIEW, Status.ERROR, Status.NOT_GRADED)


ADVICE: dict[Status, str] = {
    Status.GRADED: "",
    Status.WRONG_FILENAME: "Submit exactly one notebook, with the name given in the assignment.",
    Status.TIMEOUT: "Your notebook ran longer than the time limit. Look for a loop that never ends or a very "
                    "slow computation, and run the whole notebook (Kernel > Restart & Run All) before "
                    "submitting.",
    Status.CRASHED: "The Python kernel died while running your notebook (for example os._exit(), a "
                    "segmentation fault, too many processes or running out of memory). Run the whole notebook "
                    "before submitting.",
    Status.TAMPERED: "Your notebook changed how the grader runs or checks code (see the reason above). The "
                     "parts it affected score 0 until your instructor has reviewed the submission.",
    Status.NEEDS_REVIEW: "Your notebook uses something the grader cannot judge on its own (see the reason "
                         "above). Your instructor will look at it; the score may change.",
    Status.UNREADABLE: "Open the notebook in Jupyter, check that it opens, save it (File > Save) and submit "
                       "it again.",
    Status.MISSING_NOTEBOOK: "Your submission did not contain the notebook. Submit the assignment's notebook "
                             "file.",
    Status.INVALID_STUDENT_ID: "Your submission folder has an unexpected name; contact your instructor.",
    Status.NO_SUBMISSION: "Nothing was submitted for this assignment.",
    Status.NOT_GRADED: "The grader produced no graded notebook for your submission. Your instructor has been "
                       "told; you do not need to do anything.",
    Status.ERROR: "The grader could not grade your submission because of a problem on its side. Your "
                  "instructor has been told; you do not need to do anything.",
}
