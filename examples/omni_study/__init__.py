"""One shared codebook against separate codebooks at equal total size, steps and data (issue 27's comparison)."""
