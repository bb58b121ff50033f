"""Whole torch models: one trace (:mod:`~symtoe.network.trace`), read by the
parameter report and the receptive field.  Reads :mod:`symtoe.analysis` and
:mod:`symtoe.core`."""
