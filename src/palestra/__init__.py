"""Palestra: agents that learn to search where answers can be checked.

Importing the package has no side effects; heavy optional parts (torch models, ALE, Ray,
Coq) are imported by the functions that need them.
"""

from palestra.core.errors import PalestraError

__all__ = ["PalestraError", "__version__"]
__version__ = "0.1.0"
