"""Poses, cameras and the TF tree. Poses are 4x4 float64 matrices named `a_from_b`."""
