"""archsim.analog."""
