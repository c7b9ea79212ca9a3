"""NPI's 3D car canonicalization: procedural car models rendered at every pose of the grid."""
