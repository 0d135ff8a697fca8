# The student's JupyterLab (make lab, the Docker image's default): this folder is put on
# JUPYTER_CONFIG_PATH. Besides the JSON files next to it (nbgrader's instructor tools off:
# Formgrader, Create Assignment, course and assignment lists; Validate stays), it points
# JupyterLab at default settings that save each widget's state in the notebook, so a
# reopened notebook still shows its figures.
import os

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file
c.LabApp.app_settings_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab-settings")
