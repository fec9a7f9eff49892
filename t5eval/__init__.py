"""t5eval: reproduce the T5 paper's evaluation with a native PyTorch T5."""

__version__ = "0.1.0"
