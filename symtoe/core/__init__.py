"""The layer itself: its geometry (:class:`ConvSpec`), its sharing pattern, and
the pattern's evaluations (sympy, torch, lazy) and closed-form counts.

Core reads nothing of symtoe but itself.  ``numeric`` imports torch, so it is
not imported here.
"""
