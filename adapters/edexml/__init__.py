"""EDEXML: pupil data exported by school administration systems."""
