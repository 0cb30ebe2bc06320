fof(a, axiom, p).
include('include_self.p').
