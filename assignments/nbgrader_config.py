"""nbgrader configuration of the course: ``assignments/`` is the course directory.

nbgrader reads this file from the working directory, so run nbgrader from
here (``cd assignments && nbgrader generate_assignment a1_convolutions``);
``python -m course.grading`` finds it itself. Paths do not depend on where
the repository is: they are relative to this file.

Several nbgrader defaults lose grades silently; the settings below are the
course's answer (see each comment).
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, Execute,
                                    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

# the course's filters (importing them imports neither torch nor the rest of the course)
from course.grading.feedback_filters import (FeedbackExporter, GetGradesOrPending, GradingNote, HideHiddenTests,
                                             InertStudentContent)
from course.grading.limits import Limits
from course.grading.matching import ReconcileCells
from course.grading.rubric import InsertRubric, RemoveRubric
from course.grading.statuses import Status

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
HERE = os.path.dirname(os.path.abspath(__file__))

# --- the course directory ---------------------------------------------------
c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "convseg"
# The gradebook: one sqlite file in the course directory (not in git).
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
# Files of source/<assignment>/ that students never get. The wrong-answer
# catalogue holds near-solutions: without this, generate_assignment copies it
# into release/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "wrong_answers.json"]

# --- executing submissions ----------------------------------------------------
# The kernelspec of the instructor's source notebook is copied into every
# submission; name the kernel here so grading never depends on it.
c.Execute.kernel_name = "python3"
# Seconds per cell (not per notebook). On timeout the cell is interrupted, its
# tests score 0, and the following cells still run.
c.Execute.timeout = int(Limits().cell_timeout)
c.Execute.interrupt_on_timeout = True

# --- protecting the tests -------------------------------------------------------
# A test cell the student edited is restored from the gradebook by default;
# one the student deleted is not (its score would be NULL, exported as 0).
# Put deleted test cells back, hidden tests included.
c.OverwriteCells.add_missing_cells = True
# A notebook without grading metadata (answers pasted into a fresh notebook,
# the worked solution from solutions/) crashes nbgrader with a KeyError: match
# its cells to the assignment by content first (course.grading.matching).
c.Autograde.sanitize_preprocessors = [ReconcileCells, ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                      OverwriteCells, CheckCellMetadata]

# --- for the grader ------------------------------------------------------------------
# The formgrader shows the autograded notebook, which holds the student's
# written answer only: after each answer graded by hand, put the model answer
# and rubric from source/ (a Markdown cell without grading metadata, so no
# score changes; feedback drops it). nbgrader's default steps, then that.
c.Autograde.autograde_preprocessors = [Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, InsertRubric, CheckCellMetadata]

# --- releasing ---------------------------------------------------------------------
# ClearSolutions keeps its defaults: a solution region becomes
# "# YOUR CODE HERE" + "raise NotImplementedError()", a written answer
# "YOUR ANSWER HERE".

# --- feedback ------------------------------------------------------------------------
# What `nbgrader generate_feedback` and `python -m course.grading feedback` both
# do (course/grading/feedback_filters.py). nbgrader's defaults show the hidden
# tests' code and tracebacks, and run the HTML, JavaScript and SVG of a student's
# output and Markdown in the page of whoever opens it.
c.GenerateFeedback.preprocessors = [
    RemoveRubric,               # the model answers and rubrics autograding put in for the grader: gone
    GetGradesOrPending,         # scores and comments from the gradebook (nbgrader's GetGrades), and which
                                # written answers are not graded yet ("pending", not 0 points)
    HideHiddenTests,            # hidden test code removed, and the tracebacks/messages/output it left
    InertStudentContent,        # output: text, PNG, JPEG only; student Markdown: its raw HTML shown as text
    GradingNote,                # a note at the top: timed out, crashed, cells restored, ...
    CSSHTMLHeaderPreprocessor,  # code highlighting styles (nbgrader's default)
]
# Every page carries a Content-Security-Policy: no script runs, only the
# template's own styles apply. Math is MathML, rendered here (no MathJax);
# nbgrader's feedback template says "pending" for written answers not graded yet.
c.GenerateFeedback.exporter_class = FeedbackExporter
# The note reads each student's status and reason from what autograde wrote...
c.GradingNote.results_path = os.path.join(HERE, "grading", "{assignment}.json")
# ...and adds the advice for that status.
c.GradingNote.advice = {status.value: status.advice for status in Status}

# --- formgrader ------------------------------------------------------------------
# The formgrader (manual grading, in the instructor's Jupyter) renders
# submissions with a plain HTMLExporter: make student output and Markdown inert
# there too (hidden tests stay visible to the instructor).
c.HTMLExporter.preprocessors = [InertStudentContent]
# The gradebook tells the instructor's unchanged Markdown cells (shown as
# written) from the student's.
c.InertStudentContent.db_url = c.CourseDirectory.db_url
