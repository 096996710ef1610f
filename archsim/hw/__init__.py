"""archsim.hw."""
