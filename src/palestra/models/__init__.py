"""Neural network architectures, one readable file each (``transformer.py``, ...).

This package imports nothing itself, so importing it does not load torch.
"""

__all__: list[str] = []
