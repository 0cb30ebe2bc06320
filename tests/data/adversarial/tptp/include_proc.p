include('/proc/self/environ').
fof(c, conjecture, p).
