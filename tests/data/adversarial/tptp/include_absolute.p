% reads a system file if includes are not confined
include('/etc/passwd').
fof(c, conjecture, p).
