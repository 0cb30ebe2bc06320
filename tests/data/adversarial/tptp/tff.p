tff(t, type, p: $o).
