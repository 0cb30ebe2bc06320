include('../../../../../../../../etc/hostname').
fof(c, conjecture, p).
