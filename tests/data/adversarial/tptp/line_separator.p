fof(a, axiom, p) 'a bc'.
