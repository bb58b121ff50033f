"""Settings of the test session (tests, doctests of symtoe/ and docs/).

The suite runs as two xdist workers on two cores, on tiny tensors: torch's
default of one intra-op thread per core would oversubscribe the cores, and
its spinning worker threads make small convolutions up to 100x slower on a
loaded machine.  One thread per worker.
"""


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)
