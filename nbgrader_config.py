"""This course's configuration: read by nbgrader and by every ``autograder`` command.

Fork the kit, then change the settings below (README, "Making it your course").
Command-line flags override a setting for one run (``autograder grade --help``
lists them); a setting left out keeps the default shown in that help.
"""
import os

import autograder

c = get_config()  # noqa: F821  (provided by traitlets, as for any Jupyter config file)

# The kit's nbgrader layout (source/, release/, submitted/, stubs, feedback without hidden tests).
load_subconfig(os.path.join(os.path.dirname(autograder.__file__), "nbgrader_config.py"))  # noqa: F821

# --- the course -----------------------------------------------------------------------
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "dlbricks"
c.Exchange.root = os.path.join(c.CourseDirectory.root, ".exchange-disabled")

# Where students open the notebooks (Colab badges) and install the library from (install cell).
# `autograder release` stamps both into release/; `autograder release --check` fails when they differ.
c.Publishing.repository = "dlbricks/dlbricks"
c.Publishing.branch = "main"
# Pin the library students install to the version you publish: a tag (e.g. "v2027.1") or a commit.
# Empty: the branch above.
c.Publishing.library_ref = ""

# --- deadlines ------------------------------------------------------------------------
# Due dates per assignment: "YYYY-MM-DD HH:MM Zone/Name", or ISO 8601 with an offset.
# c.Deadlines.due_dates = {"03_losses_and_descent": "2027-01-15 23:59 Europe/Berlin"}
c.Deadlines.timezone = "UTC"
# Where a submission's time comes from: "received" (the file's time as it arrived) or
# "nbgrader" (timestamp.txt written by `nbgrader collect`; only for nbgrader's collect output).
c.Deadlines.submission_time = "received"
# Late policy: nbgrader's own plugins. The default gives no penalty; for example
# c.LateSubmissionPlugin.penalty_method = "zero"
# or your own class: c.AssignLatePenalties.plugin_class = "mycourse.OnePointPerHour"

# --- grading --------------------------------------------------------------------------
# The gradebook: unset, `autograder grade` writes OUT/gradebook.db (SQLite). Several graders
# share one PostgreSQL database:
# c.CourseDirectory.db_url = "postgresql://grader@db.example.org/dl2027"
# Limits of each submission and the fan-out: `autograder grade --help` lists every setting
# of c.Grading with its default, e.g.
# c.Grading.timeout = 300.0      # seconds a cell may run
# c.Grading.workers = 4
