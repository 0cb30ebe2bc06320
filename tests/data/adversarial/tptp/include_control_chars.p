include('a	b').
fof(c, conjecture, p).
