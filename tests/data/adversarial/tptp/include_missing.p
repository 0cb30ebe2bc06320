include('Axioms/NOPE000+0.ax').
fof(c, conjecture, p).
