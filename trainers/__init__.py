"""Training systems (installed as ``omnitok.trainers``): LightningModules, training-only losses, DataModules.

Imports lightning, so ``import omnitok`` never imports this package.
"""
