fof(a, axiom, p).
/* never closed
fof(c, conjecture, p).
