"""Small, reproducible experiments that measure omnitok's components and write a report."""
