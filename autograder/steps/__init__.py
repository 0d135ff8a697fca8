"""The grading pipeline, one small step per module (nbgrader's preprocessor style).

validate -> restore -> plan -> execute -> judge -> record -> feedback

Each step takes plain values and returns plain values, so that each can be
tested alone and the expensive one (execute) can run in another process or on
a Dask worker.
"""
