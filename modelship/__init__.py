"""Check, train, evaluate, register and serve a scikit-learn model, reproducibly."""

__version__ = "0.1.0"
