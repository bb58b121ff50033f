"""Readings of one layer's pattern: shifts and reflections, exact
certificates, structure, spectra and composition.  Reads only :mod:`symtoe.core`."""
