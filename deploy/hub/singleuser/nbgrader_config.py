"""nbgrader settings of every server on the course's hub (students' and instructors').

The hub points each server here with ``JUPYTER_CONFIG_PATH`` (deploy/hub/course_hub.py);
nbgrader reads this file first, then the ``nbgrader_config.py`` of the folder it runs in
(an instructor's course directory, ``~/convseg``). The settings themselves are in
:func:`course_hub.apply_nbgrader_settings`: the exchange root, the course id, and roles
from the hub's groups.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from course_hub import apply_nbgrader_settings

apply_nbgrader_settings(get_config())  # noqa: F821 (provided by nbgrader when it loads this file)
