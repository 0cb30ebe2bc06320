"""Language models: tokenizers, scratchpad tasks and a trainer for small transformers.

Import the parts you need (``palestra.lm.config`` is torch-free, ``palestra.lm.train`` is not);
this package imports nothing itself.
"""

__all__: list[str] = []
