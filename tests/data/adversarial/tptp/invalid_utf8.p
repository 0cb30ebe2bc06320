fof(a, axiom, p).
fof(ÿþ, conjecture, Ã(p).
