"""archsim.engine."""
