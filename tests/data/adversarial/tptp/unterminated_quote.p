fof(a, axiom, 'p\'q\'r).
