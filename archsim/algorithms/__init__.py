"""archsim.algorithms."""
