fof(a, axiom, p(X).
fof(b, conjecture, p(a)).
