"""archsim: accuracy, latency and energy of training neural networks on analog in-memory computing chips."""

__version__ = "0.1.0"
