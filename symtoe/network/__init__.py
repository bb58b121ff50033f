"""Whole torch models: parameter reports and receptive fields.  Reads
:mod:`symtoe.analysis` and :mod:`symtoe.core`."""
