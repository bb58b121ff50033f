"""For people: LaTeX, matplotlib pictures and networkx graphs of layers.
matplotlib and networkx are imported only by the modules that draw or graph."""
